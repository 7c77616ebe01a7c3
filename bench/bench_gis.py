"""GIS clients and worker processes on a city with 2.3 million appeals.

1. ``ogr2ogr`` (Debian's GDAL 3.6) copies every building of the city to a GeoPackage from our
   OGC API (``/ogc``) and from tipg serving the same table (``public.buildings``), each with
   GDAL's default page size (10: GDAL 3.6 does not read ``limit`` from an API description)
   and with ``-oo PAGE_SIZE=1000``. Figures: wall time of the copy and the requests GDAL made
   (its ``--debug on`` log), one copy each per run.
2. Requests per second of a read endpoint (``GET /ogc/collections/buildings/items?limit=50``,
   a page of buildings as GeoJSON) under 16 concurrent clients for a fixed time, from
   ``qala serve``'s app with 1 worker process and with one per core (uvicorn ``--workers``).

Run: ``flock /tmp/qala-bench.lock .venv/bin/python -m bench.run --only gis`` (``--quick``: a
city with 50,000 appeals, 5 s of load).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import process
from bench.harness import BenchContext, record

APPEALS, QUICK_APPEALS = 2_300_000, 50_000
SECRET = "bench-gis-secret-key-of-at-least-32-bytes!"
CLIENTS = 16
READ_PATH = "/ogc/collections/buildings/items?limit=50"


def _ogr2ogr(source: str, layer: str, out: Path, page_size: int | None) -> dict:
    cmd = ["ogr2ogr", "--debug", "on", "-f", "GPKG", str(out), source, layer]
    if page_size:
        cmd += ["-oo", f"PAGE_SIZE={page_size}"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-1500:]}")
    fetched = len(re.findall(r"/items\?", done.stderr))
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(out), "-al"], capture_output=True, text=True
    ).stdout
    count = int(re.search(r"Feature Count: (\d+)", info)[1])
    return {"seconds": took, "requests": fetched, "features": count}


def _rps(base: str, seconds: float) -> tuple[float, int]:
    """Requests per second answered 200 by ``CLIENTS`` threads over ``seconds``."""
    stop = time.perf_counter() + seconds
    counts = [0] * CLIENTS
    errors = [0] * CLIENTS

    def client(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            while time.perf_counter() < stop:
                if c.get(READ_PATH).status_code == 200:
                    counts[i] += 1
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), sum(errors)


def run(ctx: BenchContext) -> list[dict]:
    n = QUICK_APPEALS if ctx.quick else APPEALS
    url = ctx.city_with_appeals(n)
    engine = create_engine(url)
    with engine.connect() as c:
        buildings = c.execute(text("SELECT count(*) FROM buildings")).scalar_one()
        appeals = c.execute(text("SELECT count(*) FROM appeals")).scalar_one()
    engine.dispose()
    tmp = Path(tempfile.mkdtemp(prefix="qala-bench-gis-"))
    cmd = ctx.command
    where = f"{appeals:,} appeals, {buildings:,} buildings, {os.cpu_count()}-core machine"
    out: list[dict] = []
    pg = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ours, ours_base = process.start_qala(ctx.as_service(url), SECRET, tmp / "ours.log")
    try:
        tipg, tipg_base = process.start(
            "tipg.main:app",
            {
                "DATABASE_URL": pg,
                "TIPG_DB_SCHEMAS": '["public"]',
                "TIPG_DB_TABLES": '["public.buildings"]',
                "TIPG_ADD_TILES_VIEWER": "false",
                "TIPG_DB_MAX_CONN_SIZE": "4",
            },
            tmp / "tipg.log",
            probe_path="/collections/public.buildings",
            timeout=120,
        )
        try:
            for page in (None, 1000):
                label = "default options" if page is None else f"PAGE_SIZE={page}"
                got = {
                    "ours": _ogr2ogr(
                        f"OAPIF:{ours_base}/ogc", "buildings", tmp / f"o{page}.gpkg", page
                    ),
                    "tipg": _ogr2ogr(
                        f"OAPIF:{tipg_base}",
                        "public.buildings",
                        tmp / f"t{page}.gpkg",
                        page,
                    ),
                }
                for name, g in got.items():
                    if g["features"] != buildings:
                        raise RuntimeError(f"{name} copied {g['features']} of {buildings}")
                    out.append(
                        record(
                            f"gis: ogr2ogr of all buildings, {label} ({name})",
                            g["seconds"],
                            "s",
                            cmd,
                            detail=f"{g['features']:,} features in {g['requests']} requests; "
                            f"{where}; one copy",
                        )
                    )
        finally:
            process.stop(tipg)
    finally:
        process.stop(ours)
    seconds = 5.0 if ctx.quick else 20.0
    for workers in sorted({1, os.cpu_count() or 1}):
        proc, base = process.start_qala(
            ctx.as_service(url), SECRET, tmp / f"w{workers}.log", workers=workers
        )
        try:
            _rps(base, 2.0)  # warm: pools open, pages cached by the OS
            rps, errors = _rps(base, seconds)
        finally:
            process.stop(proc)
        out.append(
            record(
                f"gis: requests/s of {READ_PATH}, {workers} worker(s)",
                rps,
                "req/s",
                cmd,
                detail=f"{CLIENTS} clients for {seconds:.0f} s, {errors} non-200; {where}",
            )
        )
    return out
