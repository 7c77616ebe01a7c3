"""Deferring the upkeep of ``appeals`` during a bulk load into a locked table.

A first load of millions of appeals is faster when the table is not kept up row by row:

* the plain (non-unique) indexes and the foreign keys are dropped before the ``COPY`` and
  rebuilt after it, in the same transaction, so every row is checked against every
  constraint before the commit (the primary key, the unique registration number and the
  CHECKs stay live throughout);
* the appeal counts per grid cell (``appeal_cells``, migration 0003) are added in one
  aggregated step after the ``COPY`` instead of by the statement trigger
  ``appeal_cells_insert``, which is dropped for the load and created again after it. The
  trigger would aggregate the ``COPY``'s transition table (every row written a second time,
  into a tuplestore), transform every point to Web Mercator twice and group twice as many
  rows. Here the rows are grouped per level-20 cell, category and month first, either by the
  loader from the rows it wrote (:func:`fine_counts`, in Arrow: the importer) or by one pass
  over the new rows in SQL (:func:`count_new_cells`); the three grouping sets and the
  level-16 cells are derived from those groups. The counts are the same (tests compare them
  with ``refresh_appeal_cells``); the sums of coordinates ``sx``/``sy`` are floating point,
  summed in another order;
* when the load gives every row its place (``x_m``, ``y_m``, ``cell``, ``yard_id``, as the
  importer does), the row trigger ``appeal_place_insert`` (migrations 0004, 0006) is dropped
  too: its ``WHEN (NEW.x_m IS NULL OR NEW.cell IS NULL)`` skips every such row anyway, but
  a BEFORE ROW trigger, even one that never fires, makes ``COPY`` insert row by row instead
  of a page of rows at a time.

The triggers are dropped rather than disabled because PostgreSQL decides on the transition
table and on the multi-row insert from the triggers a table has, enabled or not.

Dropping an index takes an ACCESS EXCLUSIVE lock on ``appeals`` until the commit: nobody else
writes (or reads) appeals meanwhile, which is what makes dropping the triggers safe, and what
restricts the deferral to loads that can afford it (the importer's default: an empty table).
With the cell counts deferred, dropping the foreign key of ``appeal_cells`` locks that table
too: low-zoom tiles wait for the load's commit. Everything is DDL in the load's transaction:
a failed load rolls it all back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, text

from geo.appeals.states import STATES
from geo.infra.cells import to_mercator

#: the statement trigger of migration 0003 that counts inserted appeals per cell
CELLS_TRIGGER = "appeal_cells_insert"
#: the statement trigger of migration 0023 that keeps the work list's counts per status
TALLIES_TRIGGER = "appeal_tallies_insert"
#: the row trigger of migration 0004 that sets the place of appeals inserted without one
PLACE_TRIGGER = "appeal_place_insert"
#: the statement triggers that move a city's counts when appeals change (migrations 0003,
#: 0023): deferred with the insert triggers, since the load's own updates (the repeat links
#: it writes) change nothing they count, and the city is recounted after it
UPDATE_TRIGGERS = ("appeal_cells_update", "appeal_tallies_update")

_fine_counts = ",\n             ".join(
    f"(count(*) FILTER (WHERE status = '{s}'))::integer AS n_{s}" for s in STATES
)
_state_cols = ", ".join(f"n_{s}" for s in STATES)
_state_sums = ", ".join(f"sum(n_{s})" for s in STATES)
_state_add = ",\n    ".join(f"n_{s} = c.n_{s} + EXCLUDED.n_{s}" for s in STATES)

#: The appeals of city ``:c`` with ``id > :after`` counted per level-20 cell (``appeals.cell``,
#: migration 0006), category and UTC month into a temporary table: one pass over the new
#: rows, which the server may split between parallel workers (a statement that writes to a
#: table may not).
COUNT_FINE = f"""
CREATE TEMPORARY TABLE new_appeal_cells ON COMMIT DROP AS
SELECT key, category_code, month, count(*)::integer AS n, sum(ST_X(p)) AS sx, sum(ST_Y(p)) AS sy,
       {_fine_counts}
