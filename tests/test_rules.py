"""Rules the README states that had no test of their own: routing's fallback and its choice
between overlapping areas, the repeat radius and window, the rejected / duplicate / reopened
transitions, the status CHECK, the event log refusing DELETE and TRUNCATE, per-manager
ratings, the queue's tie-break, failing objects and clusters on hand-made data, the API-key
cache time. Each test fails when its rule is broken (the mutations tried are listed in the
issue "Checks that can be trusted")."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, InternalError, ProgrammingError

from geo.appeals.actors import Actor
from geo.appeals.lifecycle import TransitionRequest, transition
from geo.appeals.states import STATES
from geo.infra.errors import Conflict, Forbidden, InvalidInput
from tests.factories import an_apartment_building, insert_appeal, make_appeal, make_city, square

X, Y = 69.40, 54.95
INSPECTOR = Actor(name="inspector-test", role="inspector")
CONTROLLER = Actor(name="controller-test", role="controller")
OPERATOR = Actor(name="operator-test", role="operator")


def _org(conn, city_id: int, kind: str, name: str, area_wkt: str | None = None, **cols) -> int:
    manager = cols.get("manager")
    return conn.execute(
        text(
            "INSERT INTO organisations (city_id, kind, name_ru, name_kk, manager, service_area) "
            "VALUES (:c, :k, :n, :n, :m, ST_GeomFromText(:w, 4326)) RETURNING id"
        ),
        {"c": city_id, "k": kind, "n": name, "m": manager, "w": area_wkt},
    ).scalar_one()


def _east_of(conn, lon: float, lat: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` east of (lon, lat), on the spheroid."""
    row = conn.execute(
        text(
            "SELECT ST_X(p::geometry), ST_Y(p::geometry) FROM (SELECT ST_Project("
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :d, radians(90)) AS p) t"
        ),
        {"x": lon, "y": lat, "d": metres},
    ).one()
    return float(row[0]), float(row[1])


# --- routing -------------------------------------------------------------------------------


@pytest.fixture
def routing_city(conn):
    """A city with one district akimat over all of it and two city departments whose
    service areas overlap around A (800 m and 200 m squares); B is in no department's area."""
    cid = make_city(conn, "RTE")
    a, b = (X + 0.02, Y), (X - 0.02, Y)
    akimat = _org(conn, cid, "district_akimat", "Акимат района", square(X, Y, 4000))
    big = _org(conn, cid, "city_department", "Отдел большой", square(*a, 800))
    small = _org(conn, cid, "city_department", "Отдел малый", square(*a, 200))
    return cid, a, b, {"akimat": akimat, "big": big, "small": small}


def test_of_two_service_areas_holding_the_point_the_smaller_one_answers(conn, routing_city):
    cid, a, _, orgs = routing_city
    appeal = make_appeal(conn, cid, "road_damage", *a)
    assert appeal["organisation_id"] == orgs["small"]
    # 500 m from A: only the larger area holds the point
    outside_small = _east_of(conn, *a, 500)
    assert make_appeal(conn, cid, "road_damage", *outside_small)["organisation_id"] == orgs["big"]


def test_with_no_body_of_the_categorys_kind_the_district_akimat_answers(conn, routing_city):
    cid, _, b, orgs = routing_city
    appeal = make_appeal(conn, cid, "road_damage", *b)
    assert appeal["organisation_id"] == orgs["akimat"]
    events = conn.execute(
        text("SELECT comment FROM appeal_events WHERE city_id = :c AND appeal_id = :a"),
        {"c": cid, "a": appeal["id"]},
    ).scalars()
    assert [c for c in events if "district akimat" in c]
    # a housing category with no building at the point: no housing organisation either
    assert make_appeal(conn, cid, "roof_leak", *b)["organisation_id"] == orgs["akimat"]


# --- repeats: radius and window ------------------------------------------------------------


