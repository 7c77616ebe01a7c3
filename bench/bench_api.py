"""Appeal creation through the real API under load, next to the raw database floor.

The app runs as in production: ``uvicorn api.app:create_app --factory --workers N`` in its
own processes, against a durable cluster (fsync and synchronous_commit on) holding the demo
city and 50 000 appeals. A load generator in a separate process keeps 16 HTTP/1.1
keep-alive connections busy, each request a ``POST /api/v1/appeals`` with a channel API key
and a fresh Idempotency-Key at a random building or well of the city (several categories):
locate, route, deadline, repeat check, sequence, insert, event log, repeat counter, commit:
one call of ``qala_create_appeal`` (PL/pgSQL, migration 0005) through asyncpg, in autocommit.

The floor: the same work without HTTP and Python: ``qala_create_appeal_as`` (migrations
0010/0011), the function the API's write path calls, from ``pgbench`` with 16 connections as
the same service role, one statement (its own transaction) per appeal, with the arguments
the API passes for a random body of the same set (channel, scope, caller, request hash) and a
fresh key. The API load and the floor run in turn three times (once with ``--quick``); the
figures are medians, the ratio API / floor is the goal (>= 0.8).

Run: ``.venv/bin/python -m bench.run --only api`` (``--quick``: 5 s per configuration
instead of 20 s). The load generator alone: ``python -m bench.bench_api loadgen --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import process
from bench.harness import BenchContext, record
from geo.infra.localdb import PG_BIN
from geo.infra.settings import PROJECT_ROOT

CLIENTS = 16
SECONDS, QUICK_SECONDS = 20.0, 5.0
WARMUP_S = 2.0
DEMO_APPEALS = 50_000
WORKERS = int(os.environ.get("QALA_BENCH_API_WORKERS", "2"))
SECRET = "bench-secret-key-of-at-least-32-bytes!!"
GOAL_RPS, GOAL_P99_MS, GOAL_FLOOR_RATIO = 500.0, 100.0, 0.8
PAIRS = 3  # runs of the API load and of the floor, in turn
WELL_CATEGORIES = ("open_manhole", "sewer_overflow", "water_leak")
BUILDING_CATEGORIES = (
    "roof_leak",
    "no_heating",
    "no_water",
    "lift_broken",
    "entrance_cleaning",
    "power_outage",
    "yard_flooding",
    "playground",
)

_last: dict[str, str] = {}


# -- the load generator (a separate process) ---------------------------------------------


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


async def _client(
    i: int,
    host: str,
    port: int,
    api_key: str,
    bodies: list[bytes],
    measure_from: float,
    until: float,
    run_id: str,
    out: dict,
) -> None:
    """One keep-alive connection sending appeals back to back until ``until``."""
    rng = random.Random(i)
    reader = writer = None
    n = 0
    while time.perf_counter() < until:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        body = rng.choice(bodies)
        n += 1
        head = (
            f"POST /api/v1/appeals HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"X-API-Key: {api_key}\r\nIdempotency-Key: {run_id}-{i}-{n}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        t0 = time.perf_counter()
        try:
            writer.write(head + body)
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            length, closing = 0, False
            for line in raw.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    closing = b"close" in value.lower()
            payload = await reader.readexactly(length) if length else b""
            if closing:  # the server closes this connection: open a new one next time
                writer.close()
                writer = None
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            out["transport_errors"] += 1
            if len(out["samples"]) < 5:
                out["samples"].append(f"transport: {exc!r}"[:200])
            writer.close()
            writer = None
            await asyncio.sleep(0.05)
            continue
        t1 = time.perf_counter()
        if t0 >= measure_from and t1 <= until:
            out["statuses"][status] = out["statuses"].get(status, 0) + 1
            if status in (200, 201):
                out["latencies"].append(t1 - t0)
            elif len(out["samples"]) < 5:
                out["samples"].append(f"{status}: {payload[:200].decode(errors='replace')}")
    if writer is not None:
        writer.close()


async def _load(args) -> dict:
    bodies = [json.dumps(b).encode() for b in json.loads(Path(args.bodies).read_text())]
    out = {"latencies": [], "statuses": {}, "transport_errors": 0, "samples": []}
    start = time.perf_counter()
    measure_from = start + args.warmup
    until = measure_from + args.seconds
    run_id = uuid.uuid4().hex[:12]
    await asyncio.gather(
        *(
            _client(i, args.host, args.port, args.key, bodies, measure_from, until, run_id, out)
            for i in range(args.clients)
        )
    )
    lat = sorted(x * 1000 for x in out["latencies"])
    return {
        "ok": len(lat),
        "seconds": args.seconds,
        "rps": len(lat) / args.seconds,
        "p50_ms": _percentile(lat, 50),
        "p99_ms": _percentile(lat, 99),
        "mean_ms": statistics.fmean(lat) if lat else float("nan"),
        "max_ms": lat[-1] if lat else float("nan"),
        "statuses": {str(k): v for k, v in sorted(out["statuses"].items())},
        "transport_errors": out["transport_errors"],
        "samples": out["samples"][:5],
        "cpu_s": time.process_time(),
    }


def loadgen_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_api loadgen",
        description="POST appeals over keep-alive connections; prints one JSON object",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True, help="a channel API key")
    ap.add_argument("--bodies", required=True, help="a JSON file: a list of appeal bodies")
    ap.add_argument("--clients", type=int, default=CLIENTS)
    ap.add_argument("--seconds", type=float, default=SECONDS)
    ap.add_argument("--warmup", type=float, default=WARMUP_S)
    args = ap.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_load(args))))
    return 0


# -- set-up ----------------------------------------------------------------------------


def _prepare(url: str) -> tuple[int, str, list[dict], dict]:
    """Demo city + 50 000 appeals, a channel key, appeal bodies; committed."""
    from geo.demo.appeals import load_demo_appeals
    from geo.demo.load import load_demo_city
    from geo.staff.auth import add_api_key

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cid = load_demo_city(conn, seed=2026)["city_id"]
            load_demo_appeals(conn, cid, n=DEMO_APPEALS, seed=2026)
            key = add_api_key(conn, "PET", "bench-bot", "website")
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            buildings = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                    "FROM buildings WHERE city_id = :c) t"
                ),
                {"c": cid},
            ).all()
            wells = conn.execute(
                text("SELECT ST_X(geom), ST_Y(geom) FROM wells WHERE city_id = :c"), {"c": cid}
            ).all()
            box = conn.execute(
                text(
                    "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                    "(SELECT ST_Envelope(ST_Buffer(ST_Centroid(bounds), 0.01)) AS b FROM cities "
                    "WHERE id = :c) t"
                ),
                {"c": cid},
            ).one()
    finally:
        engine.dispose()
    rng = random.Random(2026)
    bodies = []
    for _ in range(5000):
        if rng.random() < 0.4:
            (lon, lat), cat = rng.choice(wells), rng.choice(WELL_CATEGORIES)
        else:
            (lon, lat), cat = rng.choice(buildings), rng.choice(BUILDING_CATEGORIES)
        # a few metres off the object, as a click on the map would be
        bodies.append(
            {
                "category": cat,
                "lon": lon + rng.uniform(-5e-5, 5e-5),
                "lat": lat + rng.uniform(-3e-5, 3e-5),
                "description": "benchmark appeal",
            }
        )
    return cid, key, bodies, {"minx": box[0], "miny": box[1], "maxx": box[2], "maxy": box[3]}


def _cpu_s(pid: int | None) -> float | None:
    """CPU seconds of a process, of its children that have exited and of its live children
    (Linux /proc); None when it cannot be read (e.g. a database on another machine)."""
    if pid is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p: int | str) -> list[str]:
        raw = Path(f"/proc/{p}/stat").read_text()
        return raw[raw.rindex(")") + 2 :].split()  # from field 3 (state) on

    try:
        own = fields(pid)
    except (OSError, ValueError):
        return None
    total = sum(int(x) for x in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                f = fields(entry.name)
            except (OSError, ValueError):
                continue
            if int(f[1]) == pid:  # a live child
                total += int(f[11]) + int(f[12])
    return total / tick


def _postmaster_pid(url: str) -> int | None:
    """The database server's main process, if it runs on this machine."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        ppid = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return ppid if "postgres" in Path(f"/proc/{ppid}/cmdline").read_text() else None
    except (OSError, ValueError):
        return None
    finally:
        engine.dispose()


