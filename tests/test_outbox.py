"""Word back to applicants: queued with the change, sent once over a real SMTP server.

The SMTP server is aiosmtpd, started by the tests on a free port of the loopback; "down"
is that port with nothing listening. Every message received is kept and counted by its
Message-ID.
"""

from __future__ import annotations

import email
import email.policy
import threading
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from geo.appeals.actors import Actor
from geo.appeals.lifecycle import TransitionRequest, transition
from geo.infra.db import make_engine
from geo.infra.localdb import free_port
from geo.notify.worker import Worker, retry_failed
from tests.factories import an_apartment_building, channel_key, make_appeal, staff

FAR = "2100-01-01T00:00:00Z"  # "due by then": every waiting message, whatever its backoff


class Inbox:
    """aiosmtpd's handler: every message accepted, kept."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()  # set on every message

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
        self.arrived.set()
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]


class Smtp:
    """A real SMTP server on a fixed port, started and stopped by the test."""

    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()  # returns once it accepts connections

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = Smtp()
    yield server
    server.stop()


def worker_for(settings, smtp, **changes) -> Worker:
    mail = settings.model_copy(
        update={"smtp_port": smtp.port, "smtp_timeout_s": 5.0, "outbox_backoff_s": 60, **changes}
    )
    return Worker(make_engine(mail, admin=True), mail)


def outbox(conn, reg: str) -> list[dict]:
    rows = conn.execute(
        text("""
        SELECT m.* FROM outbox_messages m JOIN appeals a
          ON a.city_id = m.city_id AND a.id = m.appeal_id
        WHERE a.reg_number = :r ORDER BY m.id"""),
        {"r": reg},
    ).mappings()
    return [dict(r) for r in rows]


# --- queued with the change -------------------------------------------------------------------


def test_a_public_change_queues_one_message_in_its_transaction(conn, city_id):
    b = an_apartment_building(conn, city_id)
    appeal = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email="resident@example.kz"
    )
    reg = appeal["reg_number"]
    (registered,) = outbox(conn, reg)
    assert (registered["status"], registered["channel"], registered["state"]) == (
        "registered",
        "email",
        "pending",
    )
    inspector = Actor(name="inspector-test", role="inspector")
    with conn.begin_nested() as undone:  # a change rolled back takes its message with it
        transition(conn, city_id, TransitionRequest(reg, "assigned"), inspector)
        assert len(outbox(conn, reg)) == 2
        undone.rollback()
    assert len(outbox(conn, reg)) == 1
    transition(conn, city_id, TransitionRequest(reg, "assigned"), inspector)
    transition(conn, city_id, TransitionRequest(reg, "in_progress"), inspector)
    assert [m["status"] for m in outbox(conn, reg)] == ["registered", "assigned", "in_progress"]
    # a rejection is not among the changes told; without a contact nothing is queued
    quiet = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    transition(conn, city_id, TransitionRequest(quiet["reg_number"], "assigned"), inspector)
    assert outbox(conn, quiet["reg_number"]) == []
    phone_only = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_phone="+7 701 000 00 00"
    )
    assert [m["channel"] for m in outbox(conn, phone_only["reg_number"])] == ["sms"]


# --- sent once ----------------------------------------------------------------------------------


def test_a_status_change_by_staff_queues_one_message_that_arrives_once(
    client, conn, city_id, settings, smtp
):
    smtp.start()
    b = an_apartment_building(conn, city_id)
    op = staff(conn, "operator")
    r = client.post(
        "/api/v1/appeals",
        json={
            "category": "roof_leak",
            "lon": b["lon"],
            "lat": b["lat"],
            "applicant_name": "Айгерим Сатпаева",
            "applicant_email": "aigerim@example.kz",
            "description": "течёт крыша над кв. 12",
        },
        headers=op,
    )
    assert r.status_code == 201, r.text
    reg = r.json()["appeal"]["reg_number"]
    worker = worker_for(settings, smtp)
    assert worker.work_once().sent == 1  # "registered"
    change = client.post(
        f"/api/v1/appeals/{reg}/transition",
        json={"to": "assigned"},
        headers=staff(conn, "inspector"),
    )
    assert change.status_code == 200, change.text
    assert [m["status"] for m in outbox(conn, reg)] == ["registered", "assigned"]
    assert worker.work_once().sent == 1
    assert worker.work_once().taken == 0  # nothing left: never twice
    worker.close()
    assert len(smtp.inbox.messages) == 2 and len(set(smtp.inbox.ids())) == 2
    last = smtp.inbox.messages[-1]
    assert last["To"] == "aigerim@example.kz" and reg in last["Subject"]
    body = last.get_content()
    assert "передано исполнителю" in body  # Russian unless the applicant chose otherwise
    track = f"{settings.public_url}/track?reg={reg}&city=PET&lang=ru"
    assert track in body
    for private in ("Айгерим", "Сатпаева", "кв. 12", "течёт"):
        assert private not in body and private not in last["Subject"]
    assert all(m["state"] == "sent" and m["attempts"] == 1 for m in outbox(conn, reg))


def test_while_the_smtp_server_is_down_messages_wait_and_go_out_once_when_it_is_back(
    conn, city_id, settings, smtp, client
):
    b = an_apartment_building(conn, city_id)
    regs = []
    for i in range(5):
        appeal = make_appeal(
            conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email=f"r{i}@example.kz"
        )
        regs.append(appeal["reg_number"])
    worker = worker_for(settings, smtp)
    down = worker.work_once()  # nothing listens on the port
    assert down.server_down and down.sent == 0 and down.retried == 1
    # the pass stopped at the first: the others did not spend an attempt
    states = [m for reg in regs for m in outbox(conn, reg)]
    assert all(m["state"] == "pending" for m in states)
    assert sorted(m["attempts"] for m in states) == [0, 0, 0, 0, 1]
    # the next pass tries another: the first waits for its backoff
    assert worker.work_once().retried == 1
    states = [m for reg in regs for m in outbox(conn, reg)]
    assert sorted(m["attempts"] for m in states) == [0, 0, 0, 1, 1]
    again = worker.work_once(due=FAR)  # later, still down
    assert again.server_down and again.sent == 0
    smtp.start()  # the server is back
    back = worker.work_once(due=FAR)
    assert back.sent == 5 and not back.server_down
    assert worker.work_once(due=FAR).taken == 0
    worker.close()
    assert len(smtp.inbox.messages) == 5
    assert len(set(smtp.inbox.ids())) == 5  # none twice
    assert sorted(m["To"] for m in smtp.inbox.messages) == [f"r{i}@example.kz" for i in range(5)]
    assert all(m["state"] == "sent" for reg in regs for m in outbox(conn, reg))


def test_after_the_last_attempt_a_message_fails_and_retry_queues_it_again(
    conn, city_id, settings, smtp, client
):
    b = an_apartment_building(conn, city_id)
    reg = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email="late@example.kz"
    )["reg_number"]
    worker = worker_for(settings, smtp, outbox_max_attempts=3)
    for _ in range(3):
        worker.work_once(due=FAR)
    (m,) = outbox(conn, reg)
    assert (m["state"], m["attempts"]) == ("failed", 3) and "SMTP" in m["last_error"]
    waits = conn.execute(
        text("SELECT next_attempt_at - now() FROM outbox_messages WHERE id = :i"), {"i": m["id"]}
    ).scalar_one()
    assert waits.total_seconds() > 200  # backoff doubled: 60, 120, 240 s
    smtp.start()
    assert worker.work_once(due=FAR).taken == 0  # failed is not retried by itself
    assert retry_failed(worker.engine) >= 1
    assert worker.work_once().sent == 1
    worker.close()
    assert [x["To"] for x in smtp.inbox.messages] == ["late@example.kz"]


def test_the_message_is_in_the_applicants_language_and_unsubscribing_stops_the_next(
    client, conn, city_id, settings, smtp
):
    smtp.start()
    b = an_apartment_building(conn, city_id, offset=45)
    r = client.post(
        "/open311/v2/requests.json",
        params={"locale": "kk"},
        data={
            "api_key": channel_key(conn, "open311"),
            "service_code": "roof_leak",
            "lat": b["lat"],
            "long": b["lon"],
            "email": "asel@example.kz",
            "first_name": "Әсел",
        },
    )
    assert r.status_code == 201, r.text
    reg = r.json()[0]["service_request_id"]
    worker = worker_for(settings, smtp)
    assert worker.work_once().sent == 1
    (mail,) = smtp.inbox.messages
    body = mail.get_content()
    assert mail["Subject"] == f"Өтініш {reg}: тіркелді"
    assert "өтінішіңіздің күйі: тіркелді" in body and "Әсел" not in body
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe in body
    link = urlsplit(unsubscribe)
    # a forged or damaged link does nothing
    token = link.query.split("=", 1)[1]
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert client.get("/api/v1/unsubscribe", params={"token": forged}).status_code == 422
    assert client.get("/api/v1/unsubscribe", params={"token": "1.1"}).status_code == 422
    ok = client.get(f"{link.path}?{link.query}")
    assert ok.status_code == 200 and ok.json()["reg_number"] == reg
    change = client.post(
        f"/api/v1/appeals/{reg}/transition",
        json={"to": "assigned"},
        headers=staff(conn, "inspector"),
    )
    assert change.status_code == 200
    assert [m["status"] for m in outbox(conn, reg)] == ["registered"]  # nothing more queued
    assert worker.work_once(due=FAR).taken == 0
    worker.close()
    assert len(smtp.inbox.messages) == 1


class RecordingSms:
    """An SMS gateway for the tests: keeps what it is given."""

    sent: list[tuple[str, str]] = []

    def __init__(self, settings):
        self.settings = settings

    def send(self, phone: str, text: str) -> None:
        RecordingSms.sent.append((phone, text))


def test_an_sms_goes_through_the_configured_sender_and_fails_without_one(
    client, conn, city_id, settings, smtp
):
    b = an_apartment_building(conn, city_id)
    reg = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_phone="+77010000001"
    )["reg_number"]
    without = worker_for(settings, smtp)
    assert without.work_once(due=FAR).failed == 1
    (m,) = outbox(conn, reg)
    assert m["state"] == "failed" and "no SMS sender" in m["last_error"]
    retry_failed(without.engine)
    RecordingSms.sent.clear()
    sms = worker_for(settings, smtp, sms_sender="tests.test_outbox:RecordingSms")
    assert sms.work_once().sent == 1
    ((phone, words),) = RecordingSms.sent
    assert phone == "+77010000001" and reg in words and "/track?reg=" in words


def test_the_outbox_is_read_only_by_staff_who_read_contacts(conn, city_id, client, settings):
    """Row-level security (migration 0015): the service sees the outbox of the scope's city,
    and only for roles that see contacts; it cannot write it."""
    b = an_apartment_building(conn, city_id)
    make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email="x@example.kz")
    service = make_engine(settings)
    seen = {}
    with service.connect() as c:
        for role in ("operator", "planner", "public"):
            with c.begin():
                c.execute(
                    text(
                        "SELECT set_config('qala.city_id', :c, true), "
                        "set_config('qala.role', :r, true)"
                    ),
                    {"c": str(city_id), "r": role},
                )
                seen[role] = c.execute(text("SELECT count(*) FROM outbox_messages")).scalar_one()
        with pytest.raises(Exception, match="permission denied"), c.begin():
            c.execute(text("UPDATE outbox_messages SET state = 'sent'"))
    service.dispose()
    assert seen["operator"] >= 1 and seen["planner"] == 0 and seen["public"] == 0


def test_qala_outbox_work_and_retry_from_the_command_line(client, conn, city_id, settings, smtp):
    from typer.testing import CliRunner

    from api.cli import app

    b = an_apartment_building(conn, city_id)
    reg = make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email="cli@example.kz"
    )["reg_number"]
    runner = CliRunner()
    env = {
        "QALA_DATABASE_URL": settings.database_url,
        "QALA_ADMIN_DATABASE_URL": settings.admin_database_url,
        "QALA_SECRET_KEY": settings.secret_key,
        "QALA_SMTP_HOST": "127.0.0.1",
        "QALA_SMTP_PORT": str(smtp.port),
    }
    down = runner.invoke(app, ["outbox", "work"], env=env)
    assert down.exit_code == 1
    lines = down.stderr.strip().splitlines()
    assert lines[-1].startswith("qala: error: the server is unreachable")
    assert outbox(conn, reg)[0]["state"] == "pending"
    smtp.start()
    again = runner.invoke(app, ["outbox", "retry"], env=env)
    assert again.exit_code == 0 and "messages due now" in again.stderr
    ok = runner.invoke(app, ["outbox", "work"], env=env)
    assert ok.exit_code == 0 and "1 sent" in ok.stderr, ok.stderr
    assert [m["To"] for m in smtp.inbox.messages] == ["cli@example.kz"]


def test_the_worker_beside_the_service_sends_what_is_queued(client, conn, city_id, settings, smtp):
    """``qala run``'s worker: a thread that keeps passing over the outbox."""
    from geo.notify.worker import start_in_thread

    smtp.start()
    mail = settings.model_copy(update={"smtp_port": smtp.port, "outbox_poll_s": 0.1})
    thread, stop = start_in_thread(mail)
    try:
        b = an_apartment_building(conn, city_id)
        make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email="t@example.kz")
        assert smtp.inbox.arrived.wait(60), "the worker sent nothing"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert [m["To"] for m in smtp.inbox.messages] == ["t@example.kz"]


