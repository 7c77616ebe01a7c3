"""The resident's account (/me's API): one-time codes through the outbox, a session scoped
to one contact by row-level security, comments, photos, confirm / dispute within the
category's window, ratings counted in the bodies' ratings."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import text

from geo.appeals.actors import Actor
from geo.residents.codes import derive_code
from geo.staff.scope import Scope
from tests.conftest import SECRET
from tests.factories import an_apartment_building, staff
from tests.test_outbox import Smtp, worker_for

MINE = "aigerim.s@example.kz"
THEIRS = "bolat@example.kz"


@pytest.fixture
def smtp():
    server = Smtp()
    yield server
    server.stop()


def file_appeal(client, conn, city_id, email=None, phone=None, category="roof_leak") -> str:
    b = an_apartment_building(conn, city_id)
    r = client.post(
        "/api/v1/appeals",
        json={
            "category": category,
            "lon": b["lon"],
            "lat": b["lat"],
            "applicant_name": "Айгерим Сатпаева",
            "applicant_email": email,
            "applicant_phone": phone,
            "description": "течёт крыша",
        },
        headers=staff(conn, "operator"),
    )
    assert r.status_code == 201, r.text
    return r.json()["appeal"]["reg_number"]


def last_code(conn) -> str:
    """The code the last sign-in message carries, as the worker derives it."""
    nonce = conn.execute(
        text("""
        SELECT k.nonce FROM outbox_messages m JOIN resident_codes k ON k.id = m.code_id
        WHERE m.kind = 'sign_in' ORDER BY m.id DESC LIMIT 1""")
    ).scalar_one()
    return derive_code(SECRET, nonce)


def sign_in(client, conn, contact: str) -> dict:
    assert client.post("/api/v1/resident/code", json={"contact": contact}).status_code == 202
    r = client.post("/api/v1/resident/token", json={"contact": contact, "code": last_code(conn)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def resolve(client, conn, reg: str) -> None:
    inspector = staff(conn, "inspector")
    for to in ("assigned", "in_progress", "resolved"):
        r = client.post(f"/api/v1/appeals/{reg}/transition", json={"to": to}, headers=inspector)
        assert r.status_code == 200, r.text


def test_the_code_arrives_by_email_works_once_and_opens_only_that_contacts_appeals(
    client, conn, city_id, settings, smtp, app
):
    smtp.start()
    mine = file_appeal(client, conn, city_id, email=MINE)
    theirs = file_appeal(client, conn, city_id, email=THEIRS)
    worker = worker_for(settings, smtp)
    worker.work_once()  # the "registered" messages
    smtp.inbox.messages.clear()
    # typed differently from the appeal: the same contact
    r = client.post("/api/v1/resident/code", json={"contact": "  Aigerim.S@Example.KZ "})
    assert r.status_code == 202, r.text
    assert worker.work_once().sent == 1
    worker.close()
    (mail,) = smtp.inbox.messages
    assert mail["To"] == MINE and "List-Unsubscribe" not in mail
    code = re.search(r"\b(\d{6})\b", mail["Subject"]).group(1)
    assert code in mail.get_content()
    # the code is kept nowhere: only its HMAC and the nonce it is derived from
    kept = conn.execute(text("SELECT * FROM resident_codes")).mappings().all()
    outbox = conn.execute(text("SELECT * FROM outbox_messages")).mappings().all()
    assert kept and all(code not in str(dict(row)) for row in [*kept, *outbox])
    r = client.post("/api/v1/resident/token", json={"contact": MINE, "code": code})
    assert r.status_code == 200, r.text
    me = {"Authorization": f"Bearer {r.json()['access_token']}"}
    listed = client.get("/api/v1/resident/appeals", headers=me)
    assert listed.status_code == 200, listed.text
    assert [a["reg_number"] for a in listed.json()] == [mine]
    appeal = listed.json()[0]
    assert appeal["status"] == "registered" and appeal["deadline_at"] and appeal["open"]
    assert "Айгерим" not in listed.text and THEIRS not in listed.text
    # once only
    again = client.post("/api/v1/resident/token", json={"contact": MINE, "code": code})
    assert again.status_code == 401
    # another contact's appeal is "not found" to this session, whatever it asks
    for path in (f"/api/v1/resident/appeals/{theirs}/comments",):
        assert client.post(path, json={"body": "x"}, headers=me).status_code == 404
    # row-level security: the session's scope sees one appeal of the whole city
    scope = Scope(city_id, Actor("resident", "resident"), contact=MINE)
    seen = app.state.db.read_scoped(
        scope, lambda c: c.execute(text("SELECT array_agg(reg_number) FROM appeals")).scalar()
    )
    assert seen == [mine]
    contacts = app.state.db.read_scoped(
        scope, lambda c: c.execute(text("SELECT count(*) FROM appeal_contacts")).scalar()
    )
    assert contacts == 0  # the resident reads no contacts at all, not even its own row
    # a resident's token is no staff token, and registers nothing
    assert client.get("/api/v1/staff/appeals", headers=me).status_code == 401
    assert client.get("/api/v1/me", headers=me).status_code == 401
    assert (
        client.post(
            "/api/v1/appeals", json={"category": "roof_leak", "lon": 69.1, "lat": 54.8}, headers=me
        ).status_code
        == 403
    )


def test_five_wrong_codes_lock_the_contact_with_a_clear_answer(client, conn, city_id):
    file_appeal(client, conn, city_id, phone="8 701 555 44 33")
    assert client.post("/api/v1/resident/code", json={"contact": "+77015554433"}).status_code == 202
    right = last_code(conn)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        r = client.post("/api/v1/resident/token", json={"contact": "87015554433", "code": wrong})
        assert r.status_code == 401 and f"{left} attempts left" in r.json()["detail"]
    r = client.post("/api/v1/resident/token", json={"contact": "87015554433", "code": wrong})
    assert r.status_code == 429
    assert "locked" in r.json()["detail"] and int(r.headers["Retry-After"]) > 0
    # even the right code now, and no new code either, until the window has passed
    r = client.post("/api/v1/resident/token", json={"contact": "87015554433", "code": right})
    assert r.status_code == 429 and "locked" in r.json()["detail"]
    assert client.post("/api/v1/resident/code", json={"contact": "87015554433"}).status_code == 429


def test_codes_are_throttled_per_contact_and_an_unknown_contact_gets_the_same_answer(
    client, conn, city_id
):
    file_appeal(client, conn, city_id, email=MINE)
    answers = [client.post("/api/v1/resident/code", json={"contact": MINE}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert "Retry-After" in answers[-1].headers
    before = conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar()
    unknown = client.post("/api/v1/resident/code", json={"contact": "nobody@example.kz"})
    assert unknown.status_code == 202 and unknown.json() == answers[0].json()
    assert conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar() == before
    bad = client.post("/api/v1/resident/code", json={"contact": "not a contact"})
    assert bad.status_code == 422 and "phone" in bad.json()["detail"]


def test_a_dispute_reopens_the_fix_within_the_window_and_is_refused_after(client, conn, city_id):
    reg = file_appeal(client, conn, city_id, email=MINE)
    me = sign_in(client, conn, MINE)
    early = client.post(f"/api/v1/resident/appeals/{reg}/dispute", json={}, headers=me)
    assert early.status_code == 409 and "not resolved" in early.json()["detail"]
    resolve(client, conn, reg)
    (a,) = client.get("/api/v1/resident/appeals", headers=me).json()
    assert a["can_dispute"] and a["can_confirm"] and a["dispute_days"] == 14
    r = client.post(
        f"/api/v1/resident/appeals/{reg}/dispute", json={"comment": "всё ещё течёт"}, headers=me
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reopened"
    row = conn.execute(
        text("SELECT status, resolved_at FROM appeals WHERE reg_number = :r"), {"r": reg}
    ).one()
    assert row.status == "reopened" and row.resolved_at is None
    event = conn.execute(
        text("""
        SELECT e.actor_role, e.from_status, e.to_status FROM appeal_events e
        JOIN appeals a ON a.city_id = e.city_id AND a.id = e.appeal_id
        WHERE a.reg_number = :r ORDER BY e.id DESC LIMIT 1"""),
        {"r": reg},
    ).one()
    assert tuple(event) == ("resident", "resolved", "reopened")
    # the applicant is told, as for every public change
    told = conn.execute(
        text("""
        SELECT m.status FROM outbox_messages m JOIN appeals a
          ON a.city_id = m.city_id AND a.id = m.appeal_id
        WHERE a.reg_number = :r ORDER BY m.id DESC LIMIT 1"""),
        {"r": reg},
    ).scalar()
    assert told == "reopened"
    # resolved again, long ago: past the category's window the dispute is refused
    controller = staff(conn, "inspector")
    assert (
        client.post(
            f"/api/v1/appeals/{reg}/transition", json={"to": "resolved"}, headers=controller
        ).status_code
        == 200
    )
    conn.execute(
        text("UPDATE appeals SET resolved_at = now() - interval '20 days' WHERE reg_number = :r"),
        {"r": reg},
    )
    (a,) = client.get("/api/v1/resident/appeals", headers=me).json()
    assert not a["can_dispute"] and a["can_rate"]
    late = client.post(f"/api/v1/resident/appeals/{reg}/dispute", json={}, headers=me)
    assert late.status_code == 409 and "ended on" in late.json()["detail"]
    status = conn.execute(text("SELECT status FROM appeals WHERE reg_number = :r"), {"r": reg})
    assert status.scalar() == "resolved"
    # a category may set its own window
    conn.execute(text("UPDATE categories SET dispute_days = 30 WHERE code = 'roof_leak'"))
    ok = client.post(f"/api/v1/resident/appeals/{reg}/dispute", json={}, headers=me)
    assert ok.status_code == 200 and ok.json()["status"] == "reopened"


def test_comment_photo_and_rating_of_the_resident(client, conn, city_id):
    reg = file_appeal(client, conn, city_id, email=MINE)
    me = sign_in(client, conn, MINE)
    r = client.post(
        f"/api/v1/resident/appeals/{reg}/comments", json={"body": "подъезд 3"}, headers=me
    )
    assert r.status_code == 201, r.text
    # staff read it; the public tracker never shows it
    staff_view = client.get(f"/api/v1/staff/appeals/{reg}", headers=staff(conn, "inspector"))
    assert "подъезд 3" in staff_view.text
    assert "подъезд 3" not in client.get(f"/public/track/{reg}").text
    # a photo: cleaned, kept, not public until approved, seen by its resident
    img = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 80, 40)).save(img, "JPEG")
    up = client.post(
        f"/api/v1/resident/appeals/{reg}/photos",
        files={"photo": ("p.jpg", img.getvalue(), "image/jpeg")},
        headers=me,
    )
    assert up.status_code == 201, up.text
    pid = up.json()["id"]
    assert client.get(f"/api/v1/appeals/{reg}/photos").json() == []  # the public: not yet
    (a,) = client.get("/api/v1/resident/appeals", headers=me).json()
    assert [p["id"] for p in a["photos"]] == [pid] and not a["photos"][0]["approved"]
    thumb = client.get(a["photos"][0]["thumb_url"], headers=me)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    not_a_photo = client.post(
        f"/api/v1/resident/appeals/{reg}/photos",
        files={"photo": ("p.jpg", b"%PDF-1.4 not an image", "image/jpeg")},
        headers=me,
    )
    assert not_a_photo.status_code == 415
    # rated after the fix; the body's rating carries the residents' mean
    early = client.put(f"/api/v1/resident/appeals/{reg}/rating", json={"rating": 4}, headers=me)
    assert early.status_code == 409
    resolve(client, conn, reg)
    assert (
        client.put(
            f"/api/v1/resident/appeals/{reg}/rating", json={"rating": 2}, headers=me
        ).status_code
        == 200
    )
    assert (
        client.put(
            f"/api/v1/resident/appeals/{reg}/rating", json={"rating": 6}, headers=me
        ).status_code
        == 422
    )
    org = conn.execute(
        text("SELECT organisation_id FROM appeals WHERE reg_number = :r"), {"r": reg}
    ).scalar()
    ratings = client.get("/api/v1/ratings", headers=staff(conn, "planner")).json()
    (body,) = [o for o in ratings["organisations"] if o["organisation_id"] == org]
    assert body["resident_rating"] == 2.0 and body["resident_ratings"] == 1
    others = [o for o in ratings["organisations"] if o["organisation_id"] != org]
    assert all(o["resident_rating"] is None and o["resident_ratings"] == 0 for o in others)
    confirm = client.post(f"/api/v1/resident/appeals/{reg}/confirm", json={}, headers=me)
    assert confirm.status_code == 200 and confirm.json()["status"] == "resolved"
