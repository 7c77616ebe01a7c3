"""After appeals are written in bulk (the demo generator, a history import): repeats linked
(the appeals read once, searched in numpy, the links written in one statement), counters per
object recounted, and the registration-number sequences moved past the numbers already taken.
"""

from __future__ import annotations

import io
import re
import struct

import numpy as np
from sqlalchemy import Connection, text

from geo.appeals.intake import ensure_sequence
from geo.appeals.repeat_search import (
    CityAppeals,
    best_candidates,
    deciding_pairs,
    roots,
)
from geo.models import OBJECT_KINDS

#: The city's appeals for :mod:`geo.appeals.repeat_search`, one fixed-size row each in
#: PostgreSQL's binary COPY format (no NULLs: each has its sentinel): id, the category (its
#: index in the order of codes, and its radius), created_at and created_at minus the
#: category's window (as the live function subtracts the interval, in the session's time
#: zone), object kind (index in :data:`geo.models.OBJECT_KINDS`, from 1) and id, placeholder,
#: counts (not rejected or a duplicate), link, and the point in degrees. The indexes come from
#: joins (a search of an array per row costs seconds at millions of rows).
POINTS_SQL = """
SELECT a.id, c.ord, c.repeat_radius_m, a.created_at,
       a.created_at - make_interval(days => c.repeat_window_days),
       coalesce(k.ord, 0)::int2, coalesce(a.object_id, -1), a.placeholder_geocode,
       coalesce(a.status NOT IN ('rejected', 'duplicate'), false), coalesce(a.repeat_of_id, -1),
       ST_X(a.geom), ST_Y(a.geom)
FROM appeals a
JOIN (SELECT code, repeat_radius_m, repeat_window_days,
             (row_number() OVER (ORDER BY code) - 1)::int2 AS ord
      FROM categories) AS c ON c.code = a.category_code
LEFT JOIN unnest(%(kinds)s::text[]) WITH ORDINALITY AS k (kind, ord) ON k.kind = a.object_kind
WHERE a.city_id = %(c)s
"""
_FIELDS = [
    ("id", "i8"),
    ("cat", "i2"),
    ("radius", "i2"),
    ("t", "i8"),
    ("since", "i8"),
    ("kind", "i2"),
    ("oid", "i8"),
    ("placeholder", "?"),
    ("counts", "?"),
    ("link", "i8"),
    ("lon", "f8"),
    ("lat", "f8"),
]
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)

#: The pairs that may decide an ambiguous appeal, measured by PostGIS as the live function
#: measures: ``ST_DWithin`` on geography for a pair within the radius, the distance rounded to
#: 0.1 m (in tenths here), the candidate first as live. The points are sent as numbers (the
#: doubles of ``ST_X``/``ST_Y`` of the stored point, or those a load is about to write): the
#: same geography as the stored ``geom`` cast, so the rows need not be in the table yet.
SETTLE_SQL = """
SELECT p.i,
       p.same OR ST_DWithin(g.b, g.a, p.r) AS eligible,
       (round(ST_Distance(g.b, g.a)::numeric, 1) * 10)::bigint
FROM repeat_pairs p,
     LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.ax, p.ay), 4326)::geography AS a,
                     ST_SetSRID(ST_MakePoint(p.bx, p.by), 4326)::geography AS b) AS g
"""

#: ``created_at`` minus a window of days as the live function subtracts it: in the session's
#: time zone (a day across a change of the clocks is 23 or 25 hours).
WINDOW_SQL = """
SELECT t - make_interval(days => d::integer) FROM repeat_windows ORDER BY i
"""
#: Session time zones without changes of the clocks, where the window is plain arithmetic.
_FIXED_ZONE = re.compile(
    r"(?i)(etc/)?(utc|uct|gmt|gmt0|gmt[+-]0|greenwich|universal|zulu|gmt[+-]\d{1,2})"
)
_DAY_US = 86_400_000_000

#: The links, written from a temporary table in one statement.
WRITE_SQL = """
UPDATE appeals a SET repeat_of_id = l.root
FROM repeat_links l WHERE a.city_id = :c AND a.id = l.id
"""


