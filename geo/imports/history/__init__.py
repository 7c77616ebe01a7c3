"""Importing a city's appeal history (a 311/109 export) through one ``COPY``.

``import_history(engine, path, mapping_path)`` reads a CSV or Parquet export, maps its
columns and values to ``appeals`` as a YAML mapping file says (see
``data/mappings/boston311.yaml``), checks every row, and writes the rows that pass with one
``COPY`` in one transaction: all or nothing. Every row read is accounted for::

    rows read = imported + rejected (by reason) + already imported

Decisions, in the order the importer applies them:

* **Rejected rows** are counted by reason and not written: no id, an id seen earlier in the
  file, an opening date missing or unreadable, a deadline or closing date present but
  unreadable, a closed row without a closing date, a status value the mapping does not know,
  no coordinates, garbage coordinates (unreadable, out of range, or 0,0), a point outside the
  city's bounds. A row gets the first reason that applies.
* **Re-import** is idempotent: the source id is kept in ``external_id`` and rows whose id the
  city already holds are skipped and counted as *already imported* (they are not updated:
  an export taken later with changed statuses needs a delete of those appeals first).
* **Registration numbers** follow the service's format, ``<CITY>-<year>-<n>``, numbered per
  UTC year of opening (as ``qala_create_appeal`` numbers live ones, migration 0005) in the
  order of opening, after the numbers the city already has; the year's sequence is advanced
  past them afterwards (:func:`advance_sequences`).
* **Placeholder geocodes**: a point that carries more than ``max_rows`` rows, or more than
  ``max_share`` of the rows (and at least ``min_rows``), or that the mapping lists, is a
  default geocode and not a place: its rows are kept with ``placeholder_geocode = true``.
* **Status**: closed rows become ``closed`` with ``resolved_at = closed_at``; open rows
  ``assigned`` when the row names a department, else ``registered``. Each distinct
  department becomes an organisation of kind ``city_department`` (found by name, created when
  missing) and is set as the appeal's ``organisation_id``.
* **Deadlines** come from the deadline column; a row without one gets ``created_at`` plus
  its category's ``deadline_hours``. On time is then ``closed_at <= deadline_at``. For
  closed rows whose deadline was *derived* and whose on-time status the source states, the
  derived deadline is moved so that the two agree (Boston counts a case that had no target
  as on time: its deadline becomes its closing time); both counts are reported. A source
  deadline is never changed. Agreement with the source's status is reported only over the
  closed rows whose source gives both the deadline and the status (a derived deadline agrees
  by construction, so those rows are counted apart); rows that disagree are reported (none
  in the Boston 2015 file; its 82 closed rows without a status are late by their target and
  left out of the rate). Open rows are not compared: the source's
  status was taken on the day of the export, ours is ``deadline_at < now()``.
* **Categories** map the source's type to our codes; unknown types go to ``other`` and are
  counted apart from the types the mapping itself sends to ``other``. The source's type is
  kept in ``source_type``.
* **Place**: each appeal is attached to the object live intake would snap its point to for
  its category (a well, a building, a yard, a street; ``located_by = 'import'``) and to that
  object's yard, else the yard under the point, so imported appeals count in the yard queue
  and per object (:mod:`~geo.imports.history.place`).
* **Timestamps** without a zone are local times of the mapping's ``timezone`` (the city's);
  ambiguous times at the autumn clock change are taken as standard time.

Speed: every check and translation is vectorised over the whole file (pyarrow compute and
numpy; values such as types and channels are translated once per distinct value). The rows
go to PostgreSQL in its *binary* COPY format, which the server parses about 40% faster than
CSV: the fixed-width fields of each tuple (lengths, timestamps as microseconds since 2000,
the point as EWKB) are laid out with one numpy record per row, and pyarrow joins them with
the text fields. This is done chunk by chunk on a background thread while the server takes
the previous chunk, with a tqdm progress bar on stderr. ``geo.demo.appeals.copy_appeals``
(``DataFrame.to_csv`` with ``strftime``) is not reused: its formatting alone takes longer
than the server's COPY at a few million rows.

Indexes: with ``defer_indexes`` the plain (non-unique) indexes and the foreign keys of
``appeals`` are dropped before the COPY and rebuilt after it, inside the same transaction,
so every row is re-checked against every constraint before the commit (the primary key, the
unique registration number and the CHECKs stay live throughout), and the appeals are counted
per map cell (``appeal_cells``) from the rows written, grouped in Arrow and added in one
statement after the COPY, rather than by the insert trigger (:mod:`geo.imports.history.deferral`).
It takes an ACCESS EXCLUSIVE lock on ``appeals`` for the whole import, so the default
(``None``) defers only when ``appeals`` is empty, i.e. for a first load.

The package, in the order of an import: :mod:`~geo.imports.history.mapping` (the mapping
file), :mod:`~geo.imports.history.parse` (reading the export, vectorised parsing),
:mod:`~geo.imports.history.rows` (checks, translations, numbers),
:mod:`~geo.imports.history.database` (the city, departments, sequences, place columns),
:mod:`~geo.imports.history.place` (the object and yard of each row),
:mod:`~geo.imports.history.binary` (the binary COPY stream),
:mod:`~geo.imports.history.deferral` (indexes, foreign keys and cell counts during a bulk
load), :mod:`~geo.imports.history.importer` (:func:`import_history`);
:mod:`~geo.imports.history.report` is what it returns.
"""

