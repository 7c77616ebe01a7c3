"""Vector tiles of the appeals layer on 2.3 million appeals, side by side with tipg.

A database of its own holds the demo city and 2,300,000 synthetic appeals (200,000 with
``--quick``) written by ``geo.demo.appeals`` with one ``COPY`` (the triggers of migration 0003
count them into ``appeal_cells`` as they arrive), then ``VACUUM ANALYZE``. Four servers run
as real processes on free ports against that database, one uvicorn worker each:

* ours as configured: ``uvicorn api.app:create_app --factory``, ``GET /tiles/appeals/{z}/{x}/
  {y}.pbf``: counts per grid cell below zoom 14 and in tiles holding more than 10,000
  appeals, points with ids otherwise;
* ours, every point: the same app with the appeals layer's ``max_points`` set to ``None``
  (:func:`every_point_app`): from zoom 14 on every tile is points, however many;
* tipg as configured: ``uvicorn tipg.main:app``, ``GET /collections/public.appeals/tiles/
  WebMercatorQuad/{z}/{x}/{y}``, limited to ``public.appeals`` with properties ``id, status,
  category_code``; its defaults kept (at most 10,000 points per tile, a 256-pixel buffer);
* tipg, every point: the same with ``TIPG_MAX_FEATURES_PER_TILE`` above the number of
  appeals and our buffer (64 of 4,096).

Two comparisons, each on the same tiles, fetched by its two servers in turn (one client,
uncompressed bodies, the first of the pair alternating), after one pass that reads every
tile's contents and a warm-up of both servers' connection pools:

* **like for like, points**: at zooms 14, 15 and 16 both serve every appeal as a point
  (ours every point vs tipg every point). Goal: ours p50 ``<= 0.5 x`` tipg's p50. Ours
  also computes the ``overdue`` property per point, which tipg does not.
* **what a user sees**: at zooms 10, 12, 13, 14, 15 and 16 both as configured; not like
  for like at zoom 14 to 16 (ours sends counts for dense tiles, tipg drops the appeals past
  its 10,000). Goals at zooms 10 to 13: tiles ``<= 100 KB`` and ``<= 50 ms`` p50.

Every tile is decoded (``mapbox_vector_tile``'s protobuf) and its appeals counted from what
it holds, never from a header of the server: a cell's ``count``, a point's appeal id (ours:
the MVT feature id; tipg: its ``id`` property). Points drawn in a tile's buffer belong to a
neighbour: ids are counted once per zoom, and for ours as configured only the ids of appeals
whose own tile (its level-20 cell, ``appeals.cell``, in the tile's range) is a points tile.
Goal: 100 % of the city's appeals accounted for at every zoom, by ours in both
configurations, and by tipg when it serves every point.

Run: ``.venv/bin/python -m bench.run --only tiles``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import process
from bench.harness import BenchContext, record
from geo.infra.cells import LEVEL, cell_key

APPEALS, QUICK_APPEALS = 2_300_000, 200_000
ZOOMS = (10, 12, 13, 14, 15, 16)
POINT_ZOOMS = (14, 15, 16)  # where both can serve every appeal as a point
ROUNDS = 2  # timed passes over the tiles of a zoom; more when a zoom has few tiles
MIN_SAMPLES = 40  # per zoom and server
WARM_TILES, WARM_REPEAT = 3, 12  # more than the pool has connections
CELL_ZOOMS = range(10, 14)
GOAL_KB, GOAL_P50_MS, GOAL_RATIO = 100.0, 50.0, 0.5
SECRET = "bench-secret-key-of-at-least-32-bytes!!"
TIPG_PROPERTIES = ["id", "status", "category_code"]  # tipg's MVT has no feature ids
OURS_BUFFER = "64"  # layers.tiles.BUFFER, of an extent of 4096 (tipg's default: 256)
_last: dict[str, str] = {}


def every_point_app():
    """The API with the appeals layer serving every appeal as a point from zoom 14 on
    (``max_points=None``): the configuration compared with tipg serving every point."""
    from api.app import create_app
    from layers.registry import LAYERS

    layer = LAYERS["appeals"]
    LAYERS["appeals"] = dataclasses.replace(
        layer, aggregation=dataclasses.replace(layer.aggregation, max_points=None)
    )
    return create_app()


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


def _truth(url: str, city: int, zooms) -> dict:
    """What the database holds: every appeal id (sorted) and, per zoom, the appeals whose
    own tile is each tile (by ``appeals.cell``, the key range a tile covers)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ids = np.array(
                conn.execute(
                    text("SELECT id FROM appeals WHERE city_id = :c ORDER BY id"), {"c": city}
                )
                .scalars()
                .all(),
                dtype=np.int64,
            )
            per_tile = {
                z: dict(
                    conn.execute(
                        text(
                            "SELECT cell >> :s, count(*) FROM appeals WHERE city_id = :c GROUP BY 1"
                        ),
                        {"c": city, "s": 2 * (LEVEL - z)},
                    ).all()
                )
                for z in zooms
            }
    finally:
        engine.dispose()
    return {"ids": ids, "per_tile": per_tile}


