"""The pages (operator console, repair queue, tracker, planner dashboard) and their assets.

``install(app)`` adds the routes and serves ``/static`` (our own files) and
``/static/vendor/...`` (Leaflet and plugins from ``web/node_modules``, installed by npm).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Connection

from api.deps import CityDep, SessionDep
from geo.hotspots.run import HotspotQuery, run_hotspots, to_geojson
from geo.infra.errors import InvalidInput
from geo.planning.ratings import statistics
from geo.planning.repair_queue import QueueRules, budget_line, compute_queue
from web import assets, data, i18n, pages

log = logging.getLogger("qala.web")
router = APIRouter(include_in_schema=False)

Lang = Annotated[str | None, Query(max_length=5, description="ru (default), kk or en")]


def _source(request: Request) -> str:
    """Vector tiles when ``layers/`` serves them, else the pages' own GeoJSON."""
    has_tiles = any(getattr(r, "path", "").startswith("/tiles/") for r in request.app.routes)
    return "tiles" if has_tiles else "geojson"


def _ctx(request: Request, session, city: int, lang: str | None) -> pages.PageContext:
    conn = session.connection()
    language = i18n.pick_lang(lang)
    return pages.PageContext(
        lang=language,
        city=data.city_view(conn, city),
        source=_source(request),
        query=dict(request.query_params),
        district_labels=data.district_labels(conn, city, language),
    )


def _html(ctx: pages.PageContext, body: str) -> HTMLResponse:
    # [answers] the policy names this page's nonce; the other headers: api.edges
    return HTMLResponse(body, headers={"Content-Security-Policy": pages.CSP(ctx.nonce)})


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep, city: CityDep, lang: Lang = None):
    ctx = _ctx(request, session, city, lang)
    return _html(ctx, pages.landing_page(ctx))


@router.get("/operator", response_class=HTMLResponse)
def operator(request: Request, session: SessionDep, city: CityDep, lang: Lang = None):
    ctx = _ctx(request, session, city, lang)
    return _html(ctx, pages.operator_page(ctx))


@router.get("/track", response_class=HTMLResponse)
def track(
    request: Request,
    session: SessionDep,
    city: CityDep,
    lang: Lang = None,
    reg: Annotated[str | None, Query(max_length=32)] = None,
):
    ctx = _ctx(request, session, city, lang)
    return _html(ctx, pages.track_page(ctx, reg))


def _queue(conn: Connection, city: int, budget: float | None) -> tuple[list[dict], dict, int]:
    rules = QueueRules(budget=budget)
    queue = compute_queue(conn, city, rules)
    if budget is None:  # as the city did: the first 70 yards funded
        for q in queue:
            q["funded"] = q["rank"] <= pages.DEFAULT_FUNDED
    return queue, budget_line(queue), rules.year


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    session: SessionDep,
    city: CityDep,
    lang: Lang = None,
    budget: Annotated[float | None, Query(ge=0, le=1e15)] = None,
):
    conn = session.connection()
    items, line, year = _queue(conn, city, budget)
    ctx = _ctx(request, session, city, lang)
    return _html(ctx, pages.queue_page(ctx, items, line, budget, QueueRules().cost_per_m2, year))


@router.get("/planner", response_class=HTMLResponse)
def planner(request: Request, session: SessionDep, city: CityDep, lang: Lang = None):
    conn = session.connection()
    ctx = _ctx(request, session, city, lang)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
    items, line, _ = _queue(conn, city, None)
    return _html(
        ctx,
        pages.planner_page(
            ctx,
            statistics(conn, city, since),
            data.category_names(conn, ctx.lang),
            _hotspots(conn, city, since),
            items,
            line,
        ),
    )


def _hotspots(conn: Connection, city: int, since: dt.datetime) -> dict:
    """Significant Gi* cells of the last year's appeals (none when there are too few), on
    250 m cells (counted by PostGIS in one scan, fast with millions of appeals); the API
    offers the data-driven defaults."""
    try:
        result = run_hotspots(conn, city, HotspotQuery(since=since, cell_size=250))
    except InvalidInput:
        return {"type": "FeatureCollection", "features": [], "parameters": {}}
    return to_geojson(result, only_significant=True)


@router.get("/web/api/layers/{layer}.geojson")
def layer(
    layer: str,
    session: SessionDep,
    city: CityDep,
    bbox: Annotated[str, Query(max_length=100, description="west,south,east,north")],
):
    try:
        box = tuple(float(v) for v in bbox.split(","))
    except ValueError as exc:
        raise InvalidInput("bbox must be four numbers: west,south,east,north") from exc
    if len(box) != 4:
        raise InvalidInput("bbox must be four numbers: west,south,east,north")
    return JSONResponse(
        data.layer_geojson(session.connection(), city, layer, box),
        media_type="application/geo+json",
    )


def install(app: FastAPI) -> None:
    """The pages' routes, our static files and the vendored browser libraries."""
    app.include_router(router)
    missing = assets.missing_vendor()
    if missing:
        log.warning("browser libraries missing (run `cd web && npm ci`): %s", ", ".join(missing))
    for url, folder in assets.vendor_dirs().items():
        app.mount(url, StaticFiles(directory=folder, check_dir=False))
    app.mount(assets.STATIC_URL, StaticFiles(directory=assets.STATIC_DIR), name="static")
