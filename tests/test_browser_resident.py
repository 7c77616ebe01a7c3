"""The resident's whole walk in headless Chromium on a 390×844 phone, against a real server,
a real SMTP server (aiosmtpd, started here) and the outbox worker:

a resident reports (the public create API, as the website channel) → the "registered"
e-mail arrives → staff change the status through the API → a second e-mail arrives, once →
the resident signs in on /me with the code read from the third e-mail, sees the appeal and
disputes the fix → it is reopened (checked in the database). Then five wrong codes: the
page says the contact is locked. The SMTP server down for a while is ``tests/test_outbox.py``.
"""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from geo.infra.db import make_engine
from geo.infra.settings import Settings
from geo.notify.worker import Worker
from tests.test_browser import Recorder, browser, shot  # noqa: F401
from tests.test_browser_staff import a_building, no_horizontal_scroll
from tests.test_outbox import Smtp

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
    import uvicorn

    from api.app import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield settings.public_url
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def worker(settings):
    w = Worker(make_engine(settings, admin=True), settings)
    yield w
    w.close()


def phone_page(browser, server, path: str):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.recorder = Recorder(page, server)
    page.goto(server + path)
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
                "lon": b["lon"],
                "lat": b["lat"],
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
    browser,  # noqa: F811
    server,
    live_db,
    website_key,
    smtp,
    worker,
):
    inbox = smtp.inbox
    reg = report(server, live_db, website_key)
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
        assert not any(p in mail.get_content() for p in PRIVATE[:1] + PRIVATE[3:])

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

    # disputes the fix: reopened, in the database too
    page.click(f'.me-appeal[data-reg="{reg}"] button[data-act="dispute"]')
    page.wait_for_function(
        """reg => { const c = document.querySelector(`.me-appeal[data-reg="${reg}"]`);
                    return c && /открыто повторно/.test(c.innerText); }""",
        arg=reg,
    )
    assert status_of(live_db, reg) == "reopened"
    assert worker.work_once().sent == 1  # the applicant is told of the reopening
    assert "открыто повторно" in inbox.messages[3]["Subject"]
    assert no_horizontal_scroll(page)
    shot(page, "me-disputed-phone", full=True)
    page.recorder.check()
    page.context.close()


def test_five_wrong_codes_on_the_page_lock_the_contact(browser, server, live_db, worker):  # noqa: F811
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