FROM (SELECT a.cell AS key, a.category_code, a.status,
             date_trunc('month', a.created_at AT TIME ZONE 'UTC')::date AS month, p
      FROM appeals a, LATERAL ST_Transform(a.geom, 3857) AS p
      WHERE a.city_id = :c AND a.id > :after) AS r
GROUP BY key, category_code, month
"""

#: Those counts added to ``appeal_cells`` as the insert trigger of migration 0003 adds them
#: (``DELTA_SQL`` there): level-20 cells are ``appeals.cell``, level-16 ones that key
#: shifted by 2 * (20 - 16) bits; three grouping sets told apart by the sentinels ``''``
#: (all categories) and ``-infinity`` (all months).
ADD_CELLS = f"""
INSERT INTO appeal_cells AS c (city_id, level, category_code, month, cell, n, sx, sy,
                               {_state_cols})
SELECT CAST(:c AS smallint), level, coalesce(category_code, ''),
       coalesce(month, DATE '-infinity'), cell, sum(n), sum(sx), sum(sy), {_state_sums}
FROM new_appeal_cells AS f,
     LATERAL (VALUES (20, f.key), (16, f.key >> 8)) AS lv (level, cell)
GROUP BY GROUPING SETS ((level, cell), (level, cell, category_code), (level, cell, month))
ORDER BY 2, 3, 4, 5
ON CONFLICT (city_id, level, category_code, month, cell) DO UPDATE SET
  n = c.n + EXCLUDED.n, sx = c.sx + EXCLUDED.sx, sy = c.sy + EXCLUDED.sy,
  {_state_add}
