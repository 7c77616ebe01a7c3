"""Fault injection: the database crashes under load and comes back.

A durable PostgreSQL cluster of its own (fsync on, like the service) and the real app in a
uvicorn process. Concurrent channel clients register appeals, each attempt with its own
Idempotency-Key, and re-send the same key after a broken connection or a 503 that says the
appeal may have been saved (a key only ever told "nothing was saved" is given up; one that
may have been saved is re-sent until it is answered: a later "nothing was saved" speaks for
that later attempt only). Meanwhile
the database is killed (``pg_ctl stop -m immediate``: a crash, no checkpoint) and started
again a few seconds later. What must hold:

* every acknowledged appeal (201, or 200 for a replayed key) is in the database exactly
  once, under its key, with its first event;
* during the outage the API says 503 with a clear message and ``Retry-After``, never 500;
  the message says "nothing was saved" only when nothing was (a key given up is nowhere
  in the database), else "may have been saved; retry with the same
  Idempotency-Key";
* after the restart the same app process serves again by itself.

The test asserts what happens, not how fast: its time limits are generous and only stop a
hung client with a message. How soon the service serves again after the database is back
is measured by ``bench/bench_recovery.py``.

A proxy in front of the database (``tests/pgproxy.py``) makes both cases happen on purpose:
an answer lost after the commit, and no connection to be had at all.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from api import process
from api.errors import UNAVAILABLE
from geo.demo.load import load_demo_city
from geo.infra.errors import MAYBE_SAVED
from geo.infra.localdb import LocalCluster, free_port
from geo.infra.migrate import upgrade
from geo.staff.auth import add_api_key
from tests.conftest import cluster_root
from tests.factories import auth_header, make_user, staff_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECRET = "fault-test-secret-key-of-at-least-32-bytes!"
CLIENTS = 8
PER_CLIENT = 40
OUTAGE_S = 2.5
CRASH_AFTER = CLIENTS * PER_CLIENT // 4  # acknowledged appeals before the crash
# generous limits, only so that a hung client or server fails with a message (no speed claim)
LOAD_LIMIT_S = 150.0  # the whole load phase, outage included
START_LIMIT_S = 60.0  # the load gets going before the crash
BACK_LIMIT_S = 60.0  # /ready answers 200 again after the restart
WELL_CATEGORIES = ("open_manhole", "sewer_overflow", "water_leak")
BUILDING_CATEGORIES = (
    "roof_leak",
    "no_heating",
    "lift_broken",
    "entrance_cleaning",
    "yard_flooding",
)


@dataclass
class Stack:
    cluster: LocalCluster
    db_url: str
    base_url: str
    api_key: str
    server: subprocess.Popen
    log: Path
    points: list[dict]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _points(conn, city_id: int, n: int = 400, seed: int = 11) -> list[dict]:
    """Random appeal bodies over the city's buildings and wells."""
    buildings = conn.execute(
        text(
            "SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT ST_PointOnSurface(geom) AS p "
            "FROM buildings WHERE city_id = :c) t"
        ),
        {"c": city_id},
    ).all()
    wells = conn.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM wells WHERE city_id = :c"), {"c": city_id}
    ).all()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            lon, lat = rng.choice(wells)
            cat = rng.choice(WELL_CATEGORIES)
        else:
            lon, lat = rng.choice(buildings)
            cat = rng.choice(BUILDING_CATEGORIES)
        out.append({"category": cat, "lon": lon, "lat": lat, "description": "fault test"})
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = Path(tmp_path_factory.mktemp("fault"))
    cluster = LocalCluster(root=cluster_root("fault"), port=free_port(), durable=True)
    server: subprocess.Popen | None = None
    log = root / "api.log"
    try:
        cluster.up(echo=lambda *_: None)
        url = cluster.url()
        upgrade(url)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                cid = load_demo_city(conn, seed=2026)["city_id"]
                api_key = add_api_key(conn, "PET", "fault-bot", "website")
                points = _points(conn, cid)
        finally:
            engine.dispose()
        server, base_url = process.start_qala(
            cluster.service_url(), SECRET, log, QALA_DB_POOL_SIZE="10"
        )
        yield Stack(cluster, url, base_url, api_key, server, log, points)
    finally:
        if server is not None:
            process.stop(server)
        cluster.destroy()