def _candidates(conn, city_id: int, category: str, lon: float, lat: float, at) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT reg_number FROM qala_repeat_candidates(:c, :cat, 'none', -1, :x, :y, :at)"
            ),
            {"c": city_id, "cat": category, "x": lon, "y": lat, "at": at},
        ).scalars()
    )


def _reg(conn, appeal_id: int) -> str:
    return conn.execute(
        text("SELECT reg_number FROM appeals WHERE id = :i"), {"i": appeal_id}
    ).scalar_one()


def test_a_category_without_its_own_radius_and_window_gets_250_m_and_30_days(conn, tmp_path):
    from geo.city.catalog import load_categories

    entry = """\
        - {code: test_default_radius, group: roads, criticality: standard, hours: 240,
           kind: city_department, object: street, ru: "т", kk: "т", en: "t"}
        """
    path = tmp_path / "one.yaml"
    path.write_text(textwrap.dedent(entry), encoding="utf-8")
    load_categories(conn, path)
    row = conn.execute(
        text(
            "SELECT repeat_radius_m, repeat_window_days FROM categories "
            "WHERE code = 'test_default_radius'"
        )
    ).one()
    assert tuple(row) == (250, 30)
    # and a row written without them (the column defaults)
    row = conn.execute(
        text(
            "INSERT INTO categories (code, name_ru, name_kk, name_en, group_code, criticality, "
            "deadline_hours, responsible_kind, object_kind) VALUES ('test_default_2', 't', 't', "
            "'t', 'roads', 'standard', 240, 'city_department', 'street') "
            "RETURNING repeat_radius_m, repeat_window_days"
        )
    ).one()
    assert tuple(row) == (250, 30)


def test_a_repeat_is_within_the_categorys_radius_and_no_farther(conn):
    cid = make_city(conn, "RAD")
    # street_flooding: radius 250 m (the default), window 7 days
    radius = conn.execute(
        text("SELECT repeat_radius_m FROM categories WHERE code = 'street_flooding'")
    ).scalar_one()
    assert radius == 250
    near = insert_appeal(conn, cid, *_east_of(conn, X, Y, 240), "street_flooding")
    far = insert_appeal(conn, cid, *_east_of(conn, X, Y, 262), "street_flooding")
    found = _candidates(conn, cid, "street_flooding", X, Y, dt.datetime.now(dt.UTC))
    assert _reg(conn, near) in found
    assert _reg(conn, far) not in found


def test_a_repeat_is_within_the_categorys_time_window_and_no_earlier(conn):
    cid = make_city(conn, "WIN")
    at = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
    window = conn.execute(
        text("SELECT repeat_window_days FROM categories WHERE code = 'street_flooding'")
    ).scalar_one()
    assert window == 7
    inside = insert_appeal(
        conn, cid, X, Y, "street_flooding", created_at=(at - dt.timedelta(days=6.9)).isoformat()
    )
    before = insert_appeal(
        conn, cid, X, Y, "street_flooding", created_at=(at - dt.timedelta(days=7.1)).isoformat()
    )
    found = _candidates(conn, cid, "street_flooding", X, Y, at)
    assert _reg(conn, inside) in found
    assert _reg(conn, before) not in found


# --- transitions: rejected, duplicate, reopened ----------------------------------------------


def _move(conn, city_id: int, appeal: dict, to: str, actor: Actor = INSPECTOR, **kw) -> dict:
    return transition(conn, city_id, TransitionRequest(appeal["reg_number"], to, **kw), actor)


def _near(conn, city_id: int, appeal: dict) -> list[str]:
    """The repeat candidates of a new appeal of the same category at the same point."""
    return _candidates(
        conn,
        city_id,
        appeal["category_code"],
        appeal["lon"],
        appeal["lat"],
        dt.datetime.now(dt.UTC),
    )


