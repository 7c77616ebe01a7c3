"""Analyses run in worker processes: a small pool behind a bounded queue, one computation
for identical concurrent requests, answers kept per parameters and data version.

Hot spot runs are seconds of numpy; in the process that serves requests they would hold the
interpreter (and its event loop) while appeals wait to be registered. So every analysis of
the API runs here instead:

* **outside the serving process**: a :class:`concurrent.futures.ProcessPoolExecutor` of
  ``workers`` processes (started on first use, ``spawn``: no copy of the server's threads
  and connections), each with one database connection of its own, which begins every
  transaction with the request's scope (row-level security applies as in the request),
  at a lower processor priority than the server (``nice``), so that intake goes first;
* **a bounded queue**: at most ``workers + queue`` different computations wait or run;
  one more is refused at once (:class:`Busy`, HTTP 503 with ``Retry-After``) rather than
  queued behind minutes of work;
* **single flight**: a request identical to one being computed (same city, visibility,
  parameters, format and data version) waits for that computation instead of starting
  another;
* **a cache**: answers are kept, keyed by the city, who may see which appeals (an executor
  sees only its organisation's), the normalised parameters, the format and the **data
  version** (:func:`data_version`: the newest appeal's and the newest appeal event's ids,
  two index look-ups), for ``ttl`` seconds at most and within ``max_bytes``. A new appeal or
  any change of one (every change writes an event) makes a new version; the ``ttl`` bounds
  how long an answer can lag behind a transaction that committed after a later one.

The answers are finished bodies (JSON, GeoJSON or CSV bytes, and gzipped when large), made
in the worker, so the serving process only sends them.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import math
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from geo.infra.errors import QalaError, Unavailable
from geo.staff.scope import Scope, apply_scope

MEDIA = {
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
}


class Busy(QalaError):
    """Too many analyses are running or waiting (HTTP 503 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message, retry_after)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Analysis:
    """One analysis asked for: ``kind`` (``hotspots``, ``emerging``, ``clusters``), its
    query (:class:`geo.hotspots.run.HotspotQuery` or
    :class:`geo.planning.failing.ClusterQuery`), the time step of an emerging run and the
    format of the answer (``json``, ``geojson``, ``csv``)."""

    kind: str
    query: Any
    step: str | None = None
    fmt: str = "json"

    def parameters(self) -> tuple:
        """The parameters, normalised: equal requests give equal tuples (250 and 250.0, a
        time in any offset, the same instant)."""
        fields = asdict(self.query) if is_dataclass(self.query) else dict(self.query)
        return (
            self.kind,
            self.step,
            self.fmt,
            tuple(sorted((k, _normal(v)) for k, v in fields.items())),
        )


