"""Hot spots (Gi*, emerging), objects that keep failing, density clusters; JSON, GeoJSON, CSV."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.deps import ScopeDep, SessionDep
from api.responses import csv_response
from geo.hotspots.run import HotspotQuery, cell_rows, run_emerging, run_hotspots, to_geojson
from geo.planning.failing import ClusterQuery, density_clusters, failing_objects

router = APIRouter(prefix="/api/v1", tags=["hotspots"])
Fmt = Literal["json", "geojson", "csv"]


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


def _out(result: dict, fmt: str, name: str):
    if fmt == "csv":
        return csv_response(cell_rows(result), name)
    if fmt == "geojson":
        return JSONResponse(to_geojson(result), media_type="application/geo+json")
    return result


@router.get("/hotspots", summary="Getis-Ord Gi* hot spots with FDR (parameters reported)")
def hotspots(session: SessionDep, scope: ScopeDep, q: QueryDep, format: Fmt = "json"):
    return _out(run_hotspots(session.connection(), scope.city_id, q), format, "hotspots")


@router.get("/hotspots/emerging", summary="Emerging hot spots: space-time Gi* + Mann-Kendall")
def emerging(
    session: SessionDep,
    scope: ScopeDep,
    q: QueryDep,
    step: Literal["week", "month"] = "week",
    format: Fmt = "json",
):
    return _out(run_emerging(session.connection(), scope.city_id, q, step), format, "emerging")


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


@router.get("/clusters", summary="Density clusters of appeals (ST_ClusterDBSCAN)")
def clusters(
    session: SessionDep,
    scope: ScopeDep,
    q: Annotated[ClusterQuery, Depends(cluster_query)],
) -> list[dict]:
    return density_clusters(session.connection(), scope.city_id, q)
