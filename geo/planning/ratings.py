"""Ratings of executing bodies and the statistics the city quotes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from geo.appeals.states import overdue_sql
from geo.infra.db import hash_grouped
from geo.infra.timespan import year_window

#: an appeal past its deadline and not resolved: it counts against its body as a late one
OPEN_OVERDUE = f"a.resolved_at IS NULL AND {overdue_sql('a.status', 'a.deadline_at', ':now')}"
RATINGS_SQL = text(f"""
WITH a AS (
  SELECT a.* FROM appeals a
  WHERE a.city_id = :c AND a.created_at >= :since AND a.created_at < :until
    AND a.organisation_id IS NOT NULL),
reopen AS (
  SELECT e.appeal_id, count(*) AS n FROM appeal_events e
  WHERE e.city_id = :c AND e.to_status = 'reopened' AND e.from_status = 'closed'
  GROUP BY e.appeal_id),
rated AS (  -- residents' ratings of the result (1-5; migration 0018)
  SELECT a.organisation_id, round(avg(r.rating), 2)::float AS resident_rating,
         count(*) AS resident_ratings
  FROM appeal_ratings r JOIN a ON a.id = r.appeal_id
  WHERE r.city_id = :c
  GROUP BY a.organisation_id)
SELECT o.id AS organisation_id, o.name_ru, o.name_kk, o.kind, o.manager,
       count(a.id) AS appeals,
       count(a.resolved_at) AS resolved,
       count(*) FILTER (WHERE a.resolved_at <= a.deadline_at) AS resolved_on_time,
       round((count(*) FILTER (WHERE a.resolved_at <= a.deadline_at))::numeric
             / nullif(count(a.resolved_at) + count(*) FILTER (WHERE {OPEN_OVERDUE}), 0),
             4)::float AS on_time_rate,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
             a.resolved_at - a.created_at) / 3600.0))::numeric, 2)::float AS median_hours,
       count(*) FILTER (WHERE {OPEN_OVERDUE}) AS overdue,
       count(a.repeat_of_id) AS repeats,
       coalesce(sum(r.n), 0)::int AS reopened_after_closure,
       rated.resident_rating, coalesce(rated.resident_ratings, 0) AS resident_ratings
FROM organisations o
JOIN a ON a.organisation_id = o.id
LEFT JOIN reopen r ON r.appeal_id = a.id
LEFT JOIN rated ON rated.organisation_id = o.id
WHERE o.city_id = :c
GROUP BY o.id, o.name_ru, o.name_kk, o.kind, o.manager, rated.resident_rating,
         rated.resident_ratings
ORDER BY on_time_rate DESC NULLS LAST, median_hours, o.id
""")


def rate_organisations(
    conn: Connection,
    city_id: int,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    worst_first: bool = False,
) -> list[dict]:
    """Each executing body of the window, with its rank (1 = best).

    The on-time rate is the appeals resolved by their deadline over the appeals that fell
    due: those resolved, and those still open past their deadline (an overdue appeal counts
    against its body now, not only once it is resolved late). Also: median hours to
    resolve, overdue now, repeats, reopenings after closure, and the mean of the residents'
    ratings of the results (1–5, ``resident_rating``; ``None`` where nobody rated, with
    ``resident_ratings`` the number of ratings). Best first, or with
    ``worst_first`` the worst first (bodies with nothing due yet stay at the end).
    """
    since, until = year_window(since, until)
    rows = conn.execute(
        RATINGS_SQL, {"c": city_id, "since": since, "until": until, "now": dt.datetime.now(dt.UTC)}
    ).mappings()
    out = [{"rank": i, **dict(r)} for i, r in enumerate(rows, 1)]
    if worst_first:
        rated = [r for r in out if r["on_time_rate"] is not None]
        out = rated[::-1] + [r for r in out if r["on_time_rate"] is None]
    return out


def rate_managers(ratings: list[dict]) -> list[dict]:
    """The same figures summed per responsible manager (organisations.manager)."""
    by: dict[str, dict] = {}
    for r in ratings:
        if not r["manager"]:
            continue
        m = by.setdefault(
            r["manager"],
            {
                "manager": r["manager"],
                "organisations": 0,
                "appeals": 0,
                "resolved": 0,
                "resolved_on_time": 0,
                "overdue": 0,
                "repeats": 0,
                "resident_ratings": 0,
                "_rating_sum": 0.0,
            },
        )
        m["organisations"] += 1
        for k in ("appeals", "resolved", "resolved_on_time", "overdue", "repeats"):
            m[k] += r[k]
        if r.get("resident_rating") is not None:
            m["resident_ratings"] += r["resident_ratings"]
            m["_rating_sum"] += r["resident_rating"] * r["resident_ratings"]
    for m in by.values():  # the same rule as the bodies': open overdue appeals count as late
        due = m["resolved"] + m["overdue"]
        m["on_time_rate"] = round(m["resolved_on_time"] / due, 4) if due else None
        total = m.pop("_rating_sum")
        n = m["resident_ratings"]
        m["resident_rating"] = round(total / n, 2) if n else None
    return sorted(by.values(), key=lambda m: (-(m["on_time_rate"] or 0), m["manager"]))


# One scan of the window's appeals, grouped by everything the breakdowns need (category,
# channel, district, local month): a few thousand rows even for millions of appeals; the
# breakdowns are sums over them (each used to be a scan of its own).
STATS_BASE_SQL = """
WITH tz AS (SELECT timezone AS tz FROM cities WHERE id = :c),
base AS (
  SELECT a.category_code, a.channel, a.district_id,
         date_trunc('month', a.created_at AT TIME ZONE tz.tz) AS m, count(*) AS appeals,
         count(a.repeat_of_id) AS repeats,
         count(*) FILTER (WHERE a.first_call_resolved) AS first_call_resolved
  FROM appeals a CROSS JOIN tz
  WHERE {w}
  GROUP BY 1, 2, 3, 4)
