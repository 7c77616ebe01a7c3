"""Tokens, revocation, roles in several cities, admin endpoints (issue 10, 2 and 6).

A token is only as good as its account is now: a forged or malformed token is a 401 (never a
500), and disabling an account, logging out everywhere or taking a role away stops its tokens
on the very next request.
"""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from sqlalchemy import text

from geo.infra.secret_key import PLACEHOLDER
from geo.infra.settings import Settings
from geo.staff.accounts import grant_role
from tests.factories import (
    PASSWORD,
    SECRET,
    auth_header,
    channel_key,
    make_city,
    make_user,
    staff,
)


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _claims(user: dict, **change) -> dict:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user["id"]),
        "city": user["city_id"],
        "role": user["role"],
        "ver": user["token_version"],
        "name": user["username"],
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
    }
    claims.update(change)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(r) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_signed_with_the_old_placeholder_is_refused(client, conn, app, db_url, tmp_path):
    """`make run` used to sign with the placeholder; now, without QALA_SECRET_KEY, the
    secret is generated, and a token minted with the placeholder is refused (401)."""
    app.state.settings = Settings(database_url=db_url, environment="development", data_dir=tmp_path)
    admin = make_user(conn, "admin")
    forged = jwt.encode(_claims(admin), PLACEHOLDER, algorithm="HS256")
    r = client.get("/api/v1/appeals", headers=_bearer(forged))
    _refused(r)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert "not signed by this service" in r.json()["detail"]
    yard = conn.execute(text("SELECT id FROM yards ORDER BY id LIMIT 1")).scalar_one()
    _refused(
        client.patch(
            f"/api/v1/yards/{yard}/repair", headers=_bearer(forged), json={"cost_estimate": 1}
        )
    )


def test_a_token_signed_with_another_key_is_refused(client, conn):
    forged = jwt.encode(_claims(make_user(conn, "admin")), "another-" + SECRET, algorithm="HS256")
    _refused(client.get("/api/v1/appeals", headers=_bearer(forged)))


@pytest.mark.parametrize(
    "change",
    [
        {"role": None},
        {"sub": None},
        {"city": None},
        {"ver": None},
        {"iat": None},
        {"exp": None},
        {"sub": "not-a-number"},
        {"sub": 5},
        {"city": "PET"},
        {"city": True},
        {"role": "superuser"},
        {"role": ["admin"]},
        {"ver": "0"},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()),
)
def test_a_signed_token_with_a_missing_or_mistyped_claim_is_a_401(client, conn, change):
    token = jwt.encode(_claims(make_user(conn, "operator"), **change), SECRET, algorithm="HS256")
    r = client.get("/api/v1/appeals", headers=_bearer(token))
    _refused(r)
    claim = next(iter(change))
    assert claim in r.json()["detail"] or "not valid" in r.json()["detail"]


def test_an_expired_token_is_a_401(client, conn):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=9)
    claims = _claims(make_user(conn, "operator"), iat=past, exp=past + dt.timedelta(hours=8))
    r = client.get("/api/v1/appeals", headers=_bearer(jwt.encode(claims, SECRET)))
    _refused(r)
    assert "expired" in r.json()["detail"]


def test_a_disabled_users_token_is_refused_at_once(client, conn):
    user = make_user(conn, "operator")
    h = auth_header(user)
    assert client.get("/api/v1/appeals", headers=h).status_code == 200
    r = client.post(f"/api/v1/admin/users/{user['username']}/disable", headers=staff(conn, "admin"))
    assert r.status_code == 200 and r.json() == {"username": user["username"], "active": False}
    r = client.get("/api/v1/appeals", headers=h)
    _refused(r)
    assert "disabled" in r.json()["detail"]
    login = {"username": user["username"], "password": PASSWORD}
    assert client.post("/api/v1/auth/token", data=login).status_code == 401
    # enabled again: it logs in anew, the old token stays dead
    admin = staff(conn, "admin")
    assert client.post(f"/api/v1/admin/users/{user['username']}/enable", headers=admin).is_success
    _refused(client.get("/api/v1/appeals", headers=h))
    token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
    assert client.get("/api/v1/appeals", headers=_bearer(token)).status_code == 200


def test_a_user_disabled_in_the_database_is_refused_at_once(client, conn):
    """What ``qala user disable`` does from another process: no cache to wait for."""
    user = make_user(conn, "operator")
    h = auth_header(user)
    assert client.get("/api/v1/appeals", headers=h).status_code == 200
    conn.execute(text("UPDATE users SET active = false WHERE id = :i"), {"i": user["id"]})
    _refused(client.get("/api/v1/appeals", headers=h))


