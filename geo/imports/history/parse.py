"""Reading an export (CSV or Parquet) and parsing its columns, vectorised: times, coordinates,
placeholder geocodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from geo.imports.history.mapping import EARLIEST, LATEST, Mapping
from geo.infra.errors import InvalidInput

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


def encode_text(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list]:
    """``encode(text_column(col))`` for a column of few distinct values: the values are
    trimmed once each rather than once per row (the order of the distinct values may
    differ)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_dictionary(col.type):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return encode(text_column(col))
        col = pc.dictionary_encode(col)
    codes, values = encode(text_column(col.dictionary))  # cleaned, maybe fewer
    per_row = col.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.append(codes, -1)[per_row], values


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
