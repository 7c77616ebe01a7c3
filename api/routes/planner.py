"""Planners' API: the yard-asphalting queue (public), ratings and statistics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ScopeDep, SessionDep, StaffScopeDep
from api.responses import csv_response
from api.routes.planner_map import GPKG, PlanDep, parse_budgets
from geo.infra.errors import Forbidden
from geo.planning.map_layers import geopackage
from geo.planning.ratings import rate_managers, rate_organisations, statistics
from geo.planning.repair_plan import PlanRules, compare_plans, repair_plan
from geo.planning.repair_queue import (
    PUBLIC_FIELDS,
    QueueRules,
    budget_line,
    compute_queue,
    explain_rank,
    set_repair,
)

router = APIRouter(prefix="/api/v1", tags=["planning"])
PLANNERS = {"planner", "admin"}
RATERS = {"planner", "controller", "inspector", "admin"}


class QueueItem(BaseModel):
    rank: int
    yard_id: int
    address: str
    apartments: int
    appeals: int
    area_m2: float
    planned_start: dt.date | None
    planned_end: dt.date | None
    contractor: str | None
    cost: float
    status: str
    funded: bool
    lon: float
    lat: float


class QueueOut(BaseModel):
    rule_ru: str = (
        "Очередь: сначала дворы с наибольшим числом квартир в домах, которые двор "
        "обслуживает; при равенстве — с большим числом обращений; затем — с большей "
        "площадью."
    )
    rule_kk: str = (
        "Кезек: алдымен аула қызмет ететін үйлердегі пәтерлер саны көп аулалар; "
        "тең болса — өтініштері көп; содан кейін — ауданы үлкен аулалар."
    )
    rule_en: str = (
        "Queue: yards serving the most apartments first; on a tie, more appeals; "
        "then the larger area."
    )
    budget: float | None
    cost_per_m2: float
    line: dict
    items: list[QueueItem]


def _rules(budget, cost_per_m2, years) -> QueueRules:
    rules = QueueRules(budget=budget, cost_per_m2=cost_per_m2)
    if years:
        rules.since = dt.datetime.now(dt.UTC) - dt.timedelta(days=365 * years)
    return rules


Budget = Annotated[float | None, Query(ge=0, le=1e15, description="the year's budget, tenge")]
CostPerM2 = Annotated[
    float, Query(gt=0, le=1e7, description="tenge per m² when a yard has no estimate of its own")
]
Years = Annotated[int | None, Query(ge=1, le=20, description="appeals counted over N years")]


@router.get("/queue", response_model=QueueOut, summary="The public yard-asphalting queue")
def queue(
    session: SessionDep,
    scope: ScopeDep,
    budget: Budget = None,
    cost_per_m2: CostPerM2 = 6500.0,
    years: Years = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict:
    items = compute_queue(session.connection(), scope.city_id, _rules(budget, cost_per_m2, years))
    return {
        "budget": budget,
        "cost_per_m2": cost_per_m2,
        "line": budget_line(items),
        "items": [{k: i[k] for k in PUBLIC_FIELDS} for i in items[:limit]],
    }


@router.get("/queue/{yard_id}/explain", summary="Why is my yard where it is in the queue")
def explain(yard_id: int, session: SessionDep, scope: ScopeDep, years: Years = None) -> dict:
    items = compute_queue(session.connection(), scope.city_id, _rules(None, 6500.0, years))
    return explain_rank(items, yard_id)


class RepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_start: dt.date | None = None
    planned_end: dt.date | None = None
    contractor_id: int | None = Field(None, ge=1, le=2**62)
    cost_estimate: float | None = Field(None, ge=0, le=999_999_999_999.99)  # NUMERIC(14, 2)
    repair_status: Literal["queued", "planned", "in_progress", "done"] | None = None


@router.patch("/yards/{yard_id}/repair", summary="Set a yard's dates, contractor, cost, status")
def repair(yard_id: int, body: RepairIn, session: SessionDep, scope: StaffScopeDep) -> dict:
    if scope.role not in PLANNERS:
        raise Forbidden(f"role {scope.role!r} cannot plan yard repairs")
    # only a yard of the token's city: another city's is "no yard … in this city" (404)
    set_repair(session.connection(), scope.city_id, yard_id, **body.model_dump(exclude_none=True))
    session.commit()
    return {"yard_id": yard_id, "updated": body.model_dump(exclude_none=True, mode="json")}


Since = Annotated[dt.datetime | None, Query(description="ISO 8601; default a year back")]


@router.get("/ratings", summary="Executing bodies rated by on-time rate and speed")
def ratings(
    session: SessionDep,
    scope: StaffScopeDep,
    since: Since = None,
    until: Since = None,
    format: Literal["json", "csv"] = "json",
    order: Annotated[
        Literal["best", "worst"],
        Query(description="best first (rank 1 first) or worst first; every body is listed"),
    ] = "best",
):
    if scope.role not in RATERS:
        raise Forbidden(f"role {scope.role!r} cannot see ratings")
    rows = rate_organisations(
        session.connection(), scope.city_id, since, until, worst_first=order == "worst"
    )
    if format == "csv":
        return csv_response(rows, "ratings")
    return {"organisations": rows, "managers": rate_managers(rows)}


@router.get("/stats", summary="Appeals by category, group, channel, month, season, district")
def stats(
    session: SessionDep,
    scope: ScopeDep,
    since: Since = None,
    until: Since = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    format: Literal["json", "csv"] = "json",
):
    out = statistics(session.connection(), scope.city_id, since, until, category)
    if format == "csv":
        rows = [{"section": k, **r} for k, v in out.items() if isinstance(v, list) for r in v]
        return csv_response(rows, "statistics")
    return out


# -- repair planning over several years ----------------------------------------------------


@router.get("/repair-plan", summary="Yard repairs over several years, a budget per year")
def plan(
    session: SessionDep,
    scope: ScopeDep,
    rules: PlanDep,
    format: Literal["json", "csv", "gpkg"] = "json",
):
    """The queue cut year by year (geo.planning.repair_plan): public, no personal data."""
    out = repair_plan(session.connection(), scope.city_id, rules)
    if format == "json":
        return out
    return _published(out["yards"], format, f"repair-plan-{out['first_year']}")


@router.get(
    "/repair-plan/compare",
    summary="What moves between two plans: the yards whose year changes",
)
def plan_compare(
    session: SessionDep,
    scope: ScopeDep,
    rules: PlanDep,
    budgets_b: Annotated[
        str | None, Query(max_length=400, description="plan B's budgets (default plan A's)")
    ] = None,
    cost_per_m2_b: Annotated[float | None, Query(gt=0, le=1e7)] = None,
    format: Literal["json", "csv"] = "json",
):
    conn = session.connection()
    a = repair_plan(conn, scope.city_id, rules)
    # B keeps A's money unless given its own: a cost change alone moves yards too
    other = PlanRules(
        budgets=parse_budgets(budgets_b) if budgets_b else a["budgets"],
        years=rules.years,
        cost_per_m2=cost_per_m2_b or rules.cost_per_m2,
        first_year=rules.first_year,
    )
    b = repair_plan(conn, scope.city_id, other)
    moved = compare_plans(a, b)
    if format == "csv":
        return csv_response(moved, "repair-plan-changes")
    return {
        "a": {k: a[k] for k in ("budgets", "cost_per_m2", "years", "first_year")},
        "b": {k: b[k] for k in ("budgets", "cost_per_m2", "years", "first_year")},
        "moved": moved,
    }


def _published(yards: list[dict], format: str, name: str):
    if format == "csv":
        return csv_response(yards, name)
    rows = [{k: v for k, v in y.items() if k not in ("lon", "lat")} for y in yards]
    geoms = [{"type": "Point", "coordinates": [y["lon"], y["lat"]]} for y in yards]
    return Response(
        geopackage(rows, geoms, "repair_plan"),
        media_type=GPKG,
        headers={"Content-Disposition": f'attachment; filename="{name}.gpkg"'},
    )