def _run_load(port: int, key: str, bodies_file: Path, seconds: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_api",
        "loadgen",
        "--port",
        str(port),
        "--key",
        key,
        "--bodies",
        str(bodies_file),
        "--clients",
        str(CLIENTS),
        "--seconds",
        str(seconds),
        "--warmup",
        str(WARMUP_S),
    ]
    done = subprocess.run(
        cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=seconds + WARMUP_S + 120
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the database floor ------------------------------------------------------------------

# the arguments the API would pass for each body (channel key, scope, hash), in a table the
# pgbench script picks one row of by primary key; the key is fresh per call, as the API's
FLOOR_TABLE = "bench_floor_args"
FLOOR_COLUMNS = (
    ("c", "integer"), ("cat", "text"), ("x", "double precision"), ("y", "double precision"),
    ("channel", "text"), ("descr", "text"), ("located_by", "text"), ("ok", "text"),
    ("oid", "bigint"), ("addr", "text"), ("name", "text"), ("phone", "text"),
    ("email", "text"), ("fcr", "boolean"), ("key", "text"), ("repeat_of", "text"),
    ("actor", "text"), ("role", "text"), ("caller", "text"), ("request_hash", "text"),
    ("org", "text"), ("user", "text"),
)  # fmt: skip
FLOOR_KEY_PREFIX = "floor-"


def _floor_setup(url: str, key: str, bodies: list[dict]) -> int:
    """The table of arguments, as ``api.deps.Db.create_appeal`` makes them for a request
    with the channel key ``key``; readable by the service's group. Returns its rows."""
    from geo.appeals import intake
    from geo.infra.localdb import APP_GROUP
    from geo.staff.auth import actor_from_api_key
    from geo.staff.scope import Scope

    assert tuple(c for c, _ in FLOOR_COLUMNS) == intake.CREATE_AS_ARGS
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            actor, city, channel = actor_from_api_key(conn, key)
            scoped = Scope(city, actor, channel).settings()
            rows = []
            for i, body in enumerate(bodies, start=1):
                new = intake.NewAppeal(**body, idempotency_key="floor")
                new.channel = channel
                args = intake.create_params(city, new, actor)
                args.update(org=scoped["org"], user=scoped["user"], i=i)
                rows.append(args)
            cols = ", ".join(f'"{c}" {t}' for c, t in FLOOR_COLUMNS)
            conn.execute(text(f"CREATE TABLE {FLOOR_TABLE} (i integer PRIMARY KEY, {cols})"))
            names = ["i", *(c for c, _ in FLOOR_COLUMNS)]
            quoted = ", ".join(f'"{c}"' for c in names)
            values = ", ".join(f":{c}" for c in names)
            conn.execute(text(f"INSERT INTO {FLOOR_TABLE} ({quoted}) VALUES ({values})"), rows)
            conn.execute(text(f"GRANT SELECT ON {FLOOR_TABLE} TO {APP_GROUP}"))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f"VACUUM ANALYZE {FLOOR_TABLE}")
            )
    finally:
        engine.dispose()
    return len(rows)


