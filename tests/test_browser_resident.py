"""The resident's whole walk in headless Chromium on a 390×844 phone, against a real server,
a real SMTP server (aiosmtpd, started here) and the outbox worker:

a resident reports on /report (its place found by address, category, description, e-mail
and phone) → the "registered" e-mail arrives → staff change the status through the API → a
second e-mail arrives, once → the resident signs in on /me with the code read from the third
e-mail, sees the appeal and disputes the fix → it is reopened (checked in the database).
Then five wrong codes: the page says the contact is locked. The public map at 390×844 with
every answer it loaded free of the applicant's data. The SMTP server down for a while is
``tests/test_outbox.py``.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import create_engine, text

from geo.infra.db import make_engine
from geo.infra.settings import Settings
from geo.notify.worker import Worker
from tests.browser_fixtures import running
from tests.test_browser import Recorder, shot
from tests.test_browser_staff import a_building, no_horizontal_scroll
from tests.test_outbox import Smtp
from web.i18n import labels

pytestmark = pytest.mark.browser

SECRET = "resident-browser-secret-key-of-at-least-32-bytes"
PASSWORD = "resident-walk-password"
EMAIL = "dana.resident@example.kz"
PRIVATE = ("Дана Ермекова", "dana.resident", "+7 701 777 66 55", "квартира 41")


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    from geo.staff.auth import add_user

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        add_user(conn, "PET", "walk-inspector", PASSWORD, "inspector")
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def website_key(live_db) -> str:
    """The city website's channel key: residents' reports come through it."""
    from geo.staff.auth import add_api_key

    engine = create_engine(live_db)
    with engine.begin() as conn:
        key = add_api_key(conn, "PET", "website-walk", "website")
    engine.dispose()
    return key


@pytest.fixture(scope="module")
def smtp():
    server = Smtp()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(live_db, as_service, smtp) -> Settings:
    from geo.infra.localdb import free_port

    port = free_port()
    return Settings(
        database_url=as_service(live_db),
        admin_database_url=live_db,
        environment="test",
        secret_key=SECRET,
        public_url=f"http://127.0.0.1:{port}",
        port=port,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout_s=5.0,
    )


@pytest.fixture(scope="module")
def server(settings):
    # on the port of the settings' public URL: the e-mailed links point there
    with running(settings, settings.port):
        yield settings.public_url


@pytest.fixture(scope="module")
def worker(settings):
    w = Worker(make_engine(settings, admin=True), settings)
    yield w
    w.close()


def phone_page(browser, server, path: str):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(30_000)  # two cores shared by many test sessions
    page.recorder = Recorder(page, server)
    page.goto(server + path, wait_until="domcontentloaded")
    return page


def status_of(live_db: str, reg: str) -> str:
    engine = create_engine(live_db)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT status FROM appeals WHERE reg_number = :r"), {"r": reg}
        ).scalar_one()
    engine.dispose()
    return found


def report(server: str, live_db: str, key: str) -> str:
    """The resident's report, through the public create API as the website channel."""
    engine = create_engine(live_db)
    with engine.connect() as conn:
        b = a_building(conn)
    engine.dispose()
    with httpx.Client(base_url=server) as http:
        r = http.post(
            "/api/v1/appeals",
            json={
                "category": "roof_leak",
                # a few metres from the middle of the building, as a phone's position is
                "lon": b["lon"] + 0.00006,
                "lat": b["lat"] + 0.00003,
                "description": "Протекает крыша, квартира 41",
                "applicant_name": PRIVATE[0],
                "applicant_email": EMAIL,
                "applicant_phone": PRIVATE[2],
            },
            headers={"X-API-Key": key},
        )
    assert r.status_code == 201, r.text
    assert not any(p in r.text for p in PRIVATE)  # the channel gets no personal data back
    return r.json()["appeal"]["reg_number"]


