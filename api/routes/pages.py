"""The pages' routes, generated from ``web.registry.PAGES``, and their assets.

``install(app)`` adds one route per registered page, the base layers' GeoJSON the maps
read, and serves ``/static`` (our own files) and ``/static/vendor/...`` (Leaflet and plugins
from ``web/node_modules``, installed by npm).
"""

# No `from __future__ import annotations` here: FastAPI reads each page route's signature,
# whose parameter model is the page's own (a value of the loop, not a module-level name).

import logging
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.routing import NoMatchFound

from api.deps import ScopeDep, SessionDep
from geo.city.basemap import layer_geojson
from geo.infra.errors import InvalidInput
from web import assets, citymap, render
from web.registry import PAGES, Page

log = logging.getLogger("qala.web")
router = APIRouter(include_in_schema=False)

Lang = Annotated[str | None, Query(max_length=5, description="ru (default), kk or en")]


def _tiled(app: FastAPI) -> frozenset[str]:
    """The base layers the app serves as vector tiles (``api.routes.tiles`` names each tile
    route ``tile_{layer}``); the maps draw the others from the pages' own GeoJSON.

    Asked by route name, not by walking ``app.routes``: FastAPI keeps an included router as
    one entry there, so no ``/tiles/...`` path is seen at the top level.
    """
    key = len(app.router.routes)
    known = getattr(app.state, "tiled_layers", None)
    if known and known[0] == key:
        return known[1]
    tiled = set()
    for name in citymap.LAYERS_BY_NAME:
        try:
            app.url_path_for(f"tile_{name}", z="0", x="0", y="0")
        except NoMatchFound:
            continue
        tiled.add(name)
    app.state.tiled_layers = (key, frozenset(tiled))
    return frozenset(tiled)


def _html(ctx: render.PageContext, body: str) -> HTMLResponse:
    # the policy names this page's nonce; the other headers: api.edges
    return HTMLResponse(body, headers=render.headers(ctx))


def page_route(page: Page):
    """The route of one page: its own query parameters (a 422 when bad), the context every
    page gets, and its view."""

    def show(
        request: Request,
        session: SessionDep,
        scope: ScopeDep,
        params: Annotated[page.params, Query()],
        lang: Lang = None,
    ) -> HTMLResponse:
        if request.path_params:  # /staff/{reg}: the path's parts are the page's parameters
            try:
                params = page.params.model_validate({**params.model_dump(), **request.path_params})
            except ValidationError as exc:
                raise RequestValidationError(exc.errors()) from exc
        conn = session.connection()
        ctx = render.page_context(
            conn,
            page,
            PAGES,
            scope.city_id,
            lang,
            _tiled(request.app),
            dict(request.query_params),
            path=request.url.path,
        )
        # a page's analyses take the API's path: bounded, in a worker process, cached
        pool, limit = request.app.state.analyses, request.app.state.settings.analysis_max_work
        ctx.analyse = lambda analysis: pool.answer(conn, scope, analysis, limit)
        ctx.scope = scope
        return _html(ctx, page.view(ctx, conn, params))

    show.__name__ = f"page_{page.name}"
    return show


for _page in PAGES:
    router.add_api_route(
        _page.path, page_route(_page), methods=["GET"], response_class=HTMLResponse
    )


@router.get("/web/api/layers/{layer}.geojson")
def layer(
    layer: str,
    session: SessionDep,
    scope: ScopeDep,
    bbox: Annotated[str, Query(max_length=100, description="west,south,east,north")],
):
    try:
        box = tuple(float(v) for v in bbox.split(","))
    except ValueError as exc:
        raise InvalidInput("bbox must be four numbers: west,south,east,north") from exc
    if len(box) != 4:
        raise InvalidInput("bbox must be four numbers: west,south,east,north")
    return JSONResponse(
        layer_geojson(session.connection(), scope.city_id, layer, box),
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
