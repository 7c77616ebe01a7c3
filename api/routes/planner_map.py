"""The planner's map layers: a summary (legend, parameters, why empty), vector tiles and
exports (CSV, GeoJSON, GeoPackage) of hot spots, emerging hot spots, failing objects,
clusters and the repair plan.

The analyses take the API's path (:mod:`geo.hotspots.workers`: bounded, in a worker process,
cached per parameters and data version); their answer becomes the layer's features once
(:mod:`geo.planning.map_layers`), kept here per the same key, so that the tiles of one view
cost a look-up and one ``ST_AsMVT`` each.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections import OrderedDict
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, ScopeDep, SettingsDep
from api.responses import csv_response
from api.routes.hotspots import ANALYSIS_ANSWERS, QueryDep, cluster_query
from geo.appeals.actors import Actor
from geo.hotspots.budget import TooMuchWork
from geo.hotspots.run import HotspotQuery
from geo.hotspots.workers import (
    Analysis,
    AnalysisPool,
    Busy,
    cache_key,
    data_version,
    precheck,
)
from geo.infra.errors import InvalidInput
from geo.planning import map_layers
from geo.planning.failing import ClusterQuery, failing_objects
from geo.planning.repair_plan import PlanRules, repair_plan
from geo.staff.scope import Scope
from web.pages import kept
from web.pages import planner as planner_page

router = APIRouter(prefix="/api/v1/planner", tags=["planning"])
MVT = "application/vnd.mapbox-vector-tile"
GPKG = "application/geopackage+sqlite3"
LayerName = Literal["hotspots", "emerging", "failing", "clusters", "queue"]
KEEP = 24  # layers kept (their features) in this process
log = logging.getLogger("qala.planner")


class LayerCache:
    """Layers' features per (scope, parameters, data version), the newest ``KEEP``."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._items: OrderedDict[tuple, map_layers.LayerData] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> map_layers.LayerData | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, key: tuple, data: map_layers.LayerData) -> None:
        with self._lock:
            self._items[key] = data
            self._items.move_to_end(key)
            while len(self._items) > self.keep:
                self._items.popitem(last=False)


CACHE = LayerCache()


def parse_budgets(budgets: str | None) -> list[float] | None:
    """``"1e9,1.2e9"`` → [1e9, 1.2e9]; blank → None (the city's own budget)."""
    if budgets is None or not budgets.strip():
        return None
    try:
        values = [float(b) for b in budgets.replace(";", ",").split(",") if b.strip()]
    except ValueError:
        raise InvalidInput("budgets: tenge per year, numbers separated by commas") from None
    if not values or any(not 0 <= v <= 1e15 for v in values):
        raise InvalidInput("budgets: 1 to 20 numbers from 0 to 1e15 tenge")
    if len(values) > 20:
        raise InvalidInput("budgets: at most 20 years")
    return values