def test_log_out_everywhere_kills_every_token_of_the_account(client, conn):
    user = make_user(conn, "operator")
    login = {"username": user["username"], "password": PASSWORD}
    first = _bearer(client.post("/api/v1/auth/token", data=login).json()["access_token"])
    second = _bearer(client.post("/api/v1/auth/token", data=login).json()["access_token"])
    other = staff(conn, "operator")
    assert client.post("/api/v1/auth/logout-all", headers=first).status_code == 204
    for h in (first, second):
        r = client.get("/api/v1/appeals", headers=h)
        _refused(r)
        assert "revoked" in r.json()["detail"]
    assert client.get("/api/v1/appeals", headers=other).status_code == 200  # others untouched
    fresh = _bearer(client.post("/api/v1/auth/token", data=login).json()["access_token"])
    assert client.get("/api/v1/appeals", headers=fresh).status_code == 200


def test_an_admin_logs_out_a_user_of_the_city_only(client, conn):
    hel = make_city(conn, "HEL")
    user = make_user(conn, "operator")
    h = auth_header(user)
    pet_admin, hel_admin = staff(conn, "admin"), staff(conn, "admin", city="HEL")
    url = f"/api/v1/admin/users/{user['username']}"
    for action in ("logout-all", "disable", "enable"):  # HEL's admin: not in HEL
        r = client.post(f"{url}/{action}", headers=hel_admin)
        assert r.status_code == 404 and "in your city" in r.json()["detail"]
    assert client.get("/api/v1/appeals", headers=h).status_code == 200
    # a PET account that also works in HEL: HEL's admin sees it, PET manages it
    grant_role(conn, user["username"], "HEL", "planner")
    listed = client.get("/api/v1/admin/users", headers=hel_admin).json()
    assert user["username"] in [u["username"] for u in listed]
    assert {u["home_city"] for u in listed if u["username"] == user["username"]} == {"PET"}
    r = client.post(f"{url}/disable", headers=hel_admin)
    assert r.status_code == 403 and "PET" in r.json()["detail"]
    assert client.post(f"{url}/logout-all", headers=pet_admin).status_code == 200
    _refused(client.get("/api/v1/appeals", headers=h))
    assert hel  # the city exists for the grant


def test_only_admins_manage_accounts_and_keys(client, conn):
    user = make_user(conn, "operator")
    for role in ("operator", "planner", "controller"):
        h = staff(conn, role)
        assert client.get("/api/v1/admin/users", headers=h).status_code == 403
        r = client.post(f"/api/v1/admin/users/{user['username']}/disable", headers=h)
        assert r.status_code == 403 and "admins only" in r.json()["detail"]
    assert client.get("/api/v1/admin/users").status_code == 401
    assert (
        client.get("/api/v1/admin/apikeys", headers={"X-API-Key": channel_key(conn)}).status_code
        == 401
    )


def test_an_admin_cannot_disable_itself(client, conn):
    admin = make_user(conn, "admin")
    r = client.post(f"/api/v1/admin/users/{admin['username']}/disable", headers=auth_header(admin))
    assert r.status_code == 422