def _normal(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: answers larger than this are also kept gzipped (compressed in the worker, once)
GZIP_FROM = 1024


@dataclass(frozen=True)
class Answer:
    """A finished answer: its body, media type, and the body gzipped when it is large (made
    in the worker, so that the serving process never compresses an analysis)."""

    body: bytes
    media_type: str
    gzipped: bytes | None = None


def _finished(body: bytes, media_type: str) -> Answer:
    zipped = gzip.compress(body, compresslevel=5, mtime=0) if len(body) >= GZIP_FROM else None
    return Answer(body, media_type, zipped)


VERSION_SQL = text(
    "SELECT (SELECT max(id) FROM appeals WHERE city_id = :c), "
    "(SELECT max(id) FROM appeal_events WHERE city_id = :c)"
)


def data_version(conn: Connection, city_id: int) -> tuple[int, int]:
    """The city's appeals as of now, cheaply: the newest appeal's id and the newest appeal
    event's id (every change of an appeal writes an event), read in the caller's scope (so
    under row-level security, as the service role).

    Examples
    --------
    >>> data_version(conn, city_id)  # doctest: +SKIP
    (50000, 123456)
    """
    a, e = conn.execute(VERSION_SQL, {"c": city_id}).one()
    return int(a or 0), int(e or 0)


def precheck(conn: Connection, city_id: int, analysis: Analysis, max_work: float) -> None:
    """Refuse, before anything is read but the city's extent (and for an emerging run its
    time span, for a clustering its number of appeals), an analysis whose estimated work
    exceeds ``max_work`` (:class:`geo.hotspots.budget.TooMuchWork`). With an automatic cell
    size the estimate waits for the cell size, in the worker."""
    from geo.hotspots import run
    from geo.planning import failing

    if analysis.kind == "hotspots":
        run.precheck_hotspots(conn, city_id, analysis.query, max_work)
    elif analysis.kind == "emerging":
        run.precheck_emerging(conn, city_id, analysis.query, analysis.step or "week", max_work)
    elif analysis.kind == "clusters":
        failing.precheck_clusters(conn, city_id, analysis.query, max_work)
    else:
        raise ValueError(f"unknown analysis {analysis.kind!r}")


def compute(conn: Connection, city_id: int, analysis: Analysis, max_work: float) -> Answer:
    """Run ``analysis`` on ``conn`` (already in the request's scope) and finish its body."""
    from geo.hotspots import run
    from geo.planning import failing

    if analysis.kind == "clusters":
        rows = failing.density_clusters(conn, city_id, analysis.query, max_work)
        return _finished(_json(rows), MEDIA["json"])
    if analysis.kind == "hotspots":
        result = run.run_hotspots(conn, city_id, analysis.query, max_work=max_work)
    elif analysis.kind == "emerging":
        result = run.run_emerging(
            conn, city_id, analysis.query, analysis.step or "week", max_work=max_work
        )
    else:
        raise ValueError(f"unknown analysis {analysis.kind!r}")
    if analysis.fmt == "geojson":
        return _finished(_json(run.to_geojson(result)), MEDIA["geojson"])
    if analysis.fmt == "csv":
        return _finished(_csv(run.cell_rows(result)), MEDIA["csv"])
    return _finished(_json(result), MEDIA["json"])


def _json(value: Any) -> bytes:
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    ).encode()


def _csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue().encode()


def cache_key(scope: Scope, analysis: Analysis, version: tuple[int, int]) -> tuple:
    """What an answer is kept under: the city, who sees which appeals (an executor only its
    organisation's: row-level security), the normalised parameters and the data version."""
    return (
        scope.city_id,
        scope.role,
        scope.actor.organisation_id,
        analysis.parameters(),
        version,
    )


# -- in the worker processes ---------------------------------------------------------------

_engine: Engine | None = None


def _start_worker(url: str, nice: int) -> None:
    global _engine
    # an analysis yields the processor to the serving processes (intake first), and its
    # numpy keeps to one thread (imported after this, in the worker)
    if nice:
        os.nice(nice)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    _engine = create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 3, "application_name": "qala-analysis"},
    )


def _in_worker(scope: Scope, analysis: Analysis, max_work: float) -> Answer:
    try:
        with _engine.connect() as conn, conn.begin():
            apply_scope(conn, scope)
            return compute(conn, scope.city_id, analysis, max_work)
    except OperationalError:  # the database went away: a 503 (an analysis changes nothing)
        raise Unavailable() from None


def _warm() -> int:
    """Import what the analyses use (numpy, scipy, pyproj …) so the first one does not."""
    from geo.hotspots import run  # noqa: F401
    from geo.planning import failing  # noqa: F401

    return 0


# -- in the serving process ----------------------------------------------------------------


