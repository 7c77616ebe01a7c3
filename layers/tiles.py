"""Mapbox Vector Tiles of a declared layer, made in PostGIS.

Rows are picked with ``geom && ST_Transform(ST_TileEnvelope(z, x, y), 4326)`` so the GiST
index of the source table is used, transformed to EPSG:3857 and cut to the tile with
``ST_AsMVTGeom``, and encoded by ``ST_AsMVT``. The appeals layers are counted per grid cell
below their aggregation zoom (see :mod:`layers.cells`); above it they are points with ids,
unless a tile holds more appeals than the layer's budget, in which case it is served as
cells too, so no appeal is ever silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, text

from layers.cells import LEVEL, Grid, cells_tile_sql, count_sql
from layers.filters import Selection
from layers.registry import Layer

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
# PostgreSQL types and how a tile carries them (MVT has strings, numbers and booleans)
_AS_TEXT = {
    "timestamptz": "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    "timestamp": "to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS')",
    "date": "to_char({c}, 'YYYY-MM-DD')",
    "numeric": "{c}::double precision",
}
_TYPE_NAMES = {
    16: "bool",
    20: "int8",
    21: "int2",
    23: "int4",
    25: "text",
    700: "float4",
    701: "float8",
    1043: "varchar",
    1082: "date",
    1114: "timestamp",
    1184: "timestamptz",
    1700: "numeric",
}
_columns_cache: dict[tuple[str, str], dict[str, str]] = {}


@dataclass
class Tile:
    """A rendered tile: its bytes, whether it holds ``points`` or ``cells``, and how many
    features (points) or appeals (cells) it counts."""

    data: bytes
    kind: Literal["features", "points", "cells"]
    counted: int


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse tile coordinates outside the WebMercatorQuad pyramid."""
    if not 0 <= z <= MAX_ZOOM:
        raise ValueError(f"zoom {z} is outside 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ValueError(f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y are 0..{n - 1}")


def source_columns(conn: Connection, layer: Layer) -> dict[str, str]:
    """The source's columns and their PostgreSQL types (read once per layer and source)."""
    key = (layer.name, layer.source)
    if key not in _columns_cache:
        res = conn.execute(text(f"SELECT * FROM ({layer.source_sql}) AS src LIMIT 0"), {"city": 0})
        desc = res.cursor.description
        res.close()
        _columns_cache[key] = {d[0]: _TYPE_NAMES.get(d[1], "text") for d in desc}
    return _columns_cache[key]


def mvt_field_types(conn: Connection, layer: Layer) -> dict[str, str]:
    """TileJSON ``fields`` of the layer: property -> ``String``, ``Number`` or ``Boolean``."""
    types = source_columns(conn, layer)
    out = {}
    for p in layer.properties:
        t = types.get(p, "text")
        out[p] = (
            "Boolean"
            if t == "bool"
            else "Number"
            if t in ("int2", "int4", "int8", "float4", "float8", "numeric")
            else "String"
        )
    return out


def _select_properties(conn: Connection, layer: Layer, skip: str | None) -> str:
    types = source_columns(conn, layer)
    cols = []
    for p in layer.properties:
        if p == skip:
            cols.append(f"src.{p}")
            continue
        expr = _AS_TEXT.get(types.get(p, ""), "{c}").format(c=f"src.{p}")
        cols.append(f"{expr} AS {p}" if expr != f"src.{p}" else expr)
    return ", ".join(cols)


def features_tile_sql(conn: Connection, layer: Layer, sel: Selection) -> tuple[str, dict]:
    """The query returning ``(mvt bytes, features)`` for a tile of plain features."""
    conds, params = sel.conditions()
    id_arg = f", '{layer.id_column}'" if layer.id_type == "int" else ""
    props = _select_properties(conn, layer, layer.id_column if id_arg else None)
    where = " AND ".join(
        ["src.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326)", *conds]
    )
    sql = f"""
    SELECT ST_AsMVT(t, :layer, {EXTENT}, 'geom'{id_arg}), count(t.geom)
    FROM (
      SELECT {props},
             ST_AsMVTGeom(ST_Transform(src.{layer.geometry_column}, 3857),
                          ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true) AS geom
      FROM ({layer.source_sql}) AS src
      WHERE {where}) AS t"""
    return sql, {**params, "layer": layer.name, "margin": BUFFER / EXTENT}


