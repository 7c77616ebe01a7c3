"""The repeat links of a first import, found before the ``COPY`` and written with the rows.

When the city has no appeals yet (the deferred load, :mod:`geo.imports.history.deferral`,
into a table locked for the import), the imported rows are the city's only appeals, so the
live rule (:func:`geo.appeals.bulk.link_repeats`) can be applied to them in memory: the rows
get their ids before the ``COPY`` (taken from the id sequence of ``appeals``), the same search
(:func:`geo.appeals.bulk.search_links`) finds each row's root, and the ``COPY`` writes
``id`` and ``repeat_of_id`` with the other columns. Linking after the ``COPY`` instead
rewrote every repeat (a new row version each: 2.2 million in the 2.3M-appeal city, and a heap
twice the size for the indexes to be rebuilt over).

The ids come from the column's own sequence, in one step whatever the number of rows
(:func:`reserve_ids`; ``nextval`` once per row took 4 s at 2.3M rows): ``ALTER SEQUENCE``
first, which blocks every other session's ``nextval`` until the import's transaction ends
(PostgreSQL's documented behaviour since version 10); then ``nextval`` once at the usual
increment (the first id, also on a sequence never used), and once more at ``n - 1`` times it
(the last id); then the increment as it was. No other session can take an id in between, so
the ids from the first to the last are ours; they are above every id the sequence gave before
and below every id it gives after. A live appeal waits anyway (the table is locked for the
import); a rolled-back import leaves a gap in the ids, as a rolled-back insert does. The ids
are given in the rows' order (the order of opening), so that the live rule's order of
(``created_at``, ``id``) is the rows' order, as it is when the sequence numbers the rows
during the ``COPY``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, text

from geo.appeals.bulk import object_keys, search_links, window_starts
from geo.appeals.repeat_search import CityAppeals
from geo.imports.history.binary import PG_EPOCH_US
from geo.imports.history.parse import null_mask
from geo.imports.history.rows import PreparedRows
from geo.models import OBJECT_KINDS


def reserve_ids(conn: Connection, n: int) -> np.ndarray:
    """``n`` new ids of ``appeals`` from its id sequence, ascending (see the module's
    docstring); the sequence's other users wait for the caller's commit."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    seq = conn.execute(text("SELECT pg_get_serial_sequence('appeals', 'id')")).scalar_one()
    step = conn.execute(
        text("SELECT seqincrement FROM pg_sequence WHERE seqrelid = CAST(:s AS regclass)"),
        {"s": seq},
    ).scalar_one()
    if step <= 0:
        raise RuntimeError(f"{seq} counts down ({step}): ids cannot be reserved")
    # the name as PostgreSQL quotes it (pg_get_serial_sequence), not from the caller
    conn.execute(text(f"ALTER SEQUENCE {seq} INCREMENT BY {int(step)}"))  # the lock
    nextval = text("SELECT nextval(CAST(:s AS regclass))")
    first = conn.execute(nextval, {"s": seq}).scalar_one()
    if n > 1:
        conn.execute(text(f"ALTER SEQUENCE {seq} INCREMENT BY {int(step) * (n - 1)}"))
        last = conn.execute(nextval, {"s": seq}).scalar_one()
        conn.execute(text(f"ALTER SEQUENCE {seq} INCREMENT BY {int(step)}"))
        if last != first + step * (n - 1):
            raise RuntimeError(f"{seq} gave {last}, not {first} + {step} x {n - 1}")
    return first + step * np.arange(n, dtype=np.int64)


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
    if not pa.types.is_dictionary(category.type):
        category = pc.dictionary_encode(category)
    codes = category.dictionary.to_pylist()
    cat = category.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    found = {
        code: (radius, window)
        for code, radius, window in conn.execute(
            text(
                "SELECT code, repeat_radius_m, repeat_window_days FROM categories "
                "WHERE code = ANY(:codes)"
            ),
            {"codes": codes},
        ).all()
    }
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
