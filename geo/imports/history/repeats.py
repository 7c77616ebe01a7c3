"""The repeat links of a first import, found before the ``COPY`` and written with the rows.

When the city has no appeals yet (the deferred load, :mod:`geo.imports.history.deferral`,
into a table locked for the import), the imported rows are the city's only appeals, so the
live rule (:func:`geo.appeals.bulk.link_repeats`) can be applied to them in memory: the rows
get their ids before the ``COPY`` (taken from the id sequence of ``appeals``), the same search
(:func:`geo.appeals.bulk.search_links`) finds each row's root, and the ``COPY`` writes
``id`` and ``repeat_of_id`` with the other columns. Linking after the ``COPY`` instead
rewrote every repeat (a new row version each: 2.2 million in the 2.3M-appeal city, and a heap
twice the size for the indexes to be rebuilt over).

The ids come from ``nextval`` of the column's own sequence, one call per row in a single
statement: each call is atomic, so ids another session takes meanwhile (a live appeal waiting
on the lock, or any ``nextval``) are never among ours, and ours are above every id the
sequence gave before. They are not necessarily consecutive; they are sorted and given in the
rows' order (the order of opening), so that the live rule's order of (``created_at``, ``id``)
is the rows' order, as it is when the sequence numbers the rows during the ``COPY``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, text

from geo.appeals.bulk import copy_out, object_keys, search_links, window_starts
from geo.appeals.repeat_search import CityAppeals
from geo.imports.history.binary import COPY_HEADER, PG_EPOCH_US
from geo.imports.history.parse import null_mask
from geo.imports.history.rows import PreparedRows
from geo.models import OBJECT_KINDS

#: ``n`` ids of the sequence of ``appeals.id``, in one statement (binary COPY out)
RESERVE_SQL = """
SELECT nextval(pg_get_serial_sequence('appeals', 'id')) FROM generate_series(1, %(n)s)
"""


def reserve_ids(conn: Connection, n: int) -> np.ndarray:
    """``n`` new ids of ``appeals`` from its id sequence, ascending (see the module's
    docstring)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    data = copy_out(conn, RESERVE_SQL, {"n": n})
    row = np.dtype([("count", ">i2"), ("len", ">i4"), ("id", ">i8")])
    ids = np.frombuffer(data, dtype=row, count=n, offset=len(COPY_HEADER))["id"].astype(np.int64)
    ids.sort()
    if len(np.unique(ids)) != n:
        raise RuntimeError("the id sequence of appeals gave an id twice")
    return ids


def _decoded(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def city_appeals(
    conn: Connection, rows: pa.Table, ids: np.ndarray
) -> tuple[CityAppeals, np.ndarray]:
    """The rows about to be written, with their ids, as :func:`geo.appeals.bulk.read_appeals`
    would read them back after the ``COPY`` (the same values: the points are the doubles the
    ``COPY`` writes, the times its microseconds), and the radius of each category."""
    category = rows["category_code"].combine_chunks()
    if pa.types.is_dictionary(category.type):
        codes = category.dictionary.to_pylist()
        cat = category.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        encoded = pc.dictionary_encode(category)
        codes = encoded.dictionary.to_pylist()
        cat = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    found = dict(
        (code, (radius, window))
        for code, radius, window in conn.execute(
            text(
                "SELECT code, repeat_radius_m, repeat_window_days FROM categories "
                "WHERE code = ANY(:codes)"
            ),
            {"codes": codes},
        ).all()
    )
    missing = sorted(set(codes) - set(found))
    if missing:
        raise RuntimeError(f"categories missing from the database: {', '.join(missing)}")
    radius_m = np.array([float(found[c][0]) for c in codes] or [0.0])
    window = np.array([int(found[c][1]) for c in codes] or [0], dtype=np.int64)
    t = pc.cast(rows["created_at"].combine_chunks(), pa.int64()).to_numpy() - PG_EPOCH_US
    if "object_kind" in rows.column_names:
        kind_names = _decoded(rows["object_kind"])
        kind = pc.index_in(kind_names, value_set=pa.array(OBJECT_KINDS)).fill_null(-1)
        kind = kind.to_numpy(zero_copy_only=False).astype(np.int64) + 1
        oid_col = rows["object_id"].combine_chunks()
        oid = np.where(null_mask(oid_col), -1, oid_col.fill_null(0).to_numpy())
    else:
        kind = np.zeros(len(ids), dtype=np.int64)
        oid = np.full(len(ids), -1, dtype=np.int64)
    status = _decoded(rows["status"])
    counts = ~pc.is_in(status, value_set=pa.array(["rejected", "duplicate"])).to_numpy(
        zero_copy_only=False
    )
    ap = CityAppeals(
        id=ids,
        cat=cat,
        t=t,
        since=window_starts(conn, t, window[cat]),
        obj=object_keys(kind, oid),
        placeholder=rows["placeholder_geocode"].to_numpy().astype(bool),
        counts=counts.astype(bool),
        link=np.full(len(ids), -1, dtype=np.int64),
        lon=rows["lon"].to_numpy().astype(np.float64),
        lat=rows["lat"].to_numpy().astype(np.float64),
    ).sorted()
    return ap, radius_m


def link_before_copy(conn: Connection, rows: PreparedRows) -> int:
    """Give the rows their ids and their repeat links (columns ``id`` and ``repeat_of_id``
    of ``rows.table``, which the ``COPY`` then writes); return the number of rows linked.

    Only for rows that will be the city's only appeals (nobody else may add one before the
    commit: the city is empty and ``appeals`` locked); otherwise link after the ``COPY``
    (:func:`geo.appeals.bulk.link_repeats`).
    """
    n = rows.num_rows
    ids = reserve_ids(conn, n)
    ap, radius_m = city_appeals(conn, rows.table, ids)
    linked, root = search_links(conn, ap, radius_m)
    repeat_of = np.zeros(n, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    at = np.searchsorted(ids, linked)
    repeat_of[at], mask[at] = root, False
    rows.table = rows.table.append_column("id", pa.array(ids)).append_column(
        "repeat_of_id", pa.array(repeat_of, mask=mask)
    )
    return len(linked)
