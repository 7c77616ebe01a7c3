"""Vector tiles of the appeals layer on 2.3 million appeals, side by side with tipg.

A database of its own holds the demo city and 2,300,000 synthetic appeals (200,000 with
``--quick``) written by ``geo.demo.appeals`` with one ``COPY`` (the triggers of migration 0003
count them into ``appeal_cells`` as they arrive), then ``VACUUM ANALYZE``. Two servers run
as real processes on free ports against that database, one uvicorn worker each:

* ours: ``uvicorn api.app:create_app --factory``, ``GET /tiles/appeals/{z}/{x}/{y}.pbf``;
* tipg: ``uvicorn tipg.main:app``, ``GET /collections/public.appeals/tiles/WebMercatorQuad/
  {z}/{x}/{y}``, limited to ``public.appeals`` with properties ``status, category_code``
  (ours carry those, ``overdue`` and the appeal's id as the MVT feature id, which tipg does
  not set); tipg's default of at most 10,000 features per tile is kept.

For zooms 10, 12, 13, 14, 15 and 16 every tile covering the city is fetched once by each
server (contents, and warm-up of the caches and connection pools), then at least twice more,
and at least 40 times per zoom, by each server in turn (one client, uncompressed bodies,
the first of the pair alternating). Reported per zoom:
p50 and p95 latency, tile bytes, and the share of the city's appeals the tiles account for
(ours: the ``count`` of the cells, or the points a tile holds as its own; tipg: the points
it returned, its 10,000 cap and buffer included).

Goals: z10–z13 tiles ``<= 100 KB`` and ``<= 50 ms`` p50 with 100 % of appeals counted;
z14–z16 ``p50 <= 0.5 x tipg``. Run: ``.venv/bin/python -m bench.run --only tiles``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import mapbox_vector_tile
import morecantile
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import process
from bench.harness import BenchContext, record

APPEALS, QUICK_APPEALS = 2_300_000, 200_000
ZOOMS = (10, 12, 13, 14, 15, 16)
ROUNDS = 2  # timed passes over the tiles of a zoom; more when a zoom has few tiles
MIN_SAMPLES = 40  # per zoom and server
WARM_TILES, WARM_REPEAT = 3, 12  # more than the pool has connections
CELL_ZOOMS = range(10, 14)
GOAL_KB, GOAL_P50_MS, GOAL_RATIO = 100.0, 50.0, 0.5
SECRET = "bench-secret-key-of-at-least-32-bytes!!"
TIPG_PROPERTIES = ["status", "category_code"]  # MVT from tipg has no feature ids
_last: dict[str, str] = {}


def _load(url: str, n: int) -> dict:
    """Demo city and ``n`` appeals (one COPY), vacuumed; returns counts and timings."""
    from geo.demo.appeals import copy_appeals, default_hotspots, generate_appeals, read_city
    from geo.demo.load import load_demo_city
    from layers.cells import refresh_appeal_cells

    engine = create_engine(url)
    out: dict = {}
    try:
        with engine.begin() as conn:
            city = load_demo_city(conn, seed=2026)["city_id"]
            objs = read_city(conn, city)
            t0 = time.perf_counter()
            frame = generate_appeals(objs, n, seed=2026, hotspots=default_hotspots(objs))
            out["generate_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            copy_appeals(conn, frame)
            out["copy_s"] = time.perf_counter() - t0
            del frame
        with engine.begin() as conn:
            t0 = time.perf_counter()
            out["cell_rows"] = refresh_appeal_cells(conn, city)
            out["refresh_s"] = time.perf_counter() - t0
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE appeals"))
            conn.execute(text("VACUUM ANALYZE appeal_cells"))
            out["appeals"] = conn.execute(
                text("SELECT count(*) FROM appeals WHERE city_id = :c"), {"c": city}
            ).scalar_one()
            out["bbox"] = conn.execute(
                text(
                    "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                    "(SELECT ST_Extent(geom) AS b FROM appeals WHERE city_id = :c) t"
                ),
                {"c": city},
            ).one()
            out["city"] = city
    finally:
        engine.dispose()
    return out


def _tile_counts(url: str, city: int, tiles: list) -> dict[tuple, int]:
    """Appeals inside each tile, counted in SQL with ST_TileEnvelope."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                (t.z, t.x, t.y): conn.execute(
                    text(
                        "SELECT count(*) FROM appeals WHERE city_id = :c AND ST_Intersects("
                        "ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y))"
                    ),
                    {"c": city, "z": t.z, "x": t.x, "y": t.y},
                ).scalar_one()
                for t in tiles
            }
    finally:
        engine.dispose()


