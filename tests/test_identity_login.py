"""Login throttling per account and per client address (issue 10, 6).

Failed logins are counted in the database, so every worker process sees them. After 5
failures for an account (or 20 from an address) in 15 minutes, logins for it are answered
429 with ``Retry-After`` — even with the right password — until the window has passed.
"""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.factories import PASSWORD, make_user

WRONG = "wrong-password-Zq7"


def _login(client, username: str, password: str):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_300_wrong_passwords_then_the_right_one_is_throttled(client, conn, caplog):
    user = make_user(conn, "operator")
    caplog.set_level(logging.INFO, logger="qala.login")
    answers = [_login(client, user["username"], WRONG).status_code for _ in range(300)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    r = _login(client, user["username"], PASSWORD)
    assert r.status_code == 429, r.text
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= 15 * 60
    assert "try again" in r.json()["detail"]
    # each failure and each throttled attempt is logged, never a password
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "qala.login"]
    assert sum("login failed" in m for m in logged) == 5
    assert sum("throttled" in m for m in logged) == 296
    assert not any(WRONG in m or PASSWORD in m for m in logged)
    # only the failures are kept, not the throttled attempts (so the wait ends)
    kept = conn.execute(
        text("SELECT count(*) FROM login_failures WHERE account = :a"), {"a": user["username"]}
    ).scalar_one()
    assert kept == 5


def test_others_are_not_throttled_by_one_accounts_attacker(client, app, conn):
    victim, other = make_user(conn, "operator"), make_user(conn, "operator")
    for _ in range(6):
        _login(client, victim["username"], WRONG)
    assert _login(client, victim["username"], PASSWORD).status_code == 429
    elsewhere = TestClient(app, client=("10.0.0.2", 5000))
    assert _login(elsewhere, other["username"], PASSWORD).status_code == 200
    assert _login(client, other["username"], PASSWORD).status_code == 200  # same client too
    # the account stays throttled from any address
    assert _login(elsewhere, victim["username"], PASSWORD).status_code == 429


def test_one_client_trying_many_accounts_is_throttled(client, app, conn):
    user = make_user(conn, "operator")
    for i in range(20):
        assert _login(client, f"nobody-{i}", WRONG).status_code == 401
    r = _login(client, user["username"], PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    elsewhere = TestClient(app, client=("10.0.0.3", 5000))
    assert _login(elsewhere, user["username"], PASSWORD).status_code == 200


def test_a_success_resets_the_accounts_count(client, conn):
    user = make_user(conn, "operator")
    for _ in range(4):
        assert _login(client, user["username"], WRONG).status_code == 401
    assert _login(client, user["username"], PASSWORD).status_code == 200
    for _ in range(4):
        assert _login(client, user["username"], WRONG).status_code == 401
    assert _login(client, user["username"], PASSWORD).status_code == 200


def test_the_window_passes(client, conn):
    """Failures older than the window no longer count (and are pruned by the next one)."""
    user = make_user(conn, "operator")
    for _ in range(5):
        _login(client, user["username"], WRONG)
    assert _login(client, user["username"], PASSWORD).status_code == 429
    conn.execute(
        text("UPDATE login_failures SET at = at - interval '16 minutes' WHERE account = :a"),
        {"a": user["username"]},
    )
    _login(client, "someone-else", WRONG)  # prunes
    left = conn.execute(
        text("SELECT count(*) FROM login_failures WHERE account = :a"), {"a": user["username"]}
    ).scalar_one()
    assert left == 0
    assert _login(client, user["username"], PASSWORD).status_code == 200