def floor_script(n_rows: int) -> str:
    """The pgbench script: one call of ``qala_create_appeal_as`` (one statement, its own
    transaction, like the API's) with the arguments of a random body and a fresh key."""
    from geo.appeals import intake

    args = ", ".join(
        f"'{FLOOR_KEY_PREFIX}' || :client_id || '-' || :k" if c == "key" else f'b."{c}"'
        for c in intake.CREATE_AS_ARGS
    )
    call = intake.CREATE_AS_SQL_POSITIONAL.split("\n")[0]  # SELECT f.created, ... (f.card).*
    return (
        f"\\set i random(1, {n_rows})\n"
        "\\set k random(1, 1000000000000)\n"
        f"{call} FROM {FLOOR_TABLE} b, qala_create_appeal_as({args}) AS f WHERE b.i = :i;\n"
    )


def _floor_pgbench(url: str, n_rows: int, seconds: float, tmp: Path, tag: str) -> dict:
    """``floor_script`` by ``CLIENTS`` connections for ``seconds``, as ``url``'s role."""
    u = make_url(url)
    script = tmp / f"floor-{tag}.sql"
    script.write_text(floor_script(n_rows))
    logdir = tmp / f"pgbench-log-{tag}"
    logdir.mkdir()
    cmd = [
        str(PG_BIN / "pgbench"),
        "-n",
        "-c",
        str(CLIENTS),
        "-j",
        "2",
        "-T",
        str(int(seconds)),
        "-M",
        "prepared",
        "-f",
        str(script),
        "-l",
        f"--log-prefix={logdir / 'tx'}",
        "-h",
        u.host or "127.0.0.1",
        "-p",
        str(u.port or 5432),
        "-U",
        u.username or "postgres",
        u.database,
    ]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env={**os.environ, "PGPASSWORD": u.password or ""},
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {(done.stderr or done.stdout)[-2000:]}")
    tps = calls = None
    for line in done.stdout.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
        if line.startswith("number of transactions actually processed:"):
            calls = int(line.split(":")[1].split("/")[0])
    lat = []
    for f in logdir.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]) / 1000)
    lat.sort()
    return {
        "rps": tps,
        "calls": calls,
        "p50_ms": _percentile(lat, 50),
        "p99_ms": _percentile(lat, 99),
        "role": u.username,
    }