def copy_out(conn: Connection, sql: str, params: dict) -> bytes:
    """The rows of a query in PostgreSQL's binary COPY format, in the caller's transaction."""
    cur = conn.connection.dbapi_connection.cursor()
    try:
        buf = io.BytesIO()
        query = cur.mogrify(sql, params).decode()
        cur.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT binary)", buf)
        return buf.getvalue()
    finally:
        cur.close()


def _copy_in(conn: Connection, table: str, columns: dict[str, np.ndarray]) -> None:
    """Columns of int64, float64 or bool into a table with PostgreSQL's binary COPY (int64
    also into ``timestamptz``: microseconds since 2000)."""
    n = len(next(iter(columns.values())))
    fields = [("count", ">i2")]
    for name, values in columns.items():
        kind = {"b": "?", "f": ">f8"}.get(values.dtype.kind, ">i8")
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    rows = np.zeros(n, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for name, values in columns.items():
        rows[f"{name}_len"] = 1 if values.dtype == bool else 8
        rows[name] = values
    data = _COPY_HEADER + rows.tobytes() + struct.pack(">h", -1)
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)", io.BytesIO(data)
        )
    finally:
        cur.close()


def object_keys(kind: np.ndarray, oid: np.ndarray) -> np.ndarray:
    """The map object of each appeal as one number for :class:`CityAppeals` (``obj``): the
    kind (its position in :data:`geo.models.OBJECT_KINDS`, from 1) and the id; -1 without an
    id."""
    kind = np.asarray(kind).astype(np.int64)
    oid = np.asarray(oid).astype(np.int64)
    if len(oid) and oid.max() >= (1 << 59):
        raise RuntimeError("object ids beyond 2**59: the object key would overflow")
    return np.where(oid >= 0, kind * (1 << 59) + oid, -1) if len(oid) else oid


def read_appeals(conn: Connection, city_id: int) -> tuple[CityAppeals, np.ndarray]:
    """The city's appeals as arrays, in the order of (created_at, id), and the radius of each
    category (by ``cat``; 0 for a category without appeals)."""
    params = {"c": city_id, "kinds": list(OBJECT_KINDS)}
    data = copy_out(conn, POINTS_SQL, params)
    fields = [("count", ">i2")]
    for name, kind in _FIELDS:
        fields += [(f"{name}_len", ">i4"), (name, kind if kind == "?" else ">" + kind)]
    row = np.dtype(fields)
    n = (len(data) - len(_COPY_HEADER) - 2) // row.itemsize
    rows = np.frombuffer(data, dtype=row, count=n, offset=len(_COPY_HEADER))
    widths = {name: np.dtype(kind).itemsize for name, kind in _FIELDS}
    if n and not all((rows[f"{k}_len"] == w).all() for k, w in widths.items()):
        raise RuntimeError("unexpected NULL or width in the appeals' binary COPY")
    obj = object_keys(rows["kind"], rows["oid"])
    cat = rows["cat"].astype(np.int64)
    radius_m = np.zeros(int(cat.max()) + 1 if n else 1)
    radius_m[cat] = rows["radius"]
    ap = CityAppeals(
        id=rows["id"].astype(np.int64),
        cat=cat,
        t=rows["t"].astype(np.int64),
        since=rows["since"].astype(np.int64),
        obj=obj,
        placeholder=rows["placeholder"].astype(bool),
        counts=rows["counts"].astype(bool),
        link=rows["link"].astype(np.int64),
        lon=rows["lon"].astype(np.float64),
        lat=rows["lat"].astype(np.float64),
    ).sorted()
    return ap, radius_m


def _settle(conn, ap, radius_m, within_radius, parent, ambiguous) -> None:
    """The ambiguous appeals' candidates, chosen by PostGIS's measures (in ``parent``)."""
    a, b, notsame = deciding_pairs(ap, radius_m, within_radius, ambiguous)
    conn.execute(text("DROP TABLE IF EXISTS repeat_pairs"))
    conn.execute(
        text(
            "CREATE TEMP TABLE repeat_pairs (i bigint, same bool, r bigint, "
            "ax float8, ay float8, bx float8, by float8)"
        )
    )
    pairs = {
        "i": np.arange(len(a), dtype=np.int64),
        "same": notsame == 0,
        "r": radius_m[ap.cat[a]].astype(np.int64),
        "ax": ap.lon[a],
        "ay": ap.lat[a],
        "bx": ap.lon[b],
        "by": ap.lat[b],
    }
    _copy_in(conn, "repeat_pairs", pairs)
    measured = conn.execute(text(SETTLE_SQL)).all()
    conn.execute(text("DROP TABLE repeat_pairs"))
    parent[ambiguous] = -1
    won = np.array([(i, tenths) for i, eligible, tenths in measured if eligible], dtype=np.int64)
    if len(won) == 0:
        return
    i = won[:, 0]
    # the live order: same object first, then the distance, then the rank (time, id)
    key = (notsame[i] << np.int64(62)) | (won[:, 1] << np.int64(34)) | b[i]
    order = np.lexsort((key, a[i]))
    owners, keys = a[i][order], key[order]
    head = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    parent[owners[head]] = keys[head] & np.int64((1 << 34) - 1)


