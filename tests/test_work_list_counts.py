"""The work list at a city's scale (migration 0023): the counts per status kept by triggers
equal a count of the appeals after every kind of write, lists filtered beyond them are
counted up to a cap and say so, and the text search finds a number by each of its forms."""

from __future__ import annotations

from sqlalchemy import text

from geo.appeals import workspace
from geo.appeals.actors import Actor
from geo.appeals.reads import AppealFilter
from tests.factories import an_apartment_building, make_appeal, staff

RECOUNT = """
    SELECT city_id, coalesce(organisation_id, 0) AS organisation_id, category_code,
           coalesce(district_id, 0) AS district_id, channel, status, count(*) AS n
    FROM appeals GROUP BY 1, 2, 3, 4, 5, 6"""
KEPT = """
    SELECT city_id, organisation_id, category_code, district_id, channel, status, n
    FROM appeal_tallies WHERE n <> 0"""


def _same(conn) -> None:
    recount = {tuple(r[:6]): r[6] for r in conn.execute(text(RECOUNT))}
    kept = {tuple(r[:6]): r[6] for r in conn.execute(text(KEPT))}
    assert kept == recount


def test_the_tallies_follow_inserts_updates_deletes_and_a_bulk_recount(conn, city_id):
    _same(conn)  # the demo city, counted by the migration
    b = an_apartment_building(conn, city_id, offset=11)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    c = make_appeal(conn, city_id, "snow_removal", b["lon"], b["lat"], channel="telegram")
    _same(conn)
    other = conn.execute(
        text(
            "SELECT id FROM organisations WHERE city_id = :c AND id IS DISTINCT FROM :o "
            "ORDER BY id LIMIT 1"
        ),
        {"c": city_id, "o": a["organisation_id"]},
    ).scalar_one()
    # a change of status and of organisation in one statement, and of nothing counted
    conn.execute(
        text(
            "UPDATE appeals SET status = 'assigned', organisation_id = :o "
            "WHERE city_id = :c AND id = :i"
        ),
        {"o": other, "c": city_id, "i": a["id"]},
    )
    conn.execute(
        text("UPDATE appeals SET callback_done = true WHERE city_id = :c AND id = :i"),
        {"c": city_id, "i": c["id"]},
    )
    _same(conn)
    # many rows at once, then some gone
    conn.execute(
        text(
            "UPDATE appeals SET status = 'in_progress' WHERE city_id = :c AND status = "
            "'assigned' AND id % 3 = 0"
        ),
        {"c": city_id},
    )
    # (appeals with events are never deleted: the event log is append-only) rows copied
    # and deleted in one statement each
    conn.execute(
        text(
            "INSERT INTO appeals (city_id, reg_number, channel, category_code, located_by, "
            "organisation_id, district_id, status, deadline_at, geom) "
            "SELECT city_id, reg_number || '-copy', channel, category_code, located_by, "
            "organisation_id, district_id, status, deadline_at, geom FROM appeals "
            "WHERE city_id = :c AND id IN (:a, :b)"
        ),
        {"c": city_id, "a": a["id"], "b": c["id"]},
    )
    _same(conn)
    conn.execute(
        text("DELETE FROM appeals WHERE city_id = :c AND reg_number LIKE '%-copy'"),
        {"c": city_id},
    )
    _same(conn)
    # what a bulk load calls after dropping the insert trigger
    conn.execute(text("UPDATE appeal_tallies SET n = n + 5 WHERE city_id = :c"), {"c": city_id})
    total = conn.execute(text("SELECT refresh_appeal_tallies(:c)"), {"c": city_id}).scalar_one()
    assert (
        total
        == conn.execute(
            text("SELECT count(*) FROM appeals WHERE city_id = :c"), {"c": city_id}
        ).scalar_one()
    )
    _same(conn)


