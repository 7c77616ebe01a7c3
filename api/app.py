"""``create_app(settings)``: the FastAPI application. The engine opens in the lifespan hook."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from starlette.middleware.gzip import GZipMiddleware

from api import edges, errors, observe, open311, openapi, reads
from api.deps import ApiKeys, Db
from api.reads import Writers
from api.routes import (
    admin,
    appeals,
    auth,
    docs,
    health,
    hotspots,
    kb,
    pages,
    photos,
    planner,
    planner_map,
    public,
    report,
    residents,
    staff,
    tiles,
)
from api.stream import AppealHub
from geo.hotspots.workers import AnalysisPool
from geo.infra.db import (
    asyncpg_dsn,
    make_engine,
    make_read_engines,
    make_sessionmaker,
    service_role_problems,
)
from geo.infra.replicas import ReadReplicas
from geo.infra.settings import Settings
from geo.media.store import open_store
from geo.staff.scope import scope_sessions

log = logging.getLogger("qala")


class UnsafeDatabaseRole(RuntimeError):
    """The service's database role would see past row-level security (production)."""


def guard_service_role(engine: Engine, settings: Settings) -> None:
    """Check the role of ``engine`` on its first connection: in production a superuser, a
    role with BYPASSRLS or the owner of ``appeals`` stops the service with one error (every
    connection fails with it); elsewhere it is a warning. Checked at start-up when the
    database is up, else on the first connection made later."""

    @event.listens_for(engine, "first_connect")
    def _check(dbapi_connection, record) -> None:
        problems = service_role_problems(dbapi_connection)
        if not problems:
            return
        msg = (
            f"{'; '.join(problems)}: row-level security would not hold the service's "
            "queries to one city. Connect the API as the service role (QALA_DATABASE_URL; "
            "README, Security); migrations and imports use QALA_ADMIN_DATABASE_URL"
        )
        if settings.environment == "production":
            raise UnsafeDatabaseRole(f"refusing to start: {msg}")
        log.warning("qala: %s", msg)

    try:
        with engine.connect():
            pass
    except OperationalError:
        log.warning(
            "qala: the database is not reachable at start-up; its role is checked on "
            "the first connection"
        )


def pool_use(app: FastAPI) -> dict[str, tuple[int, int]]:
    """Connections in use and open, per pool of the service (for /metrics)."""
    use: dict[str, tuple[int, int]] = {}
    engine = getattr(app.state, "engine", None)
    if engine is not None:
        pool = engine.pool
        use["sessions"] = (pool.checkedout(), pool.checkedout() + pool.checkedin())
    db = getattr(app.state, "db", None)
    if db is not None and db.pool is not None:
        opened = db.pool.get_size()
        use["appeal_writes"] = (opened - db.pool.get_idle_size(), opened)
    return use


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
        guard_service_role(engine, settings)
        app.state.engine = engine
        app.state.sessionmaker = scope_sessions(make_sessionmaker(engine))
        # read replicas (QALA_READ_DATABASE_URLS): reads that a fresh standby may answer
        # (api.reads); the same scoped sessions on each
        standbys = make_read_engines(settings)
        for standby in standbys:  # the same role rules on every standby
            guard_service_role(standby, settings)
        app.state.replicas = ReadReplicas(standbys, settings.read_max_lag_s) if standbys else None
        app.state.read_sessionmakers = {e: scope_sessions(make_sessionmaker(e)) for e in standbys}
        app.state.writers = Writers(settings.read_own_writes_s)
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
        # analyses run in worker processes (started on first use), behind a bounded queue
        app.state.analyses = AnalysisPool(
            settings.url,
            workers=settings.analysis_workers,
            queue=settings.analysis_queue,
            ttl=settings.analysis_cache_s,
            max_bytes=settings.analysis_cache_mb * 1024 * 1024,
            nice=settings.analysis_nice,
        )
        # the staff pages' live updates: one LISTEN connection per process, on first use
        app.state.appeal_hub = AppealHub(asyncpg_dsn(app.state.db.engine.url))
        # the planner's default view computed ahead (QALA_PLANNER_WARM; off in tests)
        warm = settings.planner_warm
        if warm is None:
            warm = settings.environment != "test"
        warming = asyncio.create_task(planner_map.keep_default_view_warm(app)) if warm else None
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
            app.state.analyses.close()
            await app.state.appeal_hub.close()
            engine.dispose()
            if app.state.replicas is not None:
                app.state.replicas.dispose()
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
    # compressed answers (JSON, GeoJSON, tiles, pages; never an event stream), request ids,
    # access lines and /metrics around everything (api.observe)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    reads.install(app)  # read-your-writes: the caller's last write position (replicas only)
    edges.install(app, settings)
    observe.install(app, lambda: pool_use(app), enabled=settings.metrics)
    docs.install(app, settings)
    app.state.settings = settings
    app.state.city_ids = {}
    app.state.api_keys = ApiKeys(settings.api_key_cache_s)
    app.state.photo_store = open_store(settings)  # photo files by content hash
    errors.install(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(appeals.router)
    app.include_router(staff.router)
    app.include_router(kb.router)
    app.include_router(kb.public)
    app.include_router(public.router)
    app.include_router(photos.router)
    app.include_router(photos.residents)
    app.include_router(report.router)
    app.include_router(residents.router)
    app.include_router(open311.router)
    app.include_router(planner.router)
    app.include_router(planner_map.router)
    app.include_router(hotspots.router)
    app.include_router(tiles.router)  # vector tiles, TileJSON, OGC API - Features
    pages.install(app)  # the pages, /static
    openapi.install(app)  # every answer of every route described
    return app
