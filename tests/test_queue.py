"""The yard-asphalting queue: order by the three keys, exclusions, budget line, explanation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from geo.planning.repair_queue import QueueRules, budget_line, compute_queue, explain_rank
from tests.factories import insert_appeal, make_city, make_org, square, staff

X, Y = 69.40, 54.95


@pytest.fixture
def yards(conn):
    """Six hand-made yards: each of the three keys decides one pair; two leave the queue."""
    cid = make_city(conn, "QUE")
    org = make_org(conn, cid)
    spec = {  # name: (apartments, appeals, half side m, extra)
        "Y1": (200, 1, 15.8, {}),  # area ~1000 m²
        "Y2": (100, 5, 11.2, {}),  # ~500 m²
        "Y3": (100, 2, 27.4, {}),  # ~3000 m²
        "Y4": (100, 2, 22.4, {}),  # ~2000 m²
        "Y5": (500, 9, 20.0, {"last_repair_year": dt.date.today().year - 2}),
        "Y6": (500, 9, 20.0, {"repair_status": "in_progress"}),
    }
    ids = {}
    for i, (name, (apts, n_appeals, half, extra)) in enumerate(spec.items()):
        lon = X - 0.03 + i * 0.01
        yid = conn.execute(
            text(
                "INSERT INTO yards (city_id, name, geom, repair_status, last_repair_year) "
                "VALUES (:c, :n, ST_GeomFromText(:w, 4326), :s, :r) RETURNING id"
            ),
            {
                "c": cid,
                "n": name,
                "w": square(lon, Y, half),
                "s": extra.get("repair_status", "queued"),
                "r": extra.get("last_repair_year"),
            },
        ).scalar_one()
        bid = conn.execute(
            text(
                "INSERT INTO buildings (city_id, house_number, address_ru, address_kk, apartments, "
                "floors, housing_org_id, geom) VALUES (:c, :h, :h, :h, :a, 9, :o, "
                "ST_GeomFromText(:w, 4326)) RETURNING id"
            ),
            {"c": cid, "h": f"{i + 1}", "a": apts, "o": org, "w": square(lon, Y + 0.0008, 8)},
        ).scalar_one()
        conn.execute(
            text("INSERT INTO yard_buildings VALUES (:c, :y, :b)"), {"c": cid, "y": yid, "b": bid}
        )
        # appeals that count: inside the yard, and one on its building (object reference)
        for _ in range(n_appeals - 1):
            insert_appeal(conn, cid, lon, Y, "yard_asphalt")
        insert_appeal(
            conn, cid, lon, Y + 0.0008, "yard_flooding", object_kind="building", object_id=bid
        )
        # an appeal of a category that does not count
        insert_appeal(conn, cid, lon, Y, "garbage")
        ids[name] = yid
    return cid, ids


def test_queue_order_apartments_then_appeals_then_area(conn, yards):
    cid, ids = yards
    q = compute_queue(conn, cid)
    order = [i["yard_id"] for i in q]
    assert order == [ids["Y1"], ids["Y2"], ids["Y3"], ids["Y4"]]
    by = {i["yard_id"]: i for i in q}
    assert by[ids["Y1"]]["apartments"] == 200
    assert [by[ids[n]]["appeals"] for n in ("Y1", "Y2", "Y3", "Y4")] == [1, 5, 2, 2]
    assert by[ids["Y3"]]["area_m2"] > by[ids["Y4"]]["area_m2"]


def test_recently_repaired_and_in_progress_yards_leave_the_queue(conn, yards):
    cid, ids = yards
    order = [i["yard_id"] for i in compute_queue(conn, cid)]
    assert ids["Y5"] not in order and ids["Y6"] not in order


def test_the_budget_cuts_the_queue_where_the_money_runs_out(conn, yards):
    cid, ids = yards
    q = compute_queue(conn, cid, QueueRules(budget=200_000, cost_per_m2=100))
    costs = [i["cost"] for i in q]
    assert costs[0] + costs[1] <= 200_000 < costs[0] + costs[1] + costs[2]
    assert [i["funded"] for i in q] == [True, True, False, False]
    line = budget_line(q)
    assert line["funded_yards"] == 2 and line["first_unfunded_rank"] == 3


def test_a_yards_own_estimate_overrides_the_cost_per_m2(conn, yards):
    cid, ids = yards
    conn.execute(text("UPDATE yards SET cost_estimate = 1 WHERE id = :y"), {"y": ids["Y3"]})
    q = compute_queue(conn, cid, QueueRules(budget=200_000, cost_per_m2=100))
    assert next(i for i in q if i["yard_id"] == ids["Y3"])["cost"] == 1


def test_why_is_my_yard_where_it_is(conn, yards):
    cid, ids = yards
    why = explain_rank(compute_queue(conn, cid), ids["Y4"])
    assert why["rank"] == 4
    assert (why["ahead_by_apartments"], why["ahead_by_appeals"], why["ahead_by_area"]) == (1, 1, 1)
    assert "4-м месте" in why["explanation_ru"]


def test_marking_a_yard_done_takes_it_out_and_the_queue_recomputes(client, conn, yards):
    cid, ids = yards
    h = staff(conn, "planner", city="QUE")  # a planner of QUE plans QUE's yards
    contractor = make_org(conn, cid, "contractor", "ТОО Асфальт")
    assert f'id="yard-{ids["Y1"]}"' in client.get("/queue?city=QUE").text  # the page keeps it
    r = client.patch(
        f"/api/v1/yards/{ids['Y1']}/repair?city=QUE",
        headers=h,
        json={
            "planned_start": "2027-05-01",
            "planned_end": "2027-06-15",
            "contractor_id": contractor,
            "cost_estimate": 12_500_000,
            "repair_status": "planned",
        },
    )
    assert r.status_code == 200, r.text
    body = client.get("/api/v1/queue?city=QUE").json()
    first = body["items"][0]
    assert first["yard_id"] == ids["Y1"] and first["contractor"] == "ТОО Асфальт"
    assert first["cost"] == 12_500_000 and first["planned_start"] == "2027-05-01"
    assert "квартир" in body["rule_ru"]
    client.patch(
        f"/api/v1/yards/{ids['Y1']}/repair?city=QUE", headers=h, json={"repair_status": "done"}
    )
    order = [i["yard_id"] for i in client.get("/api/v1/queue?city=QUE").json()["items"]]
    assert order == [ids["Y2"], ids["Y3"], ids["Y4"]]
    # the page's queue is kept per data version, and a yard's change is a new version: the
    # yard leaves the page at once, no appeal needed
    page = client.get("/queue?city=QUE").text
    assert f'id="yard-{ids["Y1"]}"' not in page and f'id="yard-{ids["Y2"]}"' in page


def test_only_planners_change_the_plan_and_bad_dates_are_refused(client, conn, yards):
    cid, ids = yards
    url = f"/api/v1/yards/{ids['Y1']}/repair?city=QUE"
    r = client.patch(
        url, headers=staff(conn, "operator", city="QUE"), json={"repair_status": "done"}
    )
    assert r.status_code == 403
    r = client.patch(
        url,
        headers=staff(conn, "planner", city="QUE"),
        json={"planned_start": "2027-06-01", "planned_end": "2027-05-01"},
    )
    assert r.status_code == 422 and "before" in r.json()["detail"]


def test_the_public_queue_has_no_personal_data(client, conn, yards):
    text_ = client.get("/api/v1/queue?city=QUE").text
    assert "applicant" not in text_ and "phone" not in text_


def test_every_yards_why_at_once_says_what_each_explanation_says(conn, city_id):
    from geo.planning.repair_queue import explain_ranks

    queue = compute_queue(conn, city_id, QueueRules())
    assert len(queue) > 100
    at_once = explain_ranks(queue)
    for q in queue:
        one = explain_rank(queue, q["yard_id"])
        one.pop("explanation_ru")
        assert at_once[q["yard_id"]] == one


@pytest.mark.parametrize("budget", [None, 0.0, 1.0, 5e6, 2.5e7, 1e15])
def test_one_ranking_cut_for_any_budget_equals_the_queue_computed_with_it(conn, yards, budget):
    """The pages keep one ranking per data version and cut it for each budget asked for
    (``cut_queue``): the same rows, ranks and budget line as the queue computed with that
    budget, or cut as the city did (the first 70 funded) without one."""
    from geo.planning.repair_queue import cut_queue, public_queue

    cid, _ = yards
    ranked = compute_queue(conn, cid)
    before = [dict(q) for q in ranked]
    cut = cut_queue(ranked, budget)
    assert ranked == before  # the kept ranking is left as it was
    if budget is None:
        expected = public_queue(conn, cid)
        assert [q["funded"] for q in cut.items] == [q["rank"] <= 70 for q in ranked]
    else:
        expected = compute_queue(conn, cid, QueueRules(budget=budget))
        expected = type(cut)(expected, budget_line(expected), cut.year, budget, cut.cost_per_m2)
    assert cut.items == expected.items and cut.line == expected.line
    assert any(q["funded"] for q in cut.items) == (budget is None or budget >= cut.items[0]["cost"])
    middle = ranked[1]["cumulative_cost"]  # a budget that funds the first two yards exactly
    assert (
        [q["funded"] for q in cut_queue(ranked, middle).items]
        == [q["funded"] for q in compute_queue(conn, cid, QueueRules(budget=middle))]
        == [True, True] + [False] * (len(ranked) - 2)
    )


def test_pages_that_miss_the_same_answer_at_once_compute_it_once():
    """Right after a new appeal every view of the planner page or /queue misses its kept
    answer: the first computes, the others wait for it (``Kept.compute``)."""
    import threading
    import time

    from web.pages.kept import Kept

    kept, calls, answers = Kept(), [], []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return {"n": len(calls)}

    threads = [
        threading.Thread(target=lambda: answers.append(kept.compute(("city", 1), slow)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and answers == [{"n": 1}] * 8
    assert kept.compute(("city", 2), slow) == {"n": 2} and len(calls) == 2
