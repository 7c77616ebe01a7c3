"""The staff workspace in headless Chromium against a real server: an inspector's list
shows an appeal registered through the API without reloading (the database's NOTIFY,
Server-Sent Events), the inspector assigns it, the executor (another browser) accepts,
starts and completes it, the controller closes it; an executor of another organisation
gets the 403 page; every page fits a 390×844 phone without horizontal scrolling.

The server, the browser and the recorder are ``tests/test_browser.py``'s."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.test_browser import Recorder, browser, server, shot  # noqa: F401

pytestmark = pytest.mark.browser

PASSWORD = "workspace-password"
USERS = ("ws-inspector", "ws-executor", "ws-outsider", "ws-controller")


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    """A committed copy of the template with an inspector, a controller, an executor of the
    housing organisation of the building the test appeal is on, and one of another."""
    from geo.staff.auth import add_user

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        b = a_building(conn)
        other = conn.execute(
            text(
                "SELECT id FROM organisations WHERE city_id = :c AND kind = 'housing_org' "
                "AND id <> :o ORDER BY id LIMIT 1"
            ),
            {"c": b["city_id"], "o": b["org"]},
        ).scalar_one()
        add_user(conn, "PET", "ws-inspector", PASSWORD, "inspector")
        add_user(conn, "PET", "ws-controller", PASSWORD, "controller")
        add_user(conn, "PET", "ws-executor", PASSWORD, "executor", organisation_id=b["org"])
        add_user(conn, "PET", "ws-outsider", PASSWORD, "executor", organisation_id=other)
    engine.dispose()
    return url


def a_building(conn) -> dict:
    return dict(
        conn.execute(
            text("""
        SELECT b.city_id, b.housing_org_id AS org, ST_X(ST_PointOnSurface(b.geom)) AS lon,
               ST_Y(ST_PointOnSurface(b.geom)) AS lat
        FROM buildings b JOIN cities ci ON ci.id = b.city_id AND ci.code = 'PET'
        WHERE b.kind = 'apartment' AND b.housing_org_id IS NOT NULL
        ORDER BY b.id LIMIT 1 OFFSET 33""")
        )
        .mappings()
        .one()
    )


@pytest.fixture(scope="module")
def building(live_db) -> dict:
    engine = create_engine(live_db)
    with engine.connect() as conn:
        b = a_building(conn)
    engine.dispose()
    return b


def open_as(browser, server, path: str, user: str | None, phone: bool = False):  # noqa: F811
    """A new browser (context) on ``path``, signed in as ``user``."""
    size = {"width": 390, "height": 844} if phone else {"width": 1400, "height": 900}
    context = browser.new_context(viewport=size, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.recorder = Recorder(page, server)
    page.goto(server + path)
    if user:
        page.fill("#login-user", user)
        page.fill("#login-pass", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#whoami:not([hidden])")
    return page


def no_horizontal_scroll(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def register(server: str, building: dict) -> str:  # noqa: F811
    with httpx.Client(base_url=server) as http:
        token = http.post(
            "/api/v1/auth/token", data={"username": "ws-inspector", "password": PASSWORD}
        ).json()["access_token"]
        r = http.post(
            "/api/v1/appeals",
            json={
                "category": "roof_leak",
                "lon": building["lon"],
                "lat": building["lat"],
                "description": "Течёт крыша над подъездом 2",
                "applicant_name": "Айгерим Тестова",
                "applicant_phone": "+7 701 000 00 01",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 201, r.text
    return r.json()["appeal"]["reg_number"]


def wait_status(page, status: str) -> None:
    page.wait_for_selector(f'body[data-appeal-status="{status}"]')


def act(page, action: str, comment: str | None = None, public: str | None = None) -> None:
    page.click(f'#action-buttons button[data-action="{action}"]')
    page.wait_for_selector("#action-form:not([hidden])")
    if comment:
        page.fill("#act-comment", comment)
    if public:
        page.fill("#act-public", public)
    page.click("#act-submit")


def test_a_day_in_the_workspace(browser, server, building):  # noqa: F811
    inspector = open_as(browser, server, "/staff", "ws-inspector")
    inspector.wait_for_selector("#rows tr[data-reg]")
    inspector.wait_for_selector('body[data-live="on"]')
    reg = register(server, building)
    # on the list without reloading: pushed from the commit through NOTIFY and the stream
    inspector.wait_for_selector(f'#rows tr[data-reg="{reg}"]', timeout=2_000)
    assert inspector.locator(f'#rows tr[data-reg="{reg}"] .badge').first.inner_text() == (
        "зарегистрировано"
    )
    shot(inspector, "staff-list")
    # the export holds the filtered list (it needs the token: fetched, then saved)
    inspector.fill("#f-q", reg)
    inspector.click("#filters button[type=submit]")
    inspector.wait_for_function(
        "() => document.querySelectorAll('#rows tr[data-reg]').length === 1"
    )
    with inspector.expect_download() as download:
        inspector.click("#export")
    exported = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert exported[0].startswith("reg_number,status") and len(exported) == 2
    assert exported[1].startswith(reg) and "Айгерим" not in exported[1]
    assert f"q={reg}" in inspector.url  # the filters live in the address bar

    # the inspector opens it and assigns it (to the building's housing organisation)
    inspector.click(f'#rows tr[data-reg="{reg}"] a')
    inspector.wait_for_selector('#action-buttons button[data-action="assign"]')
    facts = inspector.inner_text("#appeal-facts")
    assert "+7 701 000 00 01" in facts and "Течёт крыша" in facts
    assert inspector.locator("#log tr").count() == 2  # the header and "registered"
    inspector.click('#action-buttons button[data-action="assign"]')
    inspector.wait_for_selector(
        f'#act-organisation option[value="{building["org"]}"]', state="attached"
    )
    inspector.select_option("#act-organisation", str(building["org"]))
    inspector.click("#act-submit")
    wait_status(inspector, "assigned")
    shot(inspector, "staff-appeal-assigned")

    # the executor, in another browser, accepts, starts and completes with a note
    executor = open_as(browser, server, f"/staff/{reg}", "ws-executor")
    executor.wait_for_selector('#action-buttons button[data-action="accept"]')
    assert executor.locator('#action-buttons button[data-action="assign"]').count() == 0
    act(executor, "accept", comment="приняли")
    executor.wait_for_selector('#action-buttons button[data-action="start"]')
    executor.wait_for_function(
        "() => !document.querySelector('#action-buttons button[data-action=\"accept\"]')"
    )
    act(executor, "start")
    wait_status(executor, "in_progress")
    act(executor, "complete", comment="заменили кровлю", public="Крыша отремонтирована")
    wait_status(executor, "resolved")
    shot(executor, "staff-appeal-executor")
    # the inspector's open page followed, without reloading
    wait_status(inspector, "resolved")
    assert not inspector.locator("#appeal-notice").is_hidden()

    # the controller verifies and closes
    controller = open_as(browser, server, f"/staff/{reg}", "ws-controller")
    controller.wait_for_selector('#action-buttons button[data-action="close"]')
    assert controller.locator('#action-buttons button[data-action="send_back"]').count() == 1
    act(controller, "close")
    wait_status(controller, "closed")
    log = controller.inner_text("#log")
    assert "заменили кровлю" in log and "приняли" in log
    assert "Крыша отремонтирована" in controller.inner_text("#notes")
    shot(controller, "staff-appeal-closed")
    for page in (inspector, executor, controller):
        page.recorder.check()
        page.context.close()


def test_an_executor_of_another_organisation_gets_the_403_page(browser, server, building):  # noqa: F811
    reg = register(server, building)
    outsider = open_as(browser, server, "/staff", "ws-outsider")
    outsider.wait_for_selector("#rows tr")
    outsider.wait_for_function(
        "() => !document.querySelector('#rows td.hint[colspan]') || "
        "document.querySelector('#shown').textContent !== ''"
    )
    assert outsider.locator(f'#rows tr[data-reg="{reg}"]').count() == 0
    outsider.goto(f"{server}/staff/{reg}")
    outsider.wait_for_selector('body[data-status="403"]')
    assert outsider.is_visible("#denied")
    assert "403" in outsider.inner_text("#denied-title")
    assert "другой организации" in outsider.inner_text("#denied-text")
    assert "another organisation" in outsider.inner_text("#denied-detail")
    assert outsider.is_hidden("#appeal-box") and outsider.is_hidden("#actions-box")
    assert "Течёт крыша" not in outsider.content()
    shot(outsider, "staff-appeal-403")
    # the only failure the page saw is that 403
    assert outsider.recorder.failures
    assert all("/api/v1/staff/appeals/" in f and "403" in f for f in outsider.recorder.failures)
    assert all("403" in e for e in outsider.recorder.errors), outsider.recorder.errors
    assert not outsider.recorder.foreign()
    outsider.context.close()


@pytest.mark.parametrize(
    ("name", "path", "user"),
    [
        ("list", "/staff", "ws-inspector"),
        ("list_kk", "/staff?lang=kk", "ws-inspector"),
        ("appeal", "/staff/{reg}", "ws-inspector"),
        ("appeal_en", "/staff/{reg}?lang=en", "ws-controller"),
        ("forbidden", "/staff/{reg}", "ws-outsider"),
    ],
)
def test_each_page_fits_a_phone(browser, server, building, name, path, user):  # noqa: F811
    reg = register(server, building)
    page = open_as(browser, server, path.format(reg=reg), user, phone=True)
    if name == "forbidden":
        page.wait_for_selector('body[data-status="403"]')
    elif path.startswith("/staff/{reg}"):
        page.wait_for_selector("#log tr")
    else:
        page.wait_for_selector("#rows tr[data-reg]")
    assert no_horizontal_scroll(page), name
    shot(page, f"staff-phone-{name}", full=True)
    page.context.close()


def test_two_staff_at_once_one_wins_the_other_is_shown_the_new_state(
    browser,  # noqa: F811
    server,  # noqa: F811
    building,
):
    reg = register(server, building)
    # the loser's page hears no live updates, so its form still holds the old version
    loser = open_as(browser, server, f"/staff/{reg}", None)
    loser.route("**/api/v1/staff/stream?*", lambda route: route.abort("aborted"))
    loser.fill("#login-user", "ws-inspector")
    loser.fill("#login-pass", PASSWORD)
    loser.click("#login-form button[type=submit]")
    loser.wait_for_selector('#action-buttons button[data-action="reject"]')
    winner = open_as(browser, server, f"/staff/{reg}", "ws-controller")
    winner.wait_for_selector('body[data-appeal-status="registered"]')
    # the controller may not reject: the page offers only what the role may do
    assert winner.locator('#action-buttons button[data-action="reject"]').count() == 0
    # the controller routes it first
    winner.click('#action-buttons button[data-action="assign"]')
    winner.wait_for_selector(
        f'#act-organisation option[value="{building["org"]}"]', state="attached"
    )
    winner.select_option("#act-organisation", str(building["org"]))
    winner.click("#act-submit")
    wait_status(winner, "assigned")
    act(loser, "reject", comment="не по адресу")
    wait_status(loser, "assigned")  # told, and shown the appeal as it is now
    assert "другой сотрудник" in loser.inner_text("#appeal-notice")
    assert "не по адресу" not in loser.inner_text("#log")  # nothing changed
    shot(loser, "staff-appeal-stale")
    assert all("/transition" in f and "409" in f for f in loser.recorder.failures)
    winner.recorder.check()
    for page in (loser, winner):
        page.context.close()