def _floor_created(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM appeals WHERE idempotency_key LIKE :p"),
                {"p": FLOOR_KEY_PREFIX + "%"},
            ).scalar_one()
    finally:
        engine.dispose()


# -- the benchmark -----------------------------------------------------------------------


def run(ctx: BenchContext) -> list[dict]:
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    pairs = 1 if ctx.quick else PAIRS
    url = ctx.make_database()
    service = ctx.as_service(url)
    city, key, bodies, _box = _prepare(url)
    n_rows = _floor_setup(url, key, bodies)
    tmp = Path(tempfile.mkdtemp(prefix="qala-bench-api-"))
    apis, floors = [], []
    try:
        bodies_file = tmp / "bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        proc, base = process.start_qala(service, SECRET, tmp / "api.log", workers=WORKERS)
        try:
            postmaster = _postmaster_pid(url)
            for i in range(pairs):  # API and floor in turn, on the same (growing) table
                api_cpu0, db_cpu0 = _cpu_s(proc.pid), _cpu_s(postmaster)
                api = _run_load(httpx.URL(base).port, key, bodies_file, seconds)
                api_cpu1, db_cpu1 = _cpu_s(proc.pid), _cpu_s(postmaster)
                api["cpu"] = {
                    "api": (api_cpu0, api_cpu1),
                    "database": (db_cpu0, db_cpu1),
                    "load generator": (0.0, api["cpu_s"]),
                }
                apis.append(api)
                before = _floor_created(url)
                floor = _floor_pgbench(service, n_rows, seconds, tmp, str(i))
                floor["created"] = _floor_created(url) - before
                floors.append(floor)
        finally:
            process.stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # CPU per appeal over warm-up + measured load (the load generator counts only the
    # measured part, so scale by the share of the time that was measured)
    share = seconds / (seconds + WARMUP_S)
    per: dict[str, list[float]] = {}
    for api in apis:
        done = sum(v for k, v in api["statuses"].items() if k in ("200", "201"))
        for who, (a, b) in api.pop("cpu").items():
            if a is not None and b is not None and done:
                per.setdefault(who, []).append((b - a) * share / done * 1000)
    ratios = [a["rps"] / f["rps"] for a, f in zip(apis, floors, strict=True)]
    med = statistics.median
    api_rps, floor_rps, ratio = (
        med(a["rps"] for a in apis),
        med(f["rps"] for f in floors),
        med(ratios),
    )
    p50, p99 = med(a["p50_ms"] for a in apis), med(a["p99_ms"] for a in apis)
    bad = {}
    for a in apis:
        for k, v in a["statuses"].items():
            if k not in ("200", "201"):
                bad[k] = bad.get(k, 0) + v
    transport = sum(a["transport_errors"] for a in apis)
    refused = sum(f["calls"] - f["created"] for f in floors if f["calls"] is not None)
    where = (
        f"{CLIENTS} clients, {WORKERS} uvicorn workers, {seconds:g} s after "
        f"{WARMUP_S:g} s warm-up, {DEMO_APPEALS} appeals in the table at the start, fsync on; "
        f"{os.cpu_count()} cores shared by API, database and load generator; {pairs} runs of "
        "the API load and the floor in turn, medians"
    )
    runs = lambda xs, f="{:.0f}": " / ".join(f.format(x) for x in xs)  # noqa: E731
    detail = (
        f"{where}; per run: API {runs(a['rps'] for a in apis)}/s, floor "
        f"{runs(f['rps'] for f in floors)}/s, ratio {runs(ratios, '{:.2f}')}"
        + (f"; non-2xx {bad}: {apis[0]['samples'][:2]}" if bad else "")
        + (f"; transport errors {transport}" if transport else "")
    )
    floor_detail = (
        f"pgbench, {CLIENTS} connections as the service role ({floors[0]['role']}), one call "
        f"of qala_create_appeal_as per transaction with the API's arguments for a random body "
        f"and a fresh key, {seconds:g} s a run; p50 {med(f['p50_ms'] for f in floors):.1f} ms, "
        f"p99 {med(f['p99_ms'] for f in floors):.1f} ms; calls that created no appeal: "
        f"{refused}; {where}"
    )
    _last.update(
        apis=json.dumps(apis),
        floors=json.dumps(floors),
        ratios=json.dumps(ratios),
        per=json.dumps({k: med(v) for k, v in per.items()}),
        where=where,
    )
    clean = not bad and not transport
    records = [
        record(
            "api: create appeal, throughput",
            api_rps,
            "req/s",
            ctx.command,
            goal=f">= {GOAL_RPS:g}/s",
            met=clean and api_rps >= GOAL_RPS,
            detail=detail,
        ),
        record("api: create appeal, p50 latency", p50, "ms", ctx.command, detail=where),
        record(
            "api: create appeal, p99 latency",
            p99,
            "ms",
            ctx.command,
            goal=f"p99 <= {GOAL_P99_MS:g} ms",
            met=clean and p99 <= GOAL_P99_MS,
            detail=where,
        ),
        record(
            "api: database floor (qala_create_appeal_as via pgbench), throughput",
            floor_rps,
            "calls/s",
            ctx.command,
            detail=floor_detail,
        ),
        record(
            "api: create appeal, API / database floor",
            ratio,
            "ratio",
            ctx.command,
            goal=f">= {GOAL_FLOOR_RATIO:g}",
            met=clean and not refused and ratio >= GOAL_FLOOR_RATIO,
            detail=detail,
        ),
    ]
    for who, ms in per.items():
        records.append(
            record(
                f"api: create appeal, CPU per appeal ({who})",
                med(ms),
                "ms",
                ctx.command,
                detail=f"CPU time of the {who} process(es) per created appeal under the load "
                f"(median of {len(ms)} runs); 500/s on {os.cpu_count()} cores leaves "
                f"{os.cpu_count() * 1000 / GOAL_RPS:g} ms for all of them together",
            )
        )
    for r in records:
        r["runs"] = pairs
    return records