def inspector(server: str) -> dict:
    with httpx.Client(base_url=server) as http:
        token = http.post(
            "/api/v1/auth/token", data={"username": "walk-inspector", "password": PASSWORD}
        ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_report_word_back_sign_in_with_the_emailed_code_and_dispute_the_fix(
    browser,
    server,
    live_db,
    smtp,
    worker,
):
    inbox = smtp.inbox
    engine = create_engine(live_db)
    with engine.connect() as conn:
        address = conn.execute(
            text("""
            SELECT b.address_ru FROM buildings b JOIN cities c ON c.id = b.city_id
            WHERE c.code = 'PET' AND b.kind = 'apartment' ORDER BY b.id LIMIT 1 OFFSET 90""")
        ).scalar_one()
    engine.dispose()
    page = phone_page(browser, server, "/report")
    page.wait_for_selector(".folium-map.leaflet-container")
    page.fill("#report-search", address)
    page.click("#report-find")
    page.click("#report-hits button >> nth=0")
    page.select_option("#report-category", "roof_leak")
    page.fill("#report-description", "Протекает крыша, квартира 41")
    page.fill("#report-email", EMAIL)
    page.fill("#report-phone", PRIVATE[2])
    assert no_horizontal_scroll(page)
    page.click("#report-send")
    page.wait_for_selector("#report-number")
    reg = page.inner_text("#report-number").strip()
    shot(page, "walk-reported-phone")
    page.recorder.check()
    page.context.close()
    assert worker.work_once().sent == 1
    assert len(inbox.messages) == 1
    first = inbox.messages[0]
    assert first["To"] == EMAIL and reg in first["Subject"]

    # staff resolve it through the API: one change, one more e-mail, exactly once
    with httpx.Client(base_url=server) as http:
        r = http.post(
            f"/api/v1/appeals/{reg}/transition",
            json={"to": "resolved", "public_note": "Кровля отремонтирована"},
            headers=inspector(server),
        )
    assert r.status_code == 200, r.text
    assert worker.work_once().sent == 1
    assert worker.work_once().taken == 0  # nothing left: never twice
    assert len(inbox.messages) == 2 and len(set(inbox.ids())) == 2
    second = inbox.messages[1]
    assert reg in second["Subject"] and "исполнено" in second["Subject"]
    for mail in inbox.messages:
        assert not any(p in mail.get_content() for p in PRIVATE[2:])

    # the resident signs in on /me with the code from the e-mail
    page = phone_page(browser, server, "/me")
    page.fill("#me-contact", EMAIL.upper())
    page.click("#me-send")
    page.wait_for_selector("#me-login-form:not([hidden])")
    assert worker.work_once().sent == 1
    assert len(inbox.messages) == 3
    code = re.search(r"\b(\d{6})\b", inbox.messages[2].get_content()).group(1)
    page.fill("#me-code", code)
    page.click("#me-login")
    card = page.wait_for_selector(f'.me-appeal[data-reg="{reg}"]')
    assert "исполнено" in card.inner_text()
    assert page.locator(".me-appeal").count() == 1
    assert "Кровля отремонтирована" in card.inner_text()  # the staff's public note
    assert no_horizontal_scroll(page)
    shot(page, "me-signed-in-phone", full=True)

    # the photo button and the chosen file in the page's language, not the browser's; the
    # photo goes up as soon as it is chosen
    words = labels("ru")
    photo = f"#p-{reg}"
    assert page.inner_text(f"{photo}-button") == words["choose_photo"]
    assert page.inner_text(f"{photo}-names") == words["no_photo_chosen"]
    assert page.locator(photo).bounding_box()["width"] <= 1  # the browser's control hidden
    page.set_input_files(
        photo, files=[{"name": "roof-leak.jpg", "mimeType": "image/jpeg", "buffer": a_jpeg()}]
    )
    assert page.inner_text(f"{photo}-names") == "Выбрано: roof-leak.jpg"
    page.wait_for_function(
        '([reg, text]) => document.querySelector(`.me-appeal[data-reg="${reg}"] .me-said`)'
        ".textContent === text",
        arg=[reg, words["me_photo_waits"]],
    )

    # disputes the fix: reopened, in the database too
    page.click(f'.me-appeal[data-reg="{reg}"] button[data-act="dispute"]')
    page.wait_for_function(
        """reg => { const c = document.querySelector(`.me-appeal[data-reg="${reg}"]`);
                    return c && /открыто повторно/.test(c.innerText); }""",
        arg=reg,
    )
    assert status_of(live_db, reg) == "reopened"
    # the card drawn again shows the photo sent, fetched with the token (under the CSP)
    page.wait_for_function(
        'reg => [...document.querySelectorAll(`.me-appeal[data-reg="${reg}"] .me-photos img`)]'
        ".some(i => i.src.startsWith('data:image/') && i.naturalWidth > 0)",
        arg=reg,
    )
    assert worker.work_once().sent == 1  # the applicant is told of the reopening
    assert "открыто повторно" in inbox.messages[3]["Subject"]
    assert no_horizontal_scroll(page)
    shot(page, "me-disputed-phone", full=True)
    page.recorder.check()
    page.context.close()


def test_five_wrong_codes_on_the_page_lock_the_contact(browser, server, live_db, worker):
    page = phone_page(browser, server, "/me?lang=en")
    page.fill("#me-contact", EMAIL)
    page.click("#me-send")
    page.wait_for_selector("#me-login-form:not([hidden])")
    for left in ("4", "3", "2", "1"):
        page.fill("#me-code", "000000")
        page.click("#me-login")
        page.wait_for_function(
            "n => document.getElementById('me-message').textContent.includes('left: ' + n)",
            arg=left,
        )
    page.fill("#me-code", "000000")
    page.click("#me-login")
    page.wait_for_function(
        "() => /locked for \\d+ min/.test(document.getElementById('me-message').textContent)"
    )
    assert page.is_hidden("#me-login-form")  # no more tries offered
    assert not page.recorder.foreign() and not [
        e for e in page.recorder.errors if "page error" in e
    ]
    shot(page, "me-locked-phone")
    page.context.close()


def a_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 140, 200)).save(out, "JPEG")
    return out.getvalue()