"""


#: The table :func:`add_fine_counts` fills, with the columns of :data:`COUNT_FINE`. Counts
#: are integers in both: ``ADD_CELLS`` sums them, and a sum of ``bigint`` is ``numeric``,
#: twice as slow to add up.
FINE_TABLE = f"""
CREATE TEMPORARY TABLE new_appeal_cells (
  key bigint, category_code text, month date, n integer, sx float8, sy float8,
  {", ".join(f"n_{s} integer" for s in STATES)}
) ON COMMIT DROP
"""


def fine_counts(rows: pa.Table) -> pa.Table:
    """The rows counted as :data:`COUNT_FINE` counts them in SQL: per level-20 cell
    (``cell``), category and UTC month of ``created_at``, with the sums of the Web Mercator
    coordinates (of ``lon``/``lat``) and a count per status.

    Parameters
    ----------
    rows : pyarrow.Table
        The rows a load writes: ``cell``, ``category_code``, ``status``, ``created_at``
        (UTC), ``lon``, ``lat``.

    Returns
    -------
    pyarrow.Table
        ``key, category_code, month, n, sx, sy, n_<status>...``, one row per group.
    """
    x, y = to_mercator(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    created = rows["created_at"].combine_chunks().to_numpy(zero_copy_only=False)
    month = created.astype("datetime64[M]").astype("datetime64[D]")
    status = rows["status"].combine_chunks()
    if pa.types.is_dictionary(status.type):
        status = status.dictionary_decode()
    category = rows["category_code"].combine_chunks()
    if pa.types.is_dictionary(category.type):
        category = category.dictionary_decode()
    table = pa.table(
        {
            "key": rows["cell"],
            "category_code": category,
            "month": pa.array(month, pa.date32()),
            "x": x,
            "y": y,
            **{f"n_{s}": pc.cast(pc.equal(status, s), pa.int64()) for s in STATES},
        }
    )
    sums = [("x", "count"), ("x", "sum"), ("y", "sum")]
    sums += [(f"n_{s}", "sum") for s in STATES]
    grouped = table.group_by(["key", "category_code", "month"], use_threads=False).aggregate(sums)
    return pa.table(
        {
            "key": grouped["key"],
            "category_code": grouped["category_code"],
            "month": grouped["month"],
            "n": grouped["x_count"],
            "sx": grouped["x_sum"],
            "sy": grouped["y_sum"],
            **{f"n_{s}": grouped[f"n_{s}_sum"] for s in STATES},
        }
    )


def add_fine_counts(conn: Connection, city_id: int, counts: pa.Table) -> int:
    """Add counts of :func:`fine_counts` to ``appeal_cells``; return how many appeals they
    count."""
    conn.execute(text(FINE_TABLE))
    buf = pa.BufferOutputStream()
    pacsv.write_csv(counts, buf, pacsv.WriteOptions(include_header=False))
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.copy_expert(
            "COPY new_appeal_cells FROM STDIN WITH (FORMAT csv)",
            pa.BufferReader(buf.getvalue()),
        )
    conn.execute(text(ADD_CELLS), {"c": city_id})
    conn.execute(text("DROP TABLE new_appeal_cells"))
    return int(np.sum(counts["n"].to_numpy())) if counts.num_rows else 0


def count_new_cells(conn: Connection, city_id: int, after: int) -> int:
    """Add the appeals of ``city_id`` with ``id > after`` to ``appeal_cells``; return how
    many were counted."""
    conn.execute(text(COUNT_FINE), {"c": city_id, "after": after})
    conn.execute(text(ADD_CELLS), {"c": city_id})
    counted = conn.execute(text("SELECT coalesce(sum(n), 0)::bigint FROM new_appeal_cells"))
    counted = counted.scalar_one()
    conn.execute(text("DROP TABLE new_appeal_cells"))
    return counted


@dataclass
class Deferred:
    """What :func:`defer_appeal_upkeep` dropped for a bulk load.

    Attributes
    ----------
    indexes : list of str
        ``CREATE INDEX`` statements of the dropped indexes.
    foreign_keys : list of tuple
        ``(table, name, definition)`` of the dropped foreign keys: those of ``appeals``, and
        with the cells deferred those of ``appeal_cells`` (whose per-row checks would cost
        more than the counts' upsert itself).
    triggers : list of str
        ``CREATE TRIGGER`` statements of the dropped triggers.
    cells_city, cells_after : int or None
        With the cell trigger dropped: the city whose new appeals (``id > cells_after``) are
        to be counted by :func:`restore_appeal_upkeep`.
    """

    indexes: list[str]
    foreign_keys: list[tuple[str, str, str]]
    triggers: list[str] = field(default_factory=list)
    cells_city: int | None = None
    cells_after: int | None = None


def defer_appeal_upkeep(
    conn: Connection, city_id: int | None = None, *, place_given: bool = False
) -> Deferred:
    """Drop the non-unique indexes and the foreign keys of ``appeals``; with ``city_id``, also
    the cell-count and tally triggers of inserts and updates (the city's new appeals are
    counted by :func:`restore_appeal_upkeep`) and the foreign keys of ``appeal_cells``; with
    ``place_given``, the place trigger.

    Parameters
    ----------
    conn : Connection
        In the transaction of the load; the ``appeals`` table stays locked until its end.
    city_id : int, optional
        The city the load writes to. Without it the cells are counted by the trigger.
    place_given : bool
        Every row the load writes has ``x_m`` (and ``y_m``, ``yard_id``) set.

    Returns
    -------
    Deferred
        What :func:`restore_appeal_upkeep` puts back.
    """
    idx = conn.execute(
        text("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'appeals'::regclass AND NOT i.indisunique AND NOT i.indisprimary
        ORDER BY c.relname""")
    ).all()
    fks = _drop_foreign_keys(conn, "appeals")
    for name, _ in idx:
        conn.execute(text(f'DROP INDEX "{name}"'))
    deferred = Deferred(indexes=[d for _, d in idx], foreign_keys=fks)
    triggers = dict(
        conn.execute(
            text(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgrelid = 'appeals'::regclass AND tgname = ANY(:names) "
                "AND tgenabled <> 'D'"
            ),
            {"names": [CELLS_TRIGGER, PLACE_TRIGGER, TALLIES_TRIGGER, *UPDATE_TRIGGERS]},
        ).all()
    )
    if city_id is not None and CELLS_TRIGGER in triggers:
        # the table is locked (DROP INDEX above): no other writer gets ids in between
        deferred.cells_after = conn.execute(
            text("SELECT coalesce(max(id), 0) FROM appeals WHERE city_id = :c"), {"c": city_id}
        ).scalar_one()
        deferred.cells_city = city_id
        _drop_trigger(conn, CELLS_TRIGGER, triggers, deferred)
        deferred.foreign_keys += _drop_foreign_keys(conn, "appeal_cells")
        if TALLIES_TRIGGER in triggers:  # the city is recounted after the load
            _drop_trigger(conn, TALLIES_TRIGGER, triggers, deferred)
            for name in UPDATE_TRIGGERS:
                if name in triggers:
                    _drop_trigger(conn, name, triggers, deferred)
    if place_given and PLACE_TRIGGER in triggers:
        _drop_trigger(conn, PLACE_TRIGGER, triggers, deferred)
    return deferred


