"""The city as a basemap: where it is, its base layers for a bounding box, district labels.

What the pages' maps draw from (until the vector tiles of ``layers/`` serve every layer):
the city's frame (:class:`CityView`), one base layer's features in a lon/lat box as GeoJSON,
and each district's name at a point inside it. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.infra.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class CityView:
    """Where the city is: the map opens on it and cannot be dragged far from it."""

    id: int
    code: str
    names: dict[str, str]
    synthetic: bool
    west: float
    south: float
    east: float
    north: float

    @property
    def center(self) -> tuple[float, float]:
        """(lat, lon) as Leaflet wants it."""
        return (self.south + self.north) / 2, (self.west + self.east) / 2


def city_view(conn: Connection, city_id: int) -> CityView:
    """The city's codes, names in three languages and bounding box.

    Raises
    ------
    NotFound
        No city with this id.
    """
    row = (
        conn.execute(
            text("""
        SELECT id, code, name_ru, name_kk, name_en, synthetic, ST_XMin(bounds) AS west,
               ST_YMin(bounds) AS south, ST_XMax(bounds) AS east, ST_YMax(bounds) AS north
        FROM cities WHERE id = :c"""),
            {"c": city_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no city with id {city_id}")
    return CityView(
        row["id"],
        row["code"],
        {"ru": row["name_ru"], "kk": row["name_kk"], "en": row["name_en"]},
        row["synthetic"],
        row["west"],
        row["south"],
        row["east"],
        row["north"],
    )


def city_names(conn: Connection, lang: str) -> dict[str, str]:
    """Every city's name in ``lang`` (``ru``, ``kk`` or ``en``; Russian when missing), by
    code: the staff pages' city picker names the cities an account works in."""
    column = {"kk": "name_kk", "en": "name_en"}.get(lang, "name_ru")
    rows = conn.execute(text(f"SELECT code, coalesce({column}, name_ru) FROM cities ORDER BY code"))
    return {code: name for code, name in rows}


# One SELECT per layer: identifiers come only from this table, never from the request.
LAYER_SQL = {
    "districts": (
        "districts",
        "json_build_object('id', t.id, 'name_ru', t.name_ru, 'name_kk', t.name_kk)",
    ),
    "streets": (
        "streets",
        "json_build_object('id', t.id, 'name_ru', t.name_ru, 'name_kk', t.name_kk, 'kind', t.kind)",
    ),
    "yards": (
        "yards",
        "json_build_object('id', t.id, 'name', t.name, 'repair_status', t.repair_status)",
    ),
    "buildings": (
        "buildings",
        "json_build_object('id', t.id, 'address_ru', t.address_ru, "
        "'kind', t.kind, 'apartments', t.apartments)",
    ),
    "wells": ("wells", "json_build_object('id', t.id, 'kind', t.kind, 'code', t.code)"),
}
LAYER_LIMIT = 20_000


def layer_geojson(
    conn: Connection, city_id: int, layer: str, bbox: tuple[float, float, float, float]
) -> dict:
    """The features of one base layer that meet ``bbox`` (west, south, east, north), lon/lat.

    Parameters
    ----------
    layer
        One of :data:`LAYER_SQL` (``districts``, ``streets``, ``yards``, ``buildings``,
        ``wells``); at most :data:`LAYER_LIMIT` features, by id.

    Raises
    ------
    NotFound
        An unknown layer.
    InvalidInput
        A box whose west is not west of its east, or south not south of its north.
    """
    if layer not in LAYER_SQL:
        raise NotFound(f"no layer {layer!r}: one of {', '.join(LAYER_SQL)}")
    west, south, east, north = bbox
    if not (west < east and south < north):
        raise InvalidInput("bbox must be west,south,east,north with west < east, south < north")
    table, props = LAYER_SQL[layer]
    sql = text(f"""
        SELECT coalesce(json_agg(json_build_object(
                 'type', 'Feature', 'id', t.id, 'properties', {props},
                 'geometry', ST_AsGeoJSON(t.geom, 6)::json)), '[]') AS features
        FROM (SELECT * FROM {table} WHERE city_id = :c
              AND geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
              ORDER BY id LIMIT :lim) t""")
    features = conn.execute(
        sql, {"c": city_id, "w": west, "s": south, "e": east, "n": north, "lim": LAYER_LIMIT}
    ).scalar_one()
    return {"type": "FeatureCollection", "features": features}


def district_labels(conn: Connection, city_id: int, lang: str) -> list[dict]:
    """Each district's name (Kazakh for ``kk``, else Russian) at a point inside it:
    ``[{name, lat, lon}]`` in the districts' order; a missing name is ``""``."""
    column = "name_kk" if lang == "kk" else "name_ru"
    rows = conn.execute(
        text(f"""
        SELECT {column} AS name, ST_Y(ST_PointOnSurface(geom)) AS lat,
               ST_X(ST_PointOnSurface(geom)) AS lon
        FROM districts WHERE city_id = :c ORDER BY id"""),
        {"c": city_id},
    ).mappings()
    return [{"name": r["name"] or "", "lat": r["lat"], "lon": r["lon"]} for r in rows]