def _servers(url: str, service_url: str, tmp: Path) -> tuple[list[subprocess.Popen], str, str]:
    ours, ours_base = process.start_qala(service_url, SECRET, tmp / "ours.log")
    pg = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        tipg, tipg_base = process.start(
            "tipg.main:app",
            {
                "DATABASE_URL": pg,
                "TIPG_DB_SCHEMAS": '["public"]',
                "TIPG_DB_TABLES": '["public.appeals"]',
                "TIPG_TABLE_CONFIG__public_appeals__PROPERTIES": json.dumps(TIPG_PROPERTIES),
                "TIPG_TABLE_CONFIG__public_appeals__PK": "id",
                "TIPG_TABLE_CONFIG__public_appeals__DATETIMECOL": "created_at",
                "TIPG_ADD_TILES_VIEWER": "false",
                "TIPG_DB_MAX_CONN_SIZE": "4",
            },
            tmp / "tipg.log",
            probe_path="/collections/public.appeals",
            timeout=120,
        )
    except Exception:
        process.stop(ours)
        raise
    return (
        [ours, tipg],
        f"{ours_base}/tiles/appeals/{{z}}/{{x}}/{{y}}.pbf",
        f"{tipg_base}/collections/public.appeals/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}",
    )


def _fetch(client: httpx.Client, template: str, t) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = client.get(template.format(z=t.z, x=t.x, y=t.y))
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{r.request.url} answered {r.status_code}: {r.text[:300]}")
    return ms, r


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def _contents(client: httpx.Client, ours: str, tipg: str, tiles: list, inside: dict) -> dict:
    """One pass over ``tiles`` by both servers: bytes and appeals accounted for."""
    out = {
        k: {"ms": [], "bytes": [], "counted": 0, "kinds": {}, "points": set(), "points_ms": []}
        for k in ("ours", "tipg")
    }
    for t in tiles:
        for name, template in (("ours", ours), ("tipg", tipg)):
            _, r = _fetch(client, template, t)
            res = out[name]
            res["bytes"].append(len(r.content))
            layer = next(iter(mapbox_vector_tile.decode(r.content).values()), {"features": []})
            if name == "ours":
                kind = r.headers.get("X-Qala-Tile", "?")
                res["kinds"][kind] = res["kinds"].get(kind, 0) + 1
                if kind == "points":
                    out["ours"]["points"].add((t.x, t.y))
                res["counted"] += int(r.headers["X-Qala-Counted"])
                if kind == "cells":
                    assert sum(f["properties"]["count"] for f in layer["features"]) == int(
                        r.headers["X-Qala-Counted"]
                    )
            else:
                res["counted"] += min(len(layer["features"]), inside[(t.z, t.x, t.y)])
    return out


