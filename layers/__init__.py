"""Map layers, declared once (:mod:`layers.registry`), and what is made of them: vector tiles
(:mod:`layers.tiles`, with the appeal counts of :mod:`layers.cells`) and GeoJSON features
(:mod:`layers.features`). The HTTP routes are generated in ``api/routes/tiles.py``."""

# the residents' public map's layer, declared beside the others (registered on import)
from layers import public_map  # noqa: E402, F401, I001
from layers.cells import refresh_appeal_cells
from layers.features import Page, feature_page, one_feature
from layers.filters import BadQuery, Selection
from layers.registry import (
    LAYERS,
    Aggregation,
    Filter,
    Layer,
    Style,
    get_layer,
    register,
)
from layers.tiles import Tile, render_tile

__all__ = [
    "LAYERS",
    "Aggregation",
    "BadQuery",
    "Filter",
    "Layer",
    "Page",
    "Selection",
    "Style",
    "Tile",
    "feature_page",
    "get_layer",
    "one_feature",
    "refresh_appeal_cells",
    "register",
    "render_tile",
]