@dataclass
class ClientLog:
    acked: list[tuple[str, str, int]] = field(default_factory=list)  # key, reg_number, status
    acked_at: list[float] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # every key ever sent
    unavailable: list[tuple[str, str | None]] = field(default_factory=list)  # detail, Retry-After
    given_up: list[str] = field(default_factory=list)  # keys only ever told "nothing was saved"
    transport_errors: int = 0
    unexpected: list[str] = field(default_factory=list)


def _client(stack: Stack, i: int, limit: float, out: ClientLog) -> None:
    rng = random.Random(1000 + i)
    headers = {"X-API-Key": stack.api_key}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=10.0) as http:
        while len(out.acked) < PER_CLIENT and time.monotonic() < limit:
            key = f"fault-{i}-{uuid.uuid4().hex}"
            out.keys.append(key)
            body = rng.choice(stack.points)
            # an attempt under this key may have been saved: "nothing was saved" of a later
            # attempt speaks for that attempt only, so the key is retried until it is answered
            maybe_saved = False
            while time.monotonic() < limit:
                try:
                    r = http.post("/api/v1/appeals", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    out.transport_errors += 1
                    maybe_saved = True
                    time.sleep(0.1)
                    continue  # the same key again: the first attempt may have been saved
                if r.status_code in (200, 201):
                    out.acked.append((key, r.json()["appeal"]["reg_number"], r.status_code))
                    out.acked_at.append(time.monotonic())
                    break
                if r.status_code == 503:
                    detail = r.json().get("detail", "")
                    out.unavailable.append((detail, r.headers.get("Retry-After")))
                    time.sleep(0.1)
                    if detail == UNAVAILABLE and not maybe_saved:  # nothing of this key saved
                        out.given_up.append(key)
                        break
                    maybe_saved = maybe_saved or detail != UNAVAILABLE
                    continue  # it may have been saved: the same key again
                out.unexpected.append(f"{r.status_code}: {r.text[:300]}")
                break


def test_acknowledged_appeals_survive_a_database_crash(stack: Stack):
    logs = [ClientLog() for _ in range(CLIENTS)]
    limit = time.monotonic() + LOAD_LIMIT_S
    threads = [
        threading.Thread(target=_client, args=(stack, i, limit, logs[i]), daemon=True)
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    crashed_at = restarted_at = None
    try:
        wait_until = time.monotonic() + START_LIMIT_S
        while (
            sum(len(g.acked) for g in logs) < CRASH_AFTER
            and time.monotonic() < wait_until
            and any(t.is_alive() for t in threads)
        ):
            time.sleep(0.02)
        assert sum(len(g.acked) for g in logs) >= CRASH_AFTER, (
            f"the load did not get going within {START_LIMIT_S:g} s; server log:\n"
            f"{stack.log_tail()}"
        )
        stack.cluster.stop("immediate")
        crashed_at = time.monotonic()
        time.sleep(OUTAGE_S)
    finally:
        stack.cluster.start()  # also when the test fails: the next test needs the database
        restarted_at = time.monotonic()
        for t in threads:
            t.join(timeout=max(1.0, limit - time.monotonic() + 12))

    assert not any(t.is_alive() for t in threads), (
        f"a client is still running {LOAD_LIMIT_S:g} s after the load began (hung?)\n"
        f"{stack.log_tail()}"
    )
    assert stack.server.poll() is None, f"the API process died:\n{stack.log_tail()}"
    unexpected = [u for g in logs for u in g.unexpected]
    assert not unexpected, f"answers other than 200/201/503: {unexpected[:5]}\n{stack.log_tail()}"

    # during the outage: 503, one of the two messages, Retry-After
    unavailable = [u for g in logs for u in g.unavailable]
    assert unavailable, "no 503 was seen while the database was down"
    assert {detail for detail, _ in unavailable} <= {UNAVAILABLE, MAYBE_SAVED}, unavailable[:3]
    assert all(retry_after == "2" for _, retry_after in unavailable)

    # after the restart the same process serves again without being restarted
    counts = [len(g.acked) for g in logs]
    assert counts == [PER_CLIENT] * CLIENTS, (
        f"acknowledged per client {counts} (wanted {PER_CLIENT} each): the API did not "
        f"serve again within {LOAD_LIMIT_S:g} s of the load's start\n{stack.log_tail()}"
    )
    assert any(at > restarted_at for g in logs for at in g.acked_at)
    assert crashed_at is not None

    # every acknowledged appeal is in the database exactly once, under its key
    acked = [a for g in logs for a in g.acked]
    keys = [k for g in logs for k in g.keys]
    regs = [reg for _, reg, _ in acked]
    assert len(set(regs)) == len(regs), "one registration number acknowledged for two keys"
    given_up = [k for g in logs for k in g.given_up]
    engine = create_engine(stack.db_url)
    try:
        with engine.connect() as conn:
            by_key = conn.execute(
                text("""
                SELECT a.idempotency_key, a.reg_number,
                       (SELECT count(*) FROM appeal_events e WHERE e.city_id = a.city_id
                          AND e.appeal_id = a.id AND e.to_status = 'registered') AS events
                FROM appeals a WHERE a.idempotency_key = ANY(:k)"""),
                {"k": keys},
            ).all()
            per_reg = dict(
                conn.execute(
                    text(
                        "SELECT reg_number, count(*) FROM appeals WHERE reg_number = ANY(:r) "
                        "GROUP BY reg_number"
                    ),
                    {"r": regs},
                ).all()
            )
    finally:
        engine.dispose()
    rows_per_key: dict[str, list[tuple[str, int]]] = {}
    for key, reg, events in by_key:
        rows_per_key.setdefault(key, []).append((reg, events))
    assert all(len(rows) == 1 for rows in rows_per_key.values()), "a key has two appeals"
    for key, reg, status in acked:
        assert rows_per_key.get(key) == [(reg, 1)], (
            f"acknowledged {reg} ({status}) under {key}, database has {rows_per_key.get(key)}"
        )
        assert per_reg.get(reg) == 1, f"{reg} is in the database {per_reg.get(reg, 0)} times"
    # "nothing was saved" was true every time it was said
    assert not set(given_up) & set(rows_per_key), "an appeal was saved after 'nothing was saved'"


def test_ready_says_503_while_the_database_is_down(stack: Stack):
    with httpx.Client(base_url=stack.base_url, timeout=10.0) as http:
        assert http.get("/ready").status_code == 200
        stack.cluster.stop("immediate")
        try:
            down = [http.get("/ready") for _ in range(3)]
            alive = http.get("/health")  # liveness: the process itself is fine
        finally:
            stack.cluster.start()
        assert alive.status_code == 200, alive.text
        for r in down:
            assert r.status_code == 503, r.text
            assert r.json()["detail"] == UNAVAILABLE
            assert r.headers.get("Retry-After") == "2"
        # back by itself, without restarting the app (how soon: bench/bench_recovery.py)
        limit = time.monotonic() + BACK_LIMIT_S
        r = http.get("/ready")
        while r.status_code != 200 and time.monotonic() < limit:
            time.sleep(0.1)
            r = http.get("/ready")
        assert r.status_code == 200, (
            f"/ready still {r.status_code} {BACK_LIMIT_S:g} s after the database came back: "
            f"{r.text[:300]}\n{stack.log_tail()}"
        )
        assert stack.server.poll() is None


def test_a_connection_lost_while_registering_is_an_outage_not_a_crash(stack: Stack):
    """The backend dies just before ``qala_create_appeal`` runs: the error must be the
    connection's own (the API answers 503), not "Can't reconnect until invalid transaction
    is rolled back" from cleaning up on a dead connection (which was a 500)."""
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError

    from api.errors import caused_by_outage
    from geo.appeals.actors import Actor
    from geo.appeals.intake import NewAppeal, create_appeal

    engine = create_engine(stack.db_url)
    admin = create_engine(stack.db_url, isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "before_cursor_execute")
    def kill_before_registering(conn, cursor, statement, params, context, executemany):
        if "qala_create_appeal(" in statement:
            pid = conn.info["backend_pid"]
            with admin.connect() as a:
                a.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})

    try:
        with engine.connect() as conn:
            conn.info["backend_pid"] = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            city = conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
            new = NewAppeal(**stack.points[0], idempotency_key=f"fault-kill-{uuid.uuid4().hex}")
            with pytest.raises(DBAPIError) as caught:
                create_appeal(conn, city, new, Actor(name="fault-test", role="channel"))
        assert caused_by_outage(caught.value)
    finally:
        engine.dispose()
        admin.dispose()


