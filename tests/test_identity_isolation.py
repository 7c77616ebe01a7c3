"""Cities are isolated: staff of a second city can neither read nor change the first city's
appeals, contacts or yards, whether or not the request names the first city (issue 10, 1).

The scope of a request comes from its credentials (``api.deps.get_scope``): without
``?city=`` a HEL token works in HEL; ``?city=PET`` with a HEL token is a 403 that says how to
switch; an appeal or yard of PET looked up in HEL is not found there (404), never changed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.deps import SessionDep
from tests.factories import (
    an_apartment_building,
    channel_key,
    make_appeal,
    make_city,
    staff,
)

CONTACTS = ("Сауле Тестова", "+7 701 555 44 33", "saule@example.kz")


@pytest.fixture
def pet_appeal(conn, city_id) -> dict:
    """An appeal of PET with the applicant's contacts."""
    b = an_apartment_building(conn, city_id)
    return make_appeal(
        conn,
        city_id,
        "roof_leak",
        b["lon"],
        b["lat"],
        applicant_name=CONTACTS[0],
        applicant_phone=CONTACTS[1],
        applicant_email=CONTACTS[2],
    )


@pytest.fixture
def hel(conn) -> int:
    return make_city(conn, "HEL")


def _no_contacts(r) -> None:
    for value in CONTACTS:
        assert value not in r.text


@pytest.mark.parametrize("role", ["operator", "admin"])
@pytest.mark.parametrize("name_pet", [False, True], ids=["no-city", "city=PET"])
def test_staff_of_another_city_cannot_read_an_appeal(client, conn, hel, pet_appeal, role, name_pet):
    h = staff(conn, role, city="HEL")
    q = {"city": "PET"} if name_pet else {}
    reg = pet_appeal["reg_number"]
    listed = client.get("/api/v1/appeals", headers=h, params={"limit": 500, **q})
    one = client.get(f"/api/v1/appeals/{reg}", headers=h, params=q)
    events = client.get(f"/api/v1/appeals/{reg}/events", headers=h, params=q)
    for r in (listed, one, events):
        _no_contacts(r)
        assert "applicant" not in r.text and "created_at" not in r.text  # no appeal at all
    if name_pet:  # the credentials are for HEL: naming PET is refused, saying how to switch
        for r in (listed, one, events):
            assert r.status_code == 403, r.text
            assert (
                "HEL" in r.json()["detail"] and "/api/v1/auth/switch?city=PET" in r.json()["detail"]
            )
    else:  # HEL's own appeals (none) and no PET appeal found in HEL
        assert listed.status_code == 200 and listed.json() == []
        assert one.status_code == 404 and events.status_code == 404


def test_the_same_city_staff_do_see_it(client, conn, pet_appeal):
    """The control: the PET operator reads the appeal and its contacts."""
    r = client.get(f"/api/v1/appeals/{pet_appeal['reg_number']}", headers=staff(conn, "operator"))
    assert r.status_code == 200 and r.json()["applicant"]["phone"] == CONTACTS[1]


@pytest.mark.parametrize("name_pet", [False, True], ids=["no-city", "city=PET"])
def test_staff_of_another_city_get_no_place_card_of_it(client, conn, hel, pet_appeal, name_pet):
    params = {"lon": pet_appeal["lon"], "lat": pet_appeal["lat"]}
    if name_pet:
        params["city"] = "PET"
    r = client.get("/api/v1/place", headers=staff(conn, "operator", city="HEL"), params=params)
    assert r.status_code == (403 if name_pet else 422), r.text  # 422: the point is not in HEL
    assert pet_appeal["reg_number"] not in r.text
    _no_contacts(r)


def _state(conn, city_id, reg) -> tuple:
    return conn.execute(
        text(
            "SELECT status, callback_done, (SELECT count(*) FROM appeal_events e "
            "WHERE e.city_id = a.city_id AND e.appeal_id = a.id) "
            "FROM appeals a WHERE city_id = :c AND reg_number = :r"
        ),
        {"c": city_id, "r": reg},
    ).one()


