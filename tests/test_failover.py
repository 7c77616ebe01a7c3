"""Failover: the primary dies (``kill -9``), pg_auto_failover promotes its standby, the
service follows it without a restart, and no acknowledged appeal is lost or doubled.

A pg_auto_failover formation (monitor + two nodes, ``geo.infra.autofailover``) holds the
demo city; ``qala serve`` runs in a process of its own with a connection string naming both
nodes and ``target_session_attrs=read-write``. 16 clients register appeals through the API,
each with its own Idempotency-Keys, and retry a refused or unanswered request with the same
key (what the 503's message tells them to do). Once some appeals are acknowledged the
primary node is killed, keeper and postmaster, with SIGKILL. Afterwards every appeal the API
acknowledged exists exactly once on the promoted node, and writes resumed without the
server being restarted. The time from the kill to the first acknowledged write is printed
(no timing assertion).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from api import process
from geo.infra.autofailover import Formation
from geo.infra.localdb import free_port
from geo.infra.settings import PROJECT_ROOT
from tests.conftest import SECRET, cluster_root
from tests.factories import channel_key

CLIENTS = 16
DEMO_SEED = 2026


@pytest.fixture(scope="module")
def formation():
    from geo.demo.load import load_demo_city
    from geo.infra.migrate import upgrade

    made = Formation(cluster_root("failover"), free_port(), (free_port(), free_port()))
    try:
        made.up()
        upgrade(made.url())
        engine = create_engine(made.url(), poolclass=NullPool)
        with engine.begin() as conn:
            load_demo_city(conn, seed=DEMO_SEED)
        engine.dispose()
        yield made
    finally:
        made.destroy()


@pytest.fixture(scope="module")
def server(formation, tmp_path_factory):
    """``qala serve`` on the formation: both nodes in its URLs."""
    tmp = tmp_path_factory.mktemp("failover")
    port = free_port()
    env = {
        **os.environ,
        "QALA_DATABASE_URL": formation.service_url(),
        "QALA_ADMIN_DATABASE_URL": formation.url(),
        "QALA_SECRET_KEY": SECRET,
        "QALA_ENVIRONMENT": "test",
        "QALA_DATA_DIR": str(tmp / "data"),
        "QALA_PORT": str(port),
        "QALA_DB_WRITE_POOL_SIZE": "8",
    }
    with open(tmp / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        process.wait_healthy(base + "/ready", proc, 120, tmp / "serve.log")
        yield base, proc
    finally:
        process.stop(proc)


def places(formation, n: int) -> list[dict]:
    engine = create_engine(formation.url(), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                "FROM buildings WHERE kind = 'apartment' ORDER BY id LIMIT :n"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    return [{"category": "roof_leak", "lon": x, "lat": y} for x, y in rows]


class Clients:
    """16 threads registering appeals; each retries a request with its key until answered."""

    def __init__(self, base: str, api_key: str, spots: list[dict]):
        self.base, self.api_key, self.spots = base, api_key, spots
        self.acked: dict[str, str] = {}  # idempotency key -> reg_number acknowledged
        self.acked_at: list[float] = []
        self.refused = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self, c: int) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            i = 0
            while not self.stop.is_set():
                key = f"failover-{c}-{i}"
                body = {**self.spots[(c * 7 + i) % len(self.spots)], "description": key}
                while not self.stop.is_set():
                    try:
                        r = http.post(
                            "/api/v1/appeals",
                            json=body,
                            headers={"X-API-Key": self.api_key, "Idempotency-Key": key},
                        )
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code in (200, 201):
                        with self.lock:
                            self.acked[key] = r.json()["appeal"]["reg_number"]
                            self.acked_at.append(time.monotonic())
                        break
                    assert r is None or r.status_code == 503, r.text  # never a 500
                    with self.lock:
                        self.refused += 1
                    time.sleep(0.2)
                i += 1


def test_kill_9_of_the_primary_loses_no_acknowledged_appeal(formation, server):
    base, proc = server
    engine = create_engine(formation.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        key = channel_key(conn, "website")
    engine.dispose()
    first = formation.primary()
    assert formation.states() == {"node1": "primary", "node2": "secondary"}
    # the engine made the primary wait for its standby's disk before acknowledging
    assert formation.psql(first, "SELECT current_setting('synchronous_standby_names')") != ""

    clients = Clients(base, key, places(formation, 40))
    threads = [threading.Thread(target=clients.run, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while len(clients.acked) < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(clients.acked) >= 50, "the clients did not get going"
        killed_at = time.monotonic()
        formation.kill(first)
        # until writes come back, and a few more after that
        deadline = killed_at + 180
        while time.monotonic() < deadline:
            after = [t for t in clients.acked_at if t > killed_at + 0.5]
            if len(after) >= 3 * CLIENTS:
                break
            time.sleep(0.2)
    finally:
        clients.stop.set()
        for t in threads:
            t.join(timeout=30)
    resumed = [t for t in clients.acked_at if t > killed_at + 0.5]
    assert resumed, f"no write was acknowledged after the kill: {formation.states()}"
    print(
        f"\nfailover: first acknowledged write {min(resumed) - killed_at:.1f} s after kill -9 "
        f"of the primary; {len(clients.acked)} appeals acknowledged, {clients.refused} "
        f"requests refused (503) or unanswered and retried; states {formation.states()}"
    )
    new = formation.primary()
    assert new.name == "node2"
    assert proc.poll() is None  # the same server process all along: no restart

    engine = create_engine(formation.url(new), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT idempotency_key, reg_number FROM appeals "
                "WHERE idempotency_key LIKE 'failover-%'"
            )
        ).all()
    engine.dispose()
    stored: dict[str, list[str]] = {}
    for k, reg in rows:
        stored.setdefault(k, []).append(reg)
    lost = [k for k in clients.acked if k not in stored]
    doubled = {k: v for k, v in stored.items() if len(v) > 1}
    assert not lost, f"{len(lost)} acknowledged appeals lost: {lost[:5]}"
    assert not doubled, f"appeals registered twice: {list(doubled.items())[:5]}"
    assert all(stored[k] == [reg] for k, reg in clients.acked.items())
