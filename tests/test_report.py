"""A resident's report (``POST /api/v1/report``, the ``/report`` page's API): registered as
the website channel by the operator's rules, with its photos in the same transaction; the
open appeals nearby without personal data; bad files and floods refused with a clear
message in the page's language, nothing half-stored; the rate limit counted in the
database (the same for every process of the service)."""

from __future__ import annotations

import io
import threading
import uuid

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from tests.factories import an_apartment_building, make_appeal
from tests.test_photos import bomb, jpeg_with_exif, segments
from web import i18n

CATEGORY = "roof_leak"


@pytest.fixture
def place(conn, city_id) -> dict:
    return an_apartment_building(conn, city_id)


def app_with(settings, **limits):
    """Another instance of the service on the test's own database (the test asks for
    ``app`` too, which gives it a database of its own)."""
    from api.app import create_app

    return create_app(settings.model_copy(update=limits))


def form(place: dict, **extra) -> dict:
    return {
        "category": CATEGORY,
        "lon": str(place["lon"]),
        "lat": str(place["lat"]),
        "located_by": "click",
        "description": "Течёт крыша над третьим подъездом",
        "email": "aigul@example.kz",
        "lang": "ru",
        **extra,
    }


def send(client, place, files=(), key=None, **extra):
    headers = {"Idempotency-Key": key or f"report-{uuid.uuid4()}"}
    return client.post(
        "/api/v1/report",
        data=form(place, **extra),
        files=[("photos", f) for f in files],
        headers=headers,
    )


def counts(conn) -> tuple[int, int]:
    return conn.execute(
        text("SELECT (SELECT count(*) FROM appeals), (SELECT count(*) FROM appeal_photos)")
    ).one()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(out, "PNG")
    return out.getvalue()


def test_a_report_is_registered_as_the_website_with_its_photos(client, conn, place):
    photos = [("a.jpg", jpeg_with_exif(), "image/jpeg"), ("b.png", png(), "image/png")]
    key = "report-one-form"
    r = send(client, place, photos, key=key, lang="kk")
    assert r.status_code == 201, r.text
    body = r.json()
    appeal = body["appeal"]
    assert body["created"] and body["photos"] == 2
    assert appeal["reg_number"].startswith("PET-") and appeal["channel"] == "website"
    assert appeal["organisation_ru"] and appeal["deadline_at"]
    assert body["track_url"] == f"/track?reg={appeal['reg_number']}&lang=kk"
    assert "aigul" not in r.text  # the contact is never in an answer
    row = conn.execute(
        text("""
        SELECT a.channel, a.located_by, a.organisation_id, a.deadline_at - a.created_at AS due,
               c.email, c.lang, (SELECT count(*) FROM appeal_photos p
                                 WHERE p.city_id = a.city_id AND p.appeal_id = a.id) AS photos,
               (SELECT count(*) FROM outbox_messages m
                WHERE m.city_id = a.city_id AND m.appeal_id = a.id) AS messages
        FROM appeals a JOIN appeal_contacts c ON c.city_id = a.city_id AND c.appeal_id = a.id
        WHERE a.reg_number = :r"""),
        {"r": appeal["reg_number"]},
    ).one()
    assert row.channel == "website" and row.located_by == "click"
    assert row.email == "aigul@example.kz" and row.lang == "kk"
    assert row.photos == 2 and row.messages == 1  # "registered", in the appeal's language
    # as an operator would have given them: the same body and deadline as the rules say
    hours = conn.execute(
        text("SELECT deadline_hours FROM categories WHERE code = :c"), {"c": CATEGORY}
    ).scalar_one()
    assert row.due.total_seconds() == hours * 3600
    # the same form again (a double click, a retry): the first appeal, nothing more stored
    before = counts(conn)
    again = send(client, place, photos, key=key, lang="kk")
    assert again.status_code == 200 and again.json()["appeal"]["reg_number"] == appeal["reg_number"]
    assert counts(conn) == before
    # another form under the same key is refused
    other = send(client, place, photos, key=key, lang="kk", description="другое")
    assert other.status_code == 422 and counts(conn) == before


def test_the_served_photos_carry_no_metadata(client, conn, place):
    r = send(client, place, [("a.jpg", jpeg_with_exif(), "image/jpeg")])
    assert r.status_code == 201, r.text
    keys = conn.execute(
        text("SELECT page_key, thumb_key FROM appeal_photos ORDER BY id DESC LIMIT 1")
    ).one()
    store = client.app.state.photo_store
    for key in keys:
        data = store.get(key)
        assert 0xE1 not in segments(data) and b"Exif" not in data and b"TestCam" not in data


