"""The rows to write: every check and translation of the module docstring of
:mod:`geo.imports.history`, vectorised over the whole file, and the registration numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geo.imports.history.mapping import REASONS, US_PER_HOUR, Mapping
from geo.imports.history.parse import (
    encode,
    encode_text,
    find_placeholders,
    lookup,
    parse_coordinates,
    parse_times,
    text_column,
)
from geo.imports.history.report import HistoryReport
from geo.models import CHANNELS, DESCRIPTION_MAX


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
    checked = check_rows(src, mapping, city, report)
    placeholder = _flag_placeholders(checked, mapping, report)
    idx = _rows_to_write(checked, existing_ids, report)
    category = _categories(src, idx, mapping, deadline_hours, report)
    channel = _channels(src, idx, mapping, report)
    department = _departments(src, idx, mapping)
    times = _times(checked, idx, category.hours, report)
    if "on_time" in src.column_names:
        _keep_on_time(src, idx, mapping, times, report)
    report.closed_before_opened = int((times.closed & (times.closed_at < times.created)).sum())
    status = _statuses(times.closed, department.has, report)
    return _prepared(
        src, checked, idx, placeholder, times, status, channel, category, department, report
    )


# --- the steps of prepare_rows, in order ----------------------------------------------------


@dataclass
class CheckedRows:
    """Every source row parsed, and why each is refused (``reason``: an index into
    :data:`REASONS`, -1 for a good row)."""

    ids: pa.Array
    opened: np.ndarray
    deadline: np.ndarray
    closed_t: np.ndarray
    is_closed: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    reason: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.reason < 0


def check_rows(
    src: pa.Table, mapping: Mapping, city: CityTarget, report: HistoryReport
) -> CheckedRows:
    """Parse ids, times, statuses and coordinates; refuse a row for the first reason that
    applies, in the order of :data:`REASONS`; count the refused by reason in ``report``."""
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
    st_codes, st_values = encode_text(src["status"])
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
    return CheckedRows(ids, opened, deadline, closed_t, is_closed, lat, lon, reason)


def _flag_placeholders(checked: CheckedRows, mapping: Mapping, report: HistoryReport) -> np.ndarray:
    """Which good rows sit on a placeholder point (a city hall, a default geocode)."""
    ok = checked.ok
    flagged, points = find_placeholders(checked.lat[ok], checked.lon[ok], mapping)
    report.placeholder_points = points
    report.placeholder_rule = (
        f"> {mapping.placeholder_max_rows:,} rows or "
        f"> {100 * mapping.placeholder_max_share:g}% of rows "
        f"(at least {mapping.placeholder_min_rows}), or listed"
    )
    placeholder = np.zeros(len(ok), bool)
    placeholder[ok] = flagged
    return placeholder


def _rows_to_write(
    checked: CheckedRows, existing_ids: pa.Array | None, report: HistoryReport
) -> np.ndarray:
    """The positions of the good rows not imported before, in opening order."""
    ok = checked.ok
    if existing_ids is not None and len(existing_ids):
        seen = pc.is_in(checked.ids, value_set=existing_ids).to_numpy(zero_copy_only=False) & ok
    else:
        seen = np.zeros(len(ok), bool)
    report.already_imported = int(seen.sum())
    idx = np.flatnonzero(ok & ~seen)
    return idx[np.argsort(checked.opened[idx].view(np.int64), kind="stable")]


@dataclass
class Categories:
    """Each written row's category (an index into ``codes``) and its deadline in hours."""

    index: np.ndarray
    codes: list[str]
    hours: np.ndarray


def _categories(
    src: pa.Table,
    idx: np.ndarray,
    mapping: Mapping,
    deadline_hours: dict[str, int],
    report: HistoryReport,
) -> Categories:
    """The source's types translated through their distinct values; unknown ones (and what
    the mapping sends there) become the default category, counted in ``report``."""
    ty_codes, ty_values = encode_text(src["type"])
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
    return Categories(cat, cat_codes_all, hours)


def _channels(
    src: pa.Table, idx: np.ndarray, mapping: Mapping, report: HistoryReport
) -> np.ndarray:
    """Each written row's channel (an index into :data:`CHANNELS`), the default when the
    file has none or the mapping does not know a value."""
    channels = list(CHANNELS)
    if "channel" in src.column_names:
        ch_codes, ch_values = encode_text(src["channel"])
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
    return ch


@dataclass
class Departments:
    """Each written row's department (its source name, dictionary-encoded; null for none)."""

    array: pa.DictionaryArray
    has: np.ndarray


def _departments(src: pa.Table, idx: np.ndarray, mapping: Mapping) -> Departments:
    dep_codes, dep_values = np.full(len(idx), -1, np.int64), []
    if "department" in src.column_names:
        codes, dep_values = encode_text(src["department"])
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
    return Departments(dep, has_dep)


@dataclass
class Times:
    """Each written row's opening, closing (``NaT`` while open) and deadline; ``no_deadline``
    marks the deadlines taken from the category."""

    created: np.ndarray
    closed: np.ndarray
    closed_at: np.ndarray
    deadline: np.ndarray
    no_deadline: np.ndarray


