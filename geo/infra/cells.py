"""The level-20 WebMercatorQuad cell of points, computed for many at once.

Every appeal keeps the Z-order (Morton) key of the level-20 cell holding it in
``appeals.cell`` (migration 0006): tiles read a tile's appeals as one range of keys, and
``appeal_cells`` counts appeals per key. In SQL the key is ``appeal_cell(geom)`` (migration
0003); bulk loaders compute it here instead, for a whole batch in numpy. The transform is
pyproj's, the PROJ that PostGIS transforms with, so the keys are the same to the bit (tested
against ``appeal_cell``).

>>> int(cell_keys([76.9286], [43.2567])[0])
445450228252
"""

from __future__ import annotations

from functools import cache

import numpy as np

HALF = 20037508.342789244  # half the side of the WebMercatorQuad square, metres
LEVEL = 20
CELL = 2 * HALF / 2**LEVEL  # the side of a level-20 cell, Mercator metres
#: Morton "spread": move bit i of a 20-bit number to bit 2i
SPREAD = (
    (16, 0x0000FFFF0000FFFF),
    (8, 0x00FF00FF00FF00FF),
    (4, 0x0F0F0F0F0F0F0F0F),
    (2, 0x3333333333333333),
    (1, 0x5555555555555555),
)


@cache
def _to_mercator():
    from pyproj import Transformer

    return Transformer.from_crs(4326, 3857, always_xy=True)


def to_mercator(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 degrees to Web Mercator metres (EPSG:3857), as ``ST_Transform`` gives them."""
    return _to_mercator().transform(np.asarray(lon, float), np.asarray(lat, float))


def spread(v):
    """Move bit ``i`` of ``v`` to bit ``2i`` (half of a Morton key): an int, or an array of
    uint64.

    >>> spread(0b111)
    21
    """
    cast = v.dtype.type if isinstance(v, np.ndarray) else int
    for shift, mask in SPREAD:
        v = (v | (v << cast(shift))) & cast(mask)
    return v


def cell_key(cx, cy):
    """The Z-order key of a level-20 column and row (ints, or arrays of uint64), as
    ``appeal_cell`` numbers the cell."""
    one = cy.dtype.type(1) if isinstance(cy, np.ndarray) else 1
    return spread(cx) | (spread(cy) << one)


def cell_keys(lon, lat) -> np.ndarray:
    """The level-20 cell keys of WGS 84 points, as ``appeal_cell`` numbers them.

    Parameters
    ----------
    lon, lat : array_like of float
        Degrees.

    Returns
    -------
    numpy.ndarray of int64
        Points outside the Mercator square (beyond ±85.05°) fall in its edge cells.
    """
    x, y = to_mercator(lon, lat)
    top = 2**LEVEL - 1
    cx = np.clip(np.floor((x + HALF) / CELL), 0, top).astype(np.uint64)
    cy = np.clip(np.floor((HALF - y) / CELL), 0, top).astype(np.uint64)
    return cell_key(cx, cy).astype(np.int64)
