"""What anyone may read of appeals: the address as the city map knows it, and the public lists
(Open311's service requests).

A caller's free-text address (``appeals.address_text``) may hold a name, a flat number or a
phone ("кв. 45, спросить Жанар, +7 701 …"): it is for staff only. Public answers show the
address the map gives the appeal's place instead (:data:`ADDRESS_SQL`):

1. the building the appeal is on (its object), else
2. the building the point would snap to (within :data:`BUILDING_M`, as ``qala_locate``),
   else
3. the street the point would snap to (within :data:`STREET_M`),

in Russian and Kazakh (``address_ru``, ``address_kk``); none when the point is far from both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals import reads, states

BUILDING_M = 40.0  # the building snap of qala_locate (migration 0005)
STREET_M = 120.0  # the street snap of qala_locate


def _nearest(table: str, ru: str, kk: str, metres: float) -> str:
    # the degree box lets the GiST index find the candidates (a cast to geography cannot)
    return f"""
  (SELECT ARRAY[t.{ru}, t.{kk}] FROM {table} t, qala_degree_box(q.lat, {metres}) box
   WHERE t.city_id = q.city_id
     AND t.geom && ST_Expand(ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326), box.dx, box.dy)
     AND ST_DWithin(t.geom::geography,
                    ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326)::geography, {metres})
   ORDER BY t.geom <-> ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326), t.id LIMIT 1)"""


#: the map's address of an appeal row ``q`` (columns city_id, object_kind, object_id, lon,
#: lat) as ``ARRAY[address_ru, address_kk]``; coalesce stops at the first that is found
ADDRESS_SQL = f"""coalesce(
  (SELECT ARRAY[b.address_ru, b.address_kk] FROM buildings b
   WHERE q.object_kind = 'building' AND b.city_id = q.city_id AND b.id = q.object_id),
  {_nearest("buildings", "address_ru", "address_kk", BUILDING_M)},
  {_nearest("streets", "name_ru", "name_kk", STREET_M)})"""

_ONE_SQL = text(f"SELECT {ADDRESS_SQL} FROM (SELECT :c AS city_id, :k AS object_kind, "
                f"CAST(:o AS bigint) AS object_id, CAST(:x AS float8) AS lon, "
                f"CAST(:y AS float8) AS lat) q")  # fmt: skip


def _split(place: list[str] | None) -> dict:
    ru, kk = place or (None, None)
    return {"address_ru": ru, "address_kk": kk}


def map_address(conn: Connection, appeal: dict) -> dict:
    """The address of an appeal as the city map knows its place (see the module).

    Parameters
    ----------
    conn
        A connection.
    appeal
        The appeal as :func:`geo.appeals.reads.get_appeal` returns it (``city_id``,
        ``object_kind``, ``object_id``, ``lon``, ``lat`` are read).

    Returns
    -------
    dict
        ``{"address_ru": ..., "address_kk": ...}``; both ``None`` far from any building
        or street.
    """
    place = conn.execute(
        _ONE_SQL,
        {
            "c": appeal["city_id"],
            "k": appeal["object_kind"],
            "o": appeal["object_id"],
            "x": appeal["lon"],
            "y": appeal["lat"],
        },
    ).scalar()
    return _split(place)


def queue_yard(conn: Connection, appeal: dict) -> int | None:
    """The yard whose place in the public repair queue an appeal concerns: its yard, when
    its category counts for the queue; else ``None``."""
    return conn.execute(
        text("""
        SELECT a.yard_id FROM appeals a JOIN categories c ON c.code = a.category_code
        WHERE a.city_id = :c AND a.id = :i AND c.counts_for_yard_queue"""),
        {"c": appeal["city_id"], "i": appeal["id"]},
    ).scalar()


@dataclass
class RequestQuery:
    """Which appeals a public list asks for: registration numbers (which override the rest),
    or categories, open/closed and a time window."""

    numbers: list[str] | None = None
    categories: list[str] | None = None
    open: bool | None = None  # None: open and closed
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def conditions(self) -> tuple[list[str], dict]:
        """SQL conditions on ``appeal_cards a`` and their parameters."""
        where: list[str] = []
        params: dict = {}
        if self.numbers:
            where.append("a.reg_number = ANY(:ids)")
            params["ids"] = [n.upper() for n in self.numbers]
            return where, params
        if self.categories:
            where.append("a.category_code = ANY(:codes)")
            params["codes"] = self.categories
        if self.open is not None:
            where.append("a.status = ANY(:states)")
            params["states"] = list(states.OPEN if self.open else states.CLOSED)
        if self.start is not None and self.end is not None:
            where.append("a.created_at BETWEEN :start AND :end")
            params.update(start=self.start, end=self.end)
        return where, params


_REQUESTS_SQL = """
SELECT q.*, (SELECT max(e.at) FROM appeal_events e
             WHERE e.city_id = :c AND e.appeal_id = q.id) AS updated_at,
       coalesce(
         (SELECT '/api/v1/appeals/' || q.reg_number || '/photos/' || p.id || '/page.jpg'
          FROM appeal_photos p WHERE p.city_id = :c AND p.appeal_id = q.id AND p.approved
          ORDER BY p.id LIMIT 1),
         (SELECT m.url FROM appeal_media m
          WHERE m.city_id = :c AND m.appeal_id = q.id ORDER BY m.id LIMIT 1)) AS media_url,
       {address} AS place
FROM ({appeals} {where} ORDER BY a.created_at DESC, a.id DESC LIMIT :lim OFFSET :off) q
ORDER BY q.created_at DESC, q.id DESC
"""


def public_requests(
    conn: Connection, city_id: int, query: RequestQuery, limit: int, offset: int
) -> list[dict]:
    """Appeals for a public list (Open311's service requests), newest first.

    Parameters
    ----------
    conn
        A connection.
    city_id
        The city.
    query
        Which appeals.
    limit, offset
        The page.

    Returns
    -------
    list of dict
        Each appeal as ``appeal_cards`` shows it, with the time of its last event
        (``updated_at``), its first photo (``media_url``: the page copy of its first approved
        photo as a path of this service, else the first link kept before photos were
        stored) and the map's address
        (``address_ru``, ``address_kk``). Callers publish none of the free text
        (``description``, ``address_text``) these rows also hold.
    """
    where, params = query.conditions()
    sql = _REQUESTS_SQL.format(
        address=ADDRESS_SQL,
        appeals=reads.APPEAL_SQL,
        where="".join(f" AND {w}" for w in where),
    )
    rows = conn.execute(text(sql), {**params, "c": city_id, "lim": limit, "off": offset})
    out = []
    for r in rows.mappings():
        row = dict(r)
        row.update(_split(row.pop("place")))
        out.append(row)
    return out