def test_nearby_shows_open_appeals_of_the_category_without_personal_data(
    client, conn, place, city_id
):
    near = make_appeal(
        conn,
        city_id,
        CATEGORY,
        place["lon"],
        place["lat"],
        applicant_name="Гульнара Сапарова",
        applicant_phone="+77015550000",
        description="мой телефон +77015550000",
    )
    r = client.get(
        "/api/v1/report/nearby",
        params={"category": CATEGORY, "lon": place["lon"], "lat": place["lat"]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    numbers = [a["reg_number"] for a in body["appeals"]]
    assert near["reg_number"] in numbers and body["organisation_ru"] and body["deadline_hours"]
    assert "Сапарова" not in r.text and "7015550000" not in r.text
    assert set(body["appeals"][0]) == {
        "reg_number",
        "status",
        "created_at",
        "deadline_at",
        "distance_m",
        "same_object",
    }
    # another category: not one of these
    other = client.get(
        "/api/v1/report/nearby",
        params={"category": "playground", "lon": place["lon"], "lat": place["lat"]},
    )
    assert near["reg_number"] not in [a["reg_number"] for a in other.json()["appeals"]]


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("photo.jpg", b"MZ\x90\x00 this is a program" * 50, 415, "report_not_image"),
        ("big.jpg", b"\xff\xd8\xff\xe0" + b"\0" * (50 * 1024 * 1024), 413, "report_photo_too_big"),
        ("bomb.png", None, 422, "report_photo_unusable"),
    ],
)
def test_a_bad_file_refuses_the_whole_report_in_the_pages_language(
    client, conn, place, name, data, status, words
):
    data = bomb() if data is None else data
    before = counts(conn)
    good = ("good.jpg", jpeg_with_exif(), "image/jpeg")
    r = send(client, place, [good, (name, data, "image/jpeg")], lang="en")
    assert r.status_code == status, r.text
    en = i18n.labels("en")[words]
    assert r.json()["detail"].startswith(en.split("“")[0]) and name in r.json()["detail"]
    assert counts(conn) == before  # neither the appeal nor the good photo


def test_more_photos_than_allowed_are_refused(client, conn, place):
    before = counts(conn)
    many = [(f"{i}.png", png(), "image/png") for i in range(6)]
    r = send(client, place, many, lang="ru")
    assert r.status_code == 422 and r.json()["detail"] == "Не больше 5 фотографий."
    assert counts(conn) == before


def test_a_report_needs_a_contact(client, conn, place):
    r = send(client, place, email="", phone="")
    assert r.status_code == 422 and "phone" in r.json()["detail"]


def test_a_flood_from_one_client_gets_429_with_retry_after(app, settings, conn, place):
    with TestClient(app_with(settings, report_per_client=3, report_per_contact=100)) as client:
        for i in range(3):
            assert send(client, place, email=f"r{i}@example.kz").status_code == 201
        before = counts(conn)
        r = send(client, place, email="someone.else@example.kz", lang="kk")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert r.json()["detail"].startswith("Бұл мекенжайдан немесе байланыстан өтініш тым көп")
    assert counts(conn) == before


def test_a_flood_from_one_contact_gets_429_whatever_its_spelling(app, settings, conn, place):
    with TestClient(app_with(settings, report_per_client=100, report_per_contact=2)) as client:
        assert send(client, place, email="", phone="+7 (701) 555-12-34").status_code == 201
        assert send(client, place, email="", phone="8 701 555 1234").status_code == 201
        r = send(client, place, email="", phone="87015551234", lang="en")
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert r.json()["detail"].startswith("Too many reports from this address or contact")
        # e-mails: lower and upper case are one contact
        assert send(client, place, email="Dana@Example.kz").status_code == 201
        assert send(client, place, email="dana@example.KZ").status_code == 201
        assert send(client, place, email="DANA@example.kz").status_code == 429
        # a re-sent form is not counted again
        assert send(client, place, email="x@example.kz", key="k1").status_code == 201
        assert send(client, place, email="x@example.kz", key="k1").status_code == 200


def test_the_limit_is_shared_by_every_process(app, settings, conn, place):
    """Two instances of the service (as two worker processes: nothing shared but the
    database), sending at the same time: exactly the limit gets through."""
    limits = {"report_per_client": 4, "report_per_contact": 100}
    first, second = app_with(settings, **limits), app_with(settings, **limits)
    statuses: list[int] = []
    lock = threading.Lock()
    with TestClient(first) as a, TestClient(second) as b:

        def one(client, i):
            code = send(client, place, email=f"p{i}@example.kz").status_code
            with lock:
                statuses.append(code)

        threads = [threading.Thread(target=one, args=((a, b)[i % 2], i)) for i in range(10)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert sorted(statuses) == [201] * 4 + [429] * 6
    # nothing personal is kept for the limit: digests only
    keys = conn.execute(text("SELECT key FROM report_attempts")).scalars().all()
    assert keys and all(len(k) == 64 and "@" not in k for k in keys)


def test_the_report_page_lists_categories_by_group_in_plain_words(client):
    import re

    for lang, group, name in (
        ("ru", "жильё", "Протекает кровля"),
        ("kk", "тұрғын үй", "Шатыр ағады"),
        ("en", "housing", "Roof leak"),
    ):
        r = client.get("/report", params={"lang": lang})
        assert r.status_code == 200
        html = r.text
        assert f'<optgroup label="{group}">' in html
        assert f'<option value="roof_leak">{name}</option>' in html
        shown = re.sub(r"<[^>]+>", " ", html.split('id="qala-config"')[0])
        assert "roof_leak" not in shown and "housing_org" not in shown  # no raw codes
        assert 'enctype="multipart/form-data"' in html and 'type="file"' in html