def section() -> dict[str, str]:
    if not _last:
        return {}
    apis, floors = json.loads(_last["apis"]), json.loads(_last["floors"])
    ratios, per = json.loads(_last["ratios"]), json.loads(_last["per"])
    lines = [
        "| run | API per second | API p50 ms | API p99 ms | floor per second | floor p50 ms "
        "| floor p99 ms | API / floor (goal >= 0.8) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, (a, f, r) in enumerate(zip(apis, floors, ratios, strict=True), start=1):
        lines.append(
            f"| {i} | {a['rps']:.0f} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | {f['rps']:.0f} "
            f"| {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {r:.2f} |"
        )
    return {
        "Appeal creation through the API": (
            f"Setup: {_last['where']}.\n\n"
            "API: `POST /api/v1/appeals` (uvicorn, channel API key, fresh Idempotency-Key). "
            "Floor: the same function the API calls, `qala_create_appeal_as`, from pgbench "
            f"with {CLIENTS} connections as the service role, one statement per transaction "
            "with the arguments the API passes for a random body of the same set and a fresh "
            "key (read from a table by primary key in the same statement).\n\n"
            + "\n".join(lines)
            + "\n"
            + (
                "\nCPU per created appeal (median): "
                + ", ".join(f"{who} {ms:.2f} ms" for who, ms in per.items())
                + ".\n"
                if per
                else ""
            )
        )
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        sys.exit(loadgen_main(sys.argv[2:]))
    print(
        "usage: python -m bench.bench_api loadgen ...  (the benchmark itself: "
        "python -m bench.run --only api)",
        file=sys.stderr,
    )
    sys.exit(2)
