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
  UTC year of opening (as ``geo.appeals.next_reg_number`` does) in the order of opening,
  after the numbers the city already has; the year's sequence is advanced past them
  afterwards (:func:`advance_sequences`).
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
  deadline is never changed: rows where it disagrees with the source's status are reported
  as disagreements (none in the Boston 2015 file; its 82 closed rows without a status are
  late by their target and left out of the rate). Open rows are not compared: the source's
  status was taken on the day of the export, ours is ``deadline_at < now()``.
* **Categories** map the source's type to our codes; unknown types go to ``other`` and are
  counted apart from the types the mapping itself sends to ``other``. The source's type is
  kept in ``source_type``. Imported appeals are not attached to map objects
  (``object_kind = 'none'``, ``located_by = 'import'``).
* **Timestamps** without a zone are local times of the mapping's ``timezone`` (the city's);
  ambiguous times at the autumn clock change are taken as standard time.

Speed: every check and translation is vectorised over the whole file (pyarrow compute and
numpy; values such as types and channels are translated once per distinct value). The rows
go to PostgreSQL in its *binary* COPY format, which the server parses about 40% faster than
CSV: the fixed-width fields of each tuple (lengths, timestamps as microseconds since 2000,
the point as EWKB) are laid out with one numpy record per row, and pyarrow joins them with
the text fields. This is done chunk by chunk on a background thread while the server takes
the previous chunk, with a tqdm progress bar on stderr. ``geo.appeal_gen.copy_appeals``
(``DataFrame.to_csv`` with ``strftime``) is not reused: its formatting alone takes longer
than the server's COPY at a few million rows.

