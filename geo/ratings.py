"""Ratings of executing bodies and the statistics the city quotes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

RATINGS_SQL = text("""
WITH a AS (
  SELECT a.* FROM appeals a
  WHERE a.city_id = :c AND a.created_at >= :since AND a.created_at < :until
    AND a.organisation_id IS NOT NULL),
reopen AS (
  SELECT e.appeal_id, count(*) AS n FROM appeal_events e
  WHERE e.city_id = :c AND e.to_status = 'reopened' AND e.from_status = 'closed'
  GROUP BY e.appeal_id)
SELECT o.id AS organisation_id, o.name_ru, o.name_kk, o.kind, o.manager,
       count(a.id) AS appeals,
       count(a.resolved_at) AS resolved,
       count(*) FILTER (WHERE a.resolved_at <= a.deadline_at) AS resolved_on_time,
       round((count(*) FILTER (WHERE a.resolved_at <= a.deadline_at))::numeric
             / nullif(count(a.resolved_at), 0), 4)::float AS on_time_rate,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
             a.resolved_at - a.created_at) / 3600.0))::numeric, 2)::float AS median_hours,
       count(*) FILTER (WHERE a.resolved_at IS NULL
                        AND a.status IN ('registered','assigned','in_progress','reopened')
                        AND a.deadline_at < :now) AS overdue,
       count(a.repeat_of_id) AS repeats,
       coalesce(sum(r.n), 0)::int AS reopened_after_closure
FROM organisations o
JOIN a ON a.organisation_id = o.id
LEFT JOIN reopen r ON r.appeal_id = a.id
WHERE o.city_id = :c
GROUP BY o.id, o.name_ru, o.name_kk, o.kind, o.manager
ORDER BY on_time_rate DESC NULLS LAST, median_hours, o.id
""")


def _window(since, until):
    until = until or dt.datetime.now(dt.UTC)
    return since or until - dt.timedelta(days=365), until


def rate_organisations(
    conn: Connection,
    city_id: int,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict]:
    """Each executing body: on-time rate of resolved appeals, median hours to resolve,
    overdue now, repeats, reopenings after closure; best first, with its rank."""
    since, until = _window(since, until)
    rows = conn.execute(
        RATINGS_SQL, {"c": city_id, "since": since, "until": until, "now": dt.datetime.now(dt.UTC)}
    ).mappings()
    out = []
    for i, r in enumerate(rows, 1):
        out.append({"rank": i, **dict(r)})
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
            },
        )
        m["organisations"] += 1
        for k in ("appeals", "resolved", "resolved_on_time", "overdue", "repeats"):
            m[k] += r[k]
    for m in by.values():
        m["on_time_rate"] = (
            round(m["resolved_on_time"] / m["resolved"], 4) if m["resolved"] else None
        )
    return sorted(by.values(), key=lambda m: (-(m["on_time_rate"] or 0), m["manager"]))


STATS_SQL = {
    "by_category": """SELECT a.category_code AS key, c.name_ru, c.group_code,
                      count(*) AS appeals, count(a.repeat_of_id) AS repeats
                      FROM appeals a JOIN categories c ON c.code = a.category_code
                      WHERE {w} GROUP BY 1, 2, 3 ORDER BY appeals DESC""",
    "by_group": """SELECT c.group_code AS key, count(*) AS appeals
                   FROM appeals a JOIN categories c ON c.code = a.category_code
                   WHERE {w} GROUP BY 1 ORDER BY appeals DESC""",
    "by_channel": """SELECT a.channel AS key, count(*) AS appeals FROM appeals a WHERE {w}
                     GROUP BY 1 ORDER BY appeals DESC""",
    "by_month": """SELECT to_char(date_trunc('month', a.created_at AT TIME ZONE tz.tz),
                   'YYYY-MM') AS key, count(*) AS appeals FROM appeals a, tz WHERE {w}
                   GROUP BY 1 ORDER BY 1""",
    "by_season": """SELECT CASE WHEN m IN (12, 1, 2) THEN 'winter' WHEN m IN (3, 4, 5)
                    THEN 'spring' WHEN m IN (6, 7, 8) THEN 'summer' ELSE 'autumn' END AS key,
                    count(*) AS appeals FROM (SELECT extract(month FROM a.created_at
                    AT TIME ZONE tz.tz)::int AS m FROM appeals a, tz WHERE {w}) s
                    GROUP BY 1 ORDER BY 1""",
    "by_district": """SELECT coalesce(d.name_ru, '—') AS key, count(*) AS appeals
                      FROM appeals a LEFT JOIN districts d ON d.city_id = a.city_id
                        AND d.id = a.district_id
                      WHERE {w} GROUP BY 1 ORDER BY appeals DESC""",
}
TOTALS_SQL = """SELECT count(*) AS appeals, count(a.repeat_of_id) AS repeats,
                count(*) FILTER (WHERE a.first_call_resolved) AS first_call_resolved
                FROM appeals a WHERE {w}"""


def statistics(
    conn: Connection,
    city_id: int,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    category: str | None = None,
) -> dict:
    """Appeals per category and group, repeat share, first-call resolution rate, channel
    mix, months and seasons (in the city's time zone), districts."""
    since, until = _window(since, until)
    where = "a.city_id = :c AND a.created_at >= :since AND a.created_at < :until"
    params = {"c": city_id, "since": since, "until": until}
    if category:
        where += " AND a.category_code = :cat"
        params["cat"] = category
    tz = "WITH tz AS (SELECT timezone AS tz FROM cities WHERE id = :c) "
    out: dict = {"since": since, "until": until}
    totals = conn.execute(text(tz + TOTALS_SQL.format(w=where)), params).mappings().one()
    n = totals["appeals"]
    out["totals"] = {
        **dict(totals),
        "repeat_share": round(totals["repeats"] / n, 4) if n else None,
        "first_call_resolution_rate": round(totals["first_call_resolved"] / n, 4) if n else None,
    }
    for name, sql in STATS_SQL.items():
        out[name] = [
            dict(r) for r in conn.execute(text(tz + sql.format(w=where)), params).mappings()
        ]
    return out
