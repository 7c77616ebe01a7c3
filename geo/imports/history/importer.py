"""The import itself: everything before the COPY, then the COPY and what follows it, in one
transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, text

from geo.imports.history.binary import PLACE_COLUMNS, binary_chunks, copy_columns, copy_rows
from geo.imports.history.database import (
    add_place,
    advance_sequences,
    appeal_columns,
    category_hours,
    ensure_city,
    ensure_departments,
    existing_external_ids,
    last_numbers,
    reg_number_start,
)
from geo.imports.history.deferral import defer_appeal_upkeep, fine_counts, restore_appeal_upkeep
from geo.imports.history.mapping import Mapping, load_mapping
from geo.imports.history.parse import lookup, read_source
from geo.imports.history.repeats import link_before_copy
from geo.imports.history.report import HistoryReport
from geo.imports.history.rows import CityTarget, PreparedRows, assign_reg_numbers, prepare_rows


@dataclass
class PreparedImport:
    """Rows ready for the COPY (numbers and organisations assigned) and the report so far."""

    city: CityTarget
    rows: PreparedRows
    report: HistoryReport
    last_numbers: dict[int, int] = field(default_factory=dict)  # per year, the last one given


def prepare_import(
    conn: Connection,
    path: str | Path,
    mapping: Mapping | str | Path,
    city: str | None = None,
    echo=lambda *_: None,
) -> PreparedImport:
    """Everything before the COPY, in the caller's transaction.

    Reads the file, finds or creates the city, takes the city's import lock, checks and
    translates the rows, creates the departments' organisations and numbers the rows.

    Parameters
    ----------
    conn : Connection
        In a transaction; nothing is committed here.
    path : str or Path
        The export.
    mapping : Mapping, str or Path
        The mapping, or its file.
    city : str, optional
        City code instead of the mapping's.
    echo : callable
        Where progress lines go.

    Returns
    -------
    PreparedImport
        The city, the rows ready for :func:`binary_chunks`, and the report so far.
    """
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    t0 = time.perf_counter()
    frame = read_source(path, mapping)
    report = HistoryReport(source=Path(path).name, mapping=mapping.path.name)
    report.timings["read"] = (t1 := time.perf_counter()) - t0
    echo(f"{report.source}: {len(frame):,} rows read")
    target, created = ensure_city(conn, mapping, city, echo)
    report.city_code, report.city_id, report.city_created = target.code, target.id, created
    # one history import per city at a time (the already-imported check relies on it)
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('qala.history'), :c)"), {"c": target.id}
    )
    hours = category_hours(conn, mapping, echo)
    rows = prepare_rows(
        frame, mapping, target, hours, existing_external_ids(conn, target.id), report
    )
    table = rows.table
    dep = table["department"].combine_chunks()
    dep_codes = dep.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    dep_values = [v for v in dep.dictionary.to_pylist()]
    used = sorted(set(np.unique(dep_codes[dep_codes >= 0]).tolist()))
    org_ids, report.organisations_created = ensure_departments(
        conn, target.id, [dep_values[i] for i in used], mapping.department_names
    )
    report.departments = len(set(org_ids.values()))
    org = lookup(dep_codes, dep_values, lambda v: org_ids.get(v, 0), 0, np.int64)
    table = table.append_column("organisation_id", pa.array(org, mask=dep_codes < 0))
    start = reg_number_start(conn, target.id, target.code) if rows.num_rows else {}
    year = table["year"].to_numpy()
    table = table.append_column("reg_number", assign_reg_numbers(year, target.code, start))
    if set(PLACE_COLUMNS) <= appeal_columns(conn):
        table = add_place(conn, table, target)
    rows.table = table
    report.timings["prepare"] = time.perf_counter() - t1
    return PreparedImport(target, rows, report, last_numbers(year, start))


def import_history(
    engine: Engine,
    path: str | Path,
    mapping_path: str | Path,
    city: str | None = None,
    echo=print,
    *,
    defer_indexes: bool | None = None,
    chunk_rows: int = 50_000,
    progress: bool = True,
) -> HistoryReport:
    """Import an appeal history file into a city, all or nothing; return the report.

    Parameters
    ----------
    engine : Engine
        The database (migrated). Categories are loaded from ``geo/city/categories.yaml`` if the
        table is empty.
    path : str or Path
        A ``.csv`` (UTF-8, header row) or ``.parquet`` export.
    mapping_path : str or Path
        The YAML mapping (see ``data/mappings/boston311.yaml``).
    city : str, optional
        City code; default the mapping's ``city.code``. Created from the mapping if missing.
    echo : callable
        Where progress lines go; the progress bar itself goes to stderr.
    defer_indexes : bool, optional
        Drop the plain indexes and foreign keys of ``appeals`` during the COPY and rebuild
        them after it (same transaction, every row re-checked), and count the new appeals
        per map cell in one statement after the COPY instead of by the insert trigger
        (:mod:`geo.imports.history.deferral`). Locks ``appeals`` for the whole import. Default: only
        when ``appeals`` is empty. When the city has no appeals, the repeat links are then found
        before the ``COPY`` and written with the rows (:mod:`geo.imports.history.repeats`);
        otherwise they are written after it (:func:`geo.appeals.bulk.link_repeats`).
    chunk_rows : int
        Rows per COPY chunk (and progress step).
    progress : bool
        Show the tqdm progress bar on stderr.

    Returns
    -------
    HistoryReport
        Counts of every row read: imported, rejected by reason, already imported.
    """
    from geo.appeals.bulk import link_repeats, refresh_object_repeats

    t0 = time.perf_counter()
    mapping = load_mapping(mapping_path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with engine.begin() as conn:
        prep = prepare_import(conn, path, mapping, city, echo)
        report, rows, tm = prep.report, prep.rows, prep.report.timings
        if defer_indexes is None:
            defer_indexes = (
                conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM appeals)")).scalar()
                and rows.num_rows > 0
            )
        t = time.perf_counter()
        deferred = (
            defer_appeal_upkeep(conn, prep.city.id, place_given="x_m" in rows.table.column_names)
            if defer_indexes
            else None
        )
        # linked before the COPY when the rows are the city's only appeals (asked under the
        # lock the deferral took): the COPY writes each link with its row, nothing rewritten
        link_first = bool(deferred) and rows.num_rows > 0 and _city_is_empty(conn, prep.city.id)
        if deferred:
            tm["defer"] = (t1 := time.perf_counter()) - t
            t = t1
        if link_first:
            report.repeats_linked = link_before_copy(conn, rows)
            tm["repeats"] = (t1 := time.perf_counter()) - t
            t = t1
        columns = copy_columns(rows.table)
        copy_rows(
            conn, binary_chunks(rows, prep.city.id, chunk_rows), rows.num_rows, columns, progress
        )
        tm["copy"] = time.perf_counter() - t
        if deferred and rows.num_rows and not link_first:
            # the links written while the indexes, foreign keys and count triggers are away:
            # each link is a new version of its row, and at millions of repeats that is a
            # rewrite of the table (about 4x slower with its 16 indexes kept, bench_import)
            t = time.perf_counter()
            report.repeats_linked = link_repeats(conn, prep.city.id)
            tm["repeats"] = time.perf_counter() - t
        if deferred:
            counts = None
            if deferred.cells_city is not None and "cell" in rows.table.column_names:
                t = time.perf_counter()
                counts = fine_counts(rows.table)  # counted from the rows as written
                tm["tally"] = time.perf_counter() - t
            tm.update(restore_appeal_upkeep(conn, deferred, rows.num_rows, counts))
        report.deferred_indexes = bool(deferred)
        report.imported = rows.num_rows
        t = time.perf_counter()
        if rows.num_rows:
            if not deferred:
                report.repeats_linked = link_repeats(conn, prep.city.id)
            refresh_object_repeats(conn, prep.city.id)
            advance_sequences(conn, prep.city.id, prep.last_numbers)
        tm["after"] = time.perf_counter() - t
        t = time.perf_counter()
    tm["commit"] = time.perf_counter() - t
    report.seconds = time.perf_counter() - t0
    echo(f"{report.imported:,} appeals imported into {report.city_code} in {report.seconds:.1f} s")
    return report


def _city_is_empty(conn: Connection, city_id: int) -> bool:
    """Whether the city has no appeals, and will have none but the import's until the commit:
    ``appeals`` locked against writers first (the deferral's ``DROP INDEX`` has normally
    locked it already, more strongly)."""
    conn.execute(text("LOCK TABLE appeals IN SHARE MODE"))
    return not conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM appeals WHERE city_id = :c)"), {"c": city_id}
    ).scalar_one()