def test_errors_raised_because_of_an_outage_answer_503(stack: Stack):
    """A non-DBAPI SQLAlchemy error whose cause is a lost connection is an outage too;
    any other one stays a 500 as before."""
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import InvalidRequestError, PendingRollbackError
    from sqlalchemy.exc import OperationalError as SAOperationalError

    from api.app import create_app
    from geo.infra.settings import Settings

    app = create_app(
        Settings(
            database_url=stack.cluster.service_url(),
            admin_database_url=stack.db_url,
            environment="test",
            secret_key=SECRET,
        )
    )

    @app.get("/fault/aftermath")
    def aftermath():
        try:
            raise SAOperationalError("SELECT 1", {}, Exception("server closed the connection"))
        except SAOperationalError:
            raise PendingRollbackError(
                "Can't reconnect until invalid transaction is rolled back"
            ) from None

    @app.get("/fault/bug")
    def bug():
        raise InvalidRequestError("a programming error")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/fault/aftermath")
        assert r.status_code == 503
        assert r.json()["detail"] == UNAVAILABLE
        assert r.headers["Retry-After"] == "2"
        assert client.get("/fault/bug").status_code == 500


def test_the_served_write_path_answers_as_the_in_process_one(stack: Stack):
    """The running server writes appeals through asyncpg (not the tests' substitute): a new
    appeal is 201, a re-sent key 200 with the same number, refusals are 422 with the
    function's words, and no applicant data comes back to a channel."""
    process.wait_healthy(f"{stack.base_url}/ready", stack.server, 30, stack.log)
    headers = {"X-API-Key": stack.api_key, "Idempotency-Key": f"served-{uuid.uuid4().hex}"}
    body = {
        **stack.points[3],
        "applicant_name": "Жанар Сейткали",
        "applicant_phone": "+77015551234",
    }
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        first = http.post("/api/v1/appeals", json=body, headers=headers)
        again = http.post("/api/v1/appeals", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200), first.text
        assert first.json()["appeal"]["reg_number"] == again.json()["appeal"]["reg_number"]
        assert again.json()["created"] is False
        assert "Жанар" not in first.text and "7015551234" not in first.text
        key = {"X-API-Key": stack.api_key}
        for bad, words in (
            ({**body, "category": "no_such_thing"}, "unknown category 'no_such_thing'"),
            ({**body, "lon": 71.43, "lat": 51.13}, "outside the city"),
            ({**body, "repeat_of": "PET-1999-000001"}, "repeat_of: no appeal"),
            ({**body, "description": "a\x00b"}, "NUL"),
        ):
            r = http.post("/api/v1/appeals", json=bad, headers=key)
            assert r.status_code == 422 and words in r.json()["detail"], r.text
    engine = create_engine(stack.db_url)
    try:
        with engine.connect() as conn:
            reg = first.json()["appeal"]["reg_number"]
            contact = conn.execute(
                text(
                    "SELECT c.name FROM appeal_contacts c JOIN appeals a ON a.city_id = c.city_id "
                    "AND a.id = c.appeal_id WHERE a.reg_number = :r"
                ),
                {"r": reg},
            ).scalar()
    finally:
        engine.dispose()
    assert contact == "Жанар Сейткали"  # kept, apart, for staff