def plan_rules(
    budgets: Annotated[
        str | None,
        Query(
            max_length=400,
            description="tenge per year, comma-separated; default: what the first 70 yards "
            "cost, every year",
        ),
    ] = None,
    years: Annotated[int, Query(ge=1, le=20, description="years, when no budgets")] = 3,
    cost_per_m2: Annotated[float, Query(gt=0, le=1e7)] = 6500.0,
    first_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> PlanRules:
    """The inputs of a repair plan, travelling together."""
    rules = PlanRules(budgets=parse_budgets(budgets), years=years, cost_per_m2=cost_per_m2)
    if first_year is not None:
        rules.first_year = first_year
    return rules


PlanDep = Annotated[PlanRules, Depends(plan_rules)]
ClusterDep = Annotated[ClusterQuery, Depends(cluster_query)]
Step = Literal["week", "month"]


def _cluster_of(q: HotspotQuery, cq: ClusterQuery) -> ClusterQuery:
    """The clustering of the page's selection: its period and category."""
    return ClusterQuery(
        cq.eps_m, cq.min_points, q.since or cq.since, q.until or cq.until, q.category, cq.limit
    )


def _why(exc: InvalidInput) -> tuple[str, dict]:
    """Why an analysis gave nothing, as a reason code the page words in three languages."""
    message = str(exc)
    change = getattr(exc, "change", None) or {}
    if isinstance(exc, TooMuchWork):
        return "too_much_work", change
    if "smaller cells" in message:
        return "cells_too_large", change
    if "at least" in message and "appeals" in message:
        return "too_few_appeals", change
    return "invalid", change


def _empty(layer: str, reason: str, detail: str, change: dict | None = None):
    data = map_layers.LayerData(layer, note=detail)
    data.params = {"reason": reason, "change": change or {}}
    return data


async def layer_data(
    pool: AnalysisPool,
    db,
    settings,
    scope: Scope,
    layer: str,
    q: HotspotQuery,
    step: str,
    cq: ClusterQuery,
    rules: PlanRules,
) -> map_layers.LayerData:
    """The layer's features for these parameters: from this process's cache, else from the
    analysis (cached in turn) or the database."""
    limit = settings.analysis_max_work
    analysis = None
    if layer == "hotspots":
        analysis = Analysis("hotspots", q, None, "json")
    elif layer == "emerging":
        analysis = Analysis("emerging", q, step, "json")
    elif layer == "clusters":
        analysis = Analysis("clusters", _cluster_of(q, cq))
    try:
        if analysis is not None:

            def version(conn):
                # a layer kept for this version passed the precheck when it was made (the
                # tiles of one view ask 20 times): one look-up, the precheck only when new
                key = cache_key(scope, analysis, data_version(conn, scope.city_id))
                found = CACHE.get(key)
                if found is None:
                    precheck(conn, scope.city_id, analysis, limit)
                return key, found

            key, found = await run_in_threadpool(db.read_scoped, scope, version)
            if found is not None:
                return found
            try:
                answer = await asyncio.wrap_future(pool.submit(key, scope, analysis, limit))
            except BrokenProcessPool:
                raise Busy("the analysis stopped (its worker ended): retry shortly", 5) from None
            body = json.loads(answer.body)
            if layer == "hotspots":
                data = map_layers.hotspot_layer(body)
            elif layer == "emerging":
                data = map_layers.emerging_layer(body)
            else:
                data = map_layers.cluster_layer(body)
        else:

            def build(conn):
                v = data_version(conn, scope.city_id)
                key = (scope.city_id, scope.role, scope.actor.organisation_id, layer, v)
                if layer == "queue":
                    key += (
                        tuple(rules.budgets or ()),
                        rules.years,
                        rules.cost_per_m2,
                        rules.first_year,
                    )
                found = CACHE.get(key)
                if found is not None:
                    return key, found
                if layer == "failing":
                    return key, map_layers.failing_layer(
                        failing_objects(conn, scope.city_id, None, 1000)
                    )
                return key, map_layers.queue_layer(
                    conn, scope.city_id, repair_plan(conn, scope.city_id, rules)
                )

            key, data = await run_in_threadpool(db.read_scoped, scope, build)
    except InvalidInput as exc:
        reason, change = _why(exc)
        return _empty(layer, reason, str(exc), change)
    if data.note and "reason" not in data.params:
        data.params["reason"] = "no_appeals"
    elif not data.features and "reason" not in data.params:
        data.params["reason"] = (
            "nothing_significant" if layer in ("hotspots", "emerging") else "none"
        )
    CACHE.put(key, data)
    return data


def default_hotspots(today: dt.date) -> HotspotQuery:
    """The hot spot query of the workspace's default view, as its form asks for it."""
    return HotspotQuery(
        since=planner_page.default_since(today),
        cell_size=float(planner_page.DEFAULT_CELL_SIZE),
        p_method="permutation",
    )


async def warm_default_view(app) -> None:
    """Compute the workspace's default view for every city once the service has started:
    its map layer (hot spots of the year, as the public sees them), its totals and charts,
    and the queue's top, so that the first visitor's page draws from the caches instead of waiting
    seconds for the analysis. The same computations and cache keys as a request's:
    identical answers, recomputed on request when the data change. A failure is left to
    the first request to report."""
    db, settings, pool = app.state.db, app.state.settings, app.state.analyses
    today = dt.datetime.now(dt.UTC).date()
    since = planner_page.default_since(today)

    def cities(conn) -> list[int]:
        return [r[0] for r in conn.execute(text("SELECT id FROM cities ORDER BY id"))]

    try:
        for city_id in await run_in_threadpool(db.read, cities):
            scope = Scope(city_id, Actor(name="public", role="public"))
            layer = layer_data(
                pool,
                db,
                settings,
                scope,
                "hotspots",
                default_hotspots(today),
                "week",
                ClusterQuery(),
                PlanRules(),
            )
            stats = run_in_threadpool(
                db.read_scoped, scope, planner_page.year_statistics, scope, since
            )
            queue = run_in_threadpool(db.read_scoped, scope, kept.kept_queue, scope)
            await asyncio.gather(layer, stats, queue)
    except Exception as exc:  # noqa: BLE001  (a warm-up never stops the service)
        log.warning("planner default view not computed ahead: %s", exc)


async def keep_default_view_warm(app) -> None:
    """:func:`warm_default_view` when the service starts, and again after each midnight
    (UTC), when the default period, and so the view, moves on by a day."""
    while True:
        await warm_default_view(app)
        app.state.planner_warmed_at = dt.datetime.now(dt.UTC)  # bench_pages waits for it
        now = dt.datetime.now(dt.UTC)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        await asyncio.sleep((midnight - now).total_seconds() + 5)


def _params(
    q: QueryDep,
    cq: ClusterDep,
    rules: PlanDep,
    step: Step = "week",
) -> tuple:
    return q, step, cq, rules


ParamsDep = Annotated[tuple, Depends(_params)]


@router.get("/layers/{layer}", summary="A planner map layer: legend counts, parameters, why empty")
async def layer_summary(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    scope: ScopeDep,
    layer: LayerName,
    p: ParamsDep,
) -> dict:
    data = await layer_data(request.app.state.analyses, db, settings, scope, layer, *p)
    return data.summary()


layer_summary.answer_words = ANALYSIS_ANSWERS


@router.get(
    "/layers/{layer}/{z}/{x}/{y}.pbf",
    summary="A planner map layer as a Mapbox vector tile",
    response_class=Response,
)
async def layer_tile(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    scope: ScopeDep,
    layer: LayerName,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    p: ParamsDep,
) -> Response:
    if x >= 2**z or y >= 2**z:
        raise InvalidInput(f"tile {z}/{x}/{y} does not exist: x and y must be below {2**z}")
    data = await layer_data(request.app.state.analyses, db, settings, scope, layer, *p)
    body = b""
    if data.features:
        body = await run_in_threadpool(db.read_scoped, scope, map_layers.tile, data, z, x, y)
    return Response(body, media_type=MVT, headers={"Cache-Control": "private, max-age=300"})


layer_tile.answer_words = ANALYSIS_ANSWERS


@router.get(
    "/layers/{layer}/export",
    summary="A planner map layer as CSV, GeoJSON or GeoPackage (a download)",
    response_class=Response,
)
async def layer_export(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    scope: ScopeDep,
    layer: LayerName,
    p: ParamsDep,
    format: Literal["csv", "geojson", "gpkg"] = "geojson",
):
    data = await layer_data(request.app.state.analyses, db, settings, scope, layer, *p)
    return export(
        data.layer, format, map_layers.rows(data), lambda: map_layers.to_geojson(data), data
    )


def export(name: str, format: str, rows: list[dict], collection, data=None) -> Response:
    """One download: rows as CSV, the features as GeoJSON or GeoPackage."""
    if format == "csv":
        return csv_response(rows, name)
    fc = collection()
    if format == "geojson":
        return JSONResponse(
            fc,
            media_type="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{name}.geojson"'},
        )
    body = map_layers.geopackage(
        [f["properties"] for f in fc["features"]], [f["geometry"] for f in fc["features"]], name
    )
    return Response(
        body,
        media_type=GPKG,
        headers={"Content-Disposition": f'attachment; filename="{name}.gpkg"'},
    )
