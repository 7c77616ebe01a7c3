"""Read replicas: a real streaming hot standby made by the project (``pg_basebackup -R``,
``geo.infra.standby``) serves the reads, the primary every write and a caller's reads just
after its own write; a standby that trails too far is skipped.

Which server answered is checked on the server side: the standby's replay is paused
(``pg_wal_replay_pause()``), so an appeal written since exists on the primary only; a read
that does not find it was answered by the standby, one that finds it by the primary. The
service's read connections are also seen in the standby's ``pg_stat_activity``.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
from fastapi.testclient import TestClient

from geo.infra.localdb import free_port, read_password
from geo.infra.standby import STANDBY_NAME, up_standby
from tests.conftest import SECRET
from tests.factories import channel_key
from tests.replication import (
    Pair,
    admin_engine,
    demo_primary,
    in_recovery,
    settings_for,
    standby_sessions,
    wait_replayed,
)


@pytest.fixture(scope="module")
def pair():
    primary = demo_primary("replicas")
    made = None
    try:
        standby = up_standby(primary, port=free_port(), synchronous="off", echo=lambda *_: None)
        made = Pair(primary, standby)
        yield made
    finally:
        made.destroy() if made else primary.destroy()


@pytest.fixture
def paused(pair):
    """The standby's replay paused after it caught up (resumed after the test)."""
    wait_replayed(pair.primary, pair.standby)
    pair.standby.psql("SELECT pg_wal_replay_pause()")
    yield pair
    pair.standby.psql("SELECT pg_wal_replay_resume()")


