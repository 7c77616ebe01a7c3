"""Hot spots (Gi*, emerging), objects that keep failing, density clusters; JSON, GeoJSON, CSV."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, ScopeDep, SessionDep, SettingsDep
from geo.hotspots.run import HotspotQuery
from geo.hotspots.workers import (
    Analysis,
    AnalysisPool,
    Busy,
    cache_key,
    data_version,
    precheck,
)
from geo.planning.failing import ClusterQuery, failing_objects
from geo.staff.scope import Scope

router = APIRouter(prefix="/api/v1", tags=["hotspots"])
Fmt = Literal["json", "geojson", "csv"]
#: what an analysis route answers for more reasons than every route (api.openapi.own_words)
ANALYSIS_ANSWERS = {
    422: "Invalid input, or the analysis would do more work than the service allows "
    "(QALA_ANALYSIS_MAX_WORK): estimated before it starts, the message names the parameters "
    "to change and `change` the largest (or smallest) value of each that would pass",
    503: "The database is unavailable, or as many analyses as the service takes at once are "
    "running or waiting: retry after Retry-After seconds",
}


def hotspot_query(
    category: Annotated[str | None, Query(max_length=32)] = None,
    group: Annotated[str | None, Query(max_length=32)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    district_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    status: Annotated[str | None, Query(max_length=12)] = None,
    srid: Annotated[
        int | None, Query(ge=1024, le=998999, description="metric CRS; default the city's")
    ] = None,
    cell_size: Annotated[float | None, Query(ge=5, le=10000, description="metres")] = None,
    band: Annotated[float | None, Query(ge=5, le=50000, description="metres")] = None,
    fdr: bool = True,
    study_area: Annotated[
        Literal["incidents", "city"],
        Query(
            description="which cells are analysed. 'incidents' (default) = only cells holding "
            "at least one appeal (ArcGIS's rule without bounding polygons: an empty cell may "
            "be empty because nobody lives there); 'city' = those and the empty cells where "
            "appeals could come from (with cell_size: cells touching the city's buildings "
            "or yards; without: cells within 2 cell sizes of an appeal). Never the bare "
            "bounding box; every appeal is counted in some cell."
        ),
    ] = "incidents",
    p_method: Annotated[
        Literal["permutation", "normal", "negbin"],
        Query(
            description="p-values of Gi*. 'permutation' (default) = conditional "
            "randomisation, as esda's p_sim and GeoDa: the cell keeps its count, its "
            "neighbours are drawn from the other cells (seeded; cells no permutation matched "
            "get enough permutations for 99 % after FDR); 'normal' = normal approximation "
            "(ArcGIS); 'negbin' = negative binomial with Gi*'s mean and variance."
        ),
    ] = "permutation",
    permutations: Annotated[
        int,
        Query(ge=99, le=99_999, description="first-run permutations of p_method=permutation"),
    ] = 999,
) -> HotspotQuery:
    """The filters and parameters of a hot spot run, travelling together."""
    return HotspotQuery(
        category=category,
        group=group,
        since=since,
        until=until,
        district_id=district_id,
        status=status,
        srid=srid,
        cell_size=cell_size,
        band=band,
        fdr=fdr,
        study_area=study_area,
        p_method=p_method,
        permutations=permutations,
    )


QueryDep = Annotated[HotspotQuery, Depends(hotspot_query)]


def _version(conn, scope: Scope, analysis: Analysis, max_work: float) -> tuple[int, int]:
    precheck(conn, scope.city_id, analysis, max_work)
    return data_version(conn, scope.city_id)


async def _analyse(
    request: Request, db: DbDep, settings: SettingsDep, scope: Scope, analysis: Analysis
) -> Response:
    """Refuse too much work before it starts; then the answer from the cache, from the same
    computation running, or from a new one in a worker process (geo.hotspots.workers)."""
    limit = settings.analysis_max_work
    version = await run_in_threadpool(db.read_scoped, scope, _version, scope, analysis, limit)
    key = cache_key(scope, analysis, version)
    pool: AnalysisPool = request.app.state.analyses
    future = pool.submit(key, scope, analysis, limit)
    try:
        answer = await asyncio.wrap_future(future)
    except BrokenProcessPool:
        raise Busy("the analysis stopped (its worker ended): retry shortly", 5) from None
    headers = {"Vary": "Accept-Encoding"}
    if analysis.fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{analysis.kind}.csv"'
    if answer.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        # compressed once, in the worker (the gzip middleware leaves an encoded answer be)
        headers["Content-Encoding"] = "gzip"
        return Response(answer.gzipped, media_type=answer.media_type, headers=headers)
    return Response(answer.body, media_type=answer.media_type, headers=headers)


@router.get(
    "/hotspots",
    summary="Getis-Ord Gi* hot spots with FDR (parameters reported)",
)
async def hotspots(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    scope: ScopeDep,
    q: QueryDep,
    format: Fmt = "json",
):
    analysis = Analysis("hotspots", q, None, format)
    return await _analyse(request, db, settings, scope, analysis)


hotspots.answer_words = ANALYSIS_ANSWERS


@router.get(
    "/hotspots/emerging",
    summary="Emerging hot spots: space-time Gi* + Mann-Kendall",
)
async def emerging(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    scope: ScopeDep,
    q: QueryDep,
    step: Literal["week", "month"] = "week",
    format: Fmt = "json",
):
    analysis = Analysis("emerging", q, step, format)
    return await _analyse(request, db, settings, scope, analysis)


emerging.answer_words = ANALYSIS_ANSWERS


@router.get("/failing-objects", summary="Wells, yards, buildings ranked by repeats and appeals")
def failing(
    session: SessionDep,
    scope: ScopeDep,
    kind: Literal["building", "yard", "well", "street"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict]:
    return failing_objects(session.connection(), scope.city_id, kind, limit)


def cluster_query(
    eps_m: Annotated[float, Query(ge=1, le=5000)] = 50.0,
    min_points: Annotated[int, Query(ge=2, le=100000)] = 20,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> ClusterQuery:
    """The parameters of a clustering, travelling together."""
    return ClusterQuery(eps_m, min_points, since, until, category, limit)


@router.get(
    "/clusters",
    summary="Density clusters of appeals (ST_ClusterDBSCAN)",
)
async def clusters(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    scope: ScopeDep,
    q: Annotated[ClusterQuery, Depends(cluster_query)],
):
    return await _analyse(request, db, settings, scope, Analysis("clusters", q))


clusters.answer_words = ANALYSIS_ANSWERS