def test_the_work_page_counts_from_tallies_equal_a_count_of_the_appeals(conn, city_id):
    inspector = Actor(name="i", role="inspector")
    for which in (
        AppealFilter(),
        AppealFilter(group="housing"),
        AppealFilter(category="roof_leak", status="registered"),
        AppealFilter(channel="phone_109"),
    ):
        page = workspace.work_page(conn, city_id, inspector, which)
        assert page["counts_exact"]
        where = ["city_id = :c"]
        params = {"c": city_id}
        if which.group:
            where.append("category_code IN (SELECT code FROM categories WHERE group_code = :g)")
            params["g"] = which.group
        if which.category:
            where.append("category_code = :cat")
            params["cat"] = which.category
        if which.channel:
            where.append("channel = :ch")
            params["ch"] = which.channel
        counted = dict(
            conn.execute(
                text(
                    f"SELECT status, count(*) FROM appeals WHERE {' AND '.join(where)} GROUP BY 1"
                ),
                params,
            ).all()
        )
        assert {s: n for s, n in page["counts"].items() if n} == counted
        want = counted.get(which.status, 0) if which.status else sum(counted.values())
        assert page["total"] == want


def test_a_list_counted_past_the_cap_says_so(conn, city_id, monkeypatch):
    inspector = Actor(name="i", role="inspector")
    n = conn.execute(
        text("SELECT count(*) FROM appeals WHERE city_id = :c AND created_at >= '2000-01-01'"),
        {"c": city_id},
    ).scalar_one()
    assert n > 10
    wide = AppealFilter(since=__import__("datetime").datetime(2000, 1, 1))
    page = workspace.work_page(conn, city_id, inspector, wide)
    assert page["counts_exact"] == (n <= workspace.COUNT_CAP)
    monkeypatch.setattr(workspace, "COUNT_CAP", 5)
    page = workspace.work_page(conn, city_id, inspector, wide)
    assert not page["counts_exact"] and page["total"] == 5
    assert sum(page["counts"].values()) == 6  # what was counted before it stopped
    # a status's own total is counted too (capped or not)
    one = workspace.work_page(
        conn, city_id, inspector, AppealFilter(since=wide.since, status="rejected")
    )
    rejected = conn.execute(
        text("SELECT count(*) FROM appeals WHERE city_id = :c AND status = 'rejected'"),
        {"c": city_id},
    ).scalar_one()
    assert one["total"] == min(rejected, 5)


def test_the_search_finds_a_number_by_each_form_and_words_of_the_address(client, conn, city_id):
    inspector = staff(conn, "inspector")
    b = an_apartment_building(conn, city_id, offset=13)
    a = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], address_text="Сарыарқа 41, подъезд 2"
    )
    reg = a["reg_number"]
    code, year, number = reg.split("-")
    for q in (reg, reg.lower(), f"{year}-{number}", number, str(int(number)), "Сарыарқа 41"):
        found = client.get("/api/v1/staff/appeals", headers=inspector, params={"q": q}).json()
        assert reg in [x["reg_number"] for x in found["items"]], q
    for q in (f"{int(year) - 1}-{number}", "Сарыарқа 99"):
        found = client.get("/api/v1/staff/appeals", headers=inspector, params={"q": q}).json()
        assert reg not in [x["reg_number"] for x in found["items"]], q


def test_a_word_search_is_counted_up_to_its_own_cap(conn, city_id, monkeypatch):
    inspector = Actor(name="i", role="inspector")
    b = an_apartment_building(conn, city_id, offset=17)
    made = [
        make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"], address_text=f"Жетісу {n}")
        for n in (3, 5, 7)
    ]
    found = workspace.work_page(conn, city_id, inspector, AppealFilter(q="Жетісу"))
    assert found["counts_exact"] and found["total"] == 3
    assert [x["reg_number"] for x in found["items"]][:3] == [a["reg_number"] for a in made][::-1]
    monkeypatch.setattr(workspace, "SEARCH_COUNT_CAP", 2)
    found = workspace.work_page(conn, city_id, inspector, AppealFilter(q="Жетісу"))
    assert not found["counts_exact"] and found["total"] == 2
    # a number is no word search: the general cap
    n = workspace.work_page(conn, city_id, inspector, AppealFilter(q=made[0]["reg_number"]))
    assert n["counts_exact"] and n["total"] == 1
