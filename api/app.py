"""``create_app(settings)``: the FastAPI application. The engine opens in the lifespan hook."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import edges, errors, open311, openapi
from api.deps import ApiKeys, Db
from api.routes import (
    admin,
    appeals,
    auth,
    docs,
    health,
    hotspots,
    pages,
    planner,
    public,
    tiles,
)
from geo.infra.db import make_engine, make_sessionmaker
from geo.infra.settings import Settings

DESCRIPTION = """
Qala Map: the city issue map behind a 109 contact centre. Appeals are geolocated incidents
on the city's digital map (buildings, yards, wells, streets, districts in PostGIS).
GeoJSON is lon/lat (RFC 7946). Personal data of applicants never appears on public endpoints.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        # statements that are transactions of their own (the appeal write, lookups): an
        # engine whose connections are in autocommit from the start, never switched
        app.state.db = Db(
            make_engine(
                settings,
                isolation_level="AUTOCOMMIT",
                pool_size=settings.db_write_pool_size,
                max_overflow=0,
            )
        )
        await app.state.db.open()
        try:
            yield
        finally:
            engine.dispose()
            await app.state.db.close()

    # docs from our own assets, closable (api.routes.docs); body limit and
    # security headers on every answer (api.edges)
    app = FastAPI(
        title="Qala Map",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    edges.install(app, settings)
    docs.install(app, settings)
    app.state.settings = settings
    app.state.city_ids = {}
    app.state.api_keys = ApiKeys(settings.api_key_cache_s)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(appeals.router)
    app.include_router(public.router)
    app.include_router(open311.router)
    app.include_router(planner.router)
    app.include_router(hotspots.router)
    app.include_router(tiles.router)  # vector tiles, TileJSON, OGC API - Features
    pages.install(app)  # the pages, /static
    openapi.install(app)  # every answer of every route described
    return app
