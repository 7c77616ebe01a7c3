"""GeoJSON features of a declared layer, for OGC API – Features.

PostGIS writes the GeoJSON (lon/lat, RFC 7946) and Python only wraps it: a page of features
is one query ordered by the layer's id, ``numberMatched`` another.

>>> Page.parse(bbox="69.1,54.85,69.2,54.9", limit="50", offset=None).bbox
(69.1, 54.85, 69.2, 54.9)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from layers.filters import BadQuery, Selection
from layers.registry import Layer

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000_000


def _int(text_value: str | None, name: str, default: int, low: int) -> int:
    if text_value is None or text_value == "":
        return default
    try:
        value = int(text_value)
    except ValueError:
        raise BadQuery(f"{name}: {text_value!r} is not an integer") from None
    if value < low:
        raise BadQuery(f"{name}: {value} is below {low}")
    return value


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """``minLon,minLat,maxLon,maxLat`` (or six numbers with heights) in CRS84.

    >>> parse_bbox("69,54,70,55")
    (69.0, 54.0, 70.0, 55.0)
    """
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (4, 6):
        raise BadQuery(
            f"bbox: {len(parts)} numbers given; give 4 (minLon,minLat,maxLon,maxLat)"
            " or 6 (with minimum and maximum heights), comma-separated"
        )
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise BadQuery(f"bbox: {value!r} must be comma-separated numbers") from None
    if not all(math.isfinite(n) for n in nums):
        raise BadQuery("bbox: numbers must be finite")
    w, s, e, n = (nums[0], nums[1], nums[3], nums[4]) if len(nums) == 6 else nums
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise BadQuery(
            f"bbox: longitudes must be within -180..180 (got {w}, {e}); the order "
            "is minLon,minLat,maxLon,maxLat"
        )
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise BadQuery(
            f"bbox: latitudes must be within -90..90 (got {s}, {n}); the order "
            "is minLon,minLat,maxLon,maxLat"
        )
    if s > n:
        raise BadQuery(f"bbox: minLat {s} is above maxLat {n}")
    if w > e:
        raise BadQuery(
            f"bbox: minLon {w} is east of maxLon {e} (a box across the antimeridian "
            "is not supported)"
        )
    return w, s, e, n


@dataclass(frozen=True)
class Page:
    """Which features a request asks for: a bounding box and a page of them.

    ``limit`` above :data:`MAX_LIMIT` is served as :data:`MAX_LIMIT` (as OGC API – Features
    recommends); a malformed or non-positive one is an error.
    """

    bbox: tuple[float, float, float, float] | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, bbox: str | None, limit: str | None, offset: str | None) -> Page:
        lim = min(_int(limit, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
        off = _int(offset, "offset", 0, 0)
        if off > MAX_OFFSET:
            raise BadQuery(
                f"offset: at most {MAX_OFFSET}; narrow the query with bbox, "
                "datetime or filters instead"
            )
        return cls(parse_bbox(bbox) if bbox is not None else None, lim, off)


def _where(
    layer: Layer, sel: Selection, page: Page | None, extra: tuple[str, dict] | None = None
) -> tuple[str, dict]:
    conds, params = sel.conditions()
    if extra is not None:  # a CQL2 filter (layers.cql), its values bound
        conds.append(extra[0])
        params.update(extra[1])
    if page and page.bbox:
        # the explicit && lets the GiST index serve under row-level security, where only a
        # LEAKPROOF operator may run ahead of the policy (migration 0011)
        geom = f"src.{layer.geometry_column}"
        box = "ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
        conds.append(f"{geom} && {box} AND ST_Intersects({geom}, {box})")
        params.update(zip("wsen", page.bbox, strict=True))
    return " AND ".join(conds) or "true", params


def _feature_json(layer: Layer) -> str:
    props = [p for p in (*layer.properties, *layer.item_properties) if p != layer.id_column]
    pairs = ", ".join(f"'{p}', src.{p}" for p in props)
    return (
        f"json_build_object('type', 'Feature', 'id', src.{layer.id_column}, "
        f"'geometry', ST_AsGeoJSON(src.{layer.geometry_column}, 7)::json, "
        f"'properties', json_build_object({pairs}))"
    )


def feature_page(
    conn: Connection,
    layer: Layer,
    sel: Selection,
    city: int,
    page: Page,
    extra: tuple[str, dict] | None = None,
) -> tuple[int, int, str]:
    """One page of features: ``(numberMatched, numberReturned, JSON array of features)``.

    Parameters
    ----------
    conn : a connection.
    layer : the declared layer.
    sel : the checked filters (time window included).
    city : the city.
    page : bounding box, limit and offset.
    extra : one more condition and its parameters (a CQL2 filter, :func:`layers.cql.cql_where`).
    """
    where, params = _where(layer, sel, page, extra)
    params = {**params, "city": city, "limit": page.limit, "offset": page.offset}
    source = f"({layer.source_sql}) AS src"
    matched = conn.execute(
        text(f"SELECT count(*) FROM {source} WHERE {where}"), params
    ).scalar_one()
    returned, features = conn.execute(
        text(f"""
        SELECT count(*), coalesce(json_agg(f.feature ORDER BY f.key), '[]'::json)::text
        FROM (SELECT {_feature_json(layer)} AS feature, src.{layer.id_column} AS key
              FROM {source} WHERE {where}
              ORDER BY src.{layer.id_column} LIMIT :limit OFFSET :offset) AS f"""),
        params,
    ).one()
    return matched, returned, features


def one_feature(
    conn: Connection, layer: Layer, sel: Selection, city: int, feature_id: int | str
) -> str | None:
    """The feature ``feature_id`` as GeoJSON text, or ``None`` if there is none visible."""
    where, params = _where(layer, sel, None)
    return conn.execute(
        text(f"""
        SELECT {_feature_json(layer)}::text FROM ({layer.source_sql}) AS src
        WHERE src.{layer.id_column} = :fid AND {where}"""),
        {**params, "city": city, "fid": feature_id},
    ).scalar()


#: PostgreSQL types as JSON Schema (anything else is a string)
_JSON_TYPES = {
    "int2": {"type": "integer"},
    "int4": {"type": "integer"},
    "int8": {"type": "integer"},
    "float4": {"type": "number"},
    "float8": {"type": "number"},
    "numeric": {"type": "number"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "timestamp": {"type": "string", "format": "date-time"},
}
#: a layer's geometry type (multi types included) as OGC API – Features Part 5 formats
_GEOMETRY_FORMATS = {
    "Point": "geometry-point-or-multipoint",
    "LineString": "geometry-linestring-or-multilinestring",
    "Polygon": "geometry-polygon-or-multipolygon",
}


def column_types(conn: Connection, layer: Layer, city: int) -> dict[str, dict]:
    """The JSON Schema type of each column an OGC item carries, from the database's own
    description of the layer's query (no row is read)."""
    columns = (layer.id_column, *layer.properties, *layer.item_properties)
    wanted = ", ".join(f"src.{c}" for c in dict.fromkeys(columns))
    result = conn.execute(
        text(f"SELECT {wanted} FROM ({layer.source_sql}) AS src LIMIT 0"), {"city": city}
    )
    oids = {d[0]: d[1] for d in result.cursor.description}
    names = dict(
        conn.execute(
            text("SELECT oid::int, typname::text FROM pg_type WHERE oid = ANY(:o)"),
            {"o": list(set(oids.values()))},
        ).all()
    )
    return {c: dict(_JSON_TYPES.get(names.get(o, ""), {"type": "string"})) for c, o in oids.items()}