def make_client(pair, tmp_path, **kw) -> TestClient:
    from api.app import create_app

    settings = settings_for(
        pair.primary.service_url(),
        pair.primary.url(),
        tmp_path,
        read_database_urls=pair.standby.service_url(),
        **kw,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def key(pair) -> str:
    engine = admin_engine(pair.primary)
    with engine.connect() as conn:
        made = channel_key(conn, "website")
    engine.dispose()
    return made


def building(pair) -> dict:
    lon, lat = pair.primary.psql(
        "SELECT ST_X(ST_PointOnSurface(geom)) || ' ' || ST_Y(ST_PointOnSurface(geom)) "
        "FROM buildings WHERE kind = 'apartment' ORDER BY id LIMIT 1 OFFSET 33",
        db="qala",
    ).split()
    return {"category": "roof_leak", "lon": float(lon), "lat": float(lat)}


def test_the_standby_is_a_streaming_hot_standby_made_by_the_project(pair):
    assert in_recovery(pair.standby) and not in_recovery(pair.primary)
    assert (
        pair.primary.psql(
            "SELECT state FROM pg_stat_replication WHERE application_name = "
            f"'{STANDBY_NAME}' AND usename = 'qala_replicator'"
        )
        == "streaming"
    )
    hba = (pair.primary.pgdata / "pg_hba.conf").read_text()
    assert "host    replication   qala_replicator   127.0.0.1/32   scram-sha-256" in hba
    # the replication role may replicate and nothing else
    assert (
        pair.primary.psql(
            "SELECT rolreplication, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname = 'qala_replicator'"
        )
        == "t|f|f"
    )


def test_row_level_security_scopes_reads_on_the_standby(pair):
    """The scope is set per transaction with set_config, which a standby allows (it is not a
    write): the service role on the standby sees one city's appeals, or none unscoped."""
    wait_replayed(pair.primary, pair.standby)
    pet = pair.primary.psql("SELECT id FROM cities WHERE code = 'PET'", db="qala")
    conn = psycopg2.connect(
        host="127.0.0.1",
        port=pair.standby.port,
        user="qala_service",
        password=read_password(pair.standby.root, "qala_service"),
        dbname="qala",
    )
    try:
        cur = conn.cursor()
        seen = {}
        for city in (pet, str(int(pet) + 1000), None):
            if city is not None:
                cur.execute(
                    "SELECT set_config('qala.city_id', %s, true), "
                    "set_config('qala.role', 'operator', true)",
                    (city,),
                )
            cur.execute("SELECT pg_is_in_recovery(), count(*) FROM appeals")
            seen[city] = cur.fetchone()
            conn.rollback()
    finally:
        conn.close()
    assert seen[pet][0] is True and seen[pet][1] > 0
    assert seen[str(int(pet) + 1000)] == (True, 0)
    assert seen[None] == (True, 0)


def test_reads_are_answered_by_the_standby_and_writes_by_the_primary(paused, key, tmp_path):
    """With replay paused, an appeal the primary has is not found by a reader without a
    recent write of its own (the standby answered); the write itself succeeded (the
    primary). The standby's pg_stat_activity shows the service's read connections."""
    pair = paused
    with make_client(pair, tmp_path, read_max_lag_s=600) as writer:
        made = writer.post("/api/v1/appeals", json=building(pair), headers={"X-API-Key": key})
        assert made.status_code == 201, made.text
        reg = made.json()["appeal"]["reg_number"]
        assert "x-qala-lsn" in made.headers
    with make_client(pair, tmp_path, read_max_lag_s=600) as reader:
        seen = reader.get(f"/public/track/{reg}")
        assert seen.status_code == 404, seen.text  # the standby has not replayed it
        assert reader.get("/tiles/appeals/12/2870/1320.pbf").status_code in (200, 204)
        assert reader.get("/api/v1/categories").status_code == 200
        assert standby_sessions(pair.standby) >= 1
    assert (
        pair.primary.psql(f"SELECT count(*) FROM appeals WHERE reg_number = '{reg}'", db="qala")
        == "1"
    )


def test_an_appeal_written_and_read_back_at_once_by_its_caller_is_found(paused, key, tmp_path):
    """Read-your-writes: the same caller (its API key, and the cookie of its client) reads
    from the primary until a standby has replayed its write; another caller does not."""
    pair = paused
    with make_client(pair, tmp_path, read_max_lag_s=600) as client:
        made = client.post("/api/v1/appeals", json=building(pair), headers={"X-API-Key": key})
        assert made.status_code == 201, made.text
        reg = made.json()["appeal"]["reg_number"]
        by_key = client.get(f"/public/track/{reg}", headers={"X-API-Key": key})
        assert by_key.status_code == 200, by_key.text
        assert by_key.json()["appeal"]["reg_number"] == reg
        # the client's cookie alone (no credentials) is enough
        assert client.cookies.get("qala_lsn") == made.headers["x-qala-lsn"]
        assert client.get(f"/public/track/{reg}").status_code == 200
        # the position sent back as a header, from another client, also
        with make_client(pair, tmp_path, read_max_lag_s=600) as other:
            assert other.get(f"/public/track/{reg}").status_code == 404
            told = other.get(
                f"/public/track/{reg}", headers={"X-Qala-LSN": made.headers["x-qala-lsn"]}
            )
            assert told.status_code == 200
    pair.standby.psql("SELECT pg_wal_replay_resume()")
    wait_replayed(pair.primary, pair.standby)
    with make_client(pair, tmp_path, read_max_lag_s=600) as later:
        assert later.get(f"/public/track/{reg}").status_code == 200  # replayed: the standby


def test_a_standby_trailing_past_the_limit_is_skipped(paused, key, tmp_path):
    pair = paused
    engine = admin_engine(pair.primary)
    with engine.connect() as conn:  # written behind the paused standby's back
        conn.exec_driver_sql(
            "UPDATE appeals SET description = description WHERE id = (SELECT min(id) FROM appeals)"
        )
    engine.dispose()
    with make_client(pair, tmp_path, read_max_lag_s=600) as client:
        made = client.post("/api/v1/appeals", json=building(pair), headers={"X-API-Key": key})
        reg = made.json()["appeal"]["reg_number"]
    time.sleep(2.5)  # the standby now trails by more than the limit below
    with make_client(pair, tmp_path, read_max_lag_s=1.0) as strict:
        assert strict.get(f"/public/track/{reg}").status_code == 200  # the primary answered


def test_qala_db_up_standby_synchronous_and_down(tmp_path):
    """The commands: ``qala db up --standby --synchronous remote_apply`` makes the primary wait
    for the standby; ``qala db down --standby`` stops only the standby (the primary stops
    waiting first); ``qala db down`` the rest."""
    import shutil

    from geo.infra.localdb import LocalCluster
    from geo.infra.standby import synchronous_state
    from tests.conftest import cluster_root
    from tests.test_cli import qala

    root = cluster_root("cli-standby")
    env = {
        "QALA_DATA_DIR": str(root),
        "QALA_DB_PORT": str(free_port()),
        "QALA_DB_STANDBY_PORT": str(free_port()),
    }
    primary = LocalCluster(root=root, port=int(env["QALA_DB_PORT"]))
    standby = LocalCluster(root=root, port=int(env["QALA_DB_STANDBY_PORT"]), name="pg-standby")
    try:
        refused = qala("db", "up", "--synchronous", "on", env=env)
        assert refused.exit_code == 1 and "--standby" in refused.stderr
        made = qala("db", "up", "--standby", "--synchronous", "remote_apply", env=env)
        assert made.exit_code == 0, made.output
        assert "standby created" in made.output
        assert read_password(root, "qala_service") not in made.output  # no password shown
        assert in_recovery(standby) and not in_recovery(primary)
        assert synchronous_state(primary) == (STANDBY_NAME, "remote_apply")
        primary.psql("CREATE TABLE acked (x int); INSERT INTO acked VALUES (7)", db="qala")
        assert standby.psql("SELECT x FROM acked", db="qala") == "7"  # applied when acknowledged
        assert qala("db", "down", "--standby", env=env).exit_code == 0
        assert not standby.running() and primary.running()
        assert synchronous_state(primary)[0] == ""
        assert qala("db", "down", env=env).exit_code == 0
        assert not primary.running()
    finally:
        standby.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_a_get_that_writes_goes_to_the_primary(paused, key, tmp_path):
    """The unsubscribe link of a message is a GET that writes: answered by the primary (on
    the paused standby the message would not even exist yet, and a write would be refused)."""
    from geo.notify.unsubscribe import make_token

    pair = paused
    engine = admin_engine(pair.primary)
    with engine.connect() as conn:
        open311 = channel_key(conn, "open311")
    engine.dispose()
    spot = building(pair)
    with make_client(pair, tmp_path, read_max_lag_s=600) as client:
        made = client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": open311,
                "service_code": "roof_leak",
                "lat": spot["lat"],
                "long": spot["lon"],
                "email": "reader@example.kz",
            },
        )
        assert made.status_code == 201, made.text
        reg = made.json()[0]["service_request_id"]
        city, message = pair.primary.psql(
            "SELECT m.city_id || ' ' || m.id FROM outbox_messages m JOIN appeal_events e "
            "ON e.city_id = m.city_id AND e.id = m.event_id JOIN appeals a ON a.city_id = "
            f"e.city_id AND a.id = e.appeal_id WHERE a.reg_number = '{reg}'",
            db="qala",
        ).split()
    with make_client(pair, tmp_path, read_max_lag_s=600) as stranger:  # no cookie, no key
        token = make_token(SECRET, int(city), int(message))
        done = stranger.get("/api/v1/unsubscribe", params={"token": token})
        assert done.status_code == 200, done.text
        assert done.json()["reg_number"] == reg
