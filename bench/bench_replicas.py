"""Read replicas and failover: tile and read requests/s with the primary alone vs the primary
plus one streaming standby, in one run; the time from killing the primary to the first
successful write.

Reads: a durable primary (``geo.infra.localdb``) with the demo city and 200,000 appeals
(20,000 with ``--quick``), a hot standby of it made by ``geo.infra.standby`` (``pg_basebackup
-R``, asynchronous), and two servers (``uvicorn api.app:create_app --factory``, 2 workers
each): one on the primary alone, one with ``QALA_READ_DATABASE_URLS`` naming the standby.
16 client threads read for ``SECONDS`` per phase: vector tiles of the appeals layer (zooms 12
to 15 over the city) and the public tracker (``/public/track/{reg}``, random appeals). The
share of the reads the standby took is counted on the servers (``pg_stat_database``
transactions of the ``qala`` database on each, during the phase). On this machine primary,
standby, servers and clients share the same 2 cores: a standby adds no processor here, so
the comparison shows what routing costs or saves, not what a standby on its own server
adds (docs/distribution.md extrapolates that).

Failover: a pg_auto_failover formation (``geo.infra.autofailover``) with the demo city,
``qala serve`` on a URL naming both nodes with ``target_session_attrs=read-write``, 4 clients
registering appeals with Idempotency-Keys (retrying a 503 with the same key); the primary
node is killed with SIGKILL (keeper and postmaster) and the time to the first acknowledged
write is taken.

Run: ``flock /tmp/qala-bench.lock .venv/bin/python -m bench.run --only replicas``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from api import process
from bench.harness import BenchContext, record
from geo.infra.localdb import LocalCluster, free_port

SECRET = "bench-secret-key-of-at-least-32-bytes!!"
CLIENTS = 16
WORKERS = 2
SECONDS, QUICK_SECONDS = 15.0, 5.0
APPEALS, QUICK_APPEALS = 200_000, 20_000
WRITERS = 4

_last: dict[str, str] = {}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _prepare(cluster: LocalCluster, n: int) -> tuple[list[str], list[str]]:
    """Migrate, load the city and ``n`` appeals; return tile paths and registration numbers."""
    from geo.demo.appeals import load_demo_appeals
    from geo.demo.load import load_demo_city
    from geo.infra.migrate import upgrade

    upgrade(cluster.url())
    engine = create_engine(cluster.url(), poolclass=NullPool)
    with engine.begin() as conn:
        cid = load_demo_city(conn, seed=2026)["city_id"]
        load_demo_appeals(conn, cid, n=n, seed=2026, events=False)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        x0, y0, x1, y1 = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM appeals) s"
            )
        ).one()
        regs = list(
            conn.execute(
                text("SELECT reg_number FROM appeals ORDER BY random() LIMIT 2000")
            ).scalars()
        )
    engine.dispose()
    tiles = []
    for z in (12, 13, 14, 15):
        (ax, ay), (bx, by) = tile_of(x0, y1, z), tile_of(x1, y0, z)
        tiles += [
            f"/tiles/appeals/{z}/{x}/{y}.pbf" for x in range(ax, bx + 1) for y in range(ay, by + 1)
        ]
    return tiles, regs


def _transactions(cluster: LocalCluster) -> int:
    return int(
        cluster.psql(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'qala'"
        )
    )


def _load(base: str, paths: list[str], seconds: float) -> dict:
    """``CLIENTS`` threads GETting random ``paths`` for ``seconds``: requests/s and p50."""
    stop = threading.Event()
    lock = threading.Lock()
    times: list[float] = []
    bad: dict[int, int] = {}

    def client(i: int) -> None:
        rnd = random.Random(i)
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                t0 = time.perf_counter()
                r = http.get(rnd.choice(paths))
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code in (200, 204):
                        times.append(dt)
                    else:
                        bad[r.status_code] = bad.get(r.status_code, 0) + 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    times.sort()
    return {
        "rps": len(times) / seconds,
        "p50_ms": 1000 * statistics.median(times) if times else float("nan"),
        "errors": sum(bad.values()),
    }


def _serve(url: str, log: Path, workers: int = WORKERS, **env: str):
    """The API on ``url`` (a busy machine may take a while to start it)."""
    env = {"QALA_DATABASE_URL": url, "QALA_ENVIRONMENT": "test", "QALA_SECRET_KEY": SECRET, **env}
    return process.start("api.app:create_app", env, log, workers=workers, factory=True, timeout=240)


def _reads(ctx: BenchContext) -> dict:
    from geo.infra.standby import up_standby

    root = Path(tempfile.mkdtemp(prefix="qala-bench-replicas-"))
    primary = LocalCluster(root=root, port=free_port(), durable=True)
    procs = []
    try:
        primary.up(echo=lambda *_: None)
        tiles, regs = _prepare(primary, QUICK_APPEALS if ctx.quick else APPEALS)
        standby = up_standby(primary, free_port(), "off", echo=lambda *_: None)
        alone, base_alone = _serve(primary.service_url(), root / "alone.log")
        procs.append(alone)
        both, base_both = _serve(
            primary.service_url(), root / "both.log", QALA_READ_DATABASE_URLS=standby.service_url()
        )
        procs.append(both)
        seconds = QUICK_SECONDS if ctx.quick else SECONDS
        kinds = {"tiles": tiles, "reads": [f"/public/track/{r}" for r in regs]}
        out: dict = {"tiles_n": len(tiles), "appeals": QUICK_APPEALS if ctx.quick else APPEALS}
        for kind, paths in kinds.items():
            for label, base in (("primary", base_alone), ("standby", base_both)):
                _load(base, paths, 2.0)  # warm-up: pools, caches
                before = (_transactions(primary), _transactions(standby))
                got = _load(base, paths, seconds)
                after = (_transactions(primary), _transactions(standby))
                on_standby = after[1] - before[1]
                total = (after[0] - before[0]) + on_standby
                got["standby_share"] = on_standby / total if total else 0.0
                out[f"{kind}_{label}"] = got
        return out
    finally:
        for p in procs:
            process.stop(p)
        primary.stop("immediate")
        LocalCluster(root=root, port=0, name="pg-standby").stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _failover() -> dict:
    from geo.demo.load import load_demo_city
    from geo.infra.autofailover import Formation
    from geo.infra.migrate import upgrade
    from geo.staff.auth import add_api_key

    root = Path(tempfile.mkdtemp(prefix="qala-bench-failover-"))
    formation = Formation(root, free_port(), (free_port(), free_port()))
    proc = None
    try:
        formation.up()
        upgrade(formation.url())
        engine = create_engine(formation.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as conn:
            cid = load_demo_city(conn, seed=2026)["city_id"]
            key = add_api_key(conn, "PET", "bench-failover", "website")
            lon, lat = conn.execute(
                text(
                    "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                    "FROM buildings WHERE city_id = :c AND kind = 'apartment' LIMIT 1"
                ),
                {"c": cid},
            ).one()
        engine.dispose()
        proc, base = _serve(formation.service_url(), root / "serve.log", workers=1)
        acked: list[float] = []
        stop = threading.Event()

        def writer(c: int) -> None:
            i = 0
            with httpx.Client(base_url=base, timeout=10) as http:
                while not stop.is_set():
                    body = {
                        "category": "roof_leak",
                        "lon": lon,
                        "lat": lat,
                        "description": f"{c}-{i}",
                    }
                    try:
                        r = http.post(
                            "/api/v1/appeals",
                            json=body,
                            headers={"X-API-Key": key, "Idempotency-Key": f"b-{c}-{i}"},
                        )
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code in (200, 201):
                        acked.append(time.monotonic())
                        i += 1
                    else:
                        time.sleep(0.1)

        threads = [threading.Thread(target=writer, args=(c,)) for c in range(WRITERS)]
        for t in threads:
            t.start()
        while len(acked) < 40:
            time.sleep(0.1)
        killed = time.monotonic()
        formation.kill(formation.primary())
        deadline = killed + 180
        while time.monotonic() < deadline and not [t for t in acked if t > killed + 0.2]:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        after = [t for t in acked if t > killed + 0.2]
        return {"first_write_s": (min(after) - killed) if after else float("nan")}
    finally:
        if proc is not None:
            process.stop(proc)
        formation.destroy()


def run(ctx: BenchContext) -> list[dict]:
    reads = _reads(ctx)
    fail = _failover()
    _last.update(reads=json.dumps(reads), fail=json.dumps(fail))
    records = []
    for kind in ("tiles", "reads"):
        a, b = reads[f"{kind}_primary"], reads[f"{kind}_standby"]
        records.append(
            record(f"replicas: {kind} requests/s, primary alone", a["rps"], "req/s", ctx.command)
        )
        records.append(
            record(
                f"replicas: {kind} requests/s, primary + 1 standby",
                b["rps"],
                "req/s",
                ctx.command,
                detail=f"standby took {100 * b['standby_share']:.0f} % of the transactions; "
                f"p50 {b['p50_ms']:.1f} ms vs {a['p50_ms']:.1f} ms alone",
            )
        )
    records.append(
        record(
            "failover: first acknowledged write after kill -9 of the primary",
            fail["first_write_s"],
            "s",
            ctx.command,
            detail="pg_auto_failover, 1 s health checks, 10 s demotion guard; 4 writers",
        )
    )
    return records


def section() -> dict[str, str]:
    if not _last:
        return {}
    reads, fail = json.loads(_last["reads"]), json.loads(_last["fail"])
    lines = [
        "| requests | server | per second | p50 ms | standby's share of transactions | errors |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("tiles", "reads"):
        for label in ("primary", "standby"):
            r = reads[f"{kind}_{label}"]
            who = "primary alone" if label == "primary" else "primary + 1 standby"
            lines.append(
                f"| {kind} | {who} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                f"{100 * r['standby_share']:.0f} % | {r['errors']} |"
            )
    return {
        "Read replicas and failover": (
            f"Setup: durable primary with the demo city and {reads['appeals']:,} appeals, a "
            f"streaming standby (asynchronous) on the same machine, 2 uvicorn workers per "
            f"server, {CLIENTS} clients; tiles: {reads['tiles_n']} appeal tiles at zooms 12-15; "
            "reads: the public tracker of random appeals. Everything shares 2 cores.\n\n"
            + "\n".join(lines)
            + f"\n\nFailover (pg_auto_failover, {WRITERS} writers, kill -9 of the primary node): "
            f"first acknowledged write {fail['first_write_s']:.1f} s after the kill.\n"
        )
    }