def _ids_owned_by(url: str, city: int, z: int, keys: list[int]) -> np.ndarray:
    """Ids of the appeals whose own tile at zoom ``z`` is one of ``keys``."""
    if not keys:
        return np.empty(0, dtype=np.int64)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return np.array(
                conn.execute(
                    text("SELECT id FROM appeals WHERE city_id = :c AND (cell >> :s) = ANY(:k)"),
                    {"c": city, "s": 2 * (LEVEL - z), "k": keys},
                )
                .scalars()
                .all(),
                dtype=np.int64,
            )
    finally:
        engine.dispose()


def _value(v) -> float | int | str | bool:
    for name in ("int_value", "uint_value", "sint_value", "double_value", "float_value"):
        if v.HasField(name):
            return getattr(v, name)
    if v.HasField("bool_value"):
        return v.bool_value
    return v.string_value


def read_tile(data: bytes, id_property: str | None = None) -> dict:
    """What a Mapbox Vector Tile holds, decoded: ``kind`` (``cells`` when its features
    carry ``count``, ``points``, or ``empty``), ``counted`` (the sum of the cells' counts)
    and ``ids`` (the points' appeal ids: the feature ids, or ``id_property``'s values)."""
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    out = {"kind": "empty", "counted": 0, "ids": np.empty(0, dtype=np.int64)}
    if not tile.layers or not tile.layers[0].features:
        return out
    layer = tile.layers[0]
    keys = list(layer.keys)
    values = [_value(v) for v in layer.values]
    wanted = "count" if "count" in keys else id_property
    if wanted is not None and wanted not in keys:
        raise RuntimeError(f"tile without {wanted!r}: its properties are {keys}")
    k = keys.index(wanted) if wanted is not None else None
    found = []
    for f in layer.features:
        if k is None:
            found.append(f.id)
            continue
        tags = f.tags
        for i in range(0, len(tags), 2):
            if tags[i] == k:
                found.append(values[tags[i + 1]])
                break
    if wanted == "count":
        out.update(kind="cells", counted=int(sum(found)))
    else:
        out.update(kind="points", ids=np.array(found, dtype=np.int64))
    return out


def _servers(url: str, service_url: str, tmp: Path, total: int) -> tuple[list, dict[str, str]]:
    """The four servers (see the module's docstring); their tile URL templates by name."""
    procs: list[subprocess.Popen] = []
    pg = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    tipg_env = {
        "DATABASE_URL": pg,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.appeals"]',
        "TIPG_TABLE_CONFIG__public_appeals__PROPERTIES": json.dumps(TIPG_PROPERTIES),
        "TIPG_TABLE_CONFIG__public_appeals__PK": "id",
        "TIPG_TABLE_CONFIG__public_appeals__DATETIMECOL": "created_at",
        "TIPG_ADD_TILES_VIEWER": "false",
        "TIPG_DB_MAX_CONN_SIZE": "4",
    }
    ours_tiles = "/tiles/appeals/{z}/{x}/{y}.pbf"
    tipg_tiles = "/collections/public.appeals/tiles/WebMercatorQuad/{z}/{x}/{y}"
    templates = {}
    try:
        p, base = process.start_qala(service_url, SECRET, tmp / "ours.log")
        procs.append(p)
        templates["ours"] = base + ours_tiles
        p, base = process.start(
            "bench.bench_tiles:every_point_app",
            {
                "QALA_DATABASE_URL": service_url,
                "QALA_ENVIRONMENT": "test",
                "QALA_SECRET_KEY": SECRET,
            },
            tmp / "ours-all.log",
            factory=True,
        )
        procs.append(p)
        templates["ours_all"] = base + ours_tiles
        for name, extra in (
            ("tipg", {}),
            (
                "tipg_all",
                {"TIPG_MAX_FEATURES_PER_TILE": str(2 * total), "TIPG_TILE_BUFFER": OURS_BUFFER},
            ),
        ):
            p, base = process.start(
                "tipg.main:app",
                {**tipg_env, **extra},
                tmp / f"{name}.log",
                probe_path="/collections/public.appeals",
                timeout=120,
            )
            procs.append(p)
            templates[name] = base + tipg_tiles
    except Exception:
        for p in procs:
            process.stop(p)
        raise
    return procs, templates


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