def feature_schema(types: dict[str, dict], layer: Layer, title: str) -> dict:
    """JSON Schema of one feature's properties (the collection's ``describedby``): typed,
    so that GIS clients (GDAL's OAPIF driver) make integer and date fields, not text."""
    props = {c: {**t, "title": c} for c, t in types.items() if c != layer.id_column}
    geometry = _GEOMETRY_FORMATS.get(layer.geometry_type, "geometry-any")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {
            "id": {**types.get(layer.id_column, {"type": "string"}), "x-ogc-role": "id"},
            "geometry": {"format": geometry, "x-ogc-role": "primary-geometry"},
            **props,
        },
    }


def queryables(types: dict[str, dict], layer: Layer, title: str) -> dict:
    """OGC API – Features Part 3 queryables: the layer's filters that test one value
    (``in`` filters), by their query parameter's name and the type of their column; a
    client may send ``?name=value`` for each (comma-separated for several values)."""
    props: dict[str, dict] = {}
    for f in layer.filters:
        if f.kind != "in":
            continue
        schema = dict(types.get(f.column, {"type": "string"}))
        if f.value_type == "int":
            schema = {"type": "integer"}
        if f.values:
            schema["enum"] = list(f.values)
        props[f.name] = {**schema, "title": f.doc or f.name}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def extent(conn: Connection, layer: Layer, city: int) -> dict:
    """The layer's extent for its collection: the city's bounds and, for a layer with a
    time column, the first and last time in the data."""
    w, s, e, n = conn.execute(
        text(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) "
            "FROM (SELECT bounds::box2d AS b FROM cities WHERE id = :c) AS x"
        ),
        {"c": city},
    ).one()
    out: dict = {
        "spatial": {"bbox": [[w, s, e, n]], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    }
    if layer.time_column:
        first, last = conn.execute(
            text(
                f"SELECT min(src.{layer.time_column}), max(src.{layer.time_column}) "
                f"FROM ({layer.source_sql}) AS src"
            ),
            {"city": city},
        ).one()
        out["temporal"] = {
            "interval": [
                [first.isoformat() if first else None, last.isoformat() if last else None]
            ],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return out


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Page",
    "column_types",
    "extent",
    "feature_page",
    "feature_schema",
    "queryables",
    "one_feature",
    "parse_bbox",
]
