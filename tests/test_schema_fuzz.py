"""Schemathesis over the whole OpenAPI schema: no input the schema allows (or nearly allows)
may crash the service with a 5xx.

The app runs on the real test database inside the test's rolled-back transaction (the ``app``
fixture); every request carries an admin's token, and Open311 posts a valid channel key, so
the fuzzer gets past the authentication checks. Each operation is its own test, fed by
schemathesis' positive and negative strategies, bounded by a few examples and a soft time
budget (heavy analyses stop early), so the whole run stays under two minutes on two shared
cores. ``QALA_FUZZ_EXAMPLES=200 QALA_FUZZ_SECONDS=60`` makes a deeper hunt.

(``schemathesis.pytest.from_fixture`` is not used: under pytest 9 it fails on the removed
``Node._nodeid``. The operations are parametrized here instead, and the schema, built once,
is bound to each test's app as ``from_asgi`` would bind it.)
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import text

from api.app import create_app
from geo.infra.settings import Settings
from tests.factories import an_apartment_building, auth_header, channel_key, staff_in

EXAMPLES = int(os.environ.get("QALA_FUZZ_EXAMPLES", "15"))
SECONDS = float(os.environ.get("QALA_FUZZ_SECONDS", "1.5"))  # per operation, soft
OPEN311_POST = ("POST", "/open311/v2/requests.{format}")
# 5xx found in code that is being written elsewhere: reported, not hidden (not strict, as a
# few random examples do not always hit them). Delete a line once its bug is fixed.
KNOWN_BROKEN: dict[tuple[str, str], str] = {}


def _openapi() -> dict:
    """The app's OpenAPI document; building it needs no database."""
    return create_app(
        Settings(
            environment="test",
            database_url="postgresql://unused@/none",
            secret_key="schema-only-" + "x" * 32,
        )
    ).openapi()


OPENAPI = _openapi()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in OPENAPI["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
)


@pytest.fixture
def api_schema(app):
    schema = schemathesis.openapi.from_dict(OPENAPI)
    schema.app = app  # what from_asgi("/openapi.json", app) does after loading the document
    schema.location = "/openapi.json"
    yield schema
    from schemathesis.python import asgi

    getattr(asgi, "shutdown_lifespans", lambda: None)()  # dispose the app's engine


@pytest.fixture
def credentials(conn, city_id) -> tuple[dict, str]:
    """An admin's token (a real user row; no password hashing, nobody logs in) and an
    Open311 channel key."""
    uid = conn.execute(
        text("""
        INSERT INTO users (city_id, username, password_hash)
        VALUES (:c, 'fuzz-admin', 'not-a-hash') RETURNING id"""),
        {"c": city_id},
    ).scalar_one()
    conn.execute(
        text("INSERT INTO staff_roles (city_id, user_id, role) VALUES (:c, :u, 'admin')"),
        {"c": city_id, "u": uid},
    )
    return auth_header(staff_in(conn, uid, city_id)), channel_key(conn, "open311")


def _params() -> list:
    return [
        pytest.param(
            m,
            p,
            id=f"{m} {p}",
            marks=[pytest.mark.xfail(reason=KNOWN_BROKEN[m, p], strict=False)]
            if (m, p) in KNOWN_BROKEN
            else [],
        )
        for m, p in OPERATIONS
    ]


@pytest.mark.parametrize(("method", "path"), _params())
def test_no_server_errors(api_schema, credentials, method, path):
    headers, key = credentials
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report what was found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case):
        if time.monotonic() - started > SECONDS:
            return  # over this operation's budget: the rest of the examples are not sent
        if (method, path) == OPEN311_POST and isinstance(case.body, dict):
            case.body["api_key"] = key
        # a generous timeout: a slow answer on busy shared cores is not a server error
        case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=60)

    run()


# --- what the fuzzer found, pinned down -------------------------------------------------------


def test_a_nul_byte_is_bad_input_not_a_crash(client):
    r = client.get("/public/track/PET%00")
    assert r.status_code == 422 and "NUL" in r.json()["detail"]


def test_a_time_zone_offset_postgres_cannot_store_is_bad_input(client):
    r = client.get("/api/v1/stats", params={"since": "2026-01-01T00:00:00+20:00"})
    assert r.status_code == 422 and "offset" in r.json()["detail"]


def test_a_yard_cost_beyond_numeric_14_2_is_refused(client, conn, city_id, credentials):
    headers, _ = credentials
    yard = conn.execute(
        text("SELECT id FROM yards WHERE city_id = :c ORDER BY id LIMIT 1"), {"c": city_id}
    ).scalar_one()
    r = client.patch(f"/api/v1/yards/{yard}/repair", json={"cost_estimate": 5e12}, headers=headers)
    assert r.status_code == 422


def test_an_address_search_without_a_house_number_answers(client, conn, city_id):
    street = an_apartment_building(conn, city_id)["address_ru"].rsplit(",", 1)[0]
    r = client.get("/api/v1/search/address", params={"q": street})
    assert r.status_code == 200 and r.json()
    assert not any(hit["exact_number"] for hit in r.json())


@pytest.mark.parametrize(
    "path", ["/api/v1/stats", "/api/v1/ratings", "/api/v1/clusters", "/api/v1/queue"]
)
def test_a_window_ending_in_year_one_is_answered(client, credentials, path):
    headers, _ = credentials
    r = client.get(path, params={"until": "0001-02-08T00:25:01Z"}, headers=headers)
    assert r.status_code == 200, r.text
