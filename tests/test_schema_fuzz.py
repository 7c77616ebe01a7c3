"""Schemathesis over the whole OpenAPI schema: no input the schema allows (or nearly allows)
may crash the service, and every answer must be one the schema describes (status code,
content type, and for JSON the shape).

The app runs as in production on a committed copy of the test database of its own (one for
the module): connected as the service role (row-level security applies), appeals written
through the asyncpg path. Every operation is fuzzed twice: as the public (no credentials)
and as an admin (a staff token); Open311 posts carry a valid channel key so the fuzzer gets
past the key.
Each (operation, caller) is its own test, fed by schemathesis' positive and negative
strategies: at least ``QALA_FUZZ_EXAMPLES`` examples (8 by default; when Hypothesis stops
early, further rounds with the next fixed seed make up the number) and no shrinking, then
every value of every enumerated parameter in turn (``format=csv``, ``.xml`` …: each content
type the operation can answer) on its simplest valid request.
The seeds are fixed, so a run sends the same requests every time and a failure is
reproduced by running it again. ``QALA_FUZZ_EXAMPLES=100`` makes a deeper hunt. The whole
file took 74 s inside ``make test`` on two shared cores (the README says more).

(``schemathesis.pytest.from_fixture`` is not used: under pytest 9 it fails on the removed
``Node._nodeid``. The operations are parametrized here instead, and the schema, built once,
is bound to each test's app as ``from_asgi`` would bind it.)
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from api.app import create_app
from geo.infra.settings import Settings
from tests.conftest import SECRET
from tests.factories import an_apartment_building, auth_header, channel_key, staff_in

EXAMPLES = int(os.environ.get("QALA_FUZZ_EXAMPLES", "8"))
MAX_ROUNDS = 4 * EXAMPLES  # an operation with one possible request gets it EXAMPLES times
OPEN311_POST = ("POST", "/open311/v2/requests.{format}")
CALLERS = ("public", "staff")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# 5xx found in code that is being written elsewhere: reported, not hidden (not strict, as a
# few examples do not always hit them). Delete a line once its bug is fixed.
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


@pytest.fixture(scope="module")
def fuzz_app(make_database, template_url, as_service):
    """One app for the whole fuzz run, as in production: its own copy of the test database,
    the service role (row-level security applies), appeals written through asyncpg."""
    url = make_database(template=template_url)
    yield create_app(
        Settings(
            database_url=as_service(url),
            admin_database_url=url,
            environment="test",
            secret_key=SECRET,
        )
    )
    make_database.drop(url)


@pytest.fixture(scope="module")
def fuzz_credentials(fuzz_app) -> tuple[dict, str]:
    """Committed in the fuzz database: an admin's token and an Open311 channel key."""
    engine = create_engine(fuzz_app.state.settings.admin_url, poolclass=NullPool)
    with engine.begin() as conn:
        city = conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        found = _credentials(conn, city)
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    schema = schemathesis.openapi.from_dict(OPENAPI)
    schema.app = fuzz_app  # what from_asgi("/openapi.json", app) does after loading it
    schema.location = "/openapi.json"
    yield schema
    from schemathesis.python import asgi

    getattr(asgi, "shutdown_lifespans", lambda: None)()  # dispose the app's engine


def _credentials(conn, city_id: int) -> tuple[dict, str]:
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


@pytest.fixture
def credentials(conn, city_id) -> tuple[dict, str]:
    """The same, in the test's own database (committed: the ``client`` fixture's)."""
    return _credentials(conn, city_id)


def _params() -> list:
    return [
        pytest.param(
            m,
            p,
            who,
            id=f"{m} {p} {who}",
            marks=[pytest.mark.xfail(reason=KNOWN_BROKEN[m, p], strict=False)]
            if (m, p) in KNOWN_BROKEN
            else [],
        )
        for m, p in OPERATIONS
        for who in CALLERS
    ]


def _enum(schema: dict) -> list:
    """The values a parameter's schema enumerates (through anyOf/oneOf too)."""
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return [v for alt in schema.get("anyOf", []) + schema.get("oneOf", []) for v in _enum(alt)]


def enumerated(method: str, path: str) -> list[tuple[str, str, object]]:
    """(where, name, value) for every value of every enumerated parameter of an operation."""
    op = OPENAPI["paths"][path][method.lower()]
    return [
        (p["in"], p["name"], value)
        for p in op.get("parameters", [])
        for value in _enum(p.get("schema", {}))
    ]


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) > 60  # every layer's tiles and features, Open311, the API
    sweeps = {p: enumerated(m, p) for m, p in OPERATIONS}
    assert ("query", "format", "csv") in sweeps["/api/v1/stats"]
    assert ("path", "format", "xml") in sweeps["/open311/v2/requests.{format}"]


@pytest.mark.parametrize(("method", "path", "who"), _params())
def test_answers_are_documented_and_never_a_server_error(
    api_schema, fuzz_credentials, method, path, who
):
    token, key = fuzz_credentials
    headers = token if who == "staff" else {}
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    def send(case) -> None:
        if (method, path) == OPEN311_POST and isinstance(case.body, dict):
            case.body["api_key"] = key
        # a generous timeout: a slow answer on busy shared cores is not a server error
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

    fixed = settings(
        max_examples=EXAMPLES,
        derandomize=False,  # fixed seeds below instead: the same requests on every run
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report what was found
        suppress_health_check=list(HealthCheck),
    )
    generated = 0

    def fuzz_round(n: int, budget: int) -> None:
        @seed(n)
        @settings(fixed, max_examples=budget)
        @given(case=cases)
        def run(case):
            nonlocal generated
            send(case)
            generated += 1

        run()

    # The stopping rule: at least EXAMPLES cases per operation and caller. Hypothesis ends a
    # run early when it takes the space as exhausted (an operation with few inputs) or when
    # too many draws are discarded; then the next round, with the next fixed seed, continues.
    for n in range(MAX_ROUNDS):
        if generated >= EXAMPLES:
            break
        fuzz_round(n, EXAMPLES - generated)
    assert generated >= EXAMPLES, (
        f"{method} {path} as {who}: only {generated} of {EXAMPLES} examples in {MAX_ROUNDS} rounds"
    )

    # every enumerated value (each format, each kind …) on the simplest valid request
    sweep = enumerated(method, path)
    if sweep:
        simplest = find(
            operation.as_strategy(GenerationMode.POSITIVE),
            lambda _: True,
            settings=settings(fixed, derandomize=True, phases=list(Phase)),
        )
        for where, name, value in sweep:
            parts = {
                "path_parameters": dict(simplest.path_parameters or {}),
                "query": dict(simplest.query or {}),
                "headers": dict(simplest.headers or {}),
            }
            parts["path_parameters" if where == "path" else where][name] = value
            body = dict(simplest.body) if isinstance(simplest.body, dict) else simplest.body
            send(operation.Case(**parts, body=body, media_type=simplest.media_type))


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
