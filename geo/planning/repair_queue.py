"""The public yard-asphalting queue, the way the city ranks it, and the budget line.

For every yard: apartments (sum over the buildings it serves), appeals (of the categories
that count, over a window, inside the yard or on its buildings and wells) and area in m².
Each appeal's yard is set once when it is written (``appeals.yard_id``, migration 0004: its
object's yard, else the yard holding the point), so a recompute is one indexed GROUP BY.
Rank: apartments descending, then appeals descending, then area descending, then the yard's
id (a stable tie-break). Yards repaired recently or in progress leave the queue. With a
year's budget and a cost model (each yard's estimate, else area × cost per m²), the queue
is cut where the money runs out: the yards before the line are funded, in queue order.
Without a budget, the public queue shows the city's own cut: the first
:data:`DEFAULT_FUNDED` yards funded (:func:`public_queue`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from geo.appeals.states import DISMISSED, sql_list
from geo.infra.errors import InvalidInput, NotFound
from geo.infra.timespan import window_before

PUBLIC_FIELDS = (
    "rank",
    "yard_id",
    "address",
    "address_kk",
    "apartments",
    "appeals",
    "area_m2",
    "planned_start",
    "planned_end",
    "contractor",
    "cost",
    "status",
    "funded",
    "lon",
    "lat",
)
#: as the city did: the first 70 yards of the queue were funded for the next year
DEFAULT_FUNDED = 70


@dataclass
class QueueRules:
    """What counts, over which window, and what leaves the queue; every field overridable."""

    categories: list[str] | None = None  # None: the categories flagged counts_for_yard_queue
    since: dt.datetime | None = None  # None: three years back (what the planners analysed)
    until: dt.datetime | None = None
    repaired_within_years: int = 5
    budget: float | None = None
    cost_per_m2: float = 6500.0  # tenge per m² of new asphalt (planning figure)
    year: int = field(default_factory=lambda: dt.date.today().year + 1)


QUEUE_SQL = text(f"""
WITH cats AS (
  SELECT code FROM categories
  WHERE (CAST(:cats AS text[]) IS NULL AND counts_for_yard_queue)
     OR code = ANY(CAST(:cats AS text[]))),
appeal_counts AS (
  SELECT a.yard_id, count(*) AS n FROM appeals a
  WHERE a.city_id = :c AND a.category_code IN (SELECT code FROM cats)
    AND a.created_at >= :since AND a.created_at < :until AND a.yard_id IS NOT NULL
    AND a.status NOT IN {sql_list(DISMISSED)}
  GROUP BY a.yard_id),
apartments AS (
  SELECT yb.yard_id, sum(b.apartments) AS n FROM yard_buildings yb
  JOIN buildings b ON b.city_id = yb.city_id AND b.id = yb.building_id
  WHERE yb.city_id = :c GROUP BY yb.yard_id),
main AS (  -- the yard's largest building names it where the yard has no name of its own
  SELECT DISTINCT ON (yb.yard_id) yb.yard_id, b.address_ru, b.address_kk
  FROM yard_buildings yb
  JOIN buildings b ON b.city_id = yb.city_id AND b.id = yb.building_id
  WHERE yb.city_id = :c AND b.address_ru IS NOT NULL
  ORDER BY yb.yard_id, b.apartments DESC, b.id),
q AS (
  SELECT y.id AS yard_id,
         coalesce(y.name, 'Двор: ' || mb.address_ru, 'Двор #' || y.id) AS address,
         coalesce('Аула: ' || mb.address_kk, y.name, 'Аула: ' || mb.address_ru,
                  'Аула #' || y.id) AS address_kk,
         coalesce(ap.n, 0)::int AS apartments, coalesce(ac.n, 0)::int AS appeals,
         round(y.area_m2::numeric, 1)::float AS area_m2, y.planned_start, y.planned_end,
         o.name_ru AS contractor, y.repair_status AS status,
         coalesce(y.cost_estimate, round((y.area_m2 * :cpm)::numeric, 0))::float AS cost,
         ST_X(ST_PointOnSurface(y.geom)) AS lon, ST_Y(ST_PointOnSurface(y.geom)) AS lat
  FROM yards y
  LEFT JOIN apartments ap ON ap.yard_id = y.id
  LEFT JOIN main mb ON mb.yard_id = y.id
  LEFT JOIN appeal_counts ac ON ac.yard_id = y.id
  LEFT JOIN organisations o ON o.city_id = y.city_id AND o.id = y.contractor_id
  WHERE y.city_id = :c AND y.repair_status IN ('queued', 'planned')
    AND (y.last_repair_year IS NULL OR y.last_repair_year < :recent)),