def test_a_rejected_appeal_is_no_original_and_can_only_be_reopened(conn, city_id):
    b = an_apartment_building(conn, city_id, offset=91)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    assert a["reg_number"] in _near(conn, city_id, a)
    rejected = _move(conn, city_id, a, "rejected")
    assert rejected["status"] == "rejected" and rejected["overdue"] is False
    assert a["reg_number"] not in _near(conn, city_id, a)
    for to in ("closed", "resolved", "assigned", "in_progress", "duplicate"):
        with pytest.raises(Conflict):
            _move(conn, city_id, a, to)
    assert _move(conn, city_id, a, "reopened", CONTROLLER)["status"] == "reopened"
    assert a["reg_number"] in _near(conn, city_id, a)


def test_an_operator_marks_a_duplicate_which_is_no_original(conn, city_id):
    b = an_apartment_building(conn, city_id, offset=93)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    executor = Actor("ex", "executor", a["organisation_id"])
    with pytest.raises(Forbidden):
        _move(conn, city_id, a, "duplicate", executor)
    assert _move(conn, city_id, a, "duplicate", OPERATOR)["status"] == "duplicate"
    assert a["reg_number"] not in _near(conn, city_id, a)
    for to in ("assigned", "closed", "resolved"):
        with pytest.raises(Conflict):
            _move(conn, city_id, a, to)
    assert _move(conn, city_id, a, "reopened", CONTROLLER)["status"] == "reopened"


def test_a_reopened_appeal_is_active_again_without_its_resolution_and_closure(conn, city_id):
    b = an_apartment_building(conn, city_id, offset=95)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    for to in ("assigned", "in_progress", "resolved"):
        _move(conn, city_id, a, to)
    closed = _move(conn, city_id, a, "closed", CONTROLLER)
    assert closed["resolved_at"] is not None and closed["closed_at"] is not None
    with pytest.raises(Forbidden):  # an executor does not reopen
        _move(conn, city_id, a, "reopened", Actor("ex", "executor", a["organisation_id"]))
    conn.execute(
        text("UPDATE appeals SET deadline_at = now() - interval '1 hour' WHERE id = :i"),
        {"i": a["id"]},
    )
    back = _move(conn, city_id, a, "reopened", CONTROLLER)
    assert back["status"] == "reopened"
    assert back["resolved_at"] is None and back["closed_at"] is None
    assert back["overdue"] is True  # active again: its deadline counts
    with pytest.raises(Conflict):
        _move(conn, city_id, a, "closed", CONTROLLER)
    assert _move(conn, city_id, a, "resolved")["status"] == "resolved"
    log = conn.execute(
        text(
            "SELECT from_status, to_status FROM appeal_events WHERE appeal_id = :i ORDER BY at, id"
        ),
        {"i": a["id"]},
    ).all()
    assert [tuple(r) for r in log][-2:] == [("closed", "reopened"), ("reopened", "resolved")]


# --- the database refuses what the code never does -----------------------------------------


def test_the_status_check_takes_every_state_and_nothing_else(conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    for state in STATES:
        with conn.begin_nested():
            conn.execute(
                text("UPDATE appeals SET status = :s, deferred_to_year = 2030 WHERE id = :i"),
                {"s": state, "i": a["id"]},
            )
    for state in ("lost", "Closed", "open", ""):
        with pytest.raises(IntegrityError, match="ck_appeals_status"), conn.begin_nested():
            conn.execute(
                text("UPDATE appeals SET status = :s WHERE id = :i"), {"s": state, "i": a["id"]}
            )


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM appeal_events WHERE city_id = :c",
        "UPDATE appeal_events SET comment = 'x' WHERE city_id = :c",
        "TRUNCATE appeal_events",
        "TRUNCATE appeals CASCADE",
    ],
)
def test_the_event_log_refuses_delete_update_and_truncate_even_to_its_owner(conn, city_id, sql):
    before = conn.execute(text("SELECT count(*) FROM appeal_events")).scalar_one()
    assert before > 0
    verb = sql.split()[0]
    with (
        pytest.raises((InternalError, ProgrammingError), match=f"append-only: {verb} refused"),
        conn.begin_nested(),
    ):
        conn.execute(text(sql), {"c": city_id})
    assert conn.execute(text("SELECT count(*) FROM appeal_events")).scalar_one() == before


# --- ratings per manager -------------------------------------------------------------------


