"""The knowledge base in headless Chromium: the operator chooses a category in the
registration form and the panel beside it shows what to ask and what to tell; the panel's
search finds an article by a word; an admin edits an article on /staff/kb, and an edit made
on a version someone else has replaced is refused and the new text shown; other staff read.

The server and the browser are ``tests/test_browser.py``'s."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine

from tests.test_browser import Recorder, shot

pytestmark = pytest.mark.browser

PASSWORD = "kb-browser-password"


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    from geo.staff.auth import add_user

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        add_user(conn, "PET", "kb-operator", PASSWORD, "operator")
        add_user(conn, "PET", "kb-admin", PASSWORD, "admin")
        add_user(conn, "PET", "kb-admin2", PASSWORD, "admin")
    engine.dispose()
    return url


def open_as(browser, server, path: str, user: str, phone: bool = False):
    size = {"width": 390, "height": 844} if phone else {"width": 1400, "height": 900}
    context = browser.new_context(viewport=size, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.recorder = Recorder(page, server)
    page.goto(server + path)
    page.fill("#login-user", user)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami:not([hidden])")
    return page


def test_choosing_a_category_shows_its_article_and_the_search_finds_one(browser, server):
    page = open_as(browser, server, "/operator", "kb-operator")
    page.wait_for_selector('#reg-category option[value="lift_broken"]', state="attached")
    page.select_option("#reg-category", "lift_broken")
    page.wait_for_selector('#kb-article[data-category="lift_broken"]')
    assert page.inner_text("#kb-category") == "Не работает лифт"
    assert page.locator("#kb-article h4").all_inner_texts() == ["Что спросить", "Что сказать"]
    assert "Застрял" in page.inner_text("#kb-ask")
    tell = page.inner_text("#kb-tell")
    assert "24 ч" in tell and "лифтовая компания" in tell
    # another category replaces it
    page.select_option("#reg-category", "garbage")
    page.wait_for_selector('#kb-article[data-category="garbage"]')
    assert "Вывоз мусора" in page.inner_text("#kb-category")
    # the search: a word of an article, with a typo
    page.fill("#kb-q", "колодзя")
    page.wait_for_selector("#kb-hits button")
    names = page.locator("#kb-hits button").all_inner_texts()
    assert "Открытый люк колодца" in names
    page.locator("#kb-hits button", has_text="Открытый люк колодца").click()
    page.wait_for_function(
        "() => document.querySelector('#kb-category').textContent === 'Открытый люк колодца'"
    )
    assert "ограждение" in page.inner_text("#kb-ask")
    shot(page, "kb-operator-panel")
    page.recorder.check()
    page.context.close()


def test_the_panel_speaks_kazakh_on_the_kazakh_page(browser, server):
    page = open_as(browser, server, "/operator?lang=kk", "kb-operator", phone=True)
    page.wait_for_selector('#reg-category option[value="no_heating"]', state="attached")
    page.select_option("#reg-category", "no_heating")
    page.wait_for_selector('#kb-article[data-category="no_heating"]')
    assert page.inner_text("#kb-category") == "Жылу жоқ"
    assert "сағ" in page.inner_text("#kb-tell")
    shot(page, "kb-operator-panel-kk-phone", full=True)
    page.context.close()


def test_an_admin_edits_and_a_stale_edit_is_told_and_shown_the_new_text(browser, server):
    page = open_as(browser, server, "/staff/kb", "kb-admin")
    page.wait_for_selector('#kb-list button[data-category="roof_leak"]')
    page.click('#kb-list button[data-category="roof_leak"]')
    page.wait_for_selector('#kb-editor[data-category="roof_leak"]')
    version = int(page.get_attribute("#kb-editor", "data-version"))
    assert page.is_visible("#kb-save") and not page.is_visible("#kb-readonly")
    page.fill("#kb-ask", "Какой этаж? Течёт ли сейчас? Намокает ли проводка?")
    page.click("#kb-save")
    page.wait_for_selector("#kb-done:not([hidden])")
    assert int(page.get_attribute("#kb-editor", "data-version")) == version + 1
    # another admin saves meanwhile (through the API)
    with httpx.Client(base_url=server) as http:
        token = http.post(
            "/api/v1/auth/token", data={"username": "kb-admin2", "password": PASSWORD}
        ).json()["access_token"]
        r = http.put(
            "/api/v1/staff/kb/roof_leak/ru",
            json={
                "ask": "Текст второго администратора",
                "tell": "Срок 5 дней.",
                "version": version + 1,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    page.fill("#kb-ask", "Моя правка поверх старой версии")
    page.click("#kb-save")
    page.wait_for_selector("#kb-error:not([hidden])")
    assert "другой администратор" in page.inner_text("#kb-error")
    assert page.input_value("#kb-ask") == "Текст второго администратора"
    assert int(page.get_attribute("#kb-editor", "data-version")) == version + 2
    shot(page, "kb-admin-stale")
    # the search on the page finds the new text
    page.fill("#kb-q", "второго администратора")
    page.wait_for_function("() => document.querySelectorAll('#kb-list button').length === 1")
    assert page.get_attribute("#kb-list button", "data-category") == "roof_leak"
    assert all("/api/v1/staff/kb/roof_leak/ru" in f and "409" in f for f in page.recorder.failures)
    page.context.close()


def test_an_operator_reads_the_knowledge_base_but_cannot_edit_it(browser, server):
    page = open_as(browser, server, "/staff/kb", "kb-operator")
    page.wait_for_selector('#kb-list button[data-category="ice"]')
    page.click('#kb-list button[data-category="ice"]')
    page.wait_for_selector('#kb-editor[data-category="ice"]')
    assert page.is_visible("#kb-readonly") and not page.is_visible("#kb-save")
    assert page.get_attribute("#kb-ask", "readonly") is not None
    assert "Гололёд" in page.inner_text("#kb-title")
    page.recorder.check()
    page.context.close()
