"""Repair planning over several years: the plan against an independent computation, what
moves when a budget or a cost changes, the published exports."""

from __future__ import annotations

import csv
import io

import numpy as np
import pyogrio
import pytest
from sqlalchemy import text

from geo.planning.repair_plan import PlanRules, assign_years, compare_plans, repair_plan
from geo.planning.repair_queue import DEFAULT_FUNDED

PERSONAL = {"name", "phone", "email", "author", "resident", "contact"}


def independent_years(costs: list[float], budgets: list[float], first: int) -> list[int | None]:
    """The same rule written another way: each year takes the longest run of the rest of
    the queue whose cumulative cost is within its budget (numpy's searchsorted)."""
    costs = np.asarray(costs, dtype=float)
    years: list[int | None] = [None] * len(costs)
    pos = 0
    for k, b in enumerate(budgets):
        run = int(np.searchsorted(np.cumsum(costs[pos:]), b + 1e-9, side="right"))
        for i in range(pos, pos + run):
            years[i] = first + k
        pos += run
    return years


def queue_from_sql(conn, city_id: int, cost_per_m2: float) -> list[tuple[int, float]]:
    """(yard, cost) in the documented order, computed here from the tables: apartments of
    the buildings the yard serves, appeals of the counted categories over three years (not
    dismissed), then area, then id; yards done recently or in progress left out."""
    return [
        (r.id, float(r.cost))
        for r in conn.execute(
            text("""
        WITH apts AS (SELECT yb.yard_id, sum(b.apartments) n FROM yard_buildings yb
                      JOIN buildings b ON b.id = yb.building_id WHERE yb.city_id = :c
                      GROUP BY yb.yard_id),
             cnt AS (SELECT a.yard_id, count(*) n FROM appeals a
                     JOIN categories k ON k.code = a.category_code AND k.counts_for_yard_queue
                     WHERE a.city_id = :c AND a.created_at >= now() - interval '1095 days'
                       AND a.status NOT IN ('rejected', 'duplicate')
                     GROUP BY a.yard_id)
        SELECT y.id, coalesce(y.cost_estimate, round((y.area_m2 * :cpm)::numeric, 0)) AS cost
        FROM yards y LEFT JOIN apts ON apts.yard_id = y.id LEFT JOIN cnt ON cnt.yard_id = y.id
        WHERE y.city_id = :c AND y.repair_status IN ('queued', 'planned')
          AND (y.last_repair_year IS NULL
               OR y.last_repair_year < extract(year FROM now())::int - 4)
        ORDER BY coalesce(apts.n, 0) DESC, coalesce(cnt.n, 0) DESC,
                 round(y.area_m2::numeric, 1) DESC, y.id"""),
            {"c": city_id, "cpm": cost_per_m2},
        )
    ]


def test_the_default_plan_funds_the_first_70_yards_next_year_and_matches_a_recount(conn, city_id):
    plan = repair_plan(conn, city_id, PlanRules(years=3, first_year=2027))
    yards = plan["yards"]
    assert len(yards) > 3 * DEFAULT_FUNDED
    first = [y for y in yards if y["year"] == 2027]
    assert [y["rank"] for y in first] == list(range(1, DEFAULT_FUNDED + 1))
    # the same budget every year, and the plan is the recount's
    assert plan["budgets"] == [sum(y["cost"] for y in yards[:DEFAULT_FUNDED])] * 3
    recount = queue_from_sql(conn, city_id, 6500.0)
    assert [y["yard_id"] for y in yards] == [r[0] for r in recount]
    expected = independent_years([c for _, c in recount], plan["budgets"], 2027)
    assert [y["year"] for y in yards] == expected
    # per year: the money is never exceeded
    for row in plan["years"]:
        assert 0 <= row["cost"] <= row["budget"]
        assert row["unspent"] == pytest.approx(row["budget"] - row["cost"])


@pytest.mark.parametrize(
    "budgets", [[5e8, 1e9, 2.5e8], [0, 3e9], [1e12], [1.234e8] * 7, [7.5e7, 0, 7.5e7]]
)
def test_given_budgets_match_the_independent_computation(conn, city_id, budgets):
    plan = repair_plan(conn, city_id, PlanRules(budgets=budgets, cost_per_m2=4100, first_year=2030))
    costs = [y["cost"] for y in plan["yards"]]
    assert [y["year"] for y in plan["yards"]] == independent_years(costs, budgets, 2030)
    assert [row["year"] for row in plan["years"]] == list(range(2030, 2030 + len(budgets)))


def test_a_yard_dearer_than_a_years_budget_waits_and_so_do_those_behind_it():
    q = [{"rank": i, "cost": c} for i, c in enumerate([3, 50, 1, 1], 1)]
    assert [r["year"] for r in assign_years(q, [10, 10, 60], 2027)] == [2027, 2029, 2029, 2029]


def test_a_higher_cost_moves_yards_to_later_years_and_the_comparison_lists_exactly_them(
    conn, city_id
):
    a = repair_plan(conn, city_id, PlanRules(years=3, first_year=2027))
    b = repair_plan(
        conn, city_id, PlanRules(budgets=a["budgets"], cost_per_m2=8000, first_year=2027)
    )
    moved = compare_plans(a, b)
    year_b = {y["yard_id"]: y["year"] for y in b["yards"]}
    expected = [y["yard_id"] for y in a["yards"] if y["year"] != year_b[y["yard_id"]]]
    assert [m["yard_id"] for m in moved] == expected
    assert moved, "dearer asphalt with the same money must move some yards"
    assert all(m["year_b"] is None or m["moved_years"] > 0 for m in moved)
    # fewer yards funded in the first year at the higher cost
    assert b["years"][0]["yards"] < a["years"][0]["yards"] == DEFAULT_FUNDED


def test_the_plan_api_publishes_csv_and_geopackage_without_personal_data(client):
    body = client.get("/api/v1/repair-plan?budgets=6e8,6e8&first_year=2027").json()
    assert [r["year"] for r in body["years"]] == [2027, 2028]
    assert {r["year"] for r in body["yards"]} <= {2027, 2028, None}
    r = client.get("/api/v1/repair-plan?budgets=6e8,6e8&first_year=2027&format=csv")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(body["yards"])
    assert not PERSONAL & set(rows[0])
    r = client.get("/api/v1/repair-plan?budgets=6e8,6e8&first_year=2027&format=gpkg")
    assert r.status_code == 200 and r.content[:16] == b"SQLite format 3\x00"
    frame = pyogrio.read_dataframe(io.BytesIO(r.content))
    assert len(frame) == len(body["yards"])
    assert frame.crs.to_epsg() == 4326
    assert not PERSONAL & set(frame.columns)
    assert frame["year"].dropna().astype(int).isin([2027, 2028]).all()


def test_the_comparison_api_and_bad_budgets(client):
    r = client.get("/api/v1/repair-plan/compare?budgets=6e8,6e8&budgets_b=3e8,3e8")
    assert r.status_code == 200
    body = r.json()
    assert body["moved"] and all(m["year_a"] is not None for m in body["moved"])
    assert all(m["year_b"] is None or m["year_b"] > m["year_a"] for m in body["moved"])
    bad = client.get("/api/v1/repair-plan?budgets=lots")
    assert bad.status_code == 422 and "budgets" in bad.json()["detail"]
    assert client.get("/api/v1/repair-plan?budgets=-5").status_code == 422
