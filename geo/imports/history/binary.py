"""The rows in PostgreSQL's binary COPY format, encoded chunk by chunk on a background
thread while the server takes the previous chunk."""

from __future__ import annotations

import io
import queue
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from geo.imports.history.parse import null_mask
from geo.imports.history.rows import PreparedRows, fixed_binary

#: the columns of the binary COPY, in the order of the tuples below; then PLACE_COLUMNS when
#: ``appeals`` has them (migrations 0004 and 0006: the point in the city's metric CRS, its
#: Web Mercator cell and its yard, which a row trigger computes when a writer leaves them NULL)
BINARY_COLUMNS = [
    "city_id",
    "created_at",
    "deadline_at",
    "placeholder_geocode",
    "geom",
    "located_by",
    "object_kind",
    "object_id",
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
PLACE_COLUMNS = ["x_m", "y_m", "cell", "yard_id"]
#: then these when the rows have their ids and links already (a first import:
#: :mod:`geo.imports.history.repeats`)
LINK_COLUMNS = ["id", "repeat_of_id"]
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
    ]
)
_INT8_FIELD = np.dtype([("len", ">i4"), ("value", ">i8")])
_METRIC_PART = np.dtype(
    [("l_x", ">i4"), ("x", ">f8"), ("l_y", ">i4"), ("y", ">f8"), ("l_cell", ">i4"), ("cell", ">i8")]
)


def copy_columns(rows: pa.Table) -> list[str]:
    """The columns the COPY of these rows writes."""
    names = rows.column_names
    return (
        BINARY_COLUMNS
        + (PLACE_COLUMNS if "x_m" in names else [])
        + (LINK_COLUMNS if "id" in names else [])
    )


def _micros(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp column as microseconds since 2000-01-01 and its null mask."""
    us = pc.cast(arr, pa.int64())
    return us.fill_null(0).to_numpy() - PG_EPOCH_US, null_mask(us)


def _int8_field(values: np.ndarray, null: np.ndarray) -> pa.Array:
    rec = np.empty(len(values), _INT8_FIELD)
    rec["len"], rec["value"] = 8, values
    out = fixed_binary(rec)
    if null.any():
        out = pc.if_else(pa.array(null), NULL_FIELD, out)
    return out


def _text_field(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A text column as two parts to join: the lengths (-1 for null) and the bytes."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.replace_substring(arr, "\x00", "")  # PostgreSQL text cannot hold NUL
    lengths = pc.binary_length(arr).fill_null(-1).to_numpy().astype(">i4")
    return fixed_binary(lengths), arr.cast(pa.binary())


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
    if "object_kind" in rows.column_names:  # snapped to the map (place.snap_rows)
        kind = rows["object_kind"].combine_chunks()
        oid = rows["object_id"].combine_chunks()
    else:
        kind = pa.array(["none"] * k, pa.string())
        oid = pa.nulls(k, pa.int64())
    org = rows["organisation_id"].combine_chunks()
    parts = [
        fixed_binary(rec),
        *_text_field(kind),
        _int8_field(oid.fill_null(0).to_numpy(), null_mask(oid)),
        _int8_field(org.fill_null(0).to_numpy(), null_mask(org)),
        _int8_field(*_micros(rows["resolved_at"].combine_chunks())),
        _int8_field(*_micros(rows["closed_at"].combine_chunks())),
    ]
    for name in BINARY_COLUMNS[BINARY_COLUMNS.index("reg_number") :]:
        parts.extend(_text_field(rows[name].combine_chunks()))
    if "x_m" in rows.column_names:
        metric = np.empty(k, _METRIC_PART)
        metric["l_x"], metric["x"] = 8, rows["x_m"].to_numpy()
        metric["l_y"], metric["y"] = 8, rows["y_m"].to_numpy()
        metric["l_cell"], metric["cell"] = 8, rows["cell"].to_numpy()
        yard = rows["yard_id"].combine_chunks()
        parts += [fixed_binary(metric), _int8_field(yard.fill_null(0).to_numpy(), null_mask(yard))]
    for name in LINK_COLUMNS if "id" in rows.column_names else []:
        col = rows[name].combine_chunks()
        parts.append(_int8_field(col.fill_null(0).to_numpy(), null_mask(col)))
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