def test_managers_are_rated_over_the_sum_of_their_organisations(conn):
    from geo.planning.ratings import rate_managers, rate_organisations

    cid = make_city(conn, "MGR")
    t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    orgs = {
        "a1": _org(conn, cid, "utility", "A1", manager="Ахметов А."),
        "a2": _org(conn, cid, "utility", "A2", manager="Ахметов А."),
        "b": _org(conn, cid, "utility", "B", manager="Бекова Б."),
        "none": _org(conn, cid, "utility", "N"),
    }
    # (organisation, hours to resolve; None: open), deadline 24 h
    spec = [("a1", 2), ("a1", 30), ("a2", 3), ("a2", None), ("b", 40), ("b", 50), ("none", 1)]
    for org, hours in spec:
        done = (t0 + dt.timedelta(hours=hours)).isoformat() if hours else None
        insert_appeal(
            conn,
            cid,
            X,
            Y,
            "water_leak",
            organisation_id=orgs[org],
            status="closed" if hours else "assigned",
            created_at=t0.isoformat(),
            deadline_at=(t0 + dt.timedelta(hours=24)).isoformat(),
            resolved_at=done,
            closed_at=done,
        )
    ratings = rate_organisations(
        conn, cid, since=t0 - dt.timedelta(days=1), until=t0 + dt.timedelta(days=9)
    )
    managers = rate_managers(ratings)
    assert [m["manager"] for m in managers] == ["Ахметов А.", "Бекова Б."]  # "none" has none
    ahmetov, bekova = managers
    assert (ahmetov["organisations"], ahmetov["appeals"], ahmetov["resolved"]) == (2, 4, 3)
    assert (ahmetov["resolved_on_time"], ahmetov["overdue"]) == (2, 1)
    # due: 3 resolved + 1 still open past its deadline (it counts against them): 2 of 4
    assert ahmetov["on_time_rate"] == round(2 / 4, 4)
    assert (bekova["organisations"], bekova["appeals"], bekova["resolved"]) == (1, 2, 2)
    assert bekova["on_time_rate"] == 0.0


# --- the queue's tie-break -----------------------------------------------------------------


def test_yards_equal_on_every_key_stand_in_the_order_of_their_ids(conn):
    from geo.planning.repair_queue import compute_queue

    cid = make_city(conn, "TIE")
    ids = [9_000_005, 9_000_003, 9_000_004, 9_000_001, 9_000_002]  # stored out of id order
    for yid in ids:
        conn.execute(
            text(
                "INSERT INTO yards (city_id, id, name, geom, repair_status) "
                "VALUES (:c, :i, :n, ST_GeomFromText(:w, 4326), 'queued')"
            ),
            {"c": cid, "i": yid, "n": f"Y{yid}", "w": square(X, Y, 20.0)},  # the same square
        )
    # read the yards in the order they are stored, not through the key's index (which hands
    # them over in id order and would hide a missing tie-break)
    for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
        conn.execute(text(f"SET LOCAL {setting} = off"))
    queue = compute_queue(conn, cid)
    assert len(queue) == len(ids)
    assert len({(q["apartments"], q["appeals"], q["area_m2"]) for q in queue}) == 1  # a tie
    assert [q["yard_id"] for q in queue] == sorted(ids)
    assert [q["rank"] for q in queue] == [1, 2, 3, 4, 5]
    assert compute_queue(conn, cid) == queue


# --- failing objects and clusters, exactly --------------------------------------------------