def _contents(client: httpx.Client, template: str, tiles: list, tipg: bool) -> dict:
    """One pass over ``tiles``: bytes, and each tile decoded (kind, cell counts, point ids)."""
    res = {"bytes": [], "kinds": {}, "cells": {}, "points": {}, "ms": []}
    for t in tiles:
        _, r = _fetch(client, template, t)
        res["bytes"].append(len(r.content))
        got = read_tile(r.content, "id" if tipg else None)
        res["kinds"][got["kind"]] = res["kinds"].get(got["kind"], 0) + 1
        key = cell_key(t.x, t.y)
        if got["kind"] == "cells":
            res["cells"][key] = got["counted"]
        elif got["kind"] == "points":
            res["points"][key] = got["ids"]
    return res


def _accounted(res: dict, z: int, truth: dict, owned) -> dict:
    """Appeals the decoded tiles of one zoom account for, each once: the cells' counts
    (up to the appeals the tile owns) and the distinct point ids of appeals owned by a
    points tile (``owned(z, keys)``: their ids in the database)."""
    per_tile = truth["per_tile"][z]
    cells = sum(min(n, per_tile.get(k, 0)) for k, n in res["cells"].items())
    wrong = sum(1 for k, n in res["cells"].items() if n != per_tile.get(k, 0))
    ids = (
        np.unique(np.concatenate(list(res["points"].values())))
        if res["points"]
        else np.empty(0, dtype=np.int64)
    )
    if res["cells"]:  # points in a buffer may belong to a tile of cells
        points = int(np.isin(ids, owned(z, list(res["points"])), assume_unique=True).sum())
    else:
        points = int(np.isin(ids, truth["ids"], assume_unique=True).sum())
    stray = int(ids.size - np.isin(ids, truth["ids"], assume_unique=True).sum())
    return {"accounted": cells + points, "cells_wrong": wrong, "stray_ids": stray}


def _warm(client: httpx.Client, templates: list[str], tiles: list) -> None:
    """Every pooled connection sees every query shape (on the smallest non-empty tiles)."""
    for t in tiles[:WARM_TILES]:
        for template in templates:
            for _ in range(WARM_REPEAT):
                _fetch(client, template, t)


