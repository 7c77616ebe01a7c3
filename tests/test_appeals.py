"""Appeals: routing, deadlines, repeats, lifecycle, roles, privacy, idempotency, bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from tests.factories import a_yard_well, an_apartment_building, channel_key, make_appeal, staff

PERSONAL = ("Жанар Сейткали", "+7 701 555 12 34", "zhanar@example.kz")


def _post(client, headers, **body):
    return client.post("/api/v1/appeals", json=body, headers=headers)


def _road_point(conn, city_id):
    return (
        conn.execute(
            text("""
        SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (
          SELECT ST_LineInterpolatePoint(ST_GeometryN(geom, 1), 0.37) AS p FROM streets
          WHERE city_id = :c ORDER BY id LIMIT 1 OFFSET 5) t"""),
            {"c": city_id},
        )
        .mappings()
        .one()
    )


def test_a_well_category_goes_to_the_owner_of_the_well(conn, city_id):
    well = a_yard_well(conn, city_id, "sewer")
    a = make_appeal(conn, city_id, "sewer_overflow", well["lon"] + 0.00005, well["lat"])
    assert (a["object_kind"], a["object_id"]) == ("well", well["id"])
    assert a["organisation_id"] == well["owner_id"]


def test_a_housing_category_goes_to_the_buildings_housing_organisation(conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    assert (a["object_kind"], a["object_id"]) == ("building", b["id"])
    assert a["organisation_id"] == b["housing_org_id"]


def test_a_road_category_goes_to_the_body_whose_service_area_holds_the_point(conn, city_id):
    p = _road_point(conn, city_id)
    a = make_appeal(conn, city_id, "road_damage", p["lon"], p["lat"])
    expected = conn.execute(
        text("""
        SELECT id FROM organisations WHERE city_id = :c AND kind = 'city_department'
          AND ST_Covers(service_area, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        ORDER BY ST_Area(service_area), id LIMIT 1"""),
        {"c": city_id, "x": p["lon"], "y": p["lat"]},
    ).scalar_one()
    assert a["organisation_id"] == expected
    assert a["object_kind"] == "street"


def _hours(a):
    return (a["deadline_at"] - a["created_at"]).total_seconds() / 3600


def test_an_open_manhole_is_urgent_24_hours(conn, city_id):
    well = a_yard_well(conn, city_id)
    assert _hours(make_appeal(conn, city_id, "open_manhole", well["lon"], well["lat"])) == 24


def test_a_standard_appeal_gets_up_to_10_calendar_days(conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "yard_asphalt", b["lon"], b["lat"])
    assert _hours(a) == 240


def test_overdue_is_derived_from_the_deadline_not_stored(conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "lift_broken", b["lon"], b["lat"])
    assert a["overdue"] is False
    conn.execute(
        text(
            "UPDATE appeals SET deadline_at = now() - interval '1 minute' "
            "WHERE city_id = :c AND id = :i"
        ),
        {"c": city_id, "i": a["id"]},
    )
    from geo.appeals.reads import get_appeal

    assert get_appeal(conn, city_id, appeal_id=a["id"])["overdue"] is True


def test_a_second_appeal_on_the_same_object_is_linked_as_a_repeat(conn, city_id):
    b = an_apartment_building(conn, city_id, offset=77)
    first = make_appeal(conn, city_id, "lift_broken", b["lon"], b["lat"])
    second = make_appeal(conn, city_id, "lift_broken", b["lon"] + 0.00003, b["lat"])
    assert second["repeat_of"] == first["reg_number"]
    counts = conn.execute(
        text(
            "SELECT appeals, repeats FROM object_repeats WHERE city_id = :c "
            "AND object_kind = 'building' AND object_id = :b"
        ),
        {"c": city_id, "b": b["id"]},
    ).one()
    assert counts.repeats >= 1 and counts.appeals >= 2


def test_an_appeal_within_the_category_radius_is_a_repeat_candidate(client, conn, city_id):
    p = _road_point(conn, city_id)
    first = make_appeal(conn, city_id, "stray_dogs", p["lon"], p["lat"])
    body = {"category": "stray_dogs", "lon": p["lon"] + 0.002, "lat": p["lat"]}  # ~130 m
    r = client.post("/api/v1/appeals/preview", json=body, headers=staff(conn, "operator"))
    assert r.status_code == 200, r.text
    assert first["reg_number"] in [c["reg_number"] for c in r.json()["candidates"]]
    far = {"category": "stray_dogs", "lon": p["lon"] + 0.02, "lat": p["lat"]}  # ~1.3 km
    r = client.post("/api/v1/appeals/preview", json=far, headers=staff(conn, "operator"))
    assert first["reg_number"] not in [c["reg_number"] for c in r.json()["candidates"]]


def test_registration_numbers_are_readable_and_unique(conn, city_id):
    b = an_apartment_building(conn, city_id)
    regs = [
        make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])["reg_number"] for _ in range(3)
    ]
    year = dt.datetime.now(dt.UTC).year
    assert all(r.startswith(f"PET-{year}-") for r in regs)
    assert len(set(regs)) == 3


def test_an_executor_cannot_read_or_change_another_organisations_appeal(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    other = conn.execute(
        text(
            "SELECT o.id FROM organisations o JOIN appeals x ON x.city_id = o.city_id "
            "AND x.organisation_id = o.id WHERE o.city_id = :c AND o.id <> :o "
            "AND o.kind = 'housing_org' GROUP BY o.id ORDER BY o.id LIMIT 1"
        ),
        {"c": city_id, "o": a["organisation_id"]},
    ).scalar_one()
    outsider = staff(conn, "executor", other)
    # for another organisation's executor the appeal does not exist (row-level security), as
    # an appeal of another city does not
    assert client.get(f"/api/v1/appeals/{a['reg_number']}", headers=outsider).status_code == 404
    r = client.post(
        f"/api/v1/appeals/{a['reg_number']}/transition",
        json={"to": "in_progress"},
        headers=outsider,
    )
    assert r.status_code == 404
    listed = client.get("/api/v1/appeals", headers=outsider, params={"limit": 500}).json()
    assert listed, "the other organisation has appeals of its own"
    assert all(x["organisation_id"] == other for x in listed)
    # the right organisation's executor can
    insider = staff(conn, "executor", a["organisation_id"])
    inspector = staff(conn, "inspector")
    r = client.post(
        f"/api/v1/appeals/{a['reg_number']}/transition", json={"to": "assigned"}, headers=inspector
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/appeals/{a['reg_number']}/transition", json={"to": "in_progress"}, headers=insider
    )
    assert r.status_code == 200 and r.json()["status"] == "in_progress"


def test_every_change_goes_to_the_append_only_event_log(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "entrance_cleaning", b["lon"], b["lat"])
    inspector = staff(conn, "inspector")
    for to in ("assigned", "in_progress", "resolved", "closed"):
        r = client.post(
            f"/api/v1/appeals/{a['reg_number']}/transition",
            json={"to": to, "comment": f"now {to}"},
            headers=inspector,
        )
        assert r.status_code == 200, r.text
    events = client.get(f"/api/v1/appeals/{a['reg_number']}/events", headers=inspector).json()
    assert [e["to_status"] for e in events] == [
        "registered",
        "assigned",
        "in_progress",
        "resolved",
        "closed",
    ]
    assert all(e["actor"] for e in events)
    with pytest.raises(Exception, match="append-only"):  # conn commits each statement here
        conn.execute(
            text("UPDATE appeal_events SET comment = 'x' WHERE city_id = :c"), {"c": city_id}
        )


def test_a_transition_the_state_machine_forbids_is_a_409(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    r = client.post(
        f"/api/v1/appeals/{a['reg_number']}/transition",
        json={"to": "closed"},
        headers=staff(conn, "inspector"),
    )
    assert r.status_code == 409 and "cannot become 'closed'" in r.json()["detail"]


def test_deferring_needs_the_year(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "yard_asphalt", b["lon"], b["lat"])
    h = staff(conn, "inspector")
    r = client.post(
        f"/api/v1/appeals/{a['reg_number']}/transition", json={"to": "deferred"}, headers=h
    )
    assert r.status_code == 422 and "deferred_to_year" in r.json()["detail"]
    r = client.post(
        f"/api/v1/appeals/{a['reg_number']}/transition",
        json={"to": "deferred", "deferred_to_year": 2027},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["deferred_to_year"] == 2027


def test_a_call_back_is_marked_and_logged_and_leaves_the_state_alone(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    operator = staff(conn, "operator")
    r = client.post(f"/api/v1/appeals/{a['reg_number']}/callback", headers=operator)
    assert r.status_code == 200, r.text
    assert r.json()["callback_done"] is True and r.json()["status"] == a["status"]
    events = client.get(f"/api/v1/appeals/{a['reg_number']}/events", headers=operator).json()
    assert len(events) == 2
    assert events[-1]["comment"] == "callback done"
    assert events[-1]["from_status"] == events[-1]["to_status"] == a["status"]


def test_a_planner_does_not_call_applicants_back(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    r = client.post(f"/api/v1/appeals/{a['reg_number']}/callback", headers=staff(conn, "planner"))
    assert r.status_code == 403 and "planner" in r.json()["detail"]
    done = conn.execute(
        text("SELECT callback_done FROM appeals WHERE id = :i"), {"i": a["id"]}
    ).scalar_one()
    assert done is False


def test_no_public_response_contains_applicant_data(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    key = channel_key(conn, "telegram")
    r = _post(
        client,
        {"X-API-Key": key},
        category="lift_broken",
        lon=b["lon"],
        lat=b["lat"],
        applicant_name=PERSONAL[0],
        applicant_phone=PERSONAL[1],
        applicant_email=PERSONAL[2],
        description="Лифт стоит третий день",
    )
    assert r.status_code == 201, r.text
    reg = r.json()["appeal"]["reg_number"]
    assert r.json()["appeal"].get("channel") == "telegram"
    public = [
        r.text,
        client.get(f"/public/track/{reg}").text,
        client.get(f"/public/track/{reg.lower()}").text,
    ]
    for body in public:
        for secret in PERSONAL:
            assert secret not in body
    # staff see it
    staff_view = client.get(f"/api/v1/appeals/{reg}", headers=staff(conn, "operator")).json()
    assert staff_view["applicant"]["phone"] == PERSONAL[1]
    # a planner (no need to call anyone) does not
    planner_view = client.get(f"/api/v1/appeals/{reg}", headers=staff(conn, "planner")).json()
    assert planner_view.get("applicant") is None


def test_the_tracker_shows_status_history_deadline_and_place(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "no_water", b["lon"], b["lat"])
    body = client.get(f"/public/track/{a['reg_number']}").json()
    assert body["appeal"]["status"] == "registered"
    assert body["appeal"]["deadline_at"]
    assert abs(body["appeal"]["lon"] - b["lon"]) < 1e-6
    assert [e["to_status"] for e in body["history"]] == ["registered"]
    assert "actor" not in json.dumps(body["history"]).replace("actor_role", "")


def test_a_resent_appeal_with_the_same_key_returns_the_first(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    key = channel_key(conn, "website")
    headers = {"X-API-Key": key, "Idempotency-Key": "site-form-8f3a"}
    body = {"category": "garbage", "lon": b["lon"], "lat": b["lat"]}
    r1 = client.post("/api/v1/appeals", json=body, headers=headers)
    r2 = client.post("/api/v1/appeals", json=body, headers=headers)
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["appeal"]["reg_number"] == r2.json()["appeal"]["reg_number"]
    assert r2.json()["created"] is False
    n = conn.execute(
        text(
            "SELECT count(*) FROM appeals WHERE city_id = :c AND idempotency_key = 'site-form-8f3a'"
        ),
        {"c": city_id},
    ).scalar()
    assert n == 1


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"category": "garbage", "lon": 71.43, "lat": 51.13}, 422, "outside the city"),
        ({"category": "no_such_thing", "lon": 69.15, "lat": 54.87}, 422, "unknown category"),
        ({"category": "garbage", "lon": 369.15, "lat": 54.87}, 422, "lon"),
        ({"category": "garbage", "lon": "east", "lat": 54.87}, 422, "lon"),
        (
            {"category": "garbage", "lon": 69.15, "lat": 54.87, "description": "x" * 4001},
            422,
            "description",
        ),
    ],
)
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(client, conn, body, status, words):
    r = _post(client, staff(conn, "operator"), **body)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_an_unknown_registration_number_is_a_404(client):
    r = client.get("/public/track/PET-2026-999999")
    assert r.status_code == 404 and "PET-2026-999999" in r.json()["detail"]


def test_a_wrong_role_is_refused(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    r = _post(client, staff(conn, "planner"), category="garbage", lon=b["lon"], lat=b["lat"])
    assert r.status_code == 403 and "planner" in r.json()["detail"]
    r = _post(client, {}, category="garbage", lon=b["lon"], lat=b["lat"])
    assert r.status_code == 401


def test_login_with_the_password_flow_gives_a_working_token(client, conn):
    from geo.staff.auth import add_user

    add_user(conn, "PET", "aigerim", "correct-horse-battery", "controller")
    bad = client.post("/api/v1/auth/token", data={"username": "aigerim", "password": "nope"})
    assert bad.status_code == 401
    ok = client.post(
        "/api/v1/auth/token", data={"username": "aigerim", "password": "correct-horse-battery"}
    )
    assert ok.status_code == 200 and ok.json()["role"] == "controller"
    token = ok.json()["access_token"]
    r = client.get(
        "/api/v1/appeals", params={"overdue": True}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    assert r.json(), "the demo city has overdue appeals"
    assert all(a["overdue"] for a in r.json())


def test_an_appeal_knows_its_metric_point_and_yard_when_written(conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "yard_asphalt", b["lon"], b["lat"])
    row = (
        conn.execute(
            text("""
        SELECT a.x_m, a.y_m, a.yard_id,
               ST_X(ST_Transform(a.geom, 32642)) AS x, ST_Y(ST_Transform(a.geom, 32642)) AS y,
               (SELECT min(yard_id) FROM yard_buildings WHERE city_id = a.city_id
                  AND building_id = :b) AS building_yard
        FROM appeals a WHERE a.city_id = :c AND a.id = :i"""),
            {"c": city_id, "i": a["id"], "b": b["id"]},
        )
        .mappings()
        .one()
    )
    assert row["x_m"] == pytest.approx(row["x"], abs=1e-6)
    assert row["y_m"] == pytest.approx(row["y"], abs=1e-6)
    assert row["yard_id"] is not None


# --- the rules in the database (migration 0005) ----------------------------------------------


@pytest.mark.parametrize("lat", [0.0, 43.2, 54.87, -33.9, 88.5])
@pytest.mark.parametrize("metres", [30.0, 250.0])
def test_the_database_degree_box_is_the_python_one(conn, lat, metres):
    from geo.appeals.intake import degree_box

    dx, dy = conn.execute(
        text("SELECT dx, dy FROM qala_degree_box(:lat, :m)"), {"lat": lat, "m": metres}
    ).one()
    assert (dx, dy) == pytest.approx(degree_box(lat, metres), rel=1e-12)


def test_a_refused_appeal_writes_nothing_and_leaves_the_transaction_usable(conn, city_id):
    """Checks in qala_create_appeal answer with a problem instead of raising: nothing is
    written, no sequence number is spent, and the caller's transaction goes on."""
    from geo.appeals.actors import Actor
    from geo.appeals.intake import NewAppeal, create_appeal
    from geo.infra.errors import InvalidInput

    b = an_apartment_building(conn, city_id)
    before = conn.execute(text("SELECT count(*) FROM appeals")).scalar()
    actor = Actor(name="operator-test", role="operator")
    bad = [
        NewAppeal(category="no_such_thing", lon=b["lon"], lat=b["lat"]),
        NewAppeal(category="garbage", lon=71.43, lat=51.13),  # Astana, not this city
        NewAppeal(category="garbage", lon=b["lon"], lat=b["lat"], repeat_of="PET-1999-000001"),
        NewAppeal(
            category="garbage", lon=b["lon"], lat=b["lat"], object_kind="well", object_id=10**12
        ),
    ]
    messages = []
    for new in bad:
        with pytest.raises(InvalidInput) as caught:
            create_appeal(conn, city_id, new, actor)
        messages.append(str(caught.value))
    assert "unknown category 'no_such_thing'" in messages[0]
    assert "outside the city" in messages[1]
    assert "repeat_of: no appeal 'PET-1999-000001'" in messages[2]
    assert f"no well with id {10**12}" in messages[3]
    assert conn.execute(text("SELECT count(*) FROM appeals")).scalar() == before
    ok = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])  # same transaction
    assert ok["reg_number"].startswith("PET-")


