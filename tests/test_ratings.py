"""Ratings of executing bodies and statistics on hand-made appeals."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from geo.planning.ratings import rate_organisations, statistics
from tests.factories import insert_appeal, make_city, make_org

X, Y = 69.40, 54.95
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def _at(hours: float) -> str:
    return (T0 + dt.timedelta(hours=hours)).isoformat()


@pytest.fixture
def hand_made(conn):
    cid = make_city(conn, "RAT")
    a = make_org(conn, cid, "utility", "Водоканал")
    b = make_org(conn, cid, "housing_org", "КСК Береке")
    # A: four resolved, 3 on time (2 h, 4 h, 6 h) and one late (30 h against 24 h)
    ids = []
    for h in (2, 4, 6, 30):
        ids.append(
            insert_appeal(
                conn,
                cid,
                X,
                Y,
                "water_leak",
                organisation_id=a,
                status="closed",
                created_at=_at(0),
                deadline_at=_at(24),
                resolved_at=_at(h),
                closed_at=_at(h),
                channel="telegram",
            )
        )
    # one of them was reopened after closure
    conn.execute(
        text(
            "INSERT INTO appeal_events (city_id, appeal_id, actor, to_status, "
            "from_status) VALUES (:c, :a, 'x', 'reopened', 'closed')"
        ),
        {"c": cid, "a": ids[0]},
    )
    # B: two open, one overdue, one a repeat of the other
    first = insert_appeal(
        conn,
        cid,
        X,
        Y,
        "roof_leak",
        organisation_id=b,
        status="assigned",
        created_at=_at(0),
        deadline_at=_at(120),
        first_call_resolved=True,
    )
    insert_appeal(
        conn,
        cid,
        X,
        Y,
        "roof_leak",
        organisation_id=b,
        status="assigned",
        created_at=(dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat(),
        deadline_at=(dt.datetime.now(dt.UTC) + dt.timedelta(days=4)).isoformat(),
        repeat_of_id=first,
    )
    return cid, a, b


def test_ratings_figures_on_hand_made_appeals(conn, hand_made):
    cid, a, b = hand_made
    rows = {
        r["organisation_id"]: r
        for r in rate_organisations(
            conn, cid, since=T0 - dt.timedelta(days=1), until=dt.datetime.now(dt.UTC)
        )
    }
    ra, rb = rows[a], rows[b]
    assert (ra["appeals"], ra["resolved"], ra["resolved_on_time"]) == (4, 4, 3)
    assert ra["on_time_rate"] == 0.75
    assert ra["median_hours"] == 5.0
    assert ra["reopened_after_closure"] == 1 and ra["overdue"] == 0
    assert (rb["appeals"], rb["resolved"], rb["overdue"], rb["repeats"]) == (2, 0, 1, 1)
    assert rb["on_time_rate"] == 0.0  # its one overdue appeal fell due and is not resolved
    assert ra["rank"] < rb["rank"]


def test_open_overdue_appeals_count_against_the_body(conn):
    """A body that resolves the few it does on time but lets many run past their deadline
    ranks below one that resolves most on time (counted on resolved appeals only, it was
    first: the finding's body with 442 overdue ranked 3rd)."""
    cid = make_city(conn, "RAO")
    hoarder = make_org(conn, cid, "utility", "Копит просрочки")
    steady = make_org(conn, cid, "utility", "Работает ровно")
    for h in (2, 3, 4):  # three resolved on time
        insert_appeal(
            conn,
            cid,
            X,
            Y,
            "water_leak",
            organisation_id=hoarder,
            status="closed",
            created_at=_at(0),
            deadline_at=_at(24),
            resolved_at=_at(h),
            closed_at=_at(h),
        )
    for _ in range(5):  # five open, long past their deadline
        insert_appeal(
            conn,
            cid,
            X,
            Y,
            "water_leak",
            organisation_id=hoarder,
            status="assigned",
            created_at=_at(0),
            deadline_at=_at(24),
        )
    for h in (2, 3, 30):  # two on time, one late, nothing open
        insert_appeal(
            conn,
            cid,
            X,
            Y,
            "water_leak",
            organisation_id=steady,
            status="closed",
            created_at=_at(0),
            deadline_at=_at(24),
            resolved_at=_at(h),
            closed_at=_at(h),
        )
    window = {"since": T0 - dt.timedelta(days=1), "until": dt.datetime.now(dt.UTC)}
    best = rate_organisations(conn, cid, **window)
    assert [r["organisation_id"] for r in best] == [steady, hoarder]
    by_id = {r["organisation_id"]: r for r in best}
    assert by_id[hoarder]["on_time_rate"] == round(3 / 8, 4)
    assert by_id[steady]["on_time_rate"] == round(2 / 3, 4)
    worst = rate_organisations(conn, cid, worst_first=True, **window)
    assert [r["organisation_id"] for r in worst] == [hoarder, steady]
    assert [r["rank"] for r in worst] == [2, 1]  # ranks stay the best-first ones


def test_statistics_the_city_quotes(conn, hand_made):
    cid, a, b = hand_made
    s = statistics(conn, cid, since=T0 - dt.timedelta(days=1), until=dt.datetime.now(dt.UTC))
    assert s["totals"]["appeals"] == 6
    assert s["totals"]["repeat_share"] == round(1 / 6, 4)
    assert s["totals"]["first_call_resolution_rate"] == round(1 / 6, 4)
    assert {r["key"]: r["appeals"] for r in s["by_channel"]} == {"telegram": 4, "phone_109": 2}
    assert {r["key"]: r["appeals"] for r in s["by_group"]} == {"utilities": 4, "housing": 2}
    seasons = {r["key"]: r["appeals"] for r in s["by_season"]}
    assert seasons.get("spring", 0) >= 5  # 2 March (Asia/Almaty) is spring


def test_ratings_need_a_staff_role_and_come_as_csv(client, conn, hand_made):
    from tests.factories import staff

    assert client.get("/api/v1/ratings?city=RAT").status_code == 401
    r = client.get(
        "/api/v1/ratings?city=RAT&format=csv&since=2026-03-01T00:00:00Z",
        headers=staff(conn, "controller", city="RAT"),  # RAT's own controller
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "Водоканал" in r.text
    st = client.get("/api/v1/stats?city=RAT&since=2026-03-01T00:00:00Z&format=csv")
    assert st.status_code == 200 and "by_channel" in st.text


# the breakdowns as separate queries (how statistics() used to count): the oracle for the
# one-scan version
ORACLE = {
    "by_category": "SELECT a.category_code, count(*), count(a.repeat_of_id) FROM appeals a "
    "WHERE {w} GROUP BY 1",
    "by_group": "SELECT c.group_code, count(*) FROM appeals a JOIN categories c "
    "ON c.code = a.category_code WHERE {w} GROUP BY 1",
    "by_channel": "SELECT a.channel, count(*) FROM appeals a WHERE {w} GROUP BY 1",
    "by_month": "SELECT to_char(date_trunc('month', a.created_at AT TIME ZONE ci.timezone), "
    "'YYYY-MM'), count(*) FROM appeals a JOIN cities ci ON ci.id = a.city_id WHERE {w} GROUP BY 1",
    "by_season": "SELECT CASE WHEN m IN (12, 1, 2) THEN 'winter' WHEN m IN (3, 4, 5) THEN "
    "'spring' WHEN m IN (6, 7, 8) THEN 'summer' ELSE 'autumn' END, count(*) FROM (SELECT "
    "extract(month FROM a.created_at AT TIME ZONE ci.timezone)::int AS m FROM appeals a "
    "JOIN cities ci ON ci.id = a.city_id WHERE {w}) s GROUP BY 1",
    "by_district": "SELECT coalesce(d.name_ru, '—'), count(*) FROM appeals a LEFT JOIN "
    "districts d ON d.city_id = a.city_id AND d.id = a.district_id WHERE {w} GROUP BY 1",
}


@pytest.mark.parametrize("category", [None, "garbage"])
def test_statistics_in_one_scan_count_as_separate_queries_do(conn, city_id, category):
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    s = statistics(conn, city_id, since=since, until=dt.datetime.now(dt.UTC), category=category)
    w = "a.city_id = :c AND a.created_at >= :s AND a.created_at < now()"
    params = {"c": city_id, "s": since}
    if category:
        w += " AND a.category_code = :cat"
        params["cat"] = category
    n, repeats, fcr = conn.execute(
        text(
            "SELECT count(*), count(a.repeat_of_id), count(*) FILTER (WHERE "
            f"a.first_call_resolved) FROM appeals a WHERE {w}"
        ),
        params,
    ).one()
    assert n > 0
    assert (s["totals"]["appeals"], s["totals"]["repeats"]) == (n, repeats)
    assert s["totals"]["first_call_resolved"] == fcr
    for name, sql in ORACLE.items():
        expected = {r[0]: tuple(r[1:]) for r in conn.execute(text(sql.format(w=w)), params)}
        cols = ("appeals", "repeats") if name == "by_category" else ("appeals",)
        got = {x["key"]: tuple(x[c] for c in cols) for x in s[name]}
        assert got == expected, name
    counts = [x["appeals"] for x in s["by_category"]]
    assert counts == sorted(counts, reverse=True)
    assert [x["key"] for x in s["by_month"]] == sorted(x["key"] for x in s["by_month"])