def link_repeats(conn: Connection, city_id: int, within_radius: bool = True) -> int:
    """Link every unlinked appeal of the city to the one it repeats, by the live intake's rule.

    The rule of ``qala_create_appeal`` / ``qala_repeat_candidates`` (migration 0005), applied
    to each appeal as of its own ``created_at``: the best earlier candidate (same category,
    not rejected or a duplicate, within the category's window; on the same map object, or
    within the category's radius, where a placeholder geocode is no place), the same object
    first, then the nearest (geography metres rounded to 0.1 m), then the earliest; the link
    goes to that candidate's root, chains resolved within the pass.

    The appeals are read once (binary COPY) and searched in numpy
    (:mod:`geo.appeals.repeat_search`: sorted buckets, distances on the ellipsoid with a
    bounded error); the few appeals whose candidate that error leaves open are settled by
    PostGIS itself on the pairs that may win them; the links are written in one ``UPDATE``
    from a temporary table. Appeals already linked keep their link. Returns the number of
    appeals linked.

    The ``UPDATE`` is most of the time on a large city: in the 2.3M-appeal demo city reading
    and searching take about 15 s, writing 2.2M links 190-220 s. Each link is a new row version
    (the pages are full, so never a HOT update): an entry in each of the 16 indexes, the four
    foreign keys checked again (a row written earlier in the same transaction is re-checked
    even when its keys did not change), and the old and new rows kept for the statement
    triggers on cells and tallies, which find nothing to count. The history import into an
    empty city therefore writes no links afterwards: it finds them before its ``COPY`` from
    the rows in memory (:func:`search_links`, :mod:`geo.imports.history.repeats`) and the
    ``COPY`` writes them; into a city with appeals it links after the ``COPY``, with the
    indexes, keys and those triggers deferred when it defers them. :func:`find_links` and
    :func:`write_links` are the two halves of this function.

    Parameters
    ----------
    conn : a connection; everything happens in its transaction.
    city_id : the city.
    within_radius : False: by the same object only (no radius neighbours).
    """
    ids, root = find_links(conn, city_id, within_radius)
    return write_links(conn, city_id, ids, root)


