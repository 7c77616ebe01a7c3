"""Appeal creation through the real API under load, next to the raw database floor.

The app runs as in production: ``uvicorn api.app:create_app --factory --workers N`` in its
own processes, against a durable cluster (fsync and synchronous_commit on) holding the demo
city and 50 000 appeals. A load generator in a separate process keeps 16 HTTP/1.1
keep-alive connections busy, each request a ``POST /api/v1/appeals`` with a channel API key
and a fresh Idempotency-Key at a random building or well of the city (several categories):
locate, route, deadline, repeat check, sequence, insert, event log, repeat counter, commit:
one call of ``qala_create_appeal`` (PL/pgSQL, migration 0005) through asyncpg, in autocommit.

The floor: the same appeal INSERT and event INSERT in one transaction, by 16 connections
straight to the database (``pgbench`` with a custom script; psycopg2 threads if pgbench is
missing): what the database alone can commit on this machine.

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
import threading
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
GOAL_RPS, GOAL_P99_MS = 500.0, 100.0
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

FLOOR_SCRIPT = """\
\\set x {minx} + random(0, 1000000) * {dx}
\\set y {miny} + random(0, 1000000) * {dy}
BEGIN;
INSERT INTO appeals (city_id, reg_number, channel, category_code, description, located_by,
    object_kind, object_id, address_text, district_id, organisation_id, status, deadline_at,
    resolved_at, repeat_of_id, first_call_resolved, idempotency_key, source_type, geom)
VALUES ({city}, 'FLOOR-2000-' || nextval('bench_floor_seq'), 'website', 'roof_leak',
    'benchmark appeal', 'click', 'none', NULL, NULL, NULL, NULL, 'registered',
    now() + make_interval(hours => 120), NULL, NULL, false, md5(random()::text), 'api',
    ST_SetSRID(ST_MakePoint(:x, :y), 4326))
RETURNING id AS appeal_id \\gset
INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
    organisation_id, comment)
VALUES ({city}, :appeal_id, 'floor-bench', 'channel', NULL, 'registered', NULL, 'floor');
COMMIT;
"""


def _floor_pgbench(url: str, city: int, box: dict, seconds: float, tmp: Path) -> dict:
    u = make_url(url)
    script = tmp / "floor.sql"
    # pgbench wants one SQL command per line (a backslash command ends at its line)
    sql = FLOOR_SCRIPT.format(
        city=city,
        minx=box["minx"],
        miny=box["miny"],
        dx=(box["maxx"] - box["minx"]) / 1e6,
        dy=(box["maxy"] - box["miny"]) / 1e6,
    )
    lines, stmt = [], []
    for line in sql.splitlines():
        if line.startswith("\\set") or line in ("BEGIN;", "COMMIT;"):
            lines.append(line)
        else:
            stmt.append(line.strip())
            if line.endswith(";") or line.endswith("\\gset"):
                lines.append(" ".join(stmt))
                stmt = []
    script.write_text("\n".join(lines) + "\n")
    logdir = tmp / "pgbench-log"
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
    tps = None
    for line in done.stdout.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
    lat = []
    for f in logdir.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]) / 1000)
    lat.sort()
    return {
        "rows_per_s": tps,
        "p50_ms": _percentile(lat, 50),
        "p99_ms": _percentile(lat, 99),
        "tool": "pgbench",
    }


def _floor_psycopg2(url: str, city: int, box: dict, seconds: float) -> dict:
    import psycopg2

    u = make_url(url)
    dsn = dict(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database)
    lat: list[float] = []
    lock = threading.Lock()
    until = time.perf_counter() + seconds

    def worker(i: int) -> None:
        rng = random.Random(i)
        conn = psycopg2.connect(**dsn)
        mine = []
        try:
            with conn.cursor() as cur:
                while time.perf_counter() < until:
                    t0 = time.perf_counter()
                    cur.execute(
                        """
                        INSERT INTO appeals (city_id, reg_number, channel, category_code,
                            description, located_by, object_kind, status, deadline_at,
                            first_call_resolved, idempotency_key, source_type, geom)
                        VALUES (%s, 'FLOOR-2000-' || nextval('bench_floor_seq'), 'website',
                            'roof_leak', 'benchmark appeal', 'click', 'none', 'registered',
                            now() + make_interval(hours => 120), false, md5(random()::text),
                            'api', ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id""",
                        (
                            city,
                            rng.uniform(box["minx"], box["maxx"]),
                            rng.uniform(box["miny"], box["maxy"]),
                        ),
                    )
                    aid = cur.fetchone()[0]
                    cur.execute(
                        """
                        INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role,
                            from_status, to_status, comment)
                        VALUES (%s, %s, 'floor-bench', 'channel', NULL, 'registered',
                            'floor')""",
                        (city, aid),
                    )
                    conn.commit()
                    mine.append((time.perf_counter() - t0) * 1000)
        finally:
            conn.close()
            with lock:
                lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    return {
        "rows_per_s": len(lat) / seconds,
        "p50_ms": _percentile(lat, 50),
        "p99_ms": _percentile(lat, 99),
        "tool": "psycopg2 threads",
    }


def _floor(url: str, city: int, box: dict, seconds: float, tmp: Path) -> dict:
    """Runs after the API load (its rows stay: the database is dropped afterwards)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE SEQUENCE IF NOT EXISTS bench_floor_seq"))
    finally:
        engine.dispose()
    if (PG_BIN / "pgbench").exists():
        return _floor_pgbench(url, city, box, seconds, tmp)
    return _floor_psycopg2(url, city, box, seconds)