def test_the_public_map_shows_appeals_at_their_object_and_loads_no_personal_data(
    browser,
    server,
    live_db,
    website_key,
):
    from layers.public_map import APPEALS_MAP_SQL

    reg = report(server, live_db, website_key)
    staff_headers = inspector(server)
    with httpx.Client(base_url=server) as http:
        up = http.post(
            f"/api/v1/appeals/{reg}/photos",
            files={"photo": ("roof.jpg", a_jpeg(), "image/jpeg")},
            headers=staff_headers,
        )
    assert up.status_code == 201, up.text
    engine = create_engine(live_db)
    with engine.connect() as conn:
        city = conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        place = conn.execute(
            text(
                f"SELECT ST_X(m.place), ST_Y(m.place), ST_X(m.geom), ST_Y(m.geom), "
                f"ST_Distance(m.place::geography, m.geom::geography) "
                f"FROM ({APPEALS_MAP_SQL}) AS m WHERE m.reg_number = :r"
            ),
            {"city": city, "r": reg},
        ).one()
    engine.dispose()
    lon, lat, raw_lon, raw_lat, metres = place
    assert (lon, lat) != (raw_lon, raw_lat) and metres < 150  # at its building, not the point

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.recorder = Recorder(page, server)
    answers = []
    page.on("response", lambda r: answers.append(r))
    page.goto(f"{server}/map?lang=en")
    page.wait_for_function("() => window.Qala && window.Qala.map()")
    page.evaluate(f"() => {{ window.Qala.map().setView([{lat}, {lon}], 17); }}")
    page.wait_for_selector(".leaflet-qala-marks-pane path.leaflet-interactive")
    page.wait_for_load_state("networkidle")
    tiles = [a for a in answers if "/tiles/appeals_map/" in a.url]
    assert tiles and all(a.status == 200 for a in tiles)
    # a tap on the appeal's point shows its public card and the approved photo
    x, y = page.evaluate(
        f"() => {{ const p = window.Qala.map().latLngToContainerPoint([{lat}, {lon}]);"
        "const r = document.querySelector('.folium-map').getBoundingClientRect();"
        "return [r.left + p.x, r.top + p.y]; }"
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#map-card-reg")
    shown = page.inner_text("#map-card-reg")
    engine = create_engine(live_db)
    with engine.connect() as conn:  # another appeal may share the building: a public one
        on_building = conn.execute(
            text(
                f"SELECT array_agg(m.reg_number) FROM ({APPEALS_MAP_SQL}) AS m "
                "WHERE ST_DWithin(m.place, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.00001)"
            ),
            {"city": city, "x": lon, "y": lat},
        ).scalar()
    engine.dispose()
    assert shown in on_building
    if shown == reg:
        page.wait_for_selector("#map-card img")
    # the filters live in the address bar
    page.select_option("#map-status", "closed")
    page.wait_for_load_state("networkidle")
    assert "status=closed" in page.url
    assert no_horizontal_scroll(page)
    shot(page, "map-phone-en", full=True)
    page.recorder.check()
    # nothing the page loaded carries the applicant's name, e-mail, phone or words
    bodies = [a.body() for a in answers if a.status == 200 and a.request.method == "GET"]
    assert len(bodies) > 10
    for private in PRIVATE:
        for body in bodies:
            assert private.encode() not in body, private
    context.close()


def test_the_queue_on_a_phone_finds_a_yard_by_its_kazakh_address_and_says_why(
    browser,
    server,
):
    page = phone_page(browser, server, "/queue?lang=kk")
    page.wait_for_selector(".folium-map.leaflet-container")
    page.wait_for_selector(".leaflet-queue-marks-pane", state="attached")  # above the fill
    assert page.is_visible("#queue-legend") and page.is_visible("#queue-search")
    row = page.locator("#queue-table tr[data-yard]").nth(4)
    yard = row.get_attribute("data-yard")
    address = row.locator("td").nth(1).inner_text().split("\n")[0].replace("Аула: ", "")
    page.fill("#queue-search", address.lower())
    page.click("#queue-find button")
    page.wait_for_selector(f"#yard-{yard}.chosen")
    assert f"#yard-{yard}" in page.url  # the place in the queue, to link to
    page.click(f"#yard-{yard} details.why summary")
    assert "орында" in page.inner_text(f"#yard-{yard} details.why")
    assert no_horizontal_scroll(page)
    shot(page, "queue-phone-kk")
    page.recorder.check()
    page.context.close()
