"""Running the service for a city: probes, compression, request ids and logs, metrics,
several workers, backups.

* ``/health`` is liveness only; ``/ready`` checks the database and that its schema is the
  code's (503 with ``qala db migrate`` otherwise).
* Answers are gzip-compressed when the client accepts it.
* Every answer carries ``X-Request-ID`` (the caller's own if sane) and the access line and
  every other log record of the request carry it; ``QALA_LOG_FORMAT=json`` writes JSON.
* ``/metrics`` parses with Prometheus' own text parser; a registered appeal is counted;
  routes are labelled by template; under ``qala serve --workers 2`` the figures of both
  workers are summed.
* ``qala db backup`` → the database dropped → ``qala db restore``: the same rows, checked
  by counts and checksums; a damaged archive changes nothing.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from api.observe import RequestIdFilter, log_config, request_id
from geo.infra.backup import BackupError, backup, restore
from geo.infra.localdb import free_port
from geo.infra.settings import PROJECT_ROOT, Settings
from tests.conftest import SECRET
from tests.factories import an_apartment_building, channel_key

# --- probes ------------------------------------------------------------------------------


def test_health_is_liveness_and_ready_checks_the_database(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    from api.routes.health import migrations_head

    assert ready.json()["migration"] == migrations_head() != ""


def test_ready_is_503_when_the_schema_is_not_the_codes(client, conn):
    head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        r = client.get("/ready")
    finally:
        conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": head})
    assert r.status_code == 503
    assert "revision 0001" in r.json()["detail"] and "qala db migrate" in r.json()["detail"]
    assert client.get("/health").status_code == 200


# --- compression -------------------------------------------------------------------------


def test_answers_are_compressed_when_the_client_accepts_it(client):
    path = "/ogc/collections/buildings/items?limit=200"
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    packed = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    wire = int(packed.headers["content-length"])
    assert wire < len(plain.content) / 3, (wire, len(plain.content))
    assert packed.json() == plain.json()  # httpx decoded it: the same document


# --- request ids and logs ----------------------------------------------------------------


def test_every_answer_carries_a_request_id_and_its_log_lines_too(client, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="qala.access"):
        given = client.get("/health", headers={"X-Request-ID": "lb-4f2a.9"})
        made = client.get("/health", headers={"X-Request-ID": "no spaces or <tags>"})
    assert given.headers["x-request-id"] == "lb-4f2a.9"
    assert made.headers["x-request-id"] != "no spaces or <tags>"
    assert len(made.headers["x-request-id"]) == 32
    lines = [r for r in caplog.records if r.name == "qala.access"]
    assert [r.request_id for r in lines] == ["lb-4f2a.9", made.headers["x-request-id"]]
    assert all(r.route == "/health" and r.status == 200 for r in lines)


def test_json_logs_are_one_object_a_line_with_the_request_id():
    stream = io.StringIO()
    config = log_config(Settings(log_format="json", secret_key=SECRET, environment="test"))
    config["handlers"]["main"]["stream"] = stream
    watched = ["qala", "uvicorn", "uvicorn.access"]
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in watched}
    try:
        logging.config.dictConfig(config)
        token = request_id.set("abc123")
        logging.getLogger("qala.test").warning("appeal %s saved", "PET-2026-000001")
        request_id.reset(token)
    finally:
        for n, (handlers, propagate) in saved.items():
            logging.getLogger(n).handlers[:] = handlers
            logging.getLogger(n).propagate = propagate
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["message"] == "appeal PET-2026-000001 saved"
    assert record["request_id"] == "abc123"
    assert record["level"] == "WARNING" and record["logger"] == "qala.test"


# --- metrics -----------------------------------------------------------------------------


def samples(body: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text exposition, parsed by Prometheus' parser."""
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def registered(found: dict, channel: str) -> float:
    return found.get(("qala_appeals_registered_total", (("channel", channel),)), 0.0)


def requests_to(found: dict, route: str) -> float:
    return sum(
        v
        for (name, labels), v in found.items()
        if name == "qala_http_requests_total" and dict(labels).get("route") == route
    )


def test_metrics_count_appeals_and_label_routes_by_template(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=33)
    key = {"X-API-Key": channel_key(conn, "telegram")}
    before = samples(client.get("/metrics").text)
    made = client.post(
        "/api/v1/appeals",
        json={"category": "roof_leak", "lon": b["lon"], "lat": b["lat"]},
        headers={**key, "Idempotency-Key": "metrics-1"},
    )
    again = client.post(
        "/api/v1/appeals",
        json={"category": "roof_leak", "lon": b["lon"], "lat": b["lat"]},
        headers={**key, "Idempotency-Key": "metrics-1"},
    )
    assert (made.status_code, again.status_code) == (201, 200)
    reg = made.json()["appeal"]["reg_number"]
    assert client.get(f"/public/track/{reg}").status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = samples(r.text)
    assert registered(after, "telegram") - registered(before, "telegram") == 1  # not the repeat
    assert requests_to(after, "/public/track/{reg_number}") >= 1
    assert reg not in r.text  # raw paths never become labels
    assert any(name == "qala_db_pool_connections_open" for name, _ in after)