# -- the benchmark -----------------------------------------------------------------------


def run(ctx: BenchContext) -> list[dict]:
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    url = ctx.make_database()
    city, key, bodies, box = _prepare(url)
    tmp = Path(tempfile.mkdtemp(prefix="qala-bench-api-"))
    try:
        bodies_file = tmp / "bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        proc, base = process.start_qala(
            ctx.as_service(url), SECRET, tmp / "api.log", workers=WORKERS
        )
        try:
            postmaster = _postmaster_pid(url)
            api_cpu0, db_cpu0 = _cpu_s(proc.pid), _cpu_s(postmaster)
            api = _run_load(httpx.URL(base).port, key, bodies_file, seconds)
            api_cpu1, db_cpu1 = _cpu_s(proc.pid), _cpu_s(postmaster)
        finally:
            process.stop(proc)
        floor = _floor(url, city, box, seconds, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # CPU per appeal over warm-up + measured load (the load generator counts only the
    # measured part, so scale by the share of the time that was measured)
    done = sum(v for k, v in api["statuses"].items() if k in ("200", "201"))
    share = seconds / (seconds + WARMUP_S)
    per = {}
    for who, a, b in (
        ("api", api_cpu0, api_cpu1),
        ("database", db_cpu0, db_cpu1),
        ("load generator", 0.0, api["cpu_s"]),
    ):
        if a is not None and b is not None and done:
            per[who] = (b - a) * share / done * 1000
    api["cpu_ms"] = per
    bad = {k: v for k, v in api["statuses"].items() if k not in ("200", "201")}
    where = (
        f"{CLIENTS} clients, {WORKERS} uvicorn workers, {seconds:g} s after "
        f"{WARMUP_S:g} s warm-up, {DEMO_APPEALS} appeals in the table, fsync on; "
        f"{os.cpu_count()} cores shared by API, database and load generator"
    )
    detail = (
        f"{where}; {api['ok']} appeals created, mean {api['mean_ms']:.1f} ms, "
        f"max {api['max_ms']:.1f} ms"
        + (f"; non-2xx {bad}: {api['samples'][:2]}" if bad else "")
        + (f"; transport errors {api['transport_errors']}" if api["transport_errors"] else "")
    )
    _last.update(api=json.dumps(api), floor=json.dumps(floor), where=where)
    clean = not bad and not api["transport_errors"]
    records = [
        record(
            "api: create appeal, throughput",
            api["rps"],
            "req/s",
            ctx.command,
            goal=f">= {GOAL_RPS:g}/s",
            met=clean and api["rps"] >= GOAL_RPS,
            detail=detail,
        ),
        record("api: create appeal, p50 latency", api["p50_ms"], "ms", ctx.command, detail=where),
        record(
            "api: create appeal, p99 latency",
            api["p99_ms"],
            "ms",
            ctx.command,
            goal=f"p99 <= {GOAL_P99_MS:g} ms",
            met=clean and api["p99_ms"] <= GOAL_P99_MS,
            detail=where,
        ),
    ]
    for who, ms in per.items():
        records.append(
            record(
                f"api: create appeal, CPU per appeal ({who})",
                ms,
                "ms",
                ctx.command,
                detail=f"CPU time of the {who} process(es) per created appeal under the load; "
                f"500/s on {os.cpu_count()} cores leaves "
                f"{os.cpu_count() * 1000 / GOAL_RPS:g} ms for all of them together",
            )
        )
    records.append(
        record(
            "api: database floor (appeal + event INSERT), throughput",
            floor["rows_per_s"],
            "rows/s",
            ctx.command,
            detail=f"{floor['tool']}, {CLIENTS} connections, {seconds:g} s, one transaction per "
            f"appeal, p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms",
        )
    )
    return records


def section() -> dict[str, str]:
    if not _last:
        return {}
    api, floor = json.loads(_last["api"]), json.loads(_last["floor"])
    return {
        "Appeal creation through the API": (
            f"Setup: {_last['where']}.\n\n"
            "| path | per second | p50 ms | p99 ms |\n|---|---|---|---|\n"
            f"| POST /api/v1/appeals (uvicorn) | {api['rps']:.0f} | {api['p50_ms']:.1f} | "
            f"{api['p99_ms']:.1f} |\n"
            f"| database floor: appeal + event INSERT ({floor['tool']}) | "
            f"{floor['rows_per_s']:.0f} | {floor['p50_ms']:.1f} | {floor['p99_ms']:.1f} |\n"
            + (
                "\nCPU per created appeal: "
                + ", ".join(f"{who} {ms:.2f} ms" for who, ms in api.get("cpu_ms", {}).items())
                + ".\n"
                if api.get("cpu_ms")
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
