"""Appeal creation while anonymous readers ask for hot spot analyses, in one run.

The finding: two anonymous readers of ``/api/v1/hotspots`` in a loop pushed the p99 of
appeal creation from 64 ms to 2.5 s. Here the API runs as in production (``uvicorn
api.app:create_app --factory --workers N``, durable cluster, the demo city and 50 000
appeals: :mod:`bench.bench_api`'s set-up and load generator) and appeal creation at 16
clients is measured three times in one run: alone, alone again, then with 4 readers (the
computations readers leave queued when they stop would still run, so no phase alone comes
after theirs). Each reader
asks in a loop for an analysis no one asked for before (emerging hot spots on 250 m cells,
a band of its own each time, so that the cache cannot answer and every request is a new
computation: the worst case for the service) and follows ``Retry-After`` when told 503.

Goal: the readers raise the p99 of appeal creation by at most 2x (against the mean of the
two runs alone). Before the load, the finding's own requests (emerging hot spots with a band
of 20 and 50 km and no cell size) are timed, with the server's memory growth.

Run: ``.venv/bin/python -m bench.run --only readers`` (``--quick``: 5 s per phase).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx

from api import process
from bench.bench_api import CLIENTS, SECRET, WARMUP_S, WORKERS, _prepare, _run_load
from bench.harness import BenchContext, record

READERS = 4
SECONDS, QUICK_SECONDS = 20.0, 5.0
READER_LEAD_S = 5.0  # readers start this long before the load (workers spawn, queues fill)
GOAL_RATIO = 2.0

_last: dict[str, str] = {}


class Readers:
    """``n`` threads asking for new analyses until stopped; counts what they got."""

    def __init__(self, base: str, n: int):
        self.base = base
        self.n = n
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: dict[int, int] = {}
        self.seconds: list[float] = []
        self.threads = [threading.Thread(target=self._read, args=(i,)) for i in range(n)]

    def _read(self, i: int) -> None:
        k = 0
        with httpx.Client(base_url=self.base, timeout=300) as http:
            while not self.stop.is_set():
                k += 1
                band = 500 + 10 * (k * self.n + i)  # never asked before: no cache hit
                t0 = time.perf_counter()
                try:
                    r = http.get(
                        "/api/v1/hotspots/emerging",
                        params={"cell_size": 250, "band": band, "format": "geojson"},
                    )
                except httpx.TransportError:
                    with self.lock:
                        self.statuses[0] = self.statuses.get(0, 0) + 1
                    continue
                with self.lock:
                    self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        self.seconds.append(time.perf_counter() - t0)
                if r.status_code == 503:
                    self.stop.wait(min(5.0, float(r.headers.get("Retry-After", "1"))))

    def __enter__(self) -> Readers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def _tree(pid: int) -> dict[int, dict[str, int]]:
    """VmRSS and VmHWM (bytes) of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
                ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            status = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError:
            continue
        mem = {}
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                mem[name] = int(value.split()[0]) * 1024
        if mem:
            out[p] = mem
    return out


def _refusals(base: str, server_pid: int) -> list[dict]:
    """The finding's requests (emerging hot spots, band 20 km and 50 km, no cell size):
    their status, time, and the server's memory growth (every process of it, analysis
    workers included: peak resident memory after against resident memory before)."""
    out = []
    # a new connection per request (Connection: close), so that the requests reach every
    # server process: first start their analysis workers, as a running service has them
    with httpx.Client(base_url=base, timeout=300, headers={"Connection": "close"}) as http:
        for k in range(4 * WORKERS):
            http.get("/api/v1/hotspots", params={"cell_size": 2000, "band": 4000 + 100 * k})
        for band in (20000, 50000):
            before = _tree(server_pid)
            t0 = time.perf_counter()
            r = http.get("/api/v1/hotspots/emerging", params={"band": band})
            seconds = time.perf_counter() - t0
            after = _tree(server_pid)
            growth = max(
                (after[p]["VmHWM"] - before[p]["VmRSS"] for p in after if p in before),
                default=0,
            )
            new = sum(m["VmHWM"] for p, m in after.items() if p not in before)
            out.append(
                {
                    "band": band,
                    "status": r.status_code,
                    "seconds": seconds,
                    "growth_mb": (growth + new) / 2**20,
                    "detail": r.text[:300],
                }
            )
    return out