# --- lost answers: what a 503 may promise ----------------------------------------------------


@pytest.fixture(scope="module")
def proxied(make_database, as_service, tmp_path_factory):
    """The app in uvicorn talking to a committed demo database through a PgProxy, as the
    service role."""
    from sqlalchemy.engine import make_url

    from tests.pgproxy import PgProxy

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cid = load_demo_city(conn, seed=2026)["city_id"]
            api_key = add_api_key(conn, "PET", "proxied-bot", "website")
            open311_key = add_api_key(conn, "PET", "proxied-open311", "open311")
            operator = staff_in(conn, make_user(conn, "operator")["id"], cid)
            points = _points(conn, cid, n=40, seed=5)
    finally:
        engine.dispose()
    real = make_url(url)
    proxy = PgProxy(real.port)
    log = Path(tmp_path_factory.mktemp("proxied")) / "api.log"
    through = as_service(
        real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )
    server, base = process.start_qala(through, SECRET, log, QALA_DB_POOL_SIZE="2")
    try:
        yield {
            "url": url,
            "base": base,
            "key": api_key,
            "open311_key": open311_key,
            "operator": auth_header(operator, SECRET),
            "points": points,
            "proxy": proxy,
        }
    finally:
        process.stop(server)
        proxy.close()


def _appeals_under(url: str, key: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT reg_number FROM appeals WHERE idempotency_key = :k"), {"k": key}
                ).scalars()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["drop", "garble"])