def test_a_revoked_api_key_stops_at_once_in_this_process(client, conn, city_id):
    from tests.factories import an_apartment_building

    key = channel_key(conn, "telegram")
    b = an_apartment_building(conn, city_id)
    body = {"category": "garbage", "lon": b["lon"], "lat": b["lat"]}
    assert client.post("/api/v1/appeals", json=body, headers={"X-API-Key": key}).status_code == 201
    admin = staff(conn, "admin")
    keys = client.get("/api/v1/admin/apikeys", headers=admin).json()
    mine = [k for k in keys if k["channel"] == "telegram" and k["active"]]
    assert mine and all(k["city"] == "PET" for k in keys)
    assert "key_hash" not in keys[0]
    r = client.post(f"/api/v1/admin/apikeys/{mine[-1]['id']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()[0]["active"] is False
    r = client.post("/api/v1/appeals", json=body, headers={"X-API-Key": key})
    assert r.status_code == 403 and "revoked" in r.json()["detail"]


def test_an_admin_cannot_revoke_another_citys_key(client, conn):
    make_city(conn, "HEL")
    key_id = conn.execute(text("SELECT max(id) FROM api_keys")).scalar()
    channel_key(conn)
    pet_key = conn.execute(text("SELECT max(id) FROM api_keys")).scalar_one()
    assert pet_key != key_id
    r = client.post(
        f"/api/v1/admin/apikeys/{pet_key}/revoke", headers=staff(conn, "admin", city="HEL")
    )
    assert r.status_code == 404
    active = conn.execute(text("SELECT active FROM api_keys WHERE id = :i"), {"i": pet_key})
    assert active.scalar_one() is True


# --- several cities -------------------------------------------------------------------------


@pytest.fixture
def two_city_user(conn) -> dict:
    """An operator at home in PET who is also the planner of HEL."""
    make_city(conn, "HEL")
    user = make_user(conn, "operator")
    grant_role(conn, user["username"], "HEL", "planner")
    return user


def _login(client, user: dict, **form):
    return client.post(
        "/api/v1/auth/token", data={"username": user["username"], "password": PASSWORD, **form}
    )


def test_login_picks_the_city(client, two_city_user):
    r = _login(client, two_city_user)
    assert r.status_code == 200 and (r.json()["city"], r.json()["role"]) == ("PET", "operator")
    r = _login(client, two_city_user, city="hel")
    assert r.status_code == 200 and (r.json()["city"], r.json()["role"]) == ("HEL", "planner")
    r = _login(client, two_city_user, city="AST")
    assert r.status_code == 403
    assert "AST" in r.json()["detail"] and "PET, HEL" in r.json()["detail"]


def test_login_documents_the_city_field(app):
    form = app.openapi()["components"]["schemas"]
    body = next(v for k, v in form.items() if k.startswith("Body_login"))
    assert "city" in body["properties"] and "city" not in body.get("required", [])


def test_me_lists_the_cities_and_switch_trades_the_token(client, conn, two_city_user):
    pet = _bearer(_login(client, two_city_user).json()["access_token"])
    me = client.get("/api/v1/me", headers=pet).json()
    assert (me["city"], me["role"], me["home_city"]) == ("PET", "operator", "PET")
    assert [(c["city"], c["role"]) for c in me["cities"]] == [
        ("PET", "operator"),
        ("HEL", "planner"),
    ]
    # a PET token asking for HEL: refused, saying how to switch
    r = client.get("/api/v1/appeals", headers=pet, params={"city": "HEL"})
    assert r.status_code == 403 and "auth/switch?city=HEL" in r.json()["detail"]
    r = client.post("/api/v1/auth/switch", headers=pet, params={"city": "HEL"})
    assert r.status_code == 200 and (r.json()["city"], r.json()["role"]) == ("HEL", "planner")
    hel = _bearer(r.json()["access_token"])
    assert client.get("/api/v1/me", headers=hel).json()["role"] == "planner"
    assert client.get("/api/v1/ratings", headers=hel).status_code == 200  # a planner's right
    # no role in AST: no token for it
    assert (
        client.post("/api/v1/auth/switch", headers=pet, params={"city": "AST"}).status_code == 403
    )
    assert client.post("/api/v1/auth/switch", params={"city": "HEL"}).status_code == 401


def test_taking_a_role_away_stops_that_citys_token(client, conn, two_city_user):
    hel = _bearer(_login(client, two_city_user, city="HEL").json()["access_token"])
    pet = _bearer(_login(client, two_city_user).json()["access_token"])
    conn.execute(
        text(
            "DELETE FROM staff_roles WHERE user_id = :u "
            "AND city_id = (SELECT id FROM cities WHERE code = 'HEL')"
        ),
        {"u": two_city_user["id"]},
    )
    _refused(client.get("/api/v1/appeals", headers=hel))
    assert client.get("/api/v1/appeals", headers=pet).status_code == 200


def test_a_changed_role_counts_from_the_next_request(client, conn):
    """The role comes from the database on each request, not from the token."""
    user = make_user(conn, "planner")
    h = auth_header(user)
    assert client.get("/api/v1/appeals", headers=h).status_code == 200
    grant_role(conn, user["username"], "PET", "executor", organisation_id=_an_org(conn))
    assert client.get("/api/v1/me", headers=h).json()["role"] == "executor"
    assert client.get("/api/v1/ratings", headers=h).status_code == 403


def _an_org(conn) -> int:
    return conn.execute(
        text(
            "SELECT id FROM organisations WHERE city_id = "
            "(SELECT id FROM cities WHERE code = 'PET') ORDER BY id LIMIT 1"
        )
    ).scalar_one()