def _drop_foreign_keys(conn: Connection, table: str) -> list[tuple[str, str, str]]:
    """Drop the foreign keys of ``table``; return ``(table, name, definition)`` of each."""
    fks = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname"
        ),
        {"t": table},
    ).all()
    for name, _ in fks:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    return [(table, name, ddl) for name, ddl in fks]


def _drop_trigger(conn: Connection, name: str, ddl: dict[str, str], deferred: Deferred) -> None:
    conn.execute(text(f'DROP TRIGGER "{name}" ON appeals'))
    deferred.triggers.append(ddl[name])


def restore_appeal_upkeep(
    conn: Connection,
    deferred: Deferred,
    rows: int | None = None,
    counts: pa.Table | None = None,
) -> dict[str, float]:
    """Create the dropped triggers again, count the deferred cells, rebuild the indexes and
    re-add the foreign keys (every row re-checked); return the seconds of each step
    (``analyze`` and ``cells`` when the cells were deferred, ``indexes``, ``keys``).

    Parameters
    ----------
    conn : Connection
        The transaction of :func:`defer_appeal_upkeep`.
    deferred : Deferred
    rows : int, optional
        How many appeals the load wrote: the cell count must find exactly these.
    counts : pyarrow.Table, optional
        The :func:`fine_counts` of the rows the load wrote; without them the new rows are
        counted in SQL (:func:`count_new_cells`).

    Raises
    ------
    RuntimeError
        The cell count found another number of new appeals than ``rows`` (the transaction
        must then be rolled back; nothing is committed).
    """
    timings: dict[str, float] = {}
    t = time.perf_counter()
    # memory for this transaction's sorts and hashes (never less than the server gives):
    # below these the counts spill to disk and index builds sort in several passes
    _at_least(conn, "work_mem", "256MB")
    _at_least(conn, "maintenance_work_mem", "512MB")
    for ddl in deferred.triggers:
        conn.execute(text(ddl))
    if deferred.cells_city is not None:
        # statistics of the new rows first: the count is planned for millions of rows (in
        # parallel), and the service's queries find them right after the commit
        conn.execute(text("ANALYZE appeals"))
        timings["analyze"] = (t1 := time.perf_counter()) - t
        t = t1
        if counts is None:
            counted = count_new_cells(conn, deferred.cells_city, deferred.cells_after)
        else:
            counted = add_fine_counts(conn, deferred.cells_city, counts)
        if rows is not None and counted != rows:
            raise RuntimeError(
                f"appeal_cells: counted {counted:,} new appeals of city "
                f"{deferred.cells_city}, the load wrote {rows:,}"
            )
        timings["cells"] = (t1 := time.perf_counter()) - t
        t = t1
        if any(TALLIES_TRIGGER in ddl for ddl in deferred.triggers):
            conn.execute(text("SELECT refresh_appeal_tallies(:c)"), {"c": deferred.cells_city})
            timings["tallies"] = (t1 := time.perf_counter()) - t
            t = t1
    for ddl in deferred.indexes:
        conn.execute(text(ddl))
    timings["indexes"] = (t1 := time.perf_counter()) - t
    for table, name, ddl in deferred.foreign_keys:
        conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}'))
    timings["keys"] = time.perf_counter() - t1
    return timings


def _at_least(conn: Connection, setting: str, size: str) -> None:
    """``SET LOCAL setting = size`` unless it is already that large."""
    conn.execute(
        text(
            "SELECT set_config(:s, :v, true) "
            "WHERE pg_size_bytes(current_setting(:s)) < pg_size_bytes(:v)"
        ),
        {"s": setting, "v": size},
    )
