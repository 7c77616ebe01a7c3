"""The outbox drained: 1,000 queued messages to applicants sent to a local SMTP server
(aiosmtpd on the loopback, in a process of its own: ``bench/smtp_sink.py``) by one worker
(``geo.notify.worker``: claimed in batches, each marked sent once the server accepted it)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.harness import record
from geo.appeals.actors import Actor
from geo.appeals.intake import NewAppeal, create_appeal
from geo.demo.load import load_demo_city
from geo.infra.localdb import free_port
from geo.infra.settings import Settings
from geo.notify.worker import Worker

APPLICANTS = 50


def queue(url: str, n: int) -> None:
    """``n`` messages: appeals with an e-mail each, then state changes spread over them (the
    trigger of migration 0015 queues one message per change)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        cid = load_demo_city(conn, seed=2026)["city_id"]
        lon, lat = conn.execute(
            text("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM buildings LIMIT 1")
        ).one()
        operator = Actor(name="bench", role="operator")
        for i in range(APPLICANTS):
            new = NewAppeal(
                category="roof_leak", lon=lon, lat=lat, applicant_email=f"r{i}@example.kz"
            )
            create_appeal(conn, cid, new, operator)  # one message each ("registered")
        conn.execute(
            text("""
            INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status,
                                       to_status)
            SELECT a.city_id, a.id, 'bench', 'inspector',
                   CASE WHEN g % 2 = 0 THEN 'assigned' ELSE 'in_progress' END,
                   CASE WHEN g % 2 = 0 THEN 'in_progress' ELSE 'assigned' END
            FROM generate_series(1, :k) g
            JOIN appeals a ON a.city_id = :c AND a.id = (SELECT min(id) FROM appeals
                                                         WHERE city_id = :c) + g % :apps"""),
            {"k": n - APPLICANTS, "c": cid, "apps": APPLICANTS},
        )
        queued = conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar_one()
    engine.dispose()
    assert queued == n, f"{queued} queued, not {n}"


def run(ctx) -> list[dict]:
    n = 1000
    url = ctx.make_database()
    queue(url, n)
    port = free_port()
    received = Path(tempfile.mkdtemp(prefix="qala-smtp-")) / "received"
    smtp = subprocess.Popen(
        [sys.executable, "-m", "bench.smtp_sink", str(port), str(received)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert smtp.stdout.readline().strip() == "ready", "the SMTP sink did not start"
        settings = Settings(
            database_url=url,
            admin_database_url=url,
            environment="test",
            secret_key="bench-secret-key-of-at-least-32-bytes!",
            smtp_port=port,
        )
        engine = create_engine(url)
        worker = Worker(engine, settings)
        t0 = time.perf_counter()
        done = worker.work_once()
        took = time.perf_counter() - t0
        worker.close()
        engine.dispose()
    finally:
        smtp.terminate()
        smtp.wait(10)
    ids = received.read_text().split()
    assert done.sent == n and len(ids) == n and len(set(ids)) == n, (done, len(ids))
    return [
        record(
            "outbox_drain_1000_messages_s",
            took,
            "s",
            ctx.command,
            "<= 10 s",
            took <= 10,
            detail=f"{n} e-mails to {APPLICANTS} applicants, one worker, aiosmtpd on the "
            f"loopback in a process of its own: {n / took:.0f} messages/s, each received once",
        )
    ]