SELECT b.category_code, c.name_ru, c.group_code, b.channel,
       coalesce(d.name_ru, '—') AS district, to_char(b.m, 'YYYY-MM') AS month, b.appeals,
       b.repeats, b.first_call_resolved
FROM base b
JOIN categories c ON c.code = b.category_code
LEFT JOIN districts d ON d.city_id = :c AND d.id = b.district_id
"""
SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
           6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn",
           11: "autumn"}  # fmt: skip


def _sum_by(rows: list[dict], key, cols: tuple[str, ...] = ("appeals",)) -> dict:
    """``{key(row): {col: sum}}`` over the rows."""
    sums: dict = {}
    for r in rows:
        acc = sums.setdefault(key(r), dict.fromkeys(cols, 0))
        for col in cols:
            acc[col] += r[col]
    return sums


def _ranked(sums: dict) -> list[dict]:
    """Most appeals first (ties by key)."""
    return sorted(
        ({"key": k, **v} for k, v in sums.items()), key=lambda x: (-x["appeals"], x["key"])
    )


def _in_order(sums: dict) -> list[dict]:
    return [{"key": k, **v} for k, v in sorted(sums.items())]


def statistics(
    conn: Connection,
    city_id: int,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    category: str | None = None,
) -> dict:
    """Appeals per category and group, repeat share, first-call resolution rate, channel
    mix, months and seasons (in the city's time zone), districts."""
    since, until = year_window(since, until)
    where = "a.city_id = :c AND a.created_at >= :since AND a.created_at < :until"
    params = {"c": city_id, "since": since, "until": until}
    if category:
        where += " AND a.category_code = :cat"
        params["cat"] = category
    # grouped in a hash: the planner misjudges the window's rows under row-level security
    # (1.4 s of 2.0 s at 200,000 appeals went to sorting them)
    rows = [dict(r._mapping) for r in hash_grouped(conn, STATS_BASE_SQL.format(w=where), params)]
    totals = _sum_by(rows, lambda r: None, ("appeals", "repeats", "first_call_resolved"))
    t = totals.get(None, {"appeals": 0, "repeats": 0, "first_call_resolved": 0})
    n = t["appeals"]
    out: dict = {"since": since, "until": until}
    out["totals"] = {
        **t,
        "repeat_share": round(t["repeats"] / n, 4) if n else None,
        "first_call_resolution_rate": round(t["first_call_resolved"] / n, 4) if n else None,
    }
    names = {
        r["category_code"]: {"name_ru": r["name_ru"], "group_code": r["group_code"]} for r in rows
    }
    out["by_category"] = [
        {"key": x["key"], **names[x["key"]], "appeals": x["appeals"], "repeats": x["repeats"]}
        for x in _ranked(_sum_by(rows, lambda r: r["category_code"], ("appeals", "repeats")))
    ]
    out["by_group"] = _ranked(_sum_by(rows, lambda r: r["group_code"]))
    out["by_channel"] = _ranked(_sum_by(rows, lambda r: r["channel"]))
    out["by_month"] = _in_order(_sum_by(rows, lambda r: r["month"]))
    out["by_season"] = _in_order(_sum_by(rows, lambda r: SEASONS[int(r["month"][5:])]))
    out["by_district"] = _ranked(_sum_by(rows, lambda r: r["district"]))
    return out