def depth(found: dict, state: str, channel: str) -> float:
    return found[("qala_outbox_messages", (("channel", channel), ("state", state)))]


def test_metrics_show_the_outbox_depth_and_the_pools(client, conn, city_id):
    """Messages waiting for applicants are counted across cities, though the service role
    cannot read one of them (row-level security; qala_outbox_depth, migration 0021)."""
    b = an_apartment_building(conn, city_id, offset=34)
    key = {"X-API-Key": channel_key(conn, "telegram")}
    before = samples(client.get("/metrics").text)
    made = client.post(
        "/api/v1/appeals",
        json={
            "category": "roof_leak",
            "lon": b["lon"],
            "lat": b["lat"],
            "applicant_email": "resident@example.kz",
        },
        headers={**key, "Idempotency-Key": "metrics-outbox-1"},
    )
    assert made.status_code == 201, made.text
    after = samples(client.get("/metrics").text)
    assert depth(after, "pending", "email") == depth(before, "pending", "email") + 1
    assert depth(after, "failed", "sms") >= 0
    assert after[("qala_outbox_oldest_pending_seconds", (("channel", "email"),))] >= 0
    pools = {dict(labels)["pool"] for name, labels in after if name.startswith("qala_db_pool")}
    assert pools == {"sessions", "appeal_writes"}


def test_metrics_can_be_closed(settings):
    from api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"metrics": False}))) as c:
        assert c.get("/metrics").status_code == 404
        assert c.get("/health").status_code == 200


def qala_env(api_database, tmp_path, port: int, **more: str) -> dict[str, str]:
    """The environment of a ``qala`` command run on the test's database."""
    return {
        **os.environ,
        "QALA_DATABASE_URL": api_database.service,
        "QALA_ADMIN_DATABASE_URL": api_database.admin,
        "QALA_SECRET_KEY": SECRET,
        "QALA_ENVIRONMENT": "test",
        "QALA_DATA_DIR": str(tmp_path / "data"),
        "QALA_PORT": str(port),
        **more,
    }