def test_failing_objects_rank_repeats_then_appeals_with_their_label_owner_and_place(conn):
    from geo.planning.failing import failing_objects

    cid = make_city(conn, "FAL")
    owner = _org(conn, cid, "utility", "Водоканал")
    wells = {}
    for i, code in enumerate(("W-1", "W-2", "W-3")):
        wells[code] = conn.execute(
            text(
                "INSERT INTO wells (city_id, code, kind, owner_id, geom) VALUES (:c, :code, "
                "'water', :o, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
            ),
            {"c": cid, "code": code, "o": owner, "x": X + i * 0.001, "y": Y},
        ).scalar_one()
    counts = {"W-1": (5, 1), "W-2": (2, 2), "W-3": (9, 1)}  # (appeals, repeats)
    for code, (n, r) in counts.items():
        conn.execute(
            text(
                "INSERT INTO object_repeats (city_id, object_kind, object_id, appeals, repeats) "
                "VALUES (:c, 'well', :i, :n, :r)"
            ),
            {"c": cid, "i": wells[code], "n": n, "r": r},
        )
    got = failing_objects(conn, cid, kind="well")
    assert [(o["label"], o["appeals"], o["repeats"]) for o in got] == [
        ("W-2 (water)", 2, 2),  # most repeats first, though fewest appeals
        ("W-3 (water)", 9, 1),  # then more appeals
        ("W-1 (water)", 5, 1),
    ]
    assert {o["responsible"] for o in got} == {"Водоканал"}
    assert got[0]["lon"] == pytest.approx(X + 0.001) and got[0]["lat"] == pytest.approx(Y)
    assert [o["label"] for o in failing_objects(conn, cid, kind="well", limit=1)] == ["W-2 (water)"]
    assert failing_objects(conn, cid, kind="building") == []
    with pytest.raises(InvalidInput):
        failing_objects(conn, cid, kind="tree")