def test_a_lost_answer_says_the_appeal_may_have_been_saved(proxied, how):
    """The write reaches the database and commits; its answer is cut (a dropped connection)
    or garbled (asyncpg's InternalClientError, which was a 500). The 503 must not say
    "nothing was saved": it was. Re-sent with the same key, it is the first appeal."""
    proxy = proxied["proxy"]
    headers = {"X-API-Key": proxied["key"]}
    with httpx.Client(base_url=proxied["base"], headers=headers, timeout=30) as http:
        warm = http.post("/api/v1/appeals", json=proxied["points"][0])  # a prepared write
        assert warm.status_code == 201, warm.text
        key = f"lost-{how}-{uuid.uuid4().hex}"
        proxy.lose_next_answer(how)
        lost = http.post(
            "/api/v1/appeals", json=proxied["points"][1], headers={"Idempotency-Key": key}
        )
        assert proxy.fired.is_set(), "the proxy did not see the write"
        assert lost.status_code == 503, lost.text
        assert lost.json()["detail"] == MAYBE_SAVED
        assert lost.headers["Retry-After"] == "2"
        saved = _appeals_under(proxied["url"], key)
        assert len(saved) == 1, "the write was committed although its answer was lost"
        again = http.post(
            "/api/v1/appeals", json=proxied["points"][1], headers={"Idempotency-Key": key}
        )
        assert again.status_code == 200, again.text
        assert again.json()["created"] is False
        assert again.json()["appeal"]["reg_number"] == saved[0]