def _time(client: httpx.Client, pair: dict[str, str], tiles: list, out: dict) -> None:
    """Fetch ``tiles`` by each server of ``pair`` in turn (the first alternates)."""
    rounds = max(ROUNDS, -(-MIN_SAMPLES // len(tiles)))
    order = list(pair.items())
    for rnd in range(rounds):
        for i, t in enumerate(tiles):
            for name, template in order if (i + rnd) % 2 == 0 else order[::-1]:
                out[name]["ms"].append(_fetch(client, template, t)[0])


def _compare(client, pair: dict[str, str], by_zoom: dict, truth: dict, owned) -> dict:
    """Contents of every zoom by both servers (which also warms the database's caches),
    a warm-up of both pools, then the timed rounds; per zoom and server."""
    results = {}
    for z, tiles in by_zoom.items():
        results[z] = {}
        for name, template in pair.items():
            res = _contents(client, template, tiles, name.startswith("tipg"))
            res.update(_accounted(res, z, truth, owned))
            results[z][name] = res
    for z, tiles in by_zoom.items():
        sizes = results[z][next(iter(pair))]["bytes"]
        smallest = sorted((b, i) for i, b in enumerate(sizes) if b)
        _warm(client, list(pair.values()), [tiles[i] for _, i in smallest])
    for z, tiles in by_zoom.items():
        _time(client, pair, tiles, results[z])
    return results


def _summary(res: dict, total: int) -> dict:
    return {
        "p50": _pct(res["ms"], 50),
        "p95": _pct(res["ms"], 95),
        "samples": len(res["ms"]),
        "max_kb": max(res["bytes"]) / 1024,
        "median_kb": statistics.median(res["bytes"]) / 1024,
        "share": 100 * res["accounted"] / total,
        "all": res["accounted"] == total and not res["cells_wrong"] and not res["stray_ids"],
        "kinds": ", ".join(f"{v} {k}" for k, v in sorted(res["kinds"].items())),
        "cells_wrong": res["cells_wrong"],
        "stray_ids": res["stray_ids"],
    }


def run(ctx: BenchContext) -> list[dict]:
    n = QUICK_APPEALS if ctx.quick else APPEALS
    url = ctx.make_database()
    loaded = _load(url, n)
    total = loaded["appeals"]
    tms = morecantile.tms.get("WebMercatorQuad")
    by_zoom = {z: list(tms.tiles(*loaded["bbox"], zooms=[z])) for z in ZOOMS}
    truth = _truth(url, loaded["city"], ZOOMS)
    assert truth["ids"].size == total

    def owned(z: int, keys: list[int]) -> np.ndarray:
        return _ids_owned_by(url, loaded["city"], z, keys)

    tmp = Path(tempfile.mkdtemp(prefix="qala-bench-tiles-"))
    procs, urls = _servers(url, ctx.as_service(url), tmp, total)
    client = httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=300)
    try:
        points = _compare(
            client,
            {"ours_all": urls["ours_all"], "tipg_all": urls["tipg_all"]},
            {z: by_zoom[z] for z in POINT_ZOOMS},
            truth,
            owned,
        )
        seen = _compare(client, {"ours": urls["ours"], "tipg": urls["tipg"]}, by_zoom, truth, owned)
    finally:
        client.close()
        for p in procs:
            process.stop(p)
    where = (
        f"{total:,} appeals in a {os.cpu_count()}-core machine shared by the servers, "
        "the database and the client; one uvicorn worker each; every tile covering "
        f"the city, decoded once, then after a warm-up fetched >= {ROUNDS} times "
        f"(>= {MIN_SAMPLES} samples a zoom) by each server of a pair in turn; one run"
    )
    cmd = ctx.command
    records = [
        record(
            "tiles: load the appeals (one COPY, cells kept by the triggers)",
            loaded["copy_s"],
            "s",
            cmd,
            detail=f"{total:,} appeals; refresh_appeal_cells afterwards "
            f"{loaded['refresh_s']:.1f} s, {loaded['cell_rows']:,} rows of appeal_cells",
        )
    ]
    rows_points, rows_seen = [], []
    for z in POINT_ZOOMS:
        o = _summary(points[z]["ours_all"], total)
        t = _summary(points[z]["tipg_all"], total)
        ratio = o["p50"] / t["p50"]
        detail = (
            f"{len(by_zoom[z])} tiles, every appeal a point in both; ours p95 {o['p95']:.1f} ms, "
            f"max {o['max_kb']:.1f} KB; tipg p95 {t['p95']:.1f} ms, max {t['max_kb']:.1f} KB; "
            f"{o['samples']} samples each; {where}"
        )
        rows_points.append((z, len(by_zoom[z]), o, t, ratio))
        records += [
            record(
                f"tiles z{z}, every point: ours p50 / tipg p50",
                ratio,
                "ratio",
                cmd,
                goal=f"<= {GOAL_RATIO:g}",
                met=ratio <= GOAL_RATIO,
                detail=f"ours {o['p50']:.1f} ms, tipg {t['p50']:.1f} ms; {detail}",
            ),
            record(f"tiles z{z}, every point: p50 (ours)", o["p50"], "ms", cmd, detail=detail),
            record(f"tiles z{z}, every point: p50 (tipg)", t["p50"], "ms", cmd, detail=detail),
            record(
                f"tiles z{z}, every point: appeals in the decoded tiles (ours)",
                o["share"],
                "%",
                cmd,
                goal="100 %",
                met=o["all"],
                detail=detail,
            ),
            record(
                f"tiles z{z}, every point: appeals in the decoded tiles (tipg)",
                t["share"],
                "%",
                cmd,
                goal="100 %",
                met=t["all"],
                detail=detail,
            ),
        ]
    for z in ZOOMS:
        o = _summary(seen[z]["ours"], total)
        t = _summary(seen[z]["tipg"], total)
        detail = (
            f"{len(by_zoom[z])} tiles (ours: {o['kinds']}; tipg: {t['kinds']}); ours p95 "
            f"{o['p95']:.1f} ms, median {o['median_kb']:.1f} KB, max {o['max_kb']:.1f} KB; "
            f"tipg p50 {t['p50']:.1f} ms, p95 {t['p95']:.1f} ms, max {t['max_kb']:.1f} KB, "
            f"{t['share']:.1f} % of appeals shown; {where}"
        )
        rows_seen.append((z, len(by_zoom[z]), o, t))
        if z in CELL_ZOOMS:
            records += [
                record(
                    f"tiles z{z}: appeals tile p50 (ours)",
                    o["p50"],
                    "ms",
                    cmd,
                    goal=f"<= {GOAL_P50_MS:g} ms p50",
                    met=o["p50"] <= GOAL_P50_MS,
                    detail=detail,
                ),
                record(
                    f"tiles z{z}: largest appeals tile (ours)",
                    o["max_kb"],
                    "KB",
                    cmd,
                    goal=f"<= {GOAL_KB:g} KB",
                    met=o["max_kb"] <= GOAL_KB,
                    detail=detail,
                ),
            ]
        else:
            records.append(
                record(
                    f"tiles z{z}, as configured: appeals tile p50 (ours)",
                    o["p50"],
                    "ms",
                    cmd,
                    detail=f"not like for like (ours: counts in dense tiles); {detail}",
                )
            )
        records += [
            record(
                f"tiles z{z}, as configured: appeals in the decoded tiles (ours)",
                o["share"],
                "%",
                cmd,
                goal="100 %",
                met=o["all"],
                detail=detail,
            ),
            record(f"tiles z{z}, as configured: p50 (tipg)", t["p50"], "ms", cmd, detail=detail),
            record(
                f"tiles z{z}, as configured: appeals in the decoded tiles (tipg)",
                t["share"],
                "%",
                cmd,
                detail=detail,
            ),
        ]
    _last.update(
        points=json.dumps(rows_points),
        seen=json.dumps(rows_seen),
        where=where,
        loaded=json.dumps({k: v for k, v in loaded.items() if k != "bbox"}),
    )
    return records


def section() -> dict[str, str]:
    if not _last:
        return {}
    loaded = json.loads(_last["loaded"])
    pts = [
        "| zoom | tiles | ours p50 ms | tipg p50 ms | ours / tipg (goal <= 0.5) | ours p95 ms "
        "| tipg p95 ms | ours max KB | tipg max KB | ours accounts for | tipg accounts for |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for z, n, o, t, ratio in json.loads(_last["points"]):
        met = "met" if ratio <= GOAL_RATIO else "**not met**"
        pts.append(
            f"| {z} | {n} | {o['p50']:.1f} | {t['p50']:.1f} | {ratio:.2f} ({met}) | "
            f"{o['p95']:.1f} | {t['p95']:.1f} | {o['max_kb']:.1f} | {t['max_kb']:.1f} | "
            f"{o['share']:.2f} % | {t['share']:.2f} % |"
        )
    seen = [
        "| zoom | tiles | ours: kind (decoded) | ours p50 ms | ours p95 ms | ours max KB | "
        "ours accounts for | tipg p50 ms | tipg p95 ms | tipg max KB | tipg shows |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for z, n, o, t in json.loads(_last["seen"]):
        seen.append(
            f"| {z} | {n} | {o['kinds']} | {o['p50']:.1f} | {o['p95']:.1f} | "
            f"{o['max_kb']:.1f} | {o['share']:.2f} % | {t['p50']:.1f} | {t['p95']:.1f} | "
            f"{t['max_kb']:.1f} | {t['share']:.2f} % |"
        )
    return {
        "Vector tiles of the appeals layer (ours vs tipg)": (
            f"Setup: {_last['where']}. Loading: COPY {loaded['copy_s']:.0f} s with the "
            f"appeal_cells triggers; a full refresh_appeal_cells takes {loaded['refresh_s']:.1f} s "
            f"({loaded['cell_rows']:,} rows). Appeals are counted by decoding every tile "
            "(cells: their `count`; points: distinct appeal ids), never from a header.\n\n"
            "**Like for like: every appeal a point, zooms 14 to 16.** Ours with the appeals "
            "layer's `max_points=None`, tipg with its per-tile limit above the number of "
            "appeals and our buffer (64/4096); the same tiles. Ours also computes `overdue` "
            "per point.\n\n" + "\n".join(pts) + "\n\n"
            "**What a user sees: both as configured.** Not like for like from zoom 14: ours "
            "serves counts per grid cell below zoom 14 and in tiles holding more than 10,000 "
            "appeals, points with ids otherwise; tipg serves at most 10,000 points a tile "
            "(its default), so dense tiles drop appeals ('shows': the share of appeals "
            "present in its tiles).\n\n" + "\n".join(seen) + "\n"
        )
    }


if __name__ == "__main__":
    print("run with: python -m bench.run --only tiles [--quick]", file=sys.stderr)
    sys.exit(2)
