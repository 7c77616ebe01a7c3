"""Repair planning over several years: the queue cut year by year by each year's budget.

The queue (:func:`geo.planning.repair_queue.compute_queue`) gives the order; each year's
budget funds the yards that come next in that order, as long as the year's spending stays
within its budget: the first yard that does not fit ends the year (the city cuts the queue,
it does not skip a yard for a cheaper one behind it), and the next year starts with it.
Money a year does not spend is not carried over (a year's budget is that year's). A yard
that costs more than a year's whole budget waits for a year whose budget holds it; the
yards behind it wait too.

The default budget reproduces the city's own decision (DOMAIN.md: "the first 70 yards of
the queue were funded for the next year"): every year gets what the first
:data:`~geo.planning.repair_queue.DEFAULT_FUNDED` yards cost.

:func:`compare_plans` says what moves when a budget or a cost changes: the yards whose year
differs between two plans.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Connection

from geo.infra.errors import InvalidInput
from geo.planning.repair_queue import DEFAULT_FUNDED, QueueRules, compute_queue

MAX_YEARS = 20
#: what a published plan shows per yard: nothing about people, only the yard and the money
PLAN_FIELDS = (
    "rank",
    "yard_id",
    "address",
    "apartments",
    "appeals",
    "area_m2",
    "cost",
    "year",
    "lon",
    "lat",
)


@dataclass
class PlanRules:
    """A plan's inputs: the budget of each year (tenge; ``None``: what the first 70 yards
    cost, every year), the number of years when no budgets are given, the cost model and
    the first year."""

    budgets: list[float] | None = None
    years: int = 3
    cost_per_m2: float = 6500.0
    first_year: int = field(default_factory=lambda: dt.date.today().year + 1)


def default_budget(queue: list[dict], funded: int = DEFAULT_FUNDED) -> float:
    """What the first ``funded`` yards of ``queue`` cost (the city's own cut)."""
    return float(sum(q["cost"] for q in queue[:funded]))


def assign_years(queue: list[dict], budgets: list[float], first_year: int) -> list[dict]:
    """Each yard of ``queue`` (in rank order) with the year its repair is funded, or
    ``None`` when the plan's years do not reach it.

    Examples
    --------
    >>> q = [{"rank": i, "cost": c} for i, c in enumerate([5, 4, 3, 9, 1], 1)]
    >>> [r["year"] for r in assign_years(q, [10, 10], 2027)]
    [2027, 2028, 2028, None, None]
    """
    if any(b < 0 for b in budgets):
        raise InvalidInput("a year's budget cannot be negative")
    out, pos = [], 0
    years: list[int | None] = [None] * len(queue)
    for k, budget in enumerate(budgets):
        spent = 0.0
        while pos < len(queue) and spent + queue[pos]["cost"] <= budget:
            spent += queue[pos]["cost"]
            years[pos] = first_year + k
            pos += 1
    for q, year in zip(queue, years, strict=True):
        out.append({**q, "year": year})
    return out


def summarise(plan: list[dict], budgets: list[float], first_year: int) -> list[dict]:
    """Per year: its budget, the yards funded, what they cost, what is left unspent."""
    rows = []
    for k, budget in enumerate(budgets):
        year = first_year + k
        mine = [p for p in plan if p["year"] == year]
        cost = float(sum(p["cost"] for p in mine))
        rows.append(
            {
                "year": year,
                "budget": float(budget),
                "yards": len(mine),
                "cost": cost,
                "unspent": float(budget) - cost,
                "first_rank": mine[0]["rank"] if mine else None,
                "last_rank": mine[-1]["rank"] if mine else None,
            }
        )
    return rows


def repair_plan(conn: Connection, city_id: int, rules: PlanRules | None = None) -> dict:
    """The plan of ``rules`` over the city's queue: per year and per yard.

    Returns
    -------
    dict
        ``budgets`` (as used), ``first_year``, ``cost_per_m2``, ``years`` (per year:
        budget, yards, cost, unspent) and ``yards`` (:data:`PLAN_FIELDS`).
    """
    rules = rules or PlanRules()
    if not 1 <= rules.years <= MAX_YEARS:
        raise InvalidInput(f"a plan covers 1 to {MAX_YEARS} years")
    if rules.budgets is not None and not 1 <= len(rules.budgets) <= MAX_YEARS:
        raise InvalidInput(f"give 1 to {MAX_YEARS} yearly budgets")
    queue = compute_queue(conn, city_id, QueueRules(cost_per_m2=rules.cost_per_m2))
    budgets = rules.budgets
    if budgets is None:
        budgets = [default_budget(queue)] * rules.years
    plan = assign_years(queue, budgets, rules.first_year)
    return {
        "first_year": rules.first_year,
        "cost_per_m2": rules.cost_per_m2,
        "budgets": [float(b) for b in budgets],
        "budget_rule": (
            "given"
            if rules.budgets is not None
            else f"what the first {DEFAULT_FUNDED} yards of the queue cost, every year "
            "(as the city funded the first 70 yards for the next year)"
        ),
        "years": summarise(plan, budgets, rules.first_year),
        "yards": [{k: p[k] for k in PLAN_FIELDS} for p in plan],
    }


def compare_plans(a: dict, b: dict) -> list[dict]:
    """The yards whose year differs between plan ``a`` and plan ``b`` (``None``: not
    funded within the plan's years), earlier in ``a``'s order first, with how many years
    each moved (positive: later in ``b``)."""
    in_b = {y["yard_id"]: y for y in b["yards"]}
    moved = []
    for y in a["yards"]:
        other = in_b.get(y["yard_id"])
        year_b = other["year"] if other else None
        if y["year"] == year_b:
            continue
        shift = None if y["year"] is None or year_b is None else year_b - y["year"]
        moved.append(
            {
                "rank": y["rank"],
                "yard_id": y["yard_id"],
                "address": y["address"],
                "cost_a": y["cost"],
                "cost_b": other["cost"] if other else None,
                "year_a": y["year"],
                "year_b": year_b,
                "moved_years": shift,
            }
        )
    return moved