class AnalysisPool:
    """The worker processes, their bounded queue, single flight and the cache.

    Parameters
    ----------
    url : the service's database URL (the workers connect as the service role).
    workers : worker processes (``QALA_ANALYSIS_WORKERS``).
    queue : computations that may wait for a worker besides those running.
    ttl : seconds an answer is kept at most.
    max_bytes : the cache's size; the least recently used answers go first.
    nice : how much lower the workers' processor priority is than the server's
        (``QALA_ANALYSIS_NICE``; 0 keeps it).
    """

    def __init__(
        self,
        url: str,
        workers: int = 1,
        queue: int = 4,
        ttl: float = 300.0,
        max_bytes: int = 0,
        nice: int = 10,
    ):
        self.url = url
        self.nice = nice
        self.workers = max(1, workers)
        self.queue = max(0, queue)
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: dict[tuple, Future] = {}
        self._cache: OrderedDict[tuple, tuple[float, Answer]] = OrderedDict()
        self._cached_bytes = 0
        self._seconds = 2.0  # a running estimate of one computation's time
        self.computed = 0  # computations started (for tests and the benchmark)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.url, self.nice),
            )
        return self._executor

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (started ones)."""
        procs = getattr(self._executor, "_processes", None) or {}
        return sorted(procs)

    def warm(self) -> None:
        """Start the worker processes now, with the analyses' modules imported (a worker
        starts in a second or two)."""
        pool = self._pool()
        for f in [pool.submit(_warm) for _ in range(self.workers)]:
            f.result()

    def cached(self, key: tuple) -> Answer | None:
        with self._lock:
            return self._cached(key)

    def _cached(self, key: tuple) -> Answer | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        if time.monotonic() - hit[0] > self.ttl:
            self._forget(key)
            return None
        self._cache.move_to_end(key)
        return hit[1]

    def clear(self) -> None:
        """Forget every kept answer (computations running go on)."""
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0

    def _forget(self, key: tuple) -> None:
        _, answer = self._cache.pop(key)
        self._cached_bytes -= len(answer.body) + len(answer.gzipped or b"")

    def _keep(self, key: tuple, answer: Answer) -> None:
        size = len(answer.body) + len(answer.gzipped or b"")
        if size > self.max_bytes:
            return
        if key in self._cache:
            self._forget(key)
        self._cache[key] = (time.monotonic(), answer)
        self._cached_bytes += size
        while self._cached_bytes > self.max_bytes:
            self._forget(next(iter(self._cache)))

    def submit(self, key: tuple, scope: Scope, analysis: Analysis, max_work: float) -> Future:
        """The answer to ``analysis`` for ``key``: from the cache, from the same computation
        already running, or from a new one.

        Raises
        ------
        Busy
            ``workers + queue`` computations are already running or waiting.
        """
        with self._lock:
            hit = self._cached(key)
            if hit is not None:
                done: Future = Future()
                done.set_result(hit)
                return done
            running = self._running.get(key)
            if running is not None:
                return running
            if len(self._running) >= self.workers + self.queue:
                wait = math.ceil(self._seconds * (len(self._running) / self.workers))
                raise Busy(
                    f"{len(self._running)} analyses are running or waiting, as many as this "
                    f"service takes at once (QALA_ANALYSIS_WORKERS, QALA_ANALYSIS_QUEUE): "
                    f"retry in {max(1, wait)} s; answers already computed are served at once",
                    retry_after=max(1, wait),
                )
            started = time.monotonic()
            try:
                future = self._pool().submit(_in_worker, scope, analysis, max_work)
            except BrokenProcessPool:  # a worker died since: start a new pool
                self._executor = None
                future = self._pool().submit(_in_worker, scope, analysis, max_work)
            self._running[key] = future
            self.computed += 1

        def finished(f: Future) -> None:
            with self._lock:
                self._running.pop(key, None)
                self._seconds = 0.7 * self._seconds + 0.3 * (time.monotonic() - started)
                if f.cancelled():
                    return
                if f.exception() is None:
                    self._keep(key, f.result())
                elif isinstance(f.exception(), BrokenProcessPool) and self._executor is not None:
                    # a worker died (killed for memory?): the next analysis gets a new pool
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = None

        future.add_done_callback(finished)
        return future

    def answer(self, conn: Connection, scope: Scope, analysis: Analysis, max_work: float) -> Answer:
        """:meth:`submit` for a caller that may block (a page view in a thread): the
        precheck and the data version on ``conn`` (in ``scope``), then the answer.

        Raises
        ------
        TooMuchWork, Busy, InvalidInput
            As the API's analyses.
        """
        precheck(conn, scope.city_id, analysis, max_work)
        key = cache_key(scope, analysis, data_version(conn, scope.city_id))
        try:
            return self.submit(key, scope, analysis, max_work).result()
        except BrokenProcessPool:
            raise Busy("the analysis stopped (its worker ended): retry shortly", 5) from None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
