"""Reading an OpenStreetMap extract (``.osm.pbf``, with pyrosm): its buildings, residential
areas and roads, the tags of each, polygons repaired, roads grouped into named streets.
pyrosm reads the whole extract into memory: use a city-sized extract, not a country.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from shapely.geometry import MultiPolygon

from geo.infra.errors import InvalidInput

NOT_STREETS = frozenset(
    {
        "corridor",
        "elevator",
        "escalator",
        "steps",
        "platform",
        "bus_stop",
        "proposed",
        "construction",
        "abandoned",
        "razed",
        "raceway",
        "via_ferrata",
        "emergency_access_point",
    }
)


def tags_of(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            out = json.loads(value)
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


def tag(row: dict, tags: dict, key: str) -> str | None:
    """A tag's value, from pyrosm's own column or from its ``tags`` JSON."""
    v = row.get(key)
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        v = tags.get(key)
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def first_number(value: str | None) -> float | None:
    """The first number of a tag value ("5", "3.5", "5;9", "4-6", "5,5")."""
    if not value:
        return None
    m = re.search(r"\d+(?:[.,]\d+)?", value)
    return float(m.group().replace(",", ".")) if m else None


def polygonal(g) -> MultiPolygon | None:
    if g is None or g.is_empty:
        return None
    if not g.is_valid:
        g = shapely.make_valid(g)
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    polys = [p for p in polys if not p.is_empty and p.area > 0]
    if not polys:
        return None
    out = MultiPolygon(polys)
    return out if out.is_valid else None


def _lines(g) -> list:
    if g is None or g.is_empty:
        return []
    return [p for p in shapely.get_parts(g) if p.geom_type == "LineString" and not p.is_empty]


def _read(path: Path):
    from pyrosm import OSM

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = OSM(str(path))
            buildings = osm.get_buildings()
            landuse = osm.get_landuse(custom_filter={"landuse": ["residential"]})
            roads = osm.get_network(network_type="all")
            boundaries = osm.get_boundaries(boundary_type="administrative")
            manholes = osm.get_data_by_custom_criteria(
                custom_filter={"man_made": ["manhole"]},
                keep_nodes=True,
                keep_ways=False,
                keep_relations=False,
            )
    except Exception as exc:  # pyrosm/protobuf errors: one line for the user
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InvalidInput(f"cannot read {path.name} as an OSM .pbf extract: {msg}") from exc
    return buildings, landuse, roads, boundaries, manholes


def _records(gdf) -> list[dict]:
    if gdf is None or len(gdf) == 0:
        return []
    return gdf.to_dict("records")


def _streets(roads) -> tuple[list[dict], int]:
    """Named roads grouped by name: ``[{name, name_ru, name_kk, lines}]``, unnamed count."""
    by_name: dict[str, dict] = {}
    unnamed = 0
    for r in _records(roads):
        if r.get("highway") in NOT_STREETS:
            continue
        tags = tags_of(r.get("tags"))
        name = tag(r, tags, "name")
        lines = _lines(r.get("geometry"))
        if not lines:
            continue
        if name is None:
            unnamed += 1
            continue
        st = by_name.setdefault(name, {"name": name, "name_ru": None, "name_kk": None, "lines": []})
        st["name_ru"] = st["name_ru"] or tag(r, tags, "name:ru")
        st["name_kk"] = st["name_kk"] or tag(r, tags, "name:kk")
        st["lines"] += lines
    return list(by_name.values()), unnamed


@dataclass
class Extract:
    """What an extract holds that can be imported.

    ``buildings``, ``yards`` and ``boundaries`` (``boundary=administrative``) are (OSM
    record, repaired polygon) pairs in the extract's order, the unusable polygons left out
    (and counted in ``skipped`` for buildings and yards); ``manholes`` are the records of
    ``man_made=manhole`` nodes (a point ``geometry``, its tags).
    """

    streets: list[dict]
    unnamed: int
    buildings: list[tuple[dict, MultiPolygon]]
    yards: list[tuple[dict, MultiPolygon]]
    skipped: int
    boundaries: list[tuple[dict, MultiPolygon]] = field(default_factory=list)
    manholes: list[dict] = field(default_factory=list)


def read_extract(path: Path) -> Extract:
    """Read the extract: named streets, usable buildings and residential areas.

    Raises
    ------
    InvalidInput
        An unreadable file, or an extract without buildings or named roads.
    """
    b_gdf, l_gdf, r_gdf, a_gdf, m_gdf = _read(path)
    streets, unnamed = _streets(r_gdf)
    b_recs = _records(b_gdf)
    b_geoms = [polygonal(r.get("geometry")) for r in b_recs]
    y_recs = _records(l_gdf)
    y_geoms = [polygonal(r.get("geometry")) for r in y_recs]
    skipped = sum(g is None for g in b_geoms) + sum(g is None for g in y_geoms)
    buildings = [(r, g) for r, g in zip(b_recs, b_geoms, strict=True) if g is not None]
    yards = [(r, g) for r, g in zip(y_recs, y_geoms, strict=True) if g is not None]
    if not buildings and not streets:
        raise InvalidInput(f"{path.name} has no buildings and no named roads to import")
    a_recs = _records(a_gdf)
    boundaries = [(r, g) for r in a_recs if (g := polygonal(r.get("geometry"))) is not None]
    manholes = [
        r
        for r in _records(m_gdf)
        if r.get("geometry") is not None and r["geometry"].geom_type == "Point"
    ]
    return Extract(streets, unnamed, buildings, yards, skipped, boundaries, manholes)
