"""Cities are isolated through the API: a second city's staff and channels never read nor
change the first city's appeals, contacts or yards, even where a route forgets its filter.

The app runs as in production (``conftest``: the service role, row-level security, the
asyncpg write path) on a database of the test's own.
"""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from api.app import UnsafeDatabaseRole, create_app
from api.deps import DbDep, ScopeDep, SessionDep
from geo.infra.settings import Settings
from geo.staff.auth import add_api_key
from tests.conftest import SECRET
from tests.factories import (
    an_apartment_building,
    insert_appeal,
    make_appeal,
    make_city,
    staff,
)

PERSON = {"applicant_name": "Айгерим Сапарова", "applicant_phone": "+7 701 555 12 34"}


@pytest.fixture
def second_city(conn, city_id):
    """City A (the demo city) with an appeal and its applicant; city B with one appeal and
    an operator, an admin and a channel key of its own."""
    b = an_apartment_building(conn, city_id)
    appeal = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"], **PERSON)
    other = make_city(conn, "ISB")
    insert_appeal(conn, other, 69.40, 54.95)
    return {
        "a": city_id,
        "b": other,
        "appeal": appeal,
        "operator_b": staff(conn, "operator", city="ISB"),
        "admin_b": staff(conn, "admin", city="ISB"),
        "key_b": add_api_key(conn, "ISB", "bot", "website"),
    }


def test_another_citys_staff_cannot_read_or_change_this_citys_appeals(client, conn, second_city):
    reg = second_city["appeal"]["reg_number"]
    for headers in (second_city["operator_b"], second_city["admin_b"]):
        assert client.get(f"/api/v1/appeals/{reg}", headers=headers).status_code == 404
        named = client.get(f"/api/v1/appeals/{reg}?city=PET", headers=headers)
        # (identity's wording: whose city the token is for, and how to switch)
        assert named.status_code == 403 and "your token is for ISB" in named.json()["detail"]
        listed = client.get("/api/v1/appeals", headers=headers, params={"limit": 500})
        assert listed.status_code == 200 and listed.json()
        assert {a["reg_number"] for a in listed.json()}.isdisjoint({reg})
        assert PERSON["applicant_phone"] not in listed.text
        r = client.post(
            f"/api/v1/appeals/{reg}/transition", json={"to": "resolved"}, headers=headers
        )
        assert r.status_code == 404
        assert client.get(f"/api/v1/appeals/{reg}/events", headers=headers).status_code == 404
    status = conn.execute(
        text("SELECT status FROM appeals WHERE reg_number = :r"), {"r": reg}
    ).scalar_one()
    assert status == "registered"


def test_another_citys_admin_cannot_plan_this_citys_yards(client, conn, second_city):
    yard = conn.execute(
        text("SELECT id, repair_status FROM yards WHERE city_id = :c ORDER BY id LIMIT 1"),
        {"c": second_city["a"]},
    ).one()
    r = client.patch(
        f"/api/v1/yards/{yard.id}/repair",
        json={"repair_status": "done"},
        headers=second_city["admin_b"],
    )
    assert r.status_code in (403, 404), r.text
    after = conn.execute(
        text("SELECT repair_status FROM yards WHERE city_id = :c AND id = :i"),
        {"c": second_city["a"], "i": yard.id},
    ).scalar_one()
    assert after == yard.repair_status