def points_tile_sql(
    conn: Connection,
    layer: Layer,
    sel: Selection,
    grid: Grid,
) -> tuple[str, dict]:
    """The query returning ``(mvt bytes, appeals in the tile)`` for a tile of appeal points.

    The tile's own appeals are one range of ``ix_appeals_cell`` (read without the table);
    those of the cells around it are added when they fall in the tile's buffer, so that
    symbols at the edge are drawn whole, but only the tile's own are counted.
    """
    conds, params = sel.conditions()
    props = _select_properties(conn, layer, layer.id_column)
    cols = ", ".join(layer.properties)
    extra = "".join(f" AND {c}" for c in conds)
    # only what the tile shows, so that the index holding it answers alone
    picked = ", ".join(f"src.{c}" for c in (*layer.properties, layer.geometry_column))
    width = max(1, -(-(1 << (LEVEL - grid.z)) * BUFFER // EXTENT))
    sql = f"""
    WITH f AS (
      SELECT {props}, own,
             ST_AsMVTGeom(ST_Transform(src.{layer.geometry_column}, 3857),
                          ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true) AS geom
      FROM (SELECT {picked}, true AS own FROM ({layer.source_sql}) AS src
            WHERE src.cell BETWEEN :k0 AND :k1{extra}
            UNION ALL
            SELECT {picked}, false FROM ({layer.source_sql}) AS src
            WHERE src.cell = ANY(:ring)
              AND src.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326)
              {extra}) AS src)
    SELECT (SELECT ST_AsMVT(t, :layer, {EXTENT}, 'geom', '{layer.id_column}')
            FROM (SELECT {cols}, geom FROM f) AS t),
           (SELECT count(*) FROM f WHERE own)"""
    return sql, {
        **params,
        **grid.params,
        "layer": layer.name,
        "ring": grid.ring(width),
        "margin": BUFFER / EXTENT,
    }


def render_tile(
    conn: Connection, layer: Layer, sel: Selection, city: int, z: int, x: int, y: int
) -> Tile:
    """Make the tile ``z/x/y`` of ``layer`` for ``city`` with the filters of ``sel``.

    Parameters
    ----------
    conn : a connection (read-only use).
    layer : the declared layer.
    sel : the checked filter values.
    city, z, x, y : the city and the tile (WebMercatorQuad, XYZ numbering).

    Returns
    -------
    Tile
        The MVT bytes (empty when the tile has nothing), the kind of tile and its count.
    """
    check_tile(z, x, y)
    base = {"city": city, "z": z, "x": x, "y": y}
    if z < layer.minzoom:
        return Tile(b"", "features", 0)
    agg = layer.aggregation
    if agg is None or z > LEVEL:
        sql, params = features_tile_sql(conn, layer, sel)
        data, counted = conn.execute(text(sql), {**params, **base}).one()
        return Tile(bytes(data or b""), "points" if agg else "features", counted)
    grid = Grid.of(z, x, y, agg.grid_bits)
    cells = z < agg.below_zoom
    if not cells and z < layer.maxzoom and agg.max_points is not None:
        # a points tile over the budget is served as cells rather than truncated
        sql, params = count_sql(layer, sel, grid)
        cells = conn.execute(text(sql), {**params, **base}).scalar_one() > agg.max_points
    if cells:
        sql, params = cells_tile_sql(layer, sel, grid)
        data, counted = conn.execute(text(sql), {**params, **base}).one()
        return Tile(bytes(data or b""), "cells", counted)
    # a points tile is small: a parallel plan would only add start-up time
    conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    sql, params = points_tile_sql(conn, layer, sel, grid)
    data, counted = conn.execute(text(sql), {**params, **base}).one()
    return Tile(bytes(data or b""), "points", counted)


__all__ = [
    "Tile",
    "check_tile",
    "features_tile_sql",
    "mvt_field_types",
    "points_tile_sql",
    "render_tile",
    "source_columns",
]