ranked AS (
  SELECT q.*, row_number() OVER (ORDER BY apartments DESC, appeals DESC, area_m2 DESC,
                                          yard_id) AS rank
  FROM q)
SELECT r.*, sum(cost) OVER (ORDER BY rank) AS cumulative_cost FROM ranked r ORDER BY rank
""")


def compute_queue(conn: Connection, city_id: int, rules: QueueRules | None = None) -> list[dict]:
    """The ranked queue with costs and, when a budget is given, the ``funded`` flag.

    The budget line is a prefix of the queue (as the city cut it: the first 70 yards were
    funded): a yard is funded when it and every yard before it fit in the budget.
    """
    rules = rules or QueueRules()
    since, until = window_before(rules.since, rules.until, dt.timedelta(days=3 * 365))
    if since >= until:
        raise InvalidInput("the window is empty: 'since' must be before 'until'")
    check_budget(rules.budget)
    rows = conn.execute(
        QUEUE_SQL,
        {
            "c": city_id,
            "cats": rules.categories,
            "since": since,
            "until": until,
            "cpm": rules.cost_per_m2,
            "recent": dt.date.today().year - rules.repaired_within_years + 1,
        },
    ).mappings()
    queue = []
    for r in rows:
        item = dict(r)
        item["funded"] = rules.budget is not None and item["cumulative_cost"] <= rules.budget
        queue.append(item)
    return queue


@dataclass(frozen=True)
class PublicQueue:
    """The queue as residents see it: the yards in rank order, the budget line, the year."""

    items: list[dict]
    line: dict
    year: int
    budget: float | None
    cost_per_m2: float


def public_queue(conn: Connection, city_id: int, budget: float | None = None) -> PublicQueue:
    """The queue cut by ``budget``; without one, cut as the city did: the first
    :data:`DEFAULT_FUNDED` yards funded.

    Parameters
    ----------
    budget
        The year's budget in tenge, or ``None`` for the city's own cut.
    """
    check_budget(budget)
    return cut_queue(compute_queue(conn, city_id), budget)


def check_budget(budget: float | None) -> None:
    if budget is not None and budget < 0:
        raise InvalidInput("the budget cannot be negative")


def cut_queue(items: list[dict], budget: float | None) -> PublicQueue:
    """The public queue of the ranked ``items`` (:func:`compute_queue` with the default rules:
    the ranking and the costs do not depend on the budget) cut by ``budget`` as
    :func:`compute_queue` cuts it, or as the city did without one. New rows: ``items`` are
    left as they are (one ranking serves every budget asked for)."""
    check_budget(budget)
    rules = QueueRules(budget=budget)
    out = [
        {
            **q,
            "funded": q["rank"] <= DEFAULT_FUNDED
            if budget is None
            else q["cumulative_cost"] <= budget,
        }
        for q in items
    ]
    return PublicQueue(out, budget_line(out), rules.year, budget, rules.cost_per_m2)


def budget_line(queue: list[dict]) -> dict:
    """Where the money runs out: the last funded rank and the funded total."""
    funded = [q for q in queue if q["funded"]]
    return {
        "funded_yards": len(funded),
        "funded_cost": funded[-1]["cumulative_cost"] if funded else 0.0,
        "first_unfunded_rank": len(funded) + 1 if len(funded) < len(queue) else None,
    }


def explain_rank(queue: list[dict], yard_id: int) -> dict:
    """Why a yard stands where it stands, in the words of the ranking rule."""
    mine = next((q for q in queue if q["yard_id"] == yard_id), None)
    if mine is None:
        raise NotFound(
            f"yard {yard_id} is not in the queue (repaired recently, in progress, "
            "done, or not in this city)"
        )
    ahead = [q for q in queue if q["rank"] < mine["rank"]]
    more_apts = sum(q["apartments"] > mine["apartments"] for q in ahead)
    more_appeals = sum(
        q["apartments"] == mine["apartments"] and q["appeals"] > mine["appeals"] for q in ahead
    )
    larger = sum(
        q["apartments"] == mine["apartments"]
        and q["appeals"] == mine["appeals"]
        and q["area_m2"] > mine["area_m2"]
        for q in ahead
    )
    tie = len(ahead) - more_apts - more_appeals - larger
    text_ru = (
        f"Двор на {mine['rank']}-м месте. Впереди {more_apts} дворов с большим числом "
        f"квартир (у вас {mine['apartments']}), {more_appeals} — с тем же числом квартир, "
        f"но большим числом обращений (у вас {mine['appeals']}), {larger} — с теми же "
        f"квартирами и обращениями, но большей площадью (у вас {mine['area_m2']:.0f} м²)"
        + (f", {tie} — при полном равенстве по порядку регистрации двора." if tie else ".")
    )
    return {
        "yard_id": yard_id,
        "rank": mine["rank"],
        "apartments": mine["apartments"],
        "appeals": mine["appeals"],
        "area_m2": mine["area_m2"],
        "ahead_by_apartments": more_apts,
        "ahead_by_appeals": more_appeals,
        "ahead_by_area": larger,
        "ahead_by_tie_break": tie,
        "explanation_ru": text_ru,
    }


def explain_ranks(queue: list[dict]) -> dict[int, dict]:
    """:func:`explain_rank`'s counts for every yard of ``queue`` (in rank order) at once, in
    one pass: the yards ahead with more apartments are those before the first yard with as
    many, and so on down the rule.

    >>> q = [{"yard_id": 1, "rank": 1, "apartments": 90, "appeals": 1, "area_m2": 10.0},
    ...      {"yard_id": 2, "rank": 2, "apartments": 60, "appeals": 3, "area_m2": 10.0},
    ...      {"yard_id": 3, "rank": 3, "apartments": 60, "appeals": 2, "area_m2": 10.0}]
    >>> e = explain_ranks(q)[3]
    >>> e["ahead_by_apartments"], e["ahead_by_appeals"], e["ahead_by_area"]
    (1, 1, 0)
    """
    first: dict[tuple, int] = {}  # the index of the first yard with each key prefix
    out = {}
    for i, q in enumerate(queue):
        keys = (
            (q["apartments"],),
            (q["apartments"], q["appeals"]),
            (q["apartments"], q["appeals"], q["area_m2"]),
        )
        for k in keys:
            first.setdefault(k, i)
        a, b, c = (first[k] for k in keys)
        out[q["yard_id"]] = {
            "yard_id": q["yard_id"],
            "rank": q["rank"],
            "apartments": q["apartments"],
            "appeals": q["appeals"],
            "area_m2": q["area_m2"],
            "ahead_by_apartments": a,
            "ahead_by_appeals": b - a,
            "ahead_by_area": c - b,
            "ahead_by_tie_break": i - c,
        }
    return out


def set_repair(conn: Connection, city_id: int, yard_id: int, **fields) -> None:
    """A planner sets a yard's dates, contractor, cost, or marks it in progress or done."""
    allowed = {"planned_start", "planned_end", "contractor_id", "cost_estimate", "repair_status"}
    bad = set(fields) - allowed
    if bad:
        raise InvalidInput(f"cannot set {', '.join(sorted(bad))} on a yard")
    values = {k: v for k, v in fields.items() if v is not None}
    if not values:
        raise InvalidInput("nothing to change: give dates, contractor_id, cost or status")
    if values.get("repair_status") == "done":
        values["last_repair_year"] = dt.date.today().year
    if "contractor_id" in values:
        ok = conn.execute(
            text(
                "SELECT 1 FROM organisations WHERE city_id = :c AND id = :o AND kind = 'contractor'"
            ),
            {"c": city_id, "o": values["contractor_id"]},
        ).scalar()
        if not ok:
            raise InvalidInput(
                f"organisation {values['contractor_id']} is not a contractor of this city"
            )
    start, end = values.get("planned_start"), values.get("planned_end")
    if start and end and end < start:
        raise InvalidInput("planned_end is before planned_start")
    sets = ", ".join(f"{k} = :{k}" for k in values)
    res = conn.execute(
        text(f"UPDATE yards SET {sets} WHERE city_id = :c AND id = :y"),
        {**values, "c": city_id, "y": yard_id},
    )
    if res.rowcount == 0:
        raise NotFound(f"no yard {yard_id} in this city")