def test_another_citys_channel_registers_only_in_its_own_city(client, conn, second_city):
    b = an_apartment_building(conn, second_city["a"], offset=11)
    body = {"category": "roof_leak", "lon": b["lon"], "lat": b["lat"]}
    headers = {"X-API-Key": second_city["key_b"]}
    named = client.post("/api/v1/appeals?city=PET", json=body, headers=headers)
    assert named.status_code == 403
    # its own city (the point is outside it): through the asyncpg path, refused by the rules
    own = client.post("/api/v1/appeals", json=body, headers=headers)
    assert own.status_code == 422 and "outside the city" in own.json()["detail"]
    inside = {"category": "garbage", "lon": 69.40, "lat": 54.95}
    made = client.post(
        "/api/v1/appeals", json=inside, headers={**headers, "Idempotency-Key": "isb-1"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["appeal"]["reg_number"].startswith("ISB-")
    again = client.post(
        "/api/v1/appeals", json=inside, headers={**headers, "Idempotency-Key": "isb-1"}
    )
    assert again.status_code == 200
    assert again.json()["appeal"]["reg_number"] == made.json()["appeal"]["reg_number"]
    cities = conn.execute(
        text("SELECT city_id FROM appeals WHERE idempotency_key = 'isb-1'")
    ).scalars()
    assert list(cities) == [second_city["b"]]


def test_a_route_that_forgets_its_city_filter_still_sees_one_city(app, conn, second_city):
    """A route written without any city filter (added here): the scoped session and row
    security give it its caller's city only, for staff, a channel and the public."""

    @app.get("/test/unfiltered")
    def unfiltered(session: SessionDep) -> dict:
        return {
            "appeals": session.execute(text("SELECT count(*) FROM appeals")).scalar_one(),
            "contacts": session.execute(text("SELECT count(*) FROM appeal_contacts")).scalar_one(),
        }

    @app.get("/test/unfiltered-scoped-read")
    async def unfiltered_read(db: DbDep, scope: ScopeDep) -> int:
        from starlette.concurrency import run_in_threadpool

        def total(c):
            return c.execute(text("SELECT count(*) FROM appeals")).scalar_one()

        return await run_in_threadpool(db.read_scoped, scope, total)

    def of(city):
        return conn.execute(
            text("SELECT count(*) FROM appeals WHERE city_id = :c"), {"c": city}
        ).scalar_one()

    in_a, in_b = of(second_city["a"]), of(second_city["b"])
    assert in_a > in_b == 1
    with TestClient(app) as client:
        as_b = client.get("/test/unfiltered", headers=second_city["operator_b"]).json()
        assert as_b == {"appeals": in_b, "contacts": 0}
        by_key = client.get("/test/unfiltered", headers={"X-API-Key": second_city["key_b"]})
        assert by_key.json()["appeals"] == in_b
        assert client.get("/test/unfiltered?city=ISB").json()["appeals"] == in_b
        public_a = client.get("/test/unfiltered").json()
        assert public_a == {"appeals": in_a, "contacts": 0}  # the public reads no contacts
        as_a = client.get("/test/unfiltered", headers=staff(conn, "operator")).json()
        assert as_a["appeals"] == in_a and as_a["contacts"] >= 1
        read = client.get("/test/unfiltered-scoped-read", headers=second_city["operator_b"])
        assert read.json() == in_b


# -- the service's role at start-up ---------------------------------------------------------


def _role_url(admin_url: str, role: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(username=role, password=password).render_as_string(False)


@pytest.fixture
def unsafe_roles(api_database):
    """The admin (a superuser), a role with BYPASSRLS, and a role that owns ``appeals``:
    the URLs of each, on the test's database. The roles are dropped afterwards."""
    admin = create_engine(api_database.admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    suffix = api_database.admin.rsplit("_", 1)[-1]
    made = {"bypass": f"qala_t_bypass_{suffix}", "owner": f"qala_t_owner_{suffix}"}
    with admin.connect() as c:
        c.execute(text(f"CREATE ROLE {made['bypass']} LOGIN BYPASSRLS PASSWORD 'bypass-pw'"))
        c.execute(text(f"CREATE ROLE {made['owner']} LOGIN PASSWORD 'owner-pw'"))
        c.execute(text(f"GRANT qala_app TO {made['bypass']}, {made['owner']}"))
        c.execute(text(f"ALTER TABLE appeals OWNER TO {made['owner']}"))
    yield {
        "superuser": api_database.admin,
        "bypass": _role_url(api_database.admin, made["bypass"], "bypass-pw"),
        "owner": _role_url(api_database.admin, made["owner"], "owner-pw"),
    }
    with admin.connect() as c:
        c.execute(text("ALTER TABLE appeals OWNER TO CURRENT_USER"))
        for role in made.values():
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


@pytest.mark.parametrize(
    ("kind", "says"),
    [("superuser", "is a superuser"), ("bypass", "has BYPASSRLS"), ("owner", "owns the appeals")],
)
def test_production_refuses_a_role_that_row_security_does_not_hold(
    unsafe_roles, api_database, kind, says, caplog
):
    def settings(environment: str) -> Settings:
        return Settings(
            database_url=unsafe_roles[kind],
            admin_database_url=api_database.admin,
            environment=environment,
            secret_key=SECRET,
        )

    with (
        pytest.raises(UnsafeDatabaseRole, match=says),
        TestClient(create_app(settings("production"))),
    ):
        pass
    with (
        caplog.at_level(logging.WARNING, logger="qala"),
        TestClient(create_app(settings("development"))) as client,
    ):
        assert client.get("/ready").status_code == 200
    assert says in caplog.text


def test_production_starts_with_the_service_role(api_database):
    settings = Settings(
        database_url=api_database.service,
        admin_database_url=api_database.admin,
        environment="production",
        secret_key=SECRET,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").status_code == 200


def test_an_open311_post_is_scoped_to_its_api_keys_city(client, conn, second_city):
    """Open311's key comes in the form, so the request's own scope is the public of the
    default city (PET); the POST must be scoped to the key's city (ISB) to write there, and
    a key of ISB naming PET's jurisdiction is refused."""
    form = {
        "api_key": add_api_key(conn, "ISB", "o311", "open311"),
        "service_code": "garbage",
        "lat": 54.95,
        "long": 69.40,
    }
    for jurisdiction in (None, "ISB"):
        sent = form if jurisdiction is None else {**form, "jurisdiction_id": jurisdiction}
        r = client.post("/open311/v2/requests.json", data=sent)
        assert r.status_code == 201, r.text
        assert r.json()[0]["service_request_id"].startswith("ISB-")
        form = {**form, "description": "another request"}  # not a re-post
    r = client.post("/open311/v2/requests.json", data={**form, "jurisdiction_id": "PET"})
    assert r.status_code == 403 and "another jurisdiction" in r.text
    written = conn.execute(
        text("SELECT count(*) FROM appeals WHERE city_id = :b AND channel = 'open311'"),
        {"b": second_city["b"]},
    ).scalar_one()
    assert written == 2