def _times(
    checked: CheckedRows, idx: np.ndarray, hours: np.ndarray, report: HistoryReport
) -> Times:
    """The source's deadline where it gives one, else opening + the category's hours."""
    created = checked.opened[idx]
    closed_k = checked.is_closed[idx]
    closed_at = np.where(closed_k, checked.closed_t[idx], np.datetime64("NaT", "us"))
    dl = checked.deadline[idx]
    no_dl = np.isnat(dl)
    dl[no_dl] = created[no_dl] + (hours[no_dl] * US_PER_HOUR).astype("m8[us]")
    report.deadline_from_source = int((~no_dl).sum())
    report.deadline_from_category = int(no_dl.sum())
    return Times(created, closed_k, closed_at, dl, no_dl)


def _keep_on_time(
    src: pa.Table, idx: np.ndarray, mapping: Mapping, times: Times, report: HistoryReport
) -> None:
    """Keep what the source says of being on time derivable as ``closed_at <= deadline_at``:
    a derived deadline moves to agree (a source deadline never does). Agreement is counted
    over the closed rows whose source gives both a deadline and a status; rows whose deadline
    was derived are counted apart (``on_time_derived``)."""
    closed_k, closed_at, dl, no_dl = (
        times.closed,
        times.closed_at,
        times.deadline,
        times.no_deadline,
    )
    ot_codes, ot_values = encode_text(src["on_time"])
    ot_codes = ot_codes[idx]
    yes = lookup(ot_codes, ot_values, lambda v: v in mapping.on_time_yes, False, bool)
    no = lookup(ot_codes, ot_values, lambda v: v in mapping.on_time_no, False, bool) & ~yes
    raise_dl = closed_k & no_dl & yes & (closed_at > dl)
    lower_dl = closed_k & no_dl & no & (closed_at <= dl)
    dl[raise_dl] = closed_at[raise_dl]
    dl[lower_dl] = closed_at[lower_dl] - np.timedelta64(1, "s")
    report.deadline_raised = int(raise_dl.sum())
    report.deadline_lowered = int(lower_dl.sum())
    stated = closed_k & (yes | no)
    # agreement is measured only where the source gives both the deadline and the status: a
    # derived deadline was just set to agree, and counting it would report what we built
    known = stated & ~no_dl
    agree = known & ((closed_at <= dl) == yes)
    report.on_time_checked = int(known.sum())
    report.on_time_agree = int(agree.sum())
    report.on_time_disagree_source_deadline = int((known & ~agree).sum())
    report.on_time_derived = int((stated & no_dl).sum())
    report.on_time_unknown = int((closed_k & ~(yes | no)).sum())


#: the states an imported row takes: closed, open with a department, open without one
STATUS_VALUES = ["closed", "assigned", "registered"]


def _statuses(closed: np.ndarray, has_department: np.ndarray, report: HistoryReport) -> np.ndarray:
    """Each written row's state, an index into :data:`STATUS_VALUES`."""
    status = np.where(closed, 0, np.where(has_department, 1, 2))
    report.closed = int(closed.sum())
    report.open_assigned = int((~closed & has_department).sum())
    report.open_registered = int((~closed & ~has_department).sum())
    return status


def _prepared(
    src: pa.Table,
    checked: CheckedRows,
    idx: np.ndarray,
    placeholder: np.ndarray,
    times: Times,
    status: np.ndarray,
    channel: np.ndarray,
    category: Categories,
    department: Departments,
    report: HistoryReport,
) -> PreparedRows:
    """The table of the rows to write, and the text columns to be taken chunk by chunk."""
    has = set(src.column_names)
    # numbered by the UTC year of opening, as qala_create_appeal (migration 0005) numbers live ones
    year = times.created.astype("M8[Y]").astype(np.int64) + 1970
    utc = pa.timestamp("us", tz="UTC")
    rows = pa.table(
        {
            "src_row": pa.array(idx),
            "created_at": pa.array(times.created, utc),
            "deadline_at": pa.array(times.deadline, utc),
            "resolved_at": pa.array(times.closed_at, utc),
            "closed_at": pa.array(times.closed_at, utc),
            "status": _dictionary(status, STATUS_VALUES),
            "channel": _dictionary(channel, list(CHANNELS)),
            "category_code": _dictionary(category.index, category.codes),
            "department": department.array,
            "placeholder_geocode": pa.array(placeholder[idx]),
            "lat": pa.array(checked.lat[idx]),
            "lon": pa.array(checked.lon[idx]),
            "year": pa.array(year),
        }
    )
    report.placeholder_rows = int(placeholder[idx].sum())
    report.years = sorted(set(year.tolist()))
    texts = {
        "external_id": checked.ids,
        "source_type": src["type"].combine_chunks(),  # cleaned chunk by chunk, as the others
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
    return fixed_binary(out).cast(pa.string())


def _write_digits(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    v = values.astype(np.int64, copy=True)
    for i in range(width - 1, -1, -1):
        out[:, col + i] = 48 + v % 10
        v //= 10


def fixed_binary(out: np.ndarray) -> pa.Array:
    """Rows of an ``(n, width)`` uint8 array (or a structured array) as a binary array."""
    raw = np.ascontiguousarray(out).view(np.uint8)
    n = len(out)
    width = raw.size // n if n else 1
    fixed = pa.Array.from_buffers(pa.binary(width), n, [None, pa.py_buffer(raw)])
    return fixed.cast(pa.binary())