def test_when_no_connection_can_be_had_nothing_was_saved(proxied):
    """The database cannot be reached at all: connecting fails before anything is sent, so
    the 503 may say "nothing was saved", and indeed nothing is. (The first attempt after the
    cut may still find its pooled connection open and send: that one may only say "may
    have been saved".)"""
    proxy = proxied["proxy"]
    headers = {"X-API-Key": proxied["key"]}
    keys, answers = [], []
    with httpx.Client(base_url=proxied["base"], headers=headers, timeout=30) as http:
        assert http.post("/api/v1/appeals", json=proxied["points"][2]).status_code == 201
        proxy.go_down()
        try:
            for i in range(10):
                keys.append(f"down-{uuid.uuid4().hex}")
                r = http.post(
                    "/api/v1/appeals",
                    json=proxied["points"][3 + i],
                    headers={"Idempotency-Key": keys[-1]},
                )
                answers.append((r.status_code, r.json().get("detail")))
                if r.json().get("detail") == UNAVAILABLE:
                    break
        finally:
            proxy.come_back()
    assert all(status == 503 for status, _ in answers), answers
    assert {detail for _, detail in answers} <= {UNAVAILABLE, MAYBE_SAVED}, answers
    assert answers[-1][1] == UNAVAILABLE, f"never 'nothing was saved': {answers}"
    for key in keys:
        assert _appeals_under(proxied["url"], key) == []


def test_a_staff_registration_whose_contacts_read_is_lost_says_it_was_saved(proxied):
    """An operator's appeal is committed (one asyncpg statement); then reading the
    applicant's contacts back (a psycopg2 transaction of its own) loses its answer. The
    appeal is saved, so the answer must not say "nothing was saved" (it did): it is the
    created appeal, without the contacts, with a note saying they could not be read."""
    from tests.pgproxy import CONTACTS

    proxy = proxied["proxy"]
    point = dict(proxied["points"][30], applicant_name="Айгерим", applicant_phone="+77015551234")
    key = f"contacts-lost-{uuid.uuid4().hex}"
    with httpx.Client(base_url=proxied["base"], timeout=30) as http:
        headers = {**proxied["operator"], "Idempotency-Key": key}
        proxy.lose_next_answer("drop", at=CONTACTS)
        r = http.post("/api/v1/appeals", json=point, headers=headers)
        assert proxy.fired.is_set(), "the proxy did not see the contacts read"
        assert r.status_code == 201, r.text
        body = r.json()
        saved = _appeals_under(proxied["url"], key)
        assert saved == [body["appeal"]["reg_number"]] and body["created"] is True
        assert body["appeal"]["applicant"] is None
        assert "was saved" in body["note"] and "could not be read" in body["note"]
        # the contacts were written with it: read back later, they are there
        again = http.post("/api/v1/appeals", json=point, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["appeal"]["applicant"]["name"] == "Айгерим"
        assert again.json()["note"] is None


def test_open311_says_may_have_been_saved_when_the_commit_answer_is_lost(proxied):
    """Open311 writes through a session: the COMMIT reaches the database, its answer is cut.
    The 503 comes in the spec's format and says the request may have been saved; re-posted
    with the same key (or, without one, the same form within the hour) it is the first."""
    from tests.pgproxy import COMMIT

    proxy = proxied["proxy"]
    point = proxied["points"][20]
    form = {
        "api_key": proxied["open311_key"],
        "jurisdiction_id": "PET",
        "service_code": "garbage",
        "lat": point["lat"],
        "long": point["lon"],
    }
    key = f"o311-lost-{uuid.uuid4().hex}"
    with httpx.Client(base_url=proxied["base"], timeout=30) as http:
        proxy.lose_next_answer("drop", at=COMMIT)
        lost = http.post("/open311/v2/requests.xml", data=form, headers={"Idempotency-Key": key})
        assert proxy.fired.is_set(), "the proxy did not see the commit"
        assert lost.status_code == 503, lost.text
        assert lost.headers["content-type"].startswith("text/xml")
        assert f"<description>{MAYBE_SAVED}</description>" in lost.text
        saved = _appeals_under(proxied["url"], key)
        assert len(saved) == 1
        again = http.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": key})
        assert again.status_code == 200, again.text
        assert again.json()[0]["service_request_id"] == saved[0]