def test_density_clusters_find_exactly_the_planted_places(conn):
    from geo.planning.failing import ClusterQuery, density_clusters

    cid = make_city(conn, "CLU")
    now = dt.datetime.now(dt.UTC)
    a, b, c = (X - 0.02, Y), (X + 0.02, Y), (X, Y + 0.02)

    def plant(centre, n, category, **cols):
        for i in range(n):
            p = _east_of(conn, centre[0], centre[1] + (i % 5) * 0.00005, (i // 5) * 4.0)
            insert_appeal(conn, cid, *p, category, **cols)

    plant(a, 25, "water_leak")
    plant(b, 21, "garbage")
    plant(c, 30, "garbage", placeholder_geocode=True)  # a default geocode: not a place
    plant((X, Y - 0.02), 30, "garbage", created_at=(now - dt.timedelta(days=800)).isoformat())
    for i in range(5):  # scattered noise, 500 m apart
        insert_appeal(conn, cid, *_east_of(conn, X - 0.04, Y - 0.03, 500.0 * i), "garbage")
    got = density_clusters(conn, cid, ClusterQuery(eps_m=50, min_points=20))
    assert [(g["appeals"], g["top_category"]) for g in got] == [(25, "water_leak"), (21, "garbage")]
    lon, lat = got[0]["centre"]["coordinates"]
    assert abs(lon - a[0]) < 0.001 and abs(lat - a[1]) < 0.001
    assert 0 < float(got[0]["radius_m"]) < 50
    only = density_clusters(conn, cid, ClusterQuery(eps_m=50, min_points=20, category="garbage"))
    assert [g["appeals"] for g in only] == [21]
    assert density_clusters(conn, cid, ClusterQuery(eps_m=50, min_points=26)) == []


# --- the API-key cache time ----------------------------------------------------------------


def test_a_channel_key_is_remembered_for_the_cache_time_and_no_longer(monkeypatch):
    from api.deps import ApiKeys

    clock = [1000.0]
    monkeypatch.setattr("api.deps.time.monotonic", lambda: clock[0])
    cache = ApiKeys(10.0)
    found = (Actor(name="bot", role="channel", key_id=1), 1, "telegram")
    cache.put("qk_x", found)
    clock[0] = 1009.9
    assert cache.get("qk_x") == found
    clock[0] = 1010.0
    assert cache.get("qk_x") is None
    assert "qk_x" not in cache._known  # forgotten, looked up again next time


def test_the_cache_time_is_the_setting_10_s_by_default(settings, monkeypatch):
    from api.app import create_app
    from geo.infra.settings import Settings

    monkeypatch.delenv("QALA_API_KEY_CACHE_S", raising=False)
    assert Settings.model_fields["api_key_cache_s"].default == 10.0
    assert create_app(settings).state.api_keys.ttl == settings.api_key_cache_s == 10.0
    monkeypatch.setenv("QALA_API_KEY_CACHE_S", "2.5")
    changed = Settings(
        database_url=settings.database_url,
        admin_database_url=settings.admin_database_url,
        environment="test",
        secret_key=settings.secret_key,
    )
    assert create_app(changed).state.api_keys.ttl == 2.5


# --- an executor sees only its organisation's appeals, everywhere -----------------------------


@pytest.fixture
def two_executors(conn, city_id):
    """An appeal of one housing organisation, that organisation's executor and another
    housing organisation's (one with appeals of its own)."""
    from tests.factories import staff

    b = an_apartment_building(conn, city_id, offset=57)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    other = conn.execute(
        text(
            "SELECT o.id FROM organisations o JOIN appeals x ON x.city_id = o.city_id "
            "AND x.organisation_id = o.id WHERE o.city_id = :c AND o.kind = 'housing_org' "
            "AND o.id <> :o GROUP BY o.id ORDER BY count(*) DESC, o.id LIMIT 1"
        ),
        {"c": city_id, "o": a["organisation_id"]},
    ).scalar_one()
    return {
        "appeal": a,
        "other": other,
        "insider": staff(conn, "executor", a["organisation_id"]),
        "outsider": staff(conn, "executor", other),
    }


def test_another_organisations_executor_reads_no_event_log(client, two_executors):
    a, x = two_executors["appeal"], two_executors
    path = f"/api/v1/appeals/{a['reg_number']}/events"
    assert client.get(path, headers=x["outsider"]).status_code == 404
    mine = client.get(path, headers=x["insider"])
    assert mine.status_code == 200 and [e["to_status"] for e in mine.json()] == ["registered"]


def test_another_organisations_executor_cannot_mark_the_call_back(client, conn, two_executors):
    a, x = two_executors["appeal"], two_executors
    path = f"/api/v1/appeals/{a['reg_number']}/callback"
    assert client.post(path, headers=x["outsider"]).status_code == 404
    row = conn.execute(
        text(
            "SELECT a.callback_done, (SELECT count(*) FROM appeal_events e WHERE e.city_id = "
            "a.city_id AND e.appeal_id = a.id) AS events FROM appeals a WHERE a.id = :i"
        ),
        {"i": a["id"]},
    ).one()
    assert (row.callback_done, row.events) == (False, 1)
    assert client.post(path, headers=x["insider"]).json()["callback_done"] is True


def test_the_staff_collection_shows_an_executor_only_its_organisations_appeals(
    client, two_executors
):
    a, x = two_executors["appeal"], two_executors
    items = "/ogc/collections/appeals_staff/items"
    theirs = client.get(items, params={"limit": 10000}, headers=x["outsider"]).json()["features"]
    assert theirs, "the other organisation has appeals of its own"
    assert {f["properties"]["organisation_id"] for f in theirs} == {x["other"]}
    assert client.get(f"{items}/{a['id']}", headers=x["outsider"]).status_code == 404
    mine = client.get(f"{items}/{a['id']}", headers=x["insider"])
    assert mine.status_code == 200 and mine.json()["properties"]["reg_number"] == a["reg_number"]


def test_the_place_card_shows_an_executor_only_its_organisations_appeals_nearby(
    client, conn, two_executors
):
    from tests.factories import staff

    a, x = two_executors["appeal"], two_executors
    at = {"lon": a["lon"], "lat": a["lat"]}

    def nearby(headers) -> list[str]:
        r = client.get("/api/v1/place", params=at, headers=headers)
        assert r.status_code == 200, r.text
        return [n["reg_number"] for n in r.json()["open_nearby"]]

    assert a["reg_number"] in nearby(staff(conn, "operator"))
    assert a["reg_number"] in nearby(x["insider"])
    assert a["reg_number"] not in nearby(x["outsider"])