def find_links(
    conn: Connection, city_id: int, within_radius: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The links :func:`link_repeats` writes, not written: the ids of the unlinked appeals
    that repeat another, and the root each is linked to."""
    ap, radius_m = read_appeals(conn, city_id)
    return search_links(conn, ap, radius_m, within_radius)


def search_links(
    conn: Connection, ap: CityAppeals, radius_m: np.ndarray, within_radius: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The links of appeals given as arrays (read from the table by :func:`read_appeals`, or
    about to be written by a load): the ids of the unlinked appeals that repeat another, and
    the root each is linked to. ``conn`` only measures the few ambiguous pairs (PostGIS on
    the points themselves: the appeals need not be in the table).

    Parameters
    ----------
    conn : a connection, for PostGIS.
    ap : the appeals, in the order of :meth:`CityAppeals.sorted`; ``since`` as
        :func:`window_starts` gives it.
    radius_m : the radius of each category (indexed by ``ap.cat``).
    within_radius : False: by the same object only.
    """
    none = np.zeros(0, dtype=np.int64)
    if len(ap.id) == 0:
        return none, none
    parent, ambiguous = best_candidates(ap, radius_m, within_radius)
    if ambiguous.any():
        _settle(conn, ap, radius_m, within_radius, parent, ambiguous)
    linked = np.flatnonzero(parent >= 0)
    if len(linked) == 0:
        return none, none
    root = roots(ap, parent)
    return ap.id[linked], root[linked]


def window_starts(conn: Connection, t: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``t - make_interval(days => days)`` as :data:`POINTS_SQL` (and the live function)
    computes it, in the session's time zone: ``t`` and the result in microseconds since
    2000-01-01 UTC (as ``timestamptz`` travels in binary COPY).

    In a zone without changes of the clocks (UTC, ``Etc/GMT+5``, ...) a day is 24 hours and
    this is arithmetic; in any other zone (whose days may be 23 or 25 hours, with PostgreSQL's
    own reading of a local time in a gap or an overlap) PostgreSQL computes it, on the values
    sent by binary COPY.
    """
    t = np.asarray(t, dtype=np.int64)
    days = np.asarray(days, dtype=np.int64)
    zone = conn.execute(text("SELECT current_setting('TimeZone')")).scalar_one()
    if _FIXED_ZONE.fullmatch(zone) or len(t) == 0:
        return t - days * _DAY_US
    conn.execute(text("DROP TABLE IF EXISTS repeat_windows"))
    conn.execute(text("CREATE TEMP TABLE repeat_windows (i bigint, t timestamptz, d bigint)"))
    _copy_in(conn, "repeat_windows", {"i": np.arange(len(t), dtype=np.int64), "t": t, "d": days})
    data = copy_out(conn, WINDOW_SQL, {})
    conn.execute(text("DROP TABLE repeat_windows"))
    row = np.dtype([("count", ">i2"), ("len", ">i4"), ("since", ">i8")])
    rows = np.frombuffer(data, dtype=row, count=len(t), offset=len(_COPY_HEADER))
    return rows["since"].astype(np.int64)


def write_links(conn: Connection, city_id: int, ids: np.ndarray, root: np.ndarray) -> int:
    """Set ``repeat_of_id = root`` for the appeals ``ids`` of the city (one ``UPDATE`` from a
    temporary table filled by binary COPY); the number of appeals written."""
    if len(ids) == 0:
        return 0
    # temporary tables dropped at the end, not ON COMMIT: a caller in autocommit mode (an
    # API test's connection) would lose them after each statement
    conn.execute(text("DROP TABLE IF EXISTS repeat_links"))
    conn.execute(text("CREATE TEMP TABLE repeat_links (id bigint, root bigint)"))
    _copy_in(conn, "repeat_links", {"id": ids, "root": root})
    conn.execute(text("ANALYZE repeat_links"))
    count = conn.execute(text(WRITE_SQL), {"c": city_id}).rowcount
    conn.execute(text("DROP TABLE repeat_links"))
    return count


def refresh_object_repeats(conn: Connection, city_id: int) -> None:
    """Recount appeals and repeats per object (after a bulk load)."""
    conn.execute(text("DELETE FROM object_repeats WHERE city_id = :c"), {"c": city_id})
    conn.execute(
        text("""
        INSERT INTO object_repeats (city_id, object_kind, object_id, appeals, repeats)
        SELECT city_id, object_kind, object_id, count(*), count(repeat_of_id)
        FROM appeals WHERE city_id = :c AND object_kind <> 'none' AND object_id IS NOT NULL
        GROUP BY city_id, object_kind, object_id"""),
        {"c": city_id},
    )


def numbers_taken(conn: Connection, city_id: int) -> dict[int, int]:
    """The highest registration number used per year (numbers like ``PET-2026-000123``)."""
    return dict(
        conn.execute(
            text("""
        SELECT split_part(reg_number, '-', 2)::int AS y,
               max(split_part(reg_number, '-', 3)::bigint) AS n
        FROM appeals WHERE city_id = :c AND reg_number ~ '^[A-Z]+-[0-9]{4}-[0-9]+$'
        GROUP BY 1"""),
            {"c": city_id},
        ).all()
    )


def advance_sequences(conn: Connection, city_id: int) -> None:
    """Move each year's registration-number sequence past the numbers already taken."""
    for year, top in numbers_taken(conn, city_id).items():
        name = ensure_sequence(conn, city_id, year)
        conn.execute(
            text("SELECT setval(CAST(:s AS regclass), greatest(:n, 1))"), {"s": name, "n": top}
        )
