"""The staff workspace's API: the work list (filters, order, counts, paging, CSV, GeoJSON),
one appeal's file and the actions offered, stale versions, notes kept apart, the stream's
ticket, and an executor of another organisation refused."""

from __future__ import annotations

import csv
import io

from sqlalchemy import text

from tests.factories import an_apartment_building, make_appeal, staff


def _other_org(conn, city_id, org):
    return conn.execute(
        text(
            "SELECT id FROM organisations WHERE city_id = :c AND id <> :o "
            "AND kind = 'housing_org' ORDER BY id LIMIT 1"
        ),
        {"c": city_id, "o": org},
    ).scalar_one()


def test_the_work_list_pages_counts_and_filters(client, conn, city_id):
    inspector = staff(conn, "inspector")
    b = an_apartment_building(conn, city_id, offset=7)
    a = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], address_text="Абая 12, кв. 5 test-xyz"
    )
    r = client.get("/api/v1/staff/appeals", headers=inspector, params={"limit": 5})
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["items"]) == 5 and page["limit"] == 5
    assert page["total"] == sum(page["counts"].values()) > 5
    # status: the total is that status's count, the counts stay those of every status
    r = client.get("/api/v1/staff/appeals", headers=inspector, params={"status": "registered"})
    only = r.json()
    assert only["counts"] == page["counts"]
    assert only["total"] == page["counts"]["registered"]
    assert all(x["status"] == "registered" for x in only["items"])
    # the next page does not repeat the first
    second = client.get(
        "/api/v1/staff/appeals", headers=inspector, params={"limit": 5, "offset": 5}
    ).json()
    assert not {x["reg_number"] for x in second["items"]} & {x["reg_number"] for x in page["items"]}
    # by number (its end) or the address as written
    for q in (a["reg_number"], a["reg_number"][-6:], "test-xyz"):
        found = client.get("/api/v1/staff/appeals", headers=inspector, params={"q": q}).json()
        assert [x["reg_number"] for x in found["items"]] == [a["reg_number"]], q
    # group, channel, district, organisation, period
    params = {
        "group": "housing",
        "channel": a["channel"],
        "district_id": a["district_id"],
        "organisation_id": a["organisation_id"],
        "since": "2000-01-01T00:00:00Z",
        "limit": 500,
    }
    got = client.get("/api/v1/staff/appeals", headers=inspector, params=params).json()
    assert a["reg_number"] in {x["reg_number"] for x in got["items"]}
    assert all(x["organisation_id"] == a["organisation_id"] for x in got["items"])
    assert all(x["channel"] == a["channel"] for x in got["items"])
    # sorted by deadline
    by_deadline = client.get(
        "/api/v1/staff/appeals", headers=inspector, params={"sort": "deadline", "limit": 50}
    ).json()["items"]
    deadlines = [x["deadline_at"] for x in by_deadline]
    assert deadlines == sorted(deadlines)
    # overdue and due today are what they say
    for x in client.get(
        "/api/v1/staff/appeals", headers=inspector, params={"overdue": "true"}
    ).json()["items"]:
        assert x["overdue"]
    # bad input says what is wrong
    r = client.get("/api/v1/staff/appeals", headers=inspector, params={"status": "lost"})
    assert r.status_code == 422 and "unknown status" in r.json()["detail"]
    r = client.get(
        "/api/v1/staff/appeals",
        headers=inspector,
        params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 422 and "until" in r.json()["detail"]


def test_due_today_means_a_deadline_today_in_the_citys_time(client, conn, city_id):
    inspector = staff(conn, "inspector")
    b = an_apartment_building(conn, city_id, offset=9)
    a = make_appeal(conn, city_id, "open_manhole", b["lon"], b["lat"])
    conn.execute(
        text(
            "UPDATE appeals SET deadline_at = (date_trunc('day', now() AT TIME ZONE 'Asia/Almaty') "
            "+ interval '23 hours 59 minutes') AT TIME ZONE 'Asia/Almaty' "
            "WHERE city_id = :c AND reg_number = :r"
        ),
        {"c": city_id, "r": a["reg_number"]},
    )
    got = client.get(
        "/api/v1/staff/appeals", headers=inspector, params={"due_today": "true", "limit": 500}
    ).json()
    assert a["reg_number"] in {x["reg_number"] for x in got["items"]}
    conn.execute(
        text(
            "UPDATE appeals SET deadline_at = deadline_at + interval '1 day' "
            "WHERE city_id = :c AND reg_number = :r"
        ),
        {"c": city_id, "r": a["reg_number"]},
    )
    got = client.get(
        "/api/v1/staff/appeals", headers=inspector, params={"due_today": "true", "limit": 500}
    ).json()
    assert a["reg_number"] not in {x["reg_number"] for x in got["items"]}


def test_csv_and_geojson_hold_the_filtered_list_and_no_applicant(client, conn, city_id):
    inspector = staff(conn, "inspector")
    b = an_apartment_building(conn, city_id, offset=11)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_name="Секрет Тестов")
    r = client.get(
        "/api/v1/staff/appeals",
        headers=inspector,
        params={"format": "csv", "status": "registered"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert a["reg_number"] in {x["reg_number"] for x in rows}
    assert {x["status"] for x in rows} == {"registered"}
    assert "Секрет Тестов" not in r.text
    r = client.get(
        "/api/v1/staff/appeals",
        headers=inspector,
        params={"format": "geojson", "q": a["reg_number"]},
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    (feature,) = r.json()["features"]
    assert feature["properties"]["reg_number"] == a["reg_number"]


def test_an_executor_lists_only_its_own_and_gets_403_for_anothers_appeal(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=13)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    other = _other_org(conn, city_id, a["organisation_id"])
    outsider = staff(conn, "executor", other)
    listed = client.get("/api/v1/staff/appeals", headers=outsider, params={"limit": 500}).json()
    assert all(x["organisation_id"] == other for x in listed["items"])
    assert a["reg_number"] not in {x["reg_number"] for x in listed["items"]}
    r = client.get(f"/api/v1/staff/appeals/{a['reg_number']}", headers=outsider)
    assert r.status_code == 403 and "another organisation" in r.json()["detail"]
    r = client.get("/api/v1/staff/appeals/PET-1999-999999", headers=outsider)
    assert r.status_code == 404 and "PET-1999-999999" in r.json()["detail"]
    r = client.post(
        f"/api/v1/staff/appeals/{a['reg_number']}/notes",
        json={"kind": "internal", "body": "x"},
        headers=outsider,
    )
    assert r.status_code == 404


def test_the_file_offers_each_role_its_actions_and_the_day_runs_through(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=15)
    a = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_phone="+7 700 000 11 22"
    )
    reg, org = a["reg_number"], a["organisation_id"]
    inspector, controller = staff(conn, "inspector"), staff(conn, "controller")
    executor = staff(conn, "executor", org)
    url = f"/api/v1/staff/appeals/{reg}"

    def file(who):
        r = client.get(url, headers=who)
        assert r.status_code == 200, r.text
        return r.json()

    def names(f):
        return [x["name"] for x in f["actions"]]

    f = file(inspector)
    assert f["appeal"]["applicant"]["phone"] == "+7 700 000 11 22"
    assert f["events"][0]["to_status"] == "registered"
    assert "assign" in names(f) and "duplicate" in names(f)
    assert "assign" not in names(file(executor)) and "start" not in names(file(executor))

    def act(who, version, **body):
        return client.post(
            f"/api/v1/appeals/{reg}/transition", json={"version": version, **body}, headers=who
        )

    r = act(inspector, f["appeal"]["version"], to="assigned", organisation_id=org)
    assert r.status_code == 200, r.text
    f = file(executor)
    assert names(f)[:3] == ["accept", "start", "complete"]
    r = act(executor, f["appeal"]["version"], to="assigned", comment="принято")
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    f = file(executor)
    assert "accept" not in names(f)
    r = act(executor, f["appeal"]["version"], to="in_progress")
    assert r.status_code == 200
    r = act(
        executor,
        r.json()["version"],
        to="resolved",
        comment="заменили кровлю",
        public_note="Кровля отремонтирована",
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    f = file(controller)
    assert names(f) == ["close", "send_back"]
    r = act(controller, f["appeal"]["version"], to="closed")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert names(file(controller)) == ["reopen"]
    # the call-back's result goes to the log
    r = client.post(
        f"/api/v1/appeals/{reg}/callback", json={"result": "доволен"}, headers=controller
    )
    assert r.status_code == 200 and r.json()["callback_done"]
    f = file(controller)
    assert f["events"][-1]["comment"] == "callback done: доволен"
    # the resident sees the public note, never the internal comment or a name
    track = client.get(f"/public/track/{reg}").json()
    assert [n["body"] for n in track["notes"]] == ["Кровля отремонтирована"]
    assert "author" not in track["notes"][0]
    assert "заменили кровлю" not in str(track)


def test_a_stale_version_changes_nothing_and_shows_the_appeal_as_it_is(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=17)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    reg, org = a["reg_number"], a["organisation_id"]
    one, two = staff(conn, "inspector"), staff(conn, "inspector")
    seen = client.get(f"/api/v1/staff/appeals/{reg}", headers=one).json()["appeal"]["version"]
    first = client.post(
        f"/api/v1/appeals/{reg}/transition",
        json={"to": "assigned", "organisation_id": org, "version": seen},
        headers=one,
    )
    assert first.status_code == 200
    second = client.post(
        f"/api/v1/appeals/{reg}/transition",
        json={"to": "rejected", "version": seen, "comment": "spam"},
        headers=two,
    )
    assert second.status_code == 409
    body = second.json()
    assert "changed by someone else" in body["detail"]
    assert body["appeal"]["status"] == "assigned"
    assert body["appeal"]["version"] == seen + 1
    events = client.get(f"/api/v1/appeals/{reg}/events", headers=one).json()
    assert [e["to_status"] for e in events] == ["registered", "assigned"]


def test_a_transition_the_role_may_not_make_or_unknown_number_changes_nothing(
    client, conn, city_id
):
    b = an_apartment_building(conn, city_id, offset=19)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    reg = a["reg_number"]
    controller = staff(conn, "controller")
    r = client.post(
        f"/api/v1/appeals/{reg}/transition", json={"to": "in_progress"}, headers=controller
    )
    assert r.status_code == 403 and "cannot set status 'in_progress'" in r.json()["detail"]
    r = client.post(
        "/api/v1/appeals/PET-1999-000001/transition", json={"to": "closed"}, headers=controller
    )
    assert r.status_code == 404 and "PET-1999-000001" in r.json()["detail"]
    status = conn.execute(
        text("SELECT status FROM appeals WHERE city_id = :c AND reg_number = :r"),
        {"c": city_id, "r": reg},
    ).scalar_one()
    assert status == "registered"


def test_a_duplicate_names_its_original_which_lists_it_as_a_repeat(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=21)
    original = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    copy = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    inspector = staff(conn, "inspector")
    url = f"/api/v1/appeals/{copy['reg_number']}/transition"
    r = client.post(
        url, json={"to": "duplicate", "duplicate_of": "PET-1999-000404"}, headers=inspector
    )
    assert r.status_code == 422 and "PET-1999-000404" in r.json()["detail"]
    r = client.post(
        url, json={"to": "duplicate", "duplicate_of": original["reg_number"]}, headers=inspector
    )
    assert r.status_code == 200 and r.json()["repeat_of"] == original["reg_number"]
    f = client.get(f"/api/v1/staff/appeals/{original['reg_number']}", headers=inspector).json()
    assert copy["reg_number"] in {x["reg_number"] for x in f["repeats"]}


def test_internal_notes_stay_with_staff_public_ones_reach_the_resident(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=23)
    a = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    inspector = staff(conn, "inspector")
    url = f"/api/v1/staff/appeals/{a['reg_number']}/notes"
    assert (
        client.post(url, json={"kind": "internal", "body": "звонить после 18"}, headers=inspector)
    ).status_code == 201
    r = client.post(
        url, json={"kind": "public", "body": "Бригада выедет завтра"}, headers=inspector
    )
    assert r.status_code == 201 and r.json()["kind"] == "public"
    r = client.post(url, json={"kind": "secret", "body": "x"}, headers=inspector)
    assert r.status_code == 422
    kinds = [
        (n["kind"], n["body"])
        for n in client.get(f"/api/v1/staff/appeals/{a['reg_number']}", headers=inspector).json()[
            "notes"
        ]
    ]
    assert kinds == [("internal", "звонить после 18"), ("public", "Бригада выедет завтра")]
    track = client.get(f"/public/track/{a['reg_number']}").json()
    assert [n["body"] for n in track["notes"]] == ["Бригада выедет завтра"]
    # the public writes no note
    assert client.post(url, json={"kind": "public", "body": "x"}).status_code == 401


def test_the_stream_takes_a_short_ticket_never_the_token(client, conn):
    inspector = staff(conn, "inspector")
    r = client.post("/api/v1/staff/stream/ticket", headers=inspector)
    assert r.status_code == 200 and r.json()["expires_in"] == 60
    ticket = r.json()["ticket"]
    token = inspector["Authorization"].split()[1]
    # the long token is no ticket, and the ticket is no token
    r = client.get("/api/v1/staff/stream", params={"ticket": token})
    assert r.status_code == 401 and "stream ticket" in r.json()["detail"]
    r = client.get("/api/v1/staff/appeals", headers={"Authorization": f"Bearer {ticket}"})
    assert r.status_code == 401
    assert client.post("/api/v1/staff/stream/ticket").status_code == 401


def test_the_stream_hands_each_change_only_to_whom_it_concerns(api_database):
    """The database's NOTIFY, through the process's one LISTEN connection, to the streams
    of the same city, an executor's only for its organisation's appeals; a bulk write is
    one word."""
    import asyncio

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from api.stream import AppealHub
    from geo.appeals.actors import Actor
    from geo.staff.scope import Scope

    admin = create_engine(api_database.admin)
    with admin.connect() as c:
        city = c.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        pick = (
            "SELECT a.reg_number, a.organisation_id FROM appeals a WHERE a.city_id = :c "
            "AND a.organisation_id IS NOT NULL AND a.organisation_id <> :not "
            "ORDER BY a.id LIMIT 1"
        )
        mine, org_y = c.execute(text(pick), {"c": city, "not": 0}).one()
        # another organisation's appeal, staying there
        theirs, org_x = c.execute(text(pick), {"c": city, "not": org_y}).one()
    inspector = Actor("insp", "inspector")

    def change(reg: str, org: int) -> None:
        # as lifecycle.transition: the appeal, then its event; NOTIFY leaves with the commit
        with admin.begin() as c:
            c.execute(
                text(
                    "UPDATE appeals SET organisation_id = :o WHERE city_id = :c AND reg_number = :r"
                ),
                {"c": city, "r": reg, "o": org},
            )
            c.execute(
                text(
                    "INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, "
                    "from_status, to_status, organisation_id) SELECT a.city_id, a.id, 'insp', "
                    "'inspector', a.status, a.status, :o FROM appeals a "
                    "WHERE a.city_id = :c AND a.reg_number = :r"
                ),
                {"c": city, "r": reg, "o": org},
            )

    def bulk() -> None:
        with admin.begin() as c:
            c.execute(
                text(
                    "INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, "
                    "from_status, to_status) SELECT :c, a.id, 'import', 'admin', a.status, "
                    "a.status FROM appeals a WHERE a.city_id = :c ORDER BY a.id LIMIT 60"
                ),
                {"c": city},
            )

    dsn = make_url(api_database.service).set(drivername="postgresql")

    async def scenario():
        hub = AppealHub(dsn.render_as_string(hide_password=False))
        everyone = await hub.subscribe(Scope(city, inspector))
        executor = await hub.subscribe(Scope(city, Actor("e", "executor", organisation_id=org_y)))
        elsewhere = await hub.subscribe(Scope(city + 1000, Actor("i", "inspector")))
        try:
            await asyncio.to_thread(change, theirs, org_x)  # not the executor's
            await asyncio.to_thread(change, mine, org_y)
            await asyncio.to_thread(bulk)
            await asyncio.to_thread(change, mine, org_x)  # reassigned away from the executor
            seen = [await asyncio.wait_for(everyone.queue.get(), 10) for _ in range(4)]
            got = [await asyncio.wait_for(executor.queue.get(), 10) for _ in range(3)]
            return seen, got, elsewhere.queue.qsize()
        finally:
            await hub.close()

    seen, theirs_seen, stray = asyncio.run(scenario())
    admin.dispose()
    assert [(x["kind"], x.get("reg")) for x in seen] == [
        ("event", theirs),
        ("event", mine),
        ("bulk", None),
        ("event", mine),
    ]
    assert seen[1]["org"] == org_y
    assert (seen[3]["org"], seen[3]["previous_org"]) == (org_x, org_y)
    # the executor: its organisation's appeal, the bulk word, and the appeal leaving it;
    # never the other organisation's change
    assert [(x["kind"], x.get("reg")) for x in theirs_seen] == [
        ("event", mine),
        ("bulk", None),
        ("event", mine),
    ]
    assert stray == 0  # another city hears nothing