Indexes: with ``defer_indexes`` the plain (non-unique) indexes and the foreign keys of
``appeals`` are dropped before the COPY and rebuilt after it, inside the same transaction,
so every row is re-checked against every constraint before the commit (the primary key, the
unique registration number and the CHECKs stay live throughout). It takes an ACCESS
EXCLUSIVE lock on ``appeals`` for the whole import, so the default (``None``) defers only
when ``appeals`` is empty, i.e. for a first load.
"""

from __future__ import annotations

import io
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
import yaml
from shapely import wkb
from sqlalchemy import Connection, Engine, text

from geo.errors import InvalidInput
from geo.models import CHANNELS, DESCRIPTION_MAX

#: rejection reasons, in the order they are checked (a row gets the first that applies)
REASONS = {
    "no_id": "no id",
    "duplicate_id": "id repeated in the file",
    "bad_opened": "opening date missing or unreadable",
    "bad_deadline": "deadline unreadable",
    "bad_closed": "closing date unreadable",
    "closed_without_date": "closed without a closing date",
    "unknown_status": "status value not in the mapping",
    "no_coordinates": "no coordinates",
    "bad_coordinates": "garbage coordinates",
    "outside_city": "outside the city's bounds",
}
MAPPED_COLUMNS = (
    "id",
    "opened",
    "deadline",
    "closed",
    "status",
    "on_time",
    "type",
    "channel",
    "department",
    "description",
    "address",
    "lat",
    "lon",
)
REQUIRED_COLUMNS = ("id", "opened", "status", "type", "lat", "lon")
EARLIEST, LATEST = np.datetime64("1900-01-01", "us"), np.datetime64("2100-01-01", "us")
US_PER_HOUR = 3_600_000_000


# --- the mapping file ------------------------------------------------------------------------


@dataclass
class Mapping:
    """A parsed mapping file: which column is what, and how values translate.

    Attributes
    ----------
    city : dict
        ``code``, ``name_ru``, ``name_kk``, ``name_en``, ``metric_srid``, ``timezone``,
        ``bounds`` (``[minlon, minlat, maxlon, maxlat]`` or a GeoJSON polygon), ``note``.
    columns : dict
        Our name (``id``, ``opened``, ``deadline``, ``closed``, ``status``, ``on_time``,
        ``type``, ``channel``, ``department``, ``description``, ``address``, ``lat``,
        ``lon``) to the file's column name; ``id``, ``opened``, ``status``, ``type``,
        ``lat`` and ``lon`` are required.
    timezone : str or None
        Zone of the file's times that carry none (default: the city's).
    status_open, status_closed : set of str
        Source status values meaning open and closed.
    on_time_yes, on_time_no : set of str
        Source on-time values meaning on time and late.
    channel_map, category_map : dict
        Source value to our channel or category code; others go to the default.
    department_none : set of str
        Department values that mean no department.
    department_names : dict
        Department value to ``{"ru": ..., "kk": ...}`` names of its organisation.
    placeholder_max_rows, placeholder_max_share, placeholder_min_rows, placeholder_points
        The placeholder rule (see the module docstring); points as ``(lat, lon)``.
    """

    path: Path
    source: str
    city: dict
    columns: dict[str, str]
    timezone: str | None
    date_format: str
    encoding: str
    status_open: set[str]
    status_closed: set[str]
    on_time_yes: set[str]
    on_time_no: set[str]
    channel_map: dict[str, str]
    channel_default: str
    category_map: dict[str, str]
    category_default: str
    department_none: set[str]
    department_names: dict[str, dict[str, str]]
    placeholder_max_rows: int
    placeholder_max_share: float
    placeholder_min_rows: int
    placeholder_points: list[tuple[float, float]]


def _values(x) -> set[str]:
    if x is None:
        return set()
    return {str(v) for v in (x if isinstance(x, list) else [x])}


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file.

    Parameters
    ----------
    path : str or Path
        The YAML file (see ``data/mappings/boston311.yaml``).

    Returns
    -------
    Mapping

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InvalidInput
        The file is not YAML, misses a required key, or names a channel we do not have; the
        message is one line that says which.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"mapping {path.name} is not valid YAML: {first}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"mapping {path.name}: expected a YAML mapping at the top")

    def need(section: dict, key: str, where: str):
        if not isinstance(section, dict) or section.get(key) in (None, ""):
            raise InvalidInput(f"mapping {path.name}: '{where}{key}' is missing")
        return section[key]

    city = need(doc, "city", "")
    need(city, "code", "city.")
    columns = need(doc, "columns", "")
    for key in REQUIRED_COLUMNS:
        need(columns, key, "columns.")
    unknown = set(columns) - set(MAPPED_COLUMNS)
    if unknown:
        raise InvalidInput(
            f"mapping {path.name}: unknown key(s) in columns: {', '.join(sorted(unknown))}"
        )
    status = need(doc, "status", "")
    channels = doc.get("channels") or {}
    default_channel = channels.get("default", "import")
    for ch in [default_channel, *(channels.get("map") or {}).values()]:
        if ch not in CHANNELS:
            raise InvalidInput(
                f"mapping {path.name}: channel {ch!r} is not one of ours ({', '.join(CHANNELS)})"
            )
    cats = doc.get("categories") or {}
    deps = doc.get("departments") or {}
    names = {}
    for raw, name in (deps.get("names") or {}).items():
        names[str(raw)] = name if isinstance(name, dict) else {"ru": str(name), "kk": str(name)}
    ph = doc.get("placeholder") or {}
    on_time = doc.get("on_time") or {}
    return Mapping(
        path=path,
        source=str(doc.get("source") or path.stem),
        city=city,
        columns={k: str(v) for k, v in columns.items() if v},
        timezone=doc.get("timezone") or city.get("timezone"),
        date_format=str(doc.get("date_format") or "ISO8601"),
        encoding=str(doc.get("encoding") or "utf8"),
        status_open=_values(need(status, "open", "status.")),
        status_closed=_values(need(status, "closed", "status.")),
        on_time_yes=_values(on_time.get("on_time")),
        on_time_no=_values(on_time.get("late")),
        channel_map={str(k): str(v) for k, v in (channels.get("map") or {}).items()},
        channel_default=default_channel,
        category_map={str(k): str(v) for k, v in (cats.get("map") or {}).items()},
        category_default=str(cats.get("default") or "other"),
        department_none=_values(deps.get("none")),
        department_names=names,
        placeholder_max_rows=int(ph.get("max_rows", 1000)),
        placeholder_max_share=float(ph.get("max_share", 0.05)),
        placeholder_min_rows=int(ph.get("min_rows", 20)),
        placeholder_points=[(float(p[0]), float(p[1])) for p in ph.get("points") or []],
    )


# --- the report ------------------------------------------------------------------------------


@dataclass
class HistoryReport:
    """What an import did, every row read accounted for; :meth:`summary` prints it.

    Attributes
    ----------
    rows_read, imported, already_imported : int
        ``rows_read == imported + rejected_total + already_imported``.
    rejected : dict
        Rows not written, by reason (the keys of :data:`REASONS`).
    other_by_mapping, other_unknown : int
        Rows in category ``other``: sent there by the mapping, or of a type it does not name
        (``unknown_types`` counts those by type).
    placeholder_points : list of tuple
        ``(lat, lon, rows, how)`` per placeholder point found in the file; ``placeholder_rows``
        is how many imported rows were flagged.
    deadline_from_source, deadline_from_category, deadline_raised, deadline_lowered : int
        Where the deadlines came from, and how many derived ones were moved to keep the
        source's on-time status.
    on_time_checked, on_time_agree : int
        Closed rows with a source on-time status, and how many of them ``closed_at <=
        deadline_at`` agrees with.
    seconds, timings : float, dict
        Wall time in all and per step.
    """

    source: str
    mapping: str = ""
    city_code: str = ""
    city_id: int | None = None
    city_created: bool = False
    rows_read: int = 0
    imported: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    already_imported: int = 0
    closed: int = 0
    open_assigned: int = 0
    open_registered: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    unmapped_channels: dict[str, int] = field(default_factory=dict)
    other_by_mapping: int = 0
    other_unknown: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    categories_used: int = 0
    departments: int = 0
    organisations_created: int = 0
    placeholder_points: list[tuple[float, float, int, str]] = field(default_factory=list)
    placeholder_rows: int = 0
    placeholder_rule: str = ""
    deadline_from_source: int = 0
    deadline_from_category: int = 0
    deadline_raised: int = 0
    deadline_lowered: int = 0
    on_time_checked: int = 0
    on_time_agree: int = 0
    on_time_disagree_source_deadline: int = 0
    on_time_unknown: int = 0
    closed_before_opened: int = 0
    years: list[int] = field(default_factory=list)
    repeats_linked: int = 0
    deferred_indexes: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def other_rows(self) -> int:
        return self.other_by_mapping + self.other_unknown

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time_agree / self.on_time_checked if self.on_time_checked else None

    @property
    def rows_per_second(self) -> float:
        return self.imported / self.seconds if self.seconds else 0.0

    def accounted(self) -> bool:
        """Whether every row read is imported, rejected or already imported."""
        return self.imported + self.rejected_total + self.already_imported == self.rows_read

    def summary(self) -> str:
        """The report as lines of text for the command line."""

        def n(x: int) -> str:
            return f"{x:,}"

        made = "created" if self.city_created else "existing"
        lines = [
            f"history import: {self.source} with {self.mapping} -> city {self.city_code} "
            f"({made}, id {self.city_id})",
            f"rows read: {n(self.rows_read)} = imported {n(self.imported)} + rejected "
            f"{n(self.rejected_total)} + already imported {n(self.already_imported)}"
            + ("" if self.accounted() else "  (NOT ACCOUNTED FOR)"),
        ]
        if self.rejected_total:
            lines.append(
                "rejected by reason: "
                + ", ".join(f"{REASONS[k]} {n(v)}" for k, v in self.rejected.items() if v)
            )
        else:
            lines.append("rejected by reason: none")
        lines.append(
            f"status: {n(self.closed)} closed, "
            f"{n(self.open_assigned + self.open_registered)} open "
            f"({n(self.open_assigned)} assigned, {n(self.open_registered)} registered "
            "without a department)"
        )
        lines.append(
            f"categories: {self.categories_used} used; mapped to 'other': "
            f"{n(self.other_rows)} ({n(self.other_by_mapping)} by the mapping, "
            f"{n(self.other_unknown)} of types not in the mapping)"
        )
        if self.unknown_types:
            top = sorted(self.unknown_types.items(), key=lambda kv: -kv[1])[:8]
            more = len(self.unknown_types) - len(top)
            lines.append(
                "types not in the mapping: "
                + ", ".join(f"{k!r} {n(v)}" for k, v in top)
                + (f" and {more} more" if more else "")
            )
        if self.channels:
            lines.append(
                "channels: "
                + ", ".join(
                    f"{k} {n(v)}" for k, v in sorted(self.channels.items(), key=lambda kv: -kv[1])
                )
            )
        if self.unmapped_channels:
            lines.append(
                "channel values not in the mapping (-> default): "
                + ", ".join(f"{k!r} {n(v)}" for k, v in self.unmapped_channels.items())
            )
        lines.append(
            f"departments: {self.departments} organisations ({self.organisations_created} created)"
        )
        if self.placeholder_points:
            shown = self.placeholder_points[:10]
            pts = "; ".join(
                f"{lat:.6g}, {lon:.7g} with {n(c)} rows ({how})" for lat, lon, c, how in shown
            )
            more = len(self.placeholder_points) - len(shown)
            lines.append(
                f"placeholder geocodes: {len(self.placeholder_points)} point(s): {pts}"
                + (f" and {more} more" if more else "")
                + f"; {n(self.placeholder_rows)} imported rows flagged "
                f"[rule: {self.placeholder_rule}]"
            )
        else:
            lines.append(f"placeholder geocodes: none [rule: {self.placeholder_rule}]")
        lines.append(
            f"deadlines: {n(self.deadline_from_source)} from the source, "
            f"{n(self.deadline_from_category)} from the category's hours "
            f"(of these {n(self.deadline_raised)} set to the closing time and "
            f"{n(self.deadline_lowered)} to just before it, to keep the source's "
            "on-time status)"
        )
        if self.on_time_checked:
            lines.append(
                f"on time (closed rows, closed_at <= deadline_at vs the source's status): "
                f"{n(self.on_time_agree)} of {n(self.on_time_checked)} agree "
                f"({100 * self.on_time_rate:.2f}%); "
                f"{n(self.on_time_disagree_source_deadline)} disagree on a source deadline; "
                f"{n(self.on_time_unknown)} closed rows without a source status"
            )
        if self.closed_before_opened:
            lines.append(f"closed before opened (kept as they are): {n(self.closed_before_opened)}")
        lines.append(
            f"repeats linked: {n(self.repeats_linked)}; registration numbers for "
            f"{', '.join(map(str, self.years)) or 'no year'}"
        )
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        lines.append(
            f"time: {self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s "
            f"({steps}; indexes {'deferred' if self.deferred_indexes else 'kept'})"
        )
        return "\n".join(lines)


# --- reading the file ------------------------------------------------------------------------


def read_source(path: str | Path, mapping: Mapping) -> pa.Table:
    """The mapped columns of a CSV or Parquet file, named by our names (``id``, ``opened``...).

    Parameters
    ----------
    path : str or Path
        ``.csv`` (``.csv.gz``, ``.tsv``; header row, the mapping's encoding) or ``.parquet``.
    mapping : Mapping

    Returns
    -------
    pyarrow.Table
        CSV columns as text; Parquet columns with their own types.

    Raises
    ------
    InvalidInput
        A column the mapping names is missing, or the file cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    cols = sorted(set(mapping.columns.values()))
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        try:
            present = set(pq.read_schema(path).names)
        except pa.ArrowException as exc:
            raise InvalidInput(
                f"{path.name}: cannot read as Parquet: {str(exc).splitlines()[0]}"
            ) from None
        _check_columns(cols, present, path)
        table = pq.read_table(path, columns=cols)
    elif name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        opts = pacsv.ReadOptions(encoding=mapping.encoding, block_size=1 << 24)
        parse = pacsv.ParseOptions(
            delimiter="\t" if name.endswith(".tsv") else ",", newlines_in_values=True
        )
        try:
            with pacsv.open_csv(path, read_options=opts, parse_options=parse) as reader:
                present = set(reader.schema.names)  # the header only
            _check_columns(cols, present, path)
            conv = pacsv.ConvertOptions(
                include_columns=cols,
                strings_can_be_null=True,
                column_types={c: pa.string() for c in cols},
            )
            table = pacsv.read_csv(
                path, read_options=opts, parse_options=parse, convert_options=conv
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"{path.name}: cannot read as CSV: {str(exc).splitlines()[0]}"
            ) from None
    else:
        raise InvalidInput(f"{path.name}: expected a .csv or .parquet file")
    return pa.table({ours: table.column(theirs) for ours, theirs in mapping.columns.items()})


def _check_columns(cols: list[str], present: set[str], path: Path) -> None:
    missing = [c for c in cols if c not in present]
    if missing:
        raise InvalidInput(
            f"{path.name}: column(s) named in the mapping are not in the file: {', '.join(missing)}"
        )


# --- vectorised parsing ----------------------------------------------------------------------


def text_column(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as trimmed strings in one chunk; nulls and empty strings become null."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_floating(t):  # ids stored as floats: 1.0 -> "1"
        col = pc.cast(col, pa.int64(), safe=False)
    if pa.types.is_dictionary(t):
        col = col.dictionary_decode()
    if not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    col = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def null_mask(arr: pa.Array) -> np.ndarray:
    return arr.is_null().to_numpy(zero_copy_only=False)


def encode(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Distinct values of a column and, per row, the index of its value (-1 for null)."""
    d = pc.dictionary_encode(arr)
    codes = d.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, d.dictionary.to_pylist()


def lookup(codes: np.ndarray, values: list, fn, default, dtype=object) -> np.ndarray:
    """``fn(value)`` per row through the distinct values (``default`` for nulls)."""
    table = np.array([fn(v) for v in values] + [default], dtype=dtype)
    return table[codes]  # code -1 (null) picks the default at the end


def parse_times(
    col: pa.ChunkedArray | None, n: int, tz: str | None, fmt: str
) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps as UTC ``datetime64[us]`` (NaT where missing) and a mask of values present
    but unreadable or outside 1900..2100. Times without a zone are local times of ``tz``."""
    if col is None:
        return np.full(n, np.datetime64("NaT"), "M8[us]"), np.zeros(n, bool)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        blank = null_mask(col.combine_chunks())
        t = _as_utc(pd.to_datetime(pd.Series(col.to_pandas())), tz, n)
    else:
        strings = text_column(col)
        blank = null_mask(strings)
        s = pd.Series(strings.to_pandas())
        try:
            t = _as_utc(pd.to_datetime(s, format=fmt, errors="coerce"), tz, n)
        except ValueError:  # values with and without a zone: read each kind apart
            zoned = s.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
            t = _as_utc(
                pd.to_datetime(s.where(zoned), format=fmt, errors="coerce", utc=True), tz, n
            )
            t = t.where(
                zoned, _as_utc(pd.to_datetime(s.where(~zoned), format=fmt, errors="coerce"), tz, n)
            )
    values = t.to_numpy(dtype="M8[us]", copy=True)
    bad = ~blank & (np.isnat(values) | (values < EARLIEST) | (values >= LATEST))
    values[bad] = np.datetime64("NaT")
    return values, bad


def _as_utc(t: pd.Series, tz: str | None, n: int) -> pd.Series:
    """Naive times as local times of ``tz`` (standard time when ambiguous), all made naive
    UTC."""
    if getattr(t.dt, "tz", None) is None and tz:
        t = t.dt.tz_localize(tz, ambiguous=np.zeros(n, bool), nonexistent="shift_forward")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    return t


def _floats(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        arr = pc.cast(col.combine_chunks(), pa.float64())
        return arr.to_numpy(zero_copy_only=False).astype(float), null_mask(arr)
    strings = text_column(col)
    values = pd.to_numeric(pd.Series(strings.to_pandas()), errors="coerce")
    return values.to_numpy(dtype=float, na_value=np.nan), null_mask(strings)


def parse_coordinates(
    lat: pa.ChunkedArray, lon: pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``lat, lon`` as floats, a mask of rows without coordinates and one of garbage ones
    (unreadable, out of range, or 0,0)."""
    y, y_missing = _floats(lat)
    x, x_missing = _floats(lon)
    missing = y_missing | x_missing
    with np.errstate(invalid="ignore"):
        garbage = ~missing & (
            ~np.isfinite(y)
            | ~np.isfinite(x)
            | (np.abs(y) > 90)
            | (np.abs(x) > 180)
            | ((y == 0) & (x == 0))
        )
    return y, x, missing, garbage


def point_keys(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """One int64 per point, equal for points equal to 1e-6 degree (about 0.1 m)."""
    la = np.rint((lat + 90.0) * 1e6).astype(np.int64)
    lo = np.rint((lon + 180.0) * 1e6).astype(np.int64)
    return (la << 29) | lo


def find_placeholders(
    lat: np.ndarray, lon: np.ndarray, mapping: Mapping
) -> tuple[np.ndarray, list[tuple[float, float, int, str]]]:
    """Rows on a placeholder point, and the points as ``(lat, lon, rows, how)``."""
    n = len(lat)
    if not n:
        return np.zeros(0, bool), []
    keys = point_keys(lat, lon)
    counts = pd.Series(keys).value_counts()
    share_limit = mapping.placeholder_max_share * n
    by_rule = counts[
        (counts > mapping.placeholder_max_rows)
        | ((counts > share_limit) & (counts >= mapping.placeholder_min_rows))
    ]
    how = dict.fromkeys(by_rule.index.tolist(), "rule")
    if mapping.placeholder_points:
        pts = np.array(mapping.placeholder_points, dtype=float)
        for k in point_keys(pts[:, 0], pts[:, 1]).tolist():
            if k in counts.index:
                how[k] = "listed" if k not in how else "listed, rule"
    flagged = np.isin(keys, np.fromiter(how, np.int64, len(how)))
    points = []
    for k, h in how.items():
        i = int(np.argmax(keys == k))
        points.append((float(lat[i]), float(lon[i]), int(counts[k]), h))
    points.sort(key=lambda p: -p[2])
    return flagged, points


# --- the rows to write -----------------------------------------------------------------------


@dataclass
class CityTarget:
    """The city the rows go to, as the importer needs it."""

    id: int
    code: str
    timezone: str
    bounds: object  # shapely geometry, WGS 84
    metric_srid: int = 4326


def _dictionary(codes: np.ndarray, values: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(values, pa.string())
    )


@dataclass
class PreparedRows:
    """The rows to write, in opening order.

    ``table`` holds the values computed for every row up front: ``src_row`` (the row's
    position in the file), ``created_at``, ``deadline_at``, ``resolved_at``, ``closed_at``
    (UTC), ``status``, ``channel``, ``category_code`` (dictionary-encoded), ``department``,
    ``placeholder_geocode``, ``lat``, ``lon``, ``year`` (UTC year of opening), and later
    ``organisation_id`` and ``reg_number``. ``texts`` are the file's text columns
    (``external_id``, ``source_type``, ``description``, ``address_text``), taken and cleaned
    chunk by chunk while the COPY runs (:meth:`chunk`).
    """

    table: pa.Table
    texts: dict[str, pa.Array | pa.ChunkedArray | None]

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def chunk(self, start: int = 0, length: int | None = None) -> pa.Table:
        """Rows ``start .. start + length`` with every column, text included."""
        part = self.table.slice(start, length)
        at = part["src_row"].combine_chunks()

        def take(name: str) -> pa.Array:
            col = self.texts.get(name)
            return pa.nulls(len(at), pa.string()) if col is None else text_column(col.take(at))

        description = pc.utf8_slice_codeunits(take("description"), 0, DESCRIPTION_MAX)
        return (
            part.append_column("external_id", take("external_id"))
            .append_column("source_type", take("source_type"))
            .append_column("description", description.fill_null(""))
            .append_column("address_text", take("address_text"))
        )


def prepare_rows(
    src: pa.Table,
    mapping: Mapping,
    city: CityTarget,
    deadline_hours: dict[str, int],
    existing_ids: pa.Array | None,
    report: HistoryReport,
) -> PreparedRows:
    """Check and translate the source rows; return the rows to write, in opening order.

    Everything that decides whether and how a row is written is computed here, vectorised
    over the whole file, and counted in ``report``; only the copying of the text columns is
    left to :meth:`PreparedRows.chunk`. No database access.

    Parameters
    ----------
    src : pyarrow.Table
        What :func:`read_source` returned.
    mapping : Mapping
    city : CityTarget
        Its bounds decide which points are outside; its zone reads zone-less times.
    deadline_hours : dict
        Category code to ``deadline_hours``, for rows without a deadline.
    existing_ids : pyarrow.Array or None
        Source ids the city already holds: those rows are skipped.
    report : HistoryReport
        Filled with the counts.

    Returns
    -------
    PreparedRows
    """
    n = src.num_rows
    report.rows_read = n
    has = set(src.column_names)
    tz = mapping.timezone or city.timezone
    reason = np.full(n, -1, np.int8)  # index into REASONS, -1 = fine

    def reject(mask: np.ndarray, key: str) -> None:
        reason[(reason < 0) & mask] = list(REASONS).index(key)

    ids = text_column(src["id"])
    id_codes, _ = encode(ids)
    reject(id_codes < 0, "no_id")
    # dictionary codes are given in order of first appearance: a repeat has a code not above
    # the highest code seen before it
    seen_max = np.maximum.accumulate(id_codes)
    first = id_codes > np.concatenate([[-1], seen_max[:-1]])
    reject(~first, "duplicate_id")
    opened, _ = parse_times(src["opened"], n, tz, mapping.date_format)
    reject(np.isnat(opened), "bad_opened")
    deadline, bad_deadline = parse_times(
        src["deadline"] if "deadline" in has else None, n, tz, mapping.date_format
    )
    reject(bad_deadline, "bad_deadline")
    closed_t, bad_closed = parse_times(
        src["closed"] if "closed" in has else None, n, tz, mapping.date_format
    )
    reject(bad_closed, "bad_closed")
    st_codes, st_values = encode(text_column(src["status"]))
    is_closed = lookup(st_codes, st_values, lambda v: v in mapping.status_closed, False, bool)
    is_open = lookup(st_codes, st_values, lambda v: v in mapping.status_open, False, bool)
    is_open &= ~is_closed
    reject(is_closed & np.isnat(closed_t), "closed_without_date")
    reject(~is_closed & ~is_open, "unknown_status")
    lat, lon, no_xy, bad_xy = parse_coordinates(src["lat"], src["lon"])
    reject(no_xy, "no_coordinates")
    reject(bad_xy, "bad_coordinates")
    check = reason < 0
    inside = np.zeros(n, bool)
    inside[check] = shapely.intersects_xy(city.bounds, lon[check], lat[check])
    reject(check & ~inside, "outside_city")
    report.rejected = {k: int((reason == i).sum()) for i, k in enumerate(REASONS)}

    ok = reason < 0
    flagged, points = find_placeholders(lat[ok], lon[ok], mapping)
    report.placeholder_points = points
    report.placeholder_rule = (
        f"> {mapping.placeholder_max_rows:,} rows or "
        f"> {100 * mapping.placeholder_max_share:g}% of rows "
        f"(at least {mapping.placeholder_min_rows}), or listed"
    )
    placeholder = np.zeros(n, bool)
    placeholder[ok] = flagged

    if existing_ids is not None and len(existing_ids):
        seen = pc.is_in(ids, value_set=existing_ids).to_numpy(zero_copy_only=False) & ok
    else:
        seen = np.zeros(n, bool)
    report.already_imported = int(seen.sum())
    idx = np.flatnonzero(ok & ~seen)
    idx = idx[np.argsort(opened[idx].view(np.int64), kind="stable")]

    # categories, channels, departments: translated through their distinct values
    types = text_column(src["type"])
    ty_codes, ty_values = encode(types)
    ty_codes = ty_codes[idx]
    cat_codes_all = sorted(set(mapping.category_map.values()) | {mapping.category_default})
    cat_index = {c: i for i, c in enumerate(cat_codes_all)}
    default_cat = cat_index[mapping.category_default]
    cat = lookup(
        ty_codes,
        ty_values,
        lambda v: cat_index[mapping.category_map.get(v, mapping.category_default)],
        default_cat,
        np.int64,
    )
    unknown_type = lookup(ty_codes, ty_values, lambda v: v not in mapping.category_map, True, bool)
    report.other_unknown = int(unknown_type.sum())
    other = cat_index.get("other", -1)
    report.other_by_mapping = int(((cat == other) & ~unknown_type).sum())
    if report.other_unknown:
        vals = np.array([*ty_values, "(empty)"], dtype=object)[ty_codes[unknown_type]]
        report.unknown_types = {str(k): int(v) for k, v in pd.Series(vals).value_counts().items()}
    used = np.bincount(cat, minlength=len(cat_codes_all))
    report.categories_used = int((used > 0).sum())
    hours = np.array([deadline_hours[c] for c in cat_codes_all], np.int64)[cat]

    channels = list(CHANNELS)
    if "channel" in has:
        ch_codes, ch_values = encode(text_column(src["channel"]))
        ch_codes = ch_codes[idx]
        ch = lookup(
            ch_codes,
            ch_values,
            lambda v: channels.index(mapping.channel_map.get(v, mapping.channel_default)),
            channels.index(mapping.channel_default),
            np.int64,
        )
        unmapped = lookup(ch_codes, ch_values, lambda v: v not in mapping.channel_map, True, bool)
        if unmapped.any():
            vals = np.array([*ch_values, "(empty)"], dtype=object)[ch_codes[unmapped]]
            report.unmapped_channels = {
                str(k): int(v) for k, v in pd.Series(vals).value_counts().items()
            }
    else:
        ch = np.full(len(idx), channels.index(mapping.channel_default), np.int64)
    report.channels = {
        channels[i]: int(c) for i, c in enumerate(np.bincount(ch, minlength=len(channels))) if c
    }
    dep_codes, dep_values = np.full(len(idx), -1, np.int64), []
    if "department" in has:
        codes, dep_values = encode(text_column(src["department"]))
        dep_codes = lookup(
            codes,
            dep_values,
            lambda v: -1 if v in mapping.department_none else dep_values.index(v),
            -1,
            np.int64,
        )[idx]
    has_dep = dep_codes >= 0
    dep = pa.DictionaryArray.from_arrays(
        pa.array(dep_codes.astype(np.int32), mask=~has_dep), pa.array(dep_values, pa.string())
    )

    created = opened[idx]
    closed_k = is_closed[idx]
    closed_at = np.where(closed_k, closed_t[idx], np.datetime64("NaT", "us"))
    dl = deadline[idx]
    no_dl = np.isnat(dl)
    dl[no_dl] = created[no_dl] + (hours[no_dl] * US_PER_HOUR).astype("m8[us]")
    report.deadline_from_source = int((~no_dl).sum())
    report.deadline_from_category = int(no_dl.sum())

    # on time: keep what the source says derivable as closed_at <= deadline_at
    if "on_time" in has:
        ot_codes, ot_values = encode(text_column(src["on_time"]))
        ot_codes = ot_codes[idx]
        yes = lookup(ot_codes, ot_values, lambda v: v in mapping.on_time_yes, False, bool)
        no = lookup(ot_codes, ot_values, lambda v: v in mapping.on_time_no, False, bool) & ~yes
        raise_dl = closed_k & no_dl & yes & (closed_at > dl)
        lower_dl = closed_k & no_dl & no & (closed_at <= dl)
        dl[raise_dl] = closed_at[raise_dl]
        dl[lower_dl] = closed_at[lower_dl] - np.timedelta64(1, "s")
        report.deadline_raised = int(raise_dl.sum())
        report.deadline_lowered = int(lower_dl.sum())
        known = closed_k & (yes | no)
        agree = known & ((closed_at <= dl) == yes)
        report.on_time_checked = int(known.sum())
        report.on_time_agree = int(agree.sum())
        report.on_time_disagree_source_deadline = int((known & ~agree & ~no_dl).sum())
        report.on_time_unknown = int((closed_k & ~(yes | no)).sum())
    report.closed_before_opened = int((closed_k & (closed_at < created)).sum())

    status_values = ["closed", "assigned", "registered"]
    status = np.where(closed_k, 0, np.where(has_dep, 1, 2))
    report.closed = int(closed_k.sum())
    report.open_assigned = int((~closed_k & has_dep).sum())
    report.open_registered = int((~closed_k & ~has_dep).sum())

    # numbered by the UTC year of opening, as geo.appeals.next_reg_number numbers live ones
    year = created.astype("M8[Y]").astype(np.int64) + 1970
    utc = pa.timestamp("us", tz="UTC")
    rows = pa.table(
        {
            "src_row": pa.array(idx),
            "created_at": pa.array(created, utc),
            "deadline_at": pa.array(dl, utc),
            "resolved_at": pa.array(closed_at, utc),
            "closed_at": pa.array(closed_at, utc),
            "status": _dictionary(status, status_values),
            "channel": _dictionary(ch, channels),
            "category_code": _dictionary(cat, cat_codes_all),
            "department": dep,
            "placeholder_geocode": pa.array(placeholder[idx]),
            "lat": pa.array(lat[idx]),
            "lon": pa.array(lon[idx]),
            "year": pa.array(year),
        }
    )
    report.placeholder_rows = int(placeholder[idx].sum())
    report.years = sorted(set(year.tolist()))
    texts = {
        "external_id": ids,
        "source_type": types,
        "description": (src["description"].combine_chunks() if "description" in has else None),
        "address_text": src["address"].combine_chunks() if "address" in has else None,
    }
    return PreparedRows(rows, texts)


def assign_reg_numbers(year: np.ndarray, code: str, start: dict[int, int]) -> pa.Array:
    """``<CODE>-<year>-<n>``: per year in row order, from ``start[year] + 1``, at least 6
    digits."""
    seq = np.zeros(len(year), np.int64)
    for y in np.unique(year):
        m = year == y
        seq[m] = start.get(int(y), 0) + np.arange(1, int(m.sum()) + 1)
    width = max(6, len(str(int(seq.max())))) if len(seq) else 6
    head = np.frombuffer(f"{code}-".encode(), np.uint8)
    out = np.empty((len(year), len(head) + 5 + width), np.uint8)
    out[:, : len(head)] = head
    _write_digits(out, len(head), year, 4)
    out[:, len(head) + 4] = ord("-")
    _write_digits(out, len(head) + 5, seq, width)
    return _fixed(out).cast(pa.string())


def _write_digits(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    v = values.astype(np.int64, copy=True)
    for i in range(width - 1, -1, -1):
        out[:, col + i] = 48 + v % 10
        v //= 10


def _fixed(out: np.ndarray) -> pa.Array:
    """Rows of an ``(n, width)`` uint8 array (or a structured array) as a binary array."""
    raw = np.ascontiguousarray(out).view(np.uint8)
    n = len(out)
    width = raw.size // n if n else 1
    fixed = pa.Array.from_buffers(pa.binary(width), n, [None, pa.py_buffer(raw)])
    return fixed.cast(pa.binary())


# --- the COPY data (PostgreSQL's binary COPY format) -----------------------------------------

#: the columns of the binary COPY, in the order of the tuples below; then PLACE_COLUMNS when
#: ``appeals`` has them (migration 0004: the point in the city's metric CRS and its yard,
#: which a row trigger computes when a writer leaves ``x_m`` NULL)
BINARY_COLUMNS = [
    "city_id",
    "created_at",
    "deadline_at",
    "placeholder_geocode",
    "geom",
    "located_by",
    "object_kind",
    "organisation_id",
    "resolved_at",
    "closed_at",
    "reg_number",
    "channel",
    "category_code",
    "description",
    "address_text",
    "status",
    "external_id",
    "source_type",
]
PLACE_COLUMNS = ["x_m", "y_m", "yard_id"]
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
COPY_TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
NULL_FIELD = pa.scalar(b"\xff\xff\xff\xff", pa.binary())  # length -1

#: the fields every row has, none of them null: one fixed-size record per row. Each field
#: is its length (int32, big endian) then its value; ``geom`` is EWKB (little endian).
_FIXED_PART = np.dtype(
    [
        ("nfields", ">i2"),
        ("l_city", ">i4"),
        ("city", ">i2"),
        ("l_created", ">i4"),
        ("created", ">i8"),
        ("l_deadline", ">i4"),
        ("deadline", ">i8"),
        ("l_placeholder", ">i4"),
        ("placeholder", "u1"),
        ("l_geom", ">i4"),
        ("g_order", "u1"),
        ("g_type", "<u4"),
        ("g_srid", "<u4"),
        ("g_x", "<f8"),
        ("g_y", "<f8"),
        ("l_located_by", ">i4"),
        ("located_by", "S6"),
        ("l_object_kind", ">i4"),
        ("object_kind", "S4"),
    ]
)
_INT8_FIELD = np.dtype([("len", ">i4"), ("value", ">i8")])
_METRIC_PART = np.dtype([("l_x", ">i4"), ("x", ">f8"), ("l_y", ">i4"), ("y", ">f8")])


def copy_columns(rows: pa.Table) -> list[str]:
    """The columns the COPY of these rows writes."""
    return BINARY_COLUMNS + (PLACE_COLUMNS if "x_m" in rows.column_names else [])


def _micros(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp column as microseconds since 2000-01-01 and its null mask."""
    us = pc.cast(arr, pa.int64())
    return us.fill_null(0).to_numpy() - PG_EPOCH_US, null_mask(us)


def _int8_field(values: np.ndarray, null: np.ndarray) -> pa.Array:
    rec = np.empty(len(values), _INT8_FIELD)
    rec["len"], rec["value"] = 8, values
    out = _fixed(rec)
    if null.any():
        out = pc.if_else(pa.array(null), NULL_FIELD, out)
    return out


def _text_field(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A text column as two parts to join: the lengths (-1 for null) and the bytes."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.replace_substring(arr, "\x00", "")  # PostgreSQL text cannot hold NUL
    lengths = pc.binary_length(arr).fill_null(-1).to_numpy().astype(">i4")
    return _fixed(lengths), arr.cast(pa.binary())


def binary_chunk(rows: pa.Table, city_id: int) -> bytes:
    """Rows as tuples of PostgreSQL's binary COPY format, in :data:`BINARY_COLUMNS` order.

    Parameters
    ----------
    rows : pyarrow.Table
        A :meth:`PreparedRows.chunk` (every column, ``reg_number`` and ``organisation_id``
        included).
    city_id : int

    Returns
    -------
    bytes
        The tuples, without the stream's header and trailer.
    """
    k = rows.num_rows
    rec = np.empty(k, _FIXED_PART)
    rec["nfields"] = len(copy_columns(rows))
    rec["l_city"], rec["city"] = 2, city_id
    rec["l_created"], rec["created"] = 8, _micros(rows["created_at"].combine_chunks())[0]
    rec["l_deadline"], rec["deadline"] = 8, _micros(rows["deadline_at"].combine_chunks())[0]
    rec["l_placeholder"] = 1
    rec["placeholder"] = rows["placeholder_geocode"].to_numpy()
    rec["l_geom"], rec["g_order"], rec["g_type"], rec["g_srid"] = 25, 1, 0x20000001, 4326
    rec["g_x"], rec["g_y"] = rows["lon"].to_numpy(), rows["lat"].to_numpy()
    rec["l_located_by"], rec["located_by"] = 6, b"import"
    rec["l_object_kind"], rec["object_kind"] = 4, b"none"
    org = rows["organisation_id"].combine_chunks()
    parts = [
        _fixed(rec),
        _int8_field(org.fill_null(0).to_numpy(), null_mask(org)),
        _int8_field(*_micros(rows["resolved_at"].combine_chunks())),
        _int8_field(*_micros(rows["closed_at"].combine_chunks())),
    ]
    for name in BINARY_COLUMNS[10:]:
        parts.extend(_text_field(rows[name].combine_chunks()))
    if "x_m" in rows.column_names:
        metric = np.empty(k, _METRIC_PART)
        metric["l_x"], metric["x"] = 8, rows["x_m"].to_numpy()
        metric["l_y"], metric["y"] = 8, rows["y_m"].to_numpy()
        yard = rows["yard_id"].combine_chunks()
        parts += [_fixed(metric), _int8_field(yard.fill_null(0).to_numpy(), null_mask(yard))]
    joined = pc.binary_join_element_wise(
        *parts, pa.scalar(b"", pa.binary()), null_handling="replace", null_replacement=""
    )
    offsets = np.frombuffer(joined.buffers()[1], np.int32, k + 1, joined.offset * 4)
    return joined.buffers()[2][int(offsets[0]) : int(offsets[-1])].to_pybytes()


def binary_chunks(rows: PreparedRows, city_id: int, chunk_rows: int) -> Iterator[tuple[bytes, int]]:
    """The whole COPY stream in pieces ``(data, rows)``: header, chunks of ``chunk_rows``
    rows, trailer."""
    yield COPY_HEADER, 0
    for start in range(0, rows.num_rows, chunk_rows):
        part = rows.chunk(start, chunk_rows)
        yield binary_chunk(part, city_id), part.num_rows
    yield COPY_TRAILER, 0


def copy_sql(columns: list[str]) -> str:
    """The COPY statement for :func:`binary_chunks` of rows with these columns."""
    return f"COPY appeals ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"


class _Feed(io.RawIOBase):
    """What ``copy_expert`` reads from: pieces made by a background thread, so that the
    next chunk is encoded while the server takes the previous one."""

    def __init__(self, chunks: Iterator[tuple[bytes, int]], on_rows=lambda n: None):
        super().__init__()
        self._queue: queue.Queue = queue.Queue(maxsize=3)
        self._stop = threading.Event()
        self._on_rows = on_rows
        self._done = False
        self.error: BaseException | None = None  # what the producer raised, if anything
        self._thread = threading.Thread(target=self._produce, args=(chunks,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, chunks) -> None:
        try:
            for item in chunks:
                if not self._put(item):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the reader, which raises it
            self._put(exc)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._done:
            return b""
        item = self._queue.get()
        if item is None:
            self._done = True
            return b""
        if isinstance(item, BaseException):
            self._done = True
            self.error = item
            raise item
        data, nrows = item
        self._on_rows(nrows)
        return data

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        super().close()


def copy_rows(
    conn: Connection,
    chunks: Iterator[tuple[bytes, int]],
    total: int,
    columns: list[str],
    progress: bool = True,
) -> None:
    """Stream binary COPY pieces into ``appeals`` in the caller's transaction, with a progress
    bar (by chunk) on stderr."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit="rows",
        unit_scale=True,
        desc="COPY appeals",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    feed = _Feed(chunks, bar.update)
    try:
        with conn.connection.dbapi_connection.cursor() as cur:
            cur.copy_expert(copy_sql(columns), feed, size=1 << 20)
    except Exception:
        if feed.error is not None:  # psycopg2 reports it as a cancelled COPY: say what it was
            raise feed.error from None
        raise
    finally:
        feed.close()
        bar.close()


# --- the database side -----------------------------------------------------------------------


def _bounds_sql(bounds) -> tuple[str, dict]:
    if isinstance(bounds, list | tuple) and len(bounds) == 4:
        x0, y0, x1, y1 = (float(v) for v in bounds)
        if not (x0 < x1 and y0 < y1):
            raise InvalidInput("city.bounds: expected [minlon, minlat, maxlon, maxlat]")
        return (
            "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))",
            {"x0": x0, "y0": y0, "x1": x1, "y1": y1},
        )
    if isinstance(bounds, dict) and bounds.get("type") in ("Polygon", "MultiPolygon"):
        import json

        return ("ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:gj), 4326))", {"gj": json.dumps(bounds)})
    raise InvalidInput(
        "city.bounds: expected [minlon, minlat, maxlon, maxlat] or a GeoJSON Polygon/MultiPolygon"
    )


def ensure_city(
    conn: Connection, mapping: Mapping, code: str | None, echo=lambda *_: None
) -> tuple[CityTarget, bool]:
    """The city by code (the mapping's unless given); created from the mapping if missing."""
    spec = mapping.city
    code = (code or spec["code"]).upper()
    row = conn.execute(
        text("SELECT id, timezone, ST_AsBinary(bounds), metric_srid FROM cities WHERE code = :c"),
        {"c": code},
    ).first()
    created = False
    if row is None:
        for key in ("name_ru", "name_en", "metric_srid", "bounds"):
            if spec.get(key) in (None, ""):
                raise InvalidInput(
                    f"city {code} does not exist and the mapping has no city.{key} to create it"
                )
        srid = int(spec["metric_srid"])
        if not conn.execute(
            text("SELECT 1 FROM spatial_ref_sys WHERE srid = :s"), {"s": srid}
        ).first():
            raise InvalidInput(f"city.metric_srid: EPSG:{srid} is not known to PostGIS")
        geom_sql, params = _bounds_sql(spec["bounds"])
        cid = conn.execute(
            text(f"""
            INSERT INTO cities (code, name_ru, name_kk, name_en, metric_srid, timezone,
                                bounds, synthetic, note)
            VALUES (:code, :ru, :kk, :en, :srid, :tz, {geom_sql}, false, :note)
            RETURNING id"""),
            {
                "code": code,
                "ru": spec["name_ru"],
                "kk": spec.get("name_kk") or spec["name_ru"],
                "en": spec["name_en"],
                "srid": srid,
                "tz": spec.get("timezone") or mapping.timezone or "UTC",
                "note": spec.get("note"),
                **params,
            },
        ).scalar_one()
        row = conn.execute(
            text("SELECT id, timezone, ST_AsBinary(bounds), metric_srid FROM cities WHERE id = :c"),
            {"c": cid},
        ).one()
        created = True
        echo(f"city {code} created (id {cid}, EPSG:{srid})")
    bounds = wkb.loads(bytes(row[2]))
    shapely.prepare(bounds)
    return CityTarget(
        id=row[0], code=code, timezone=row[1], bounds=bounds, metric_srid=row[3]
    ), created


def category_hours(conn: Connection, mapping: Mapping, echo=lambda *_: None) -> dict[str, int]:
    """Our categories' deadline hours; every code the mapping names must exist."""
    hours = dict(conn.execute(text("SELECT code, deadline_hours FROM categories")).all())
    if not hours:
        from geo.citydb import load_categories

        echo(
            f"no categories in the database: loaded {load_categories(conn)} from "
            "data/categories.yaml"
        )
        hours = dict(conn.execute(text("SELECT code, deadline_hours FROM categories")).all())
    named = set(mapping.category_map.values()) | {mapping.category_default}
    missing = sorted(named - set(hours))
    if missing:
        raise InvalidInput(
            f"mapping {mapping.path.name}: category code(s) not in the "
            f"categories table: {', '.join(missing)}"
        )
    return hours


def existing_external_ids(conn: Connection, city_id: int) -> pa.Array:
    """The source ids the city already holds (read with COPY: fast for millions)."""
    buf = io.BytesIO()
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.copy_expert(
            f"COPY (SELECT external_id FROM appeals WHERE city_id = {int(city_id)} "
            "AND external_id IS NOT NULL) TO STDOUT WITH (FORMAT csv)",
            buf,
        )
    if not buf.tell():
        return pa.array([], pa.string())
    buf.seek(0)
    table = pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=["id"]),
        convert_options=pacsv.ConvertOptions(
            column_types={"id": pa.string()}, strings_can_be_null=False
        ),
    )
    return table.column("id").combine_chunks()


def reg_number_start(conn: Connection, city_id: int, code: str) -> dict[int, int]:
    """Per year, the highest number taken: in ``appeals`` or by the year's sequence."""
    start = dict(
        conn.execute(
            text("""
        SELECT split_part(reg_number, '-', 2)::int, max(split_part(reg_number, '-', 3)::bigint)
        FROM appeals WHERE city_id = :c AND reg_number LIKE :p
          AND reg_number ~ '^[A-Z]+-[0-9]{4}-[0-9]+$'
        GROUP BY 1"""),
            {"c": city_id, "p": f"{code}-%"},
        ).all()
    )
    seqs = (
        conn.execute(
            text("SELECT relname FROM pg_class WHERE relkind = 'S' AND relname ~ :p"),
            {"p": f"^appeal_seq_{int(city_id)}_[0-9]{{4}}$"},
        )
        .scalars()
        .all()
    )
    for name in seqs:
        year = int(name.rsplit("_", 1)[1])
        last, called = conn.execute(text(f"SELECT last_value, is_called FROM {name}")).one()
        start[year] = max(start.get(year, 0), int(last) if called else int(last) - 1)
    return start


def ensure_departments(
    conn: Connection, city_id: int, names: list[str], labels: dict[str, dict[str, str]]
) -> tuple[dict[str, int], int]:
    """Organisations of kind ``city_department`` per department (by name); created if
    missing. Returns the ids by the source's department value, and how many were created."""
    want = {raw: labels.get(raw, {"ru": raw, "kk": raw}) for raw in names}
    have = dict(
        conn.execute(
            text(
                "SELECT name_ru, id FROM organisations "
                "WHERE city_id = :c AND kind = 'city_department'"
            ),
            {"c": city_id},
        ).all()
    )
    created = 0
    ids = {}
    for raw, name in sorted(want.items()):
        if name["ru"] not in have:
            have[name["ru"]] = conn.execute(
                text("""
                INSERT INTO organisations (city_id, kind, name_ru, name_kk)
                VALUES (:c, 'city_department', :ru, :kk) RETURNING id"""),
                {"c": city_id, "ru": name["ru"], "kk": name.get("kk") or name["ru"]},
            ).scalar_one()
            created += 1
        ids[raw] = have[name["ru"]]
    return ids, created


def appeal_columns(conn: Connection) -> set[str]:
    return set(
        conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'appeals'::regclass "
                "AND attnum > 0 AND NOT attisdropped"
            )
        ).scalars()
    )


def add_place(conn: Connection, rows: pa.Table, city: CityTarget) -> pa.Table:
    """``x_m``, ``y_m`` and ``yard_id`` of each row, as the ``appeals`` place trigger would set
    them, computed here for all rows at once so that the trigger does not fire.

    ``x_m``/``y_m`` are the point in the city's metric CRS (pyproj); ``yard_id`` is the
    lowest-numbered yard whose polygon intersects the point (imported appeals are on no map
    object), and NULL on a placeholder geocode: a default point is not a place, and counting
    it for the yard under it would skew the yard repair queue.
    """
    from pyproj import Transformer

    lon, lat = rows["lon"].to_numpy(), rows["lat"].to_numpy()
    x, y = Transformer.from_crs(4326, city.metric_srid, always_xy=True).transform(lon, lat)
    yard = np.full(len(lon), -1, np.int64)
    yards = conn.execute(
        text("SELECT id, ST_AsBinary(geom) FROM yards WHERE city_id = :c ORDER BY id"),
        {"c": city.id},
    ).all()
    if yards and len(lon):
        ids = np.array([r[0] for r in yards], np.int64)
        tree = shapely.STRtree([wkb.loads(bytes(r[1])) for r in yards])
        point, hit = tree.query(shapely.points(lon, lat), predicate="intersects")
        order = np.lexsort((ids[hit], point))  # per point, the lowest yard id first
        point, hit = point[order], hit[order]
        first = np.r_[True, point[1:] != point[:-1]]
        yard[point[first]] = ids[hit[first]]
        yard[rows["placeholder_geocode"].to_numpy()] = -1
    return (
        rows.append_column("x_m", pa.array(np.asarray(x, float)))
        .append_column("y_m", pa.array(np.asarray(y, float)))
        .append_column("yard_id", pa.array(yard, mask=yard < 0))
    )


def advance_sequences(conn: Connection, city_id: int, reg_numbers: pa.ChunkedArray) -> None:
    """Move each imported year's registration-number sequence past the numbers just taken.

    The same as ``geo.appeal_gen.advance_sequences`` for the years of the import, from the
    numbers themselves rather than a scan of the city's appeals (3-4 s at 2.3M rows).
    """
    from geo.appeals import ensure_sequence

    parts = pc.split_pattern(reg_numbers.combine_chunks(), "-", max_splits=2, reverse=True)
    year = pc.cast(pc.list_element(parts, 1), pa.int64()).to_numpy()
    seq = pc.cast(pc.list_element(parts, 2), pa.int64()).to_numpy()
    for y in np.unique(year):
        name = ensure_sequence(conn, city_id, int(y))
        conn.execute(
            text(
                f"SELECT setval(CAST(:s AS regclass), greatest(:n, "
                f"(SELECT last_value FROM {name})))"
            ),
            {"s": name, "n": int(seq[year == y].max())},
        )


@dataclass
class Deferred:
    """Plain indexes and foreign keys of ``appeals`` dropped for a bulk load."""

    indexes: list[str]
    foreign_keys: list[tuple[str, str]]


def defer_appeal_indexes(conn: Connection) -> Deferred:
    """Drop the non-unique indexes and the foreign keys of ``appeals`` (in the caller's
    transaction; ``restore_appeal_indexes`` puts them back and re-validates every row)."""
    idx = conn.execute(
        text("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'appeals'::regclass AND NOT i.indisunique AND NOT i.indisprimary
        ORDER BY c.relname""")
    ).all()
    fks = conn.execute(
        text("""
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'appeals'::regclass AND contype = 'f' ORDER BY conname""")
    ).all()
    for name, _ in fks:
        conn.execute(text(f'ALTER TABLE appeals DROP CONSTRAINT "{name}"'))
    for name, _ in idx:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return Deferred(indexes=[d for _, d in idx], foreign_keys=[(n, d) for n, d in fks])


def restore_appeal_indexes(conn: Connection, deferred: Deferred) -> None:
    """Rebuild what ``defer_appeal_indexes`` dropped (the foreign keys are re-checked)."""
    for ddl in deferred.indexes:
        conn.execute(text(ddl))
    for name, ddl in deferred.foreign_keys:
        conn.execute(text(f'ALTER TABLE appeals ADD CONSTRAINT "{name}" {ddl}'))


# --- the import ------------------------------------------------------------------------------


@dataclass
class PreparedImport:
    """Rows ready for the COPY (numbers and organisations assigned) and the report so far."""

    city: CityTarget
    rows: PreparedRows
    report: HistoryReport


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
    table = table.append_column(
        "reg_number", assign_reg_numbers(table["year"].to_numpy(), target.code, start)
    )
    if set(PLACE_COLUMNS) <= appeal_columns(conn):
        table = add_place(conn, table, target)
    rows.table = table
    report.timings["prepare"] = time.perf_counter() - t1
    return PreparedImport(target, rows, report)


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
        The database (migrated). Categories are loaded from ``data/categories.yaml`` if the
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
        them after it (same transaction, every row re-checked). Locks ``appeals`` for the
        whole import. Default: only when ``appeals`` is empty.
    chunk_rows : int
        Rows per COPY chunk (and progress step).
    progress : bool
        Show the tqdm progress bar on stderr.

    Returns
    -------
    HistoryReport
        Counts of every row read: imported, rejected by reason, already imported.
    """
    from geo.appeal_gen import link_repeats, refresh_object_repeats

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
        deferred = defer_appeal_indexes(conn) if defer_indexes else None
        copy_rows(
            conn,
            binary_chunks(rows, prep.city.id, chunk_rows),
            rows.num_rows,
            copy_columns(rows.table),
            progress,
        )
        tm["copy"] = time.perf_counter() - t
        if deferred:
            t = time.perf_counter()
            restore_appeal_indexes(conn, deferred)
            tm["indexes"] = time.perf_counter() - t
        report.deferred_indexes = bool(deferred)
        report.imported = rows.num_rows
        t = time.perf_counter()
        if rows.num_rows:
            report.repeats_linked = link_repeats(conn, prep.city.id)
            refresh_object_repeats(conn, prep.city.id)
            advance_sequences(conn, prep.city.id, rows.table["reg_number"])
        tm["after"] = time.perf_counter() - t
        t = time.perf_counter()
    tm["commit"] = time.perf_counter() - t
    report.seconds = time.perf_counter() - t0
    echo(f"{report.imported:,} appeals imported into {report.city_code} in {report.seconds:.1f} s")
    return report