def run(ctx: BenchContext) -> list[dict]:
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    url = ctx.make_database()
    _city, key, bodies, _box = _prepare(url)
    tmp = Path(tempfile.mkdtemp(prefix="qala-bench-readers-"))
    try:
        bodies_file = tmp / "bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        proc, base = process.start_qala(
            ctx.as_service(url), SECRET, tmp / "api.log", workers=WORKERS
        )
        try:
            port = httpx.URL(base).port
            refused = _refusals(base, proc.pid)
            # alone twice first: computations the readers leave queued would still run
            # after they stop, so no phase alone comes after theirs
            alone = _run_load(port, key, bodies_file, seconds)
            alone_again = _run_load(port, key, bodies_file, seconds)
            with Readers(base, READERS) as readers:
                readers.stop.wait(READER_LEAD_S)
                loaded = _run_load(port, key, bodies_file, seconds)
        finally:
            process.stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    baseline = (alone["p99_ms"] + alone_again["p99_ms"]) / 2
    ratio = loaded["p99_ms"] / baseline
    computed = sorted(readers.seconds)
    median = (
        f", analyses computed in median {computed[len(computed) // 2]:.1f} s" if computed else ""
    )
    where = (
        f"{CLIENTS} clients creating appeals, {WORKERS} uvicorn workers (an analysis worker "
        f"each, QALA_ANALYSIS_WORKERS=1), {READERS} readers asking for new emerging hot spot "
        f"runs (250 m cells, a new band each), {seconds:g} s per phase after {WARMUP_S:g} s "
        f"warm-up, 50,000 appeals, fsync on; {os.cpu_count()} cores shared by all"
    )
    readers_said = ", ".join(f"{k}: {v}" for k, v in sorted(readers.statuses.items()))
    detail = (
        f"{where}; p99 alone {alone['p99_ms']:.1f} and {alone_again['p99_ms']:.1f} ms, with "
        f"readers {loaded['p99_ms']:.1f} ms; throughput {alone['rps']:.0f} / "
        f"{alone_again['rps']:.0f} / {loaded['rps']:.0f} per s (alone, alone, readers); "
        f"readers' answers {{"
        f"{readers_said}}}" + median
    )
    _last.update(
        alone=json.dumps(alone),
        loaded=json.dumps(loaded),
        again=json.dumps(alone_again),
        where=where,
        readers=readers_said,
    )
    bad = [
        r["statuses"]
        for r in (alone, loaded, alone_again)
        if set(r["statuses"]) - {"200", "201"} or r["transport_errors"]
    ]
    refusals = [
        record(
            f"readers: emerging hot spots band={r['band']} (no cell size) answered in",
            r["seconds"],
            "s",
            ctx.command,
            goal="422 in < 1 s, server memory growth < 100 MB",
            met=r["status"] == 422 and r["seconds"] < 1 and r["growth_mb"] < 100,
            detail=f"status {r['status']}, largest growth of a server process's peak "
            f"resident memory {r['growth_mb']:.1f} MB (uvicorn workers and analysis workers, "
            f"50,000 appeals): {r['detail']}",
        )
        for r in refused
    ]
    _last["refused"] = json.dumps(refused)
    return refusals + [
        record("readers: create appeal p99, alone", baseline, "ms", ctx.command, detail=where),
        record(
            f"readers: create appeal p99, with {READERS} hot spot readers",
            loaded["p99_ms"],
            "ms",
            ctx.command,
            detail=detail,
        ),
        record(
            "readers: p99 with readers / p99 alone",
            ratio,
            "x",
            ctx.command,
            goal=f"<= {GOAL_RATIO:g}x",
            met=not bad and ratio <= GOAL_RATIO,
            detail=detail + (f"; non-2xx appeal answers {bad}" if bad else ""),
        ),
    ]


def section() -> dict[str, str]:
    if not _last:
        return {}
    alone, loaded, again = (json.loads(_last[k]) for k in ("alone", "loaded", "again"))
    rows = "".join(
        f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |\n"
        for name, r in (
            ("alone", alone),
            ("alone again", again),
            (f"with {READERS} hot spot readers", loaded),
        )
    )
    refused = json.loads(_last.get("refused", "[]"))
    refusals = "".join(
        f"`GET /api/v1/hotspots/emerging?band={r['band']}`: {r['status']} in "
        f"{r['seconds']:.2f} s, server memory growth {r['growth_mb']:.1f} MB. "
        for r in refused
    )
    return {
        "Appeal creation beside hot spot readers": (
            f"Setup: {_last['where']}.\n\n"
            "| appeals created | per second | p50 ms | p99 ms |\n|---|---|---|---|\n"
            + rows
            + f"\nThe readers' answers (status: count): {_last['readers']}.\n"
            + (f"\nThe finding's requests: {refusals}\n" if refusals else "")
        )
    }