@pytest.fixture
def two_workers(api_database, tmp_path):
    """``qala serve --workers 2`` in a process of its own, on the test's database."""
    port = free_port()
    env = qala_env(api_database, tmp_path, port, QALA_LOG_FORMAT="json")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (open for the server's lifetime)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        from api import process

        process.wait_healthy(base + "/ready", proc, 120, tmp_path / "serve.log", probes=4)
        yield base, tmp_path / "serve.log"
    finally:
        process.stop(proc)
        log.close()


def served_by(log: Path, route: str) -> list[int]:
    """The worker processes of the access lines of ``route`` so far (JSON logs)."""
    lines = (json.loads(x) for x in log.read_text().splitlines() if x.startswith("{"))
    return [
        a["process"] for a in lines if a.get("logger") == "qala.access" and a.get("route") == route
    ]


def test_two_workers_serve_and_metrics_sum_them(two_workers):
    base, log = two_workers
    route = "/api/v1/categories"
    sent = 0
    # fresh connections until both workers have answered some (the kernel hands each new
    # connection to one of them); then /metrics, from either, must count them all
    while len(set(served_by(log, route))) < 2:
        assert sent < 2000, f"one worker answered all {sent} requests"
        assert httpx.get(base + route, timeout=30).status_code == 200
        sent += 1
    found = samples(httpx.get(base + "/metrics", timeout=30).text)
    assert requests_to(found, route) == sent == len(served_by(log, route))


# --- backups -----------------------------------------------------------------------------

CHECKED = {
    "appeals": "SELECT md5(string_agg(a::text, '|' ORDER BY id)) FROM appeals a",
    "appeal_events": "SELECT md5(string_agg(e::text, '|' ORDER BY id)) FROM appeal_events e",
    "buildings": "SELECT md5(string_agg(b::text, '|' ORDER BY id)) FROM buildings b",
    "yards": "SELECT md5(string_agg(y::text, '|' ORDER BY id)) FROM yards y",
}


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    e = create_engine(url, poolclass=NullPool)
    with e.connect() as c:
        out = {
            t: (
                c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one(),
                c.execute(text(q)).scalar_one(),
            )
            for t, q in CHECKED.items()
        }
    e.dispose()
    return out


@pytest.fixture
def own_db(make_database, template_url) -> str:
    return make_database(template=template_url)


def test_backup_drop_restore_gives_the_same_rows(own_db, make_database, tmp_path):
    before = fingerprint(own_db)
    assert before["appeals"][0] > 0 and before["buildings"][0] > 0
    archive = tmp_path / "qala.dump"
    assert backup(own_db, archive) > 0
    assert not list(tmp_path.glob("*.partial"))
    admin = create_engine(own_db, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = admin.url.database
    admin.dispose()
    server = create_engine(
        admin.url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with server.connect() as c:
        c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    assert restore(own_db, archive) == ""  # nothing to keep: it was dropped
    assert fingerprint(own_db) == before
    # over a changed database: the backup's rows come back, the changed one is kept aside
    changed = create_engine(own_db, poolclass=NullPool)
    with changed.begin() as c:
        c.execute(text("UPDATE yards SET area_m2 = area_m2 + 1"))
    changed.dispose()
    kept = restore(own_db, archive)
    assert kept.startswith(f"{name}_before_")
    assert fingerprint(own_db) == before
    with server.connect() as c:
        c.execute(text(f'DROP DATABASE "{kept}" WITH (FORCE)'))
    server.dispose()


def test_a_damaged_archive_changes_nothing(own_db, tmp_path):
    before = fingerprint(own_db)
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"PGDMP" + b"\0" * 100)
    with pytest.raises(BackupError, match="reading the backup failed"):
        restore(own_db, bad)
    assert fingerprint(own_db) == before


def test_the_cli_says_a_bad_restore_in_one_line(own_db, tmp_path):
    env = {**os.environ, "QALA_DATABASE_URL": own_db, "QALA_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "restore", str(tmp_path / "missing.dump"), "--yes"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"qala: error: no backup file at {tmp_path / 'missing.dump'}"
    ]


def test_the_cli_backs_up(own_db, tmp_path):
    env = {**os.environ, "QALA_DATABASE_URL": own_db, "QALA_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "backup"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = list((tmp_path / "backups").glob("qala-*.dump"))
    assert len(written) == 1 and written[0].stat().st_size > 0
    assert f"backup written: {written[0]}" in done.stderr


def test_qala_run_serves_with_its_worker(api_database, tmp_path):
    """`qala run` (the README's first command) on a database that is already up and
    loaded: migrates (nothing to do), keeps the data, starts the outbox worker and serves.
    (It once passed typer's option object on as the worker count and never served.)"""
    from api import process

    port = free_port()
    env = qala_env(api_database, tmp_path, port)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            process.wait_healthy(f"http://127.0.0.1:{port}/ready", proc, 120, log_path)
            said = log_path.read_text()
            assert "schema up to date" in said and "outbox worker started" in said
            assert "demo" not in said  # the database was not empty: nothing loaded again
        finally:
            process.stop(proc)


# --- a read-only database --------------------------------------------------------------


def test_a_read_only_database_answers_503_never_500(api_database):
    """A hot standby (or a primary in read-only mode) refuses writes with SQLSTATE 25006:
    every write path answers 503 with a message saying nothing was saved (it was a 500, a
    plain-text one on the appeal path); reads go on."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.factories import staff

    admin = create_engine(api_database.admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        b = an_apartment_building(conn, cid, offset=44)
        key = {"X-API-Key": channel_key(conn, "website")}
        form_key = channel_key(conn, "website")
        inspector = staff(conn, "inspector")
    settings = Settings(
        database_url=api_database.service,
        admin_database_url=api_database.admin,
        environment="test",
        secret_key=SECRET,
    )
    body = {"category": "roof_leak", "lon": b["lon"], "lat": b["lat"]}
    with TestClient(create_app(settings)) as c:  # one appeal while it still takes writes
        made = c.post("/api/v1/appeals", json=body, headers=key)
        assert made.status_code == 201, made.text
        reg = made.json()["appeal"]["reg_number"]
    name = make_url(api_database.admin).database
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    try:
        with TestClient(create_app(settings)) as c:  # new connections: read-only
            appeal = c.post("/api/v1/appeals", json=body, headers=key)
            moved = c.post(
                f"/api/v1/appeals/{reg}/transition", json={"to": "rejected"}, headers=inspector
            )
            o311 = c.post(
                "/open311/v2/requests.json",
                data={
                    "service_code": "roof_leak",
                    "lat": b["lat"],
                    "long": b["lon"],
                    "api_key": form_key,
                },
            )
            for r in (appeal, moved):
                assert r.status_code == 503, r.text
                assert "read-only" in r.json()["detail"], r.text
                assert "nothing was saved" in r.json()["detail"]
            assert o311.status_code == 503, o311.text
            assert "read-only" in o311.json()[0]["description"]
            assert c.get(f"/public/track/{reg}").status_code == 200  # reads go on
    finally:
        with admin.connect() as conn:  # (a new session: read-only itself until told)
            conn.execute(text("SET default_transaction_read_only = off"))
            conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()