from __future__ import annotations

from geo.imports.history.binary import (
    BINARY_COLUMNS,
    COPY_HEADER,
    COPY_TRAILER,
    NULL_FIELD,
    PG_EPOCH_US,
    PLACE_COLUMNS,
    binary_chunk,
    binary_chunks,
    copy_columns,
    copy_rows,
    copy_sql,
)
from geo.imports.history.database import (
    add_place,
    advance_sequences,
    appeal_columns,
    category_hours,
    ensure_city,
    ensure_departments,
    existing_external_ids,
    reg_number_start,
)
from geo.imports.history.deferral import (
    Deferred,
    defer_appeal_upkeep,
    fine_counts,
    restore_appeal_upkeep,
)
from geo.imports.history.importer import PreparedImport, import_history, prepare_import
from geo.imports.history.mapping import (
    EARLIEST,
    LATEST,
    MAPPED_COLUMNS,
    REASONS,
    REQUIRED_COLUMNS,
    US_PER_HOUR,
    Mapping,
    load_mapping,
)
from geo.imports.history.parse import (
    encode,
    find_placeholders,
    lookup,
    null_mask,
    parse_coordinates,
    parse_times,
    point_keys,
    read_source,
    text_column,
)
from geo.imports.history.report import HistoryReport
from geo.imports.history.rows import (
    CityTarget,
    PreparedRows,
    assign_reg_numbers,
    fixed_binary,
    prepare_rows,
)

__all__ = [
    "BINARY_COLUMNS",
    "COPY_HEADER",
    "COPY_TRAILER",
    "CityTarget",
    "Deferred",
    "EARLIEST",
    "HistoryReport",
    "LATEST",
    "MAPPED_COLUMNS",
    "Mapping",
    "NULL_FIELD",
    "PG_EPOCH_US",
    "PLACE_COLUMNS",
    "PreparedImport",
    "PreparedRows",
    "REASONS",
    "REQUIRED_COLUMNS",
    "US_PER_HOUR",
    "add_place",
    "advance_sequences",
    "appeal_columns",
    "assign_reg_numbers",
    "binary_chunk",
    "binary_chunks",
    "category_hours",
    "copy_columns",
    "copy_rows",
    "copy_sql",
    "defer_appeal_upkeep",
    "encode",
    "ensure_city",
    "ensure_departments",
    "existing_external_ids",
    "find_placeholders",
    "fixed_binary",
    "import_history",
    "load_mapping",
    "lookup",
    "null_mask",
    "parse_coordinates",
    "parse_times",
    "point_keys",
    "prepare_import",
    "prepare_rows",
    "read_source",
    "reg_number_start",
    "restore_appeal_upkeep",
    "fine_counts",
    "text_column",
]