def test_the_created_appeal_is_read_as_the_card_every_reader_sees(conn, city_id):
    from geo.appeals.reads import get_appeal

    b = an_apartment_building(conn, city_id)
    made = make_appeal(conn, city_id, "no_water", b["lon"], b["lat"], applicant_name=PERSONAL[0])
    assert made == get_appeal(conn, city_id, appeal_id=made["id"])
    assert "applicant" not in made and PERSONAL[0] not in json.dumps(made, default=str)


def test_the_first_appeal_of_a_city_and_year_creates_its_sequence(conn):
    """A new city's first appeal makes the year's sequence; the next ones count on."""
    from tests.factories import make_city

    cid = make_city(conn, "SEQ")
    year = dt.datetime.now(dt.UTC).year
    regs = [make_appeal(conn, cid, "garbage", 69.40, 54.95)["reg_number"] for _ in range(2)]
    assert regs == [f"SEQ-{year}-000001", f"SEQ-{year}-000002"]
    seq = f"appeal_seq_{cid}_{year}"
    assert conn.execute(text(f"SELECT last_value FROM {seq}")).scalar() == 2


def test_a_revoked_channel_key_stops_working_within_the_cache_time(app, client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    key = channel_key(conn, "telegram")
    body = {"category": "garbage", "lon": b["lon"], "lat": b["lat"]}
    assert _post(client, {"X-API-Key": key}, **body).status_code == 201
    conn.execute(text("UPDATE api_keys SET active = false WHERE name LIKE 'telegram-bot-%'"))
    # remembered as valid for api_key_cache_s (10 s by default) ...
    assert _post(client, {"X-API-Key": key}, **body).status_code == 201
    app.state.api_keys.ttl = 0  # ... and refused once that time has passed
    r = _post(client, {"X-API-Key": key}, **body)
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    # an unknown key is never remembered
    assert _post(client, {"X-API-Key": "qk_nope"}, **body).status_code == 403
    assert "qk_nope" not in app.state.api_keys._known


def test_two_first_appeals_of_a_year_at_once_both_get_a_number(make_database):
    """Two channels register the first appeals of a new city's year at the same moment: one
    creates the year's sequence, the other waits for it and counts on (no error, no gap)."""
    import threading

    from sqlalchemy import create_engine

    from geo.appeals.actors import Actor
    from geo.appeals.intake import NewAppeal, create_appeal
    from geo.city.catalog import load_categories
    from geo.infra.migrate import upgrade
    from tests.factories import make_city

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            c.execute(text("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch"))
            load_categories(c)
            cid = make_city(c, "TWO")
        first, second = engine.connect(), engine.connect()
        actor = Actor(name="bot", role="channel")
        new = NewAppeal(category="garbage", lon=69.40, lat=54.95, channel="website")
        first.begin()
        a, _ = create_appeal(first, cid, new, actor)  # creates the sequence, not committed
        out: dict = {}

        def other():
            try:
                with second.begin():
                    out["b"] = create_appeal(second, cid, new, actor)[0]
            except Exception as exc:  # noqa: BLE001 - the test reports it
                out["error"] = exc

        t = threading.Thread(target=other)
        t.start()
        t.join(1.0)
        assert t.is_alive()  # waiting for the first transaction's sequence
        first.commit()
        t.join(30)
        assert "error" not in out, out.get("error")
        year = dt.datetime.now(dt.UTC).year
        assert {a["reg_number"], out["b"]["reg_number"]} == {
            f"TWO-{year}-000001",
            f"TWO-{year}-000002",
        }
    finally:
        first.close()
        second.close()
        engine.dispose()