def test_workers_at_once_claim_batches_and_send_each_message_once(
    conn, city_id, settings, smtp, client, monkeypatch
):
    """Three workers drain the same outbox at the same time, in batches of 4 (so that they
    meet): every message arrives once; a batch cut short goes back as it was."""
    from geo.notify import worker as outbox_worker

    monkeypatch.setattr(outbox_worker, "CLAIM_BATCH", 4)
    smtp.start()
    b = an_apartment_building(conn, city_id)
    for i in range(30):
        make_appeal(
            conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email=f"w{i}@example.kz"
        )
    workers = [worker_for(settings, smtp) for _ in range(3)]
    passes = []
    threads = [threading.Thread(target=lambda w=w: passes.append(w.work_once())) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for w in workers:
        w.close()
    assert sum(p.sent for p in passes) == 30 and all(not p.errors for p in passes)
    assert len(smtp.inbox.ids()) == 30 and len(set(smtp.inbox.ids())) == 30
    left = conn.execute(text("SELECT count(*) FROM outbox_messages WHERE state <> 'sent'"))
    assert left.scalar_one() == 0
    # a pass with a limit claims no more than it may send: the others keep their due time
    for i in range(3):
        make_appeal(
            conn, city_id, "roof_leak", b["lon"], b["lat"], applicant_email=f"x{i}@example.kz"
        )
    due = conn.execute(
        text("SELECT id, next_attempt_at FROM outbox_messages WHERE state = 'pending' ORDER BY id")
    ).all()
    one = worker_for(settings, smtp)
    assert one.work_once(limit=1).sent == 1
    after = dict(
        conn.execute(
            text("SELECT id, next_attempt_at FROM outbox_messages WHERE state = 'pending'")
        ).all()
    )
    assert len(after) == 2 and all(after[i] == at for i, at in due if i in after)
    assert one.work_once().sent == 2
    one.close()