def _time(client: httpx.Client, ours: str, tipg: str, tiles: list, res: dict) -> None:
    """Fetch ``tiles`` by each server in turn (the first alternates), recording latency."""
    rounds = max(ROUNDS, -(-MIN_SAMPLES // len(tiles)))
    order = (("ours", ours), ("tipg", tipg))
    for rnd in range(rounds):
        for i, t in enumerate(tiles):
            for name, template in order if (i + rnd) % 2 == 0 else order[::-1]:
                ms = _fetch(client, template, t)[0]
                res[name]["ms"].append(ms)
                if (t.x, t.y) in res["ours"]["points"]:  # the same tiles, as points by both
                    res[name]["points_ms"].append(ms)


def _measure(ours: str, tipg: str, by_zoom: dict, inside: dict) -> dict:
    """Contents of every zoom first (which also warms both servers' connection pools and
    the database's caches), then the timed rounds."""
    client = httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=120)
    try:
        results = {z: _contents(client, ours, tipg, tiles, inside) for z, tiles in by_zoom.items()}
        for tiles in by_zoom.values():  # every pooled connection sees every query shape
            for t in tiles[:WARM_TILES]:
                for template in (ours, tipg):
                    for _ in range(WARM_REPEAT):
                        _fetch(client, template, t)
        for z, tiles in by_zoom.items():
            _time(client, ours, tipg, tiles, results[z])
    finally:
        client.close()
    return results


def run(ctx: BenchContext) -> list[dict]:
    n = QUICK_APPEALS if ctx.quick else APPEALS
    url = ctx.make_database()
    loaded = _load(url, n)
    tms = morecantile.tms.get("WebMercatorQuad")
    by_zoom = {z: list(tms.tiles(*loaded["bbox"], zooms=[z])) for z in ZOOMS}
    inside = _tile_counts(url, loaded["city"], [t for ts in by_zoom.values() for t in ts])
    tmp = Path(tempfile.mkdtemp(prefix="qala-bench-tiles-"))
    procs, ours, tipg = _servers(url, ctx.as_service(url), tmp)
    try:
        results = _measure(ours, tipg, by_zoom, inside)
    finally:
        for p in procs:
            process.stop(p)
    total = loaded["appeals"]
    where = (
        f"{total:,} appeals in a {os.cpu_count()}-core machine shared by both servers, "
        "the database and the client; one uvicorn worker each; every tile covering "
        f"the city, warmed up, then fetched >= {ROUNDS} times (>= {MIN_SAMPLES} "
        "samples a zoom) by each in turn"
    )
    records = [
        record(
            "tiles: load the appeals (one COPY, cells kept by the triggers)",
            loaded["copy_s"],
            "s",
            ctx.command,
            detail=f"{total:,} appeals; refresh_appeal_cells afterwards "
            f"{loaded['refresh_s']:.1f} s, {loaded['cell_rows']:,} rows of appeal_cells",
        )
    ]
    rows = []
    for z, res in results.items():
        o, t = res["ours"], res["tipg"]
        o50, o95, t50, t95 = (
            _pct(o["ms"], 50),
            _pct(o["ms"], 95),
            _pct(t["ms"], 50),
            _pct(t["ms"], 95),
        )
        o_kb, t_kb = max(o["bytes"]) / 1024, max(t["bytes"]) / 1024
        share, t_share = 100 * o["counted"] / total, 100 * t["counted"] / total
        ntiles = len(by_zoom[z])
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(o["kinds"].items()))
        same = ""
        if o["points_ms"] and o["kinds"].get("cells"):
            same = (
                f"; on the {len(o['points'])} tiles ours serves as points: ours p50 "
                f"{_pct(o['points_ms'], 50):.1f} ms, tipg p50 {_pct(t['points_ms'], 50):.1f} ms"
            )
        detail = (
            f"{ntiles} tiles ({kinds}); ours p95 {o95:.1f} ms, median "
            f"{statistics.median(o['bytes']) / 1024:.1f} KB, max {o_kb:.1f} KB; tipg p50 "
            f"{t50:.1f} ms, p95 {t95:.1f} ms, median "
            f"{statistics.median(t['bytes']) / 1024:.1f} KB, max {t_kb:.1f} KB, "
            f"{t_share:.1f} % of appeals shown{same}; {where}"
        )
        rows.append((z, ntiles, kinds, o50, o95, o_kb, share, t50, t95, t_kb, t_share))
        if z in CELL_ZOOMS:
            records += [
                record(
                    f"tiles z{z}: appeals tile p50 (ours)",
                    o50,
                    "ms",
                    ctx.command,
                    goal=f"<= {GOAL_P50_MS:g} ms p50",
                    met=o50 <= GOAL_P50_MS,
                    detail=detail,
                ),
                record(
                    f"tiles z{z}: largest appeals tile (ours)",
                    o_kb,
                    "KB",
                    ctx.command,
                    goal=f"<= {GOAL_KB:g} KB",
                    met=o_kb <= GOAL_KB,
                    detail=detail,
                ),
                record(
                    f"tiles z{z}: appeals counted (ours)",
                    share,
                    "%",
                    ctx.command,
                    goal="100 %",
                    met=o["counted"] == total,
                    detail=detail,
                ),
            ]
        else:
            records.append(
                record(
                    f"tiles z{z}: appeals tile p50 (ours vs tipg)",
                    o50,
                    "ms",
                    ctx.command,
                    goal=f"p50 <= {GOAL_RATIO:g} x tipg ({t50:.1f} ms)",
                    met=o50 <= GOAL_RATIO * t50,
                    detail=detail,
                )
            )
            records.append(
                record(
                    f"tiles z{z}: appeals accounted for (ours)",
                    share,
                    "%",
                    ctx.command,
                    goal="100 %",
                    met=o["counted"] == total,
                    detail=detail,
                )
            )
        records.append(
            record(f"tiles z{z}: appeals tile p50 (tipg)", t50, "ms", ctx.command, detail=detail)
        )
    _last.update(
        rows=json.dumps(rows),
        where=where,
        loaded=json.dumps({k: v for k, v in loaded.items() if k != "bbox"}),
    )
    return records


def section() -> dict[str, str]:
    if not _last:
        return {}
    rows = json.loads(_last["rows"])
    loaded = json.loads(_last["loaded"])
    lines = [
        "| zoom | tiles | ours: kind | ours p50 ms | ours p95 ms | ours max KB | "
        "ours counted | tipg p50 ms | tipg p95 ms | tipg max KB | tipg shows |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for z, n, kinds, o50, o95, okb, share, t50, t95, tkb, tshare in rows:
        lines.append(
            f"| {z} | {n} | {kinds} | {o50:.1f} | {o95:.1f} | {okb:.1f} | "
            f"{share:.1f} % | {t50:.1f} | {t95:.1f} | {tkb:.1f} | {tshare:.1f} % |"
        )
    return {
        "Vector tiles of the appeals layer (ours vs tipg)": (
            f"Setup: {_last['where']}. Loading: COPY {loaded['copy_s']:.0f} s with the "
            f"appeal_cells triggers; a full refresh_appeal_cells takes {loaded['refresh_s']:.1f} s "
            f"({loaded['cell_rows']:,} rows).\n\n" + "\n".join(lines) + "\n\n"
            "Ours: counts per grid cell below zoom 14 and, below zoom 18, in tiles holding "
            "more than 10,000 appeals; points with ids otherwise; 'counted' is the share of all "
            "appeals the tiles of that zoom account for (each appeal once). tipg: points, at "
            "most 10,000 per tile (its default), so dense tiles drop appeals; 'shows' is the "
            "share of appeals present in its tiles.\n"
        )
    }


if __name__ == "__main__":
    print("run with: python -m bench.run --only tiles [--quick]", file=sys.stderr)
    sys.exit(2)
