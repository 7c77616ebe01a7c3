"""What a channel names and the map resolves: a city's code and time zone, the categories,
and a building given by its id or by an address someone typed.

Channels such as Open311 clients send a building id (``address_id``) or an address string
instead of a point; these turn them into the building and its point on the map.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from geo.city.address import split_house_number
from geo.city.search import search_address
from geo.infra.errors import InvalidInput

_BUILDING_SQL = text("""
SELECT id, address_ru, address_kk, ST_X(ST_PointOnSurface(geom)) AS lon,
       ST_Y(ST_PointOnSurface(geom)) AS lat
FROM buildings WHERE city_id = :c AND id = :i""")


def city_code(conn: Connection, city_id: int) -> str:
    """The code of a city (``PET``) by its id."""
    return conn.execute(text("SELECT code FROM cities WHERE id = :c"), {"c": city_id}).scalar_one()


def city_timezone(conn: Connection, city_id: int) -> ZoneInfo:
    """The city's time zone; UTC when it has none or an unknown one."""
    name = conn.execute(text("SELECT timezone FROM cities WHERE id = :c"), {"c": city_id}).scalar()
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def categories(conn: Connection, code: str | None = None) -> list[dict]:
    """All categories, or the one with ``code`` (an empty list when there is none), by group
    and code."""
    sql = "SELECT * FROM categories" + (" WHERE code = :code" if code else "")
    rows = conn.execute(text(sql + " ORDER BY group_code, code"), {"code": code}).mappings()
    return [dict(r) for r in rows]


def building_by_id(conn: Connection, city_id: int, building_id: str) -> dict:
    """A building of the city by its id as a client wrote it, with a point on its surface.

    Raises
    ------
    InvalidInput
        When the id is not a whole number or no building of the city has it.
    """
    try:
        bid = int(building_id)
    except ValueError as exc:
        raise InvalidInput("address_id must be a building id (a whole number)") from exc
    row = (
        conn.execute(_BUILDING_SQL, {"c": city_id, "i": bid if abs(bid) < 2**62 else -1})
        .mappings()
        .first()
    )
    if row is None:
        raise InvalidInput(f"address_id {building_id!r}: no such building in this city")
    return dict(row)


def building_by_address(conn: Connection, city_id: int, address: str) -> dict:
    """The building an address names (the best hit of the address search).

    Raises
    ------
    InvalidInput
        When the address has no house number or nothing in the city matches it.
    """
    if split_house_number(address)[1] is None:
        raise InvalidInput("address_string needs a house number, e.g. «Абая 12»")
    hits = search_address(conn, city_id, address, 1)
    if not hits:
        raise InvalidInput(f"address_string {address!r} was not found in this city")
    return hits[0]