@pytest.mark.parametrize("role", ["operator", "admin"])
@pytest.mark.parametrize("name_pet", [False, True], ids=["no-city", "city=PET"])
def test_staff_of_another_city_cannot_change_an_appeal(
    client, conn, city_id, hel, pet_appeal, role, name_pet
):
    h = staff(conn, role, city="HEL")
    q = {"city": "PET"} if name_pet else {}
    reg = pet_appeal["reg_number"]
    before = _state(conn, city_id, reg)
    moved = client.post(
        f"/api/v1/appeals/{reg}/transition",
        headers=h,
        params=q,
        json={"to": "rejected", "comment": "not ours"},
    )
    called = client.post(f"/api/v1/appeals/{reg}/callback", headers=h, params=q)
    for r in (moved, called):
        assert r.status_code == (403 if name_pet else 404), r.text
        _no_contacts(r)
    assert _state(conn, city_id, reg) == before


def _yard(conn, city_id) -> dict:
    return dict(
        conn.execute(
            text(
                "SELECT id, repair_status, planned_start, cost_estimate FROM yards "
                "WHERE city_id = :c ORDER BY id LIMIT 1"
            ),
            {"c": city_id},
        )
        .mappings()
        .one()
    )


@pytest.mark.parametrize("name_pet", [False, True], ids=["no-city", "city=PET"])
def test_an_admin_of_another_city_cannot_edit_a_yard_repair(client, conn, city_id, hel, name_pet):
    yard = _yard(conn, city_id)
    r = client.patch(
        f"/api/v1/yards/{yard['id']}/repair",
        headers=staff(conn, "admin", city="HEL"),
        params={"city": "PET"} if name_pet else {},
        json={"repair_status": "done", "cost_estimate": 1, "planned_start": "2030-01-01"},
    )
    assert r.status_code == (403 if name_pet else 404), r.text
    if not name_pet:
        assert "no yard" in r.json()["detail"]
    assert _yard(conn, city_id) == yard


def test_the_planner_of_the_yards_city_can_edit_it(client, conn, city_id):
    """The control for the test above."""
    yard = _yard(conn, city_id)
    r = client.patch(
        f"/api/v1/yards/{yard['id']}/repair",
        headers=staff(conn, "planner"),
        json={"cost_estimate": 12345},
    )
    assert r.status_code == 200, r.text
    assert float(_yard(conn, city_id)["cost_estimate"]) == 12345


def test_a_staff_layer_of_another_city_shows_nothing_of_it(client, conn, hel, pet_appeal):
    h = staff(conn, "operator", city="HEL")
    r = client.get("/ogc/collections/appeals_staff/items", headers=h)
    assert r.status_code == 200 and r.json()["numberMatched"] == 0
    r = client.get("/ogc/collections/appeals_staff/items", headers=h, params={"city": "PET"})
    assert r.status_code == 403


def test_a_channel_key_works_in_its_own_city_only(client, conn, hel):
    key = {"X-API-Key": channel_key(conn, city="HEL")}
    body = {"category": "garbage", "lon": 69.40, "lat": 54.95, "channel": "website"}
    r = client.post("/api/v1/appeals", json=body, headers=key)  # no ?city=: the key's city
    assert r.status_code == 201, r.text
    assert r.json()["appeal"]["reg_number"].startswith("HEL-")
    r = client.post("/api/v1/appeals", json=body, headers=key, params={"city": "PET"})
    assert r.status_code == 403 and "HEL" in r.json()["detail"]


def test_the_public_reads_the_city_it_names(client, conn, hel, pet_appeal):
    reg = pet_appeal["reg_number"]
    assert client.get(f"/public/track/{reg}").status_code == 200  # the default city, PET
    assert client.get(f"/public/track/{reg}", params={"city": "HEL"}).status_code == 404


def test_every_session_transaction_carries_the_scope(client, conn, hel):
    """``get_session`` applies the scope on each transaction (what row-level security
    reads): a HEL admin's request runs with qala.city_id = HEL's id and role admin."""
    app = client.app
    seen: dict = {}

    @app.get("/test/scope")
    def probe(session: SessionDep) -> dict:
        row = session.execute(
            text("SELECT current_setting('qala.city_id'), current_setting('qala.role')")
        ).one()
        seen.update(city=row[0], role=row[1])
        return {}

    assert client.get("/test/scope", headers=staff(conn, "admin", city="HEL")).status_code == 200
    assert seen == {"city": str(hel), "role": "admin"}
