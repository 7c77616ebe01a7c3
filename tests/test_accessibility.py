"""Every page the service serves, checked by axe-core in headless Chromium: no critical and
no serious violation, in Russian, Kazakh and English, on a desktop and on a 390×844 phone.

The pages come from the registry (``web.registry.PAGES``), so a new page is checked without
touching this file; the staff pages are checked signed in (their real content), the public
ones as a resident sees them. Also: the charts carry a text alternative and no page stops
pinch-zoom. The server and the browser are ``tests/test_browser.py``'s.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import create_engine, text

from tests.test_browser import Recorder, shot
from web.browser import axe_violations, describe
from web.registry import PAGES

pytestmark = pytest.mark.browser

PASSWORD = "a11y-password"
LANGS = ("ru", "kk", "en")
SIZES = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
#: the staff pages are checked as this role (it sees every appeal of the city and acts on it)
STAFF_USER, STAFF_ROLE = "a11y-admin", "admin"


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    from geo.staff.auth import add_user

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        add_user(conn, "PET", STAFF_USER, PASSWORD, STAFF_ROLE)
        add_user(conn, "PET", "a11y-inspector", PASSWORD, "inspector")
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def reg(live_db) -> str:
    """An appeal of the demo city, for the page of one appeal."""
    engine = create_engine(live_db)
    with engine.connect() as conn:
        number = conn.execute(
            text(
                "SELECT a.reg_number FROM appeals a JOIN cities c ON c.id = a.city_id "
                "AND c.code = 'PET' ORDER BY a.id LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    return number


def page_url(path: str, lang: str, reg: str) -> str:
    path = path.replace("{reg}", reg)
    assert "{" not in path, f"a path parameter this test does not know: {path}"
    return path if lang == "ru" else f"{path}?lang={lang}"


def signed_in_tab(browser, server, size: str, user: str = STAFF_USER):
    """A browser tab signed in as ``user`` (the token lives in the tab's sessionStorage, so
    every staff page opened in it after is signed in)."""
    context = browser.new_context(viewport=SIZES[size], locale="ru-RU")
    page = context.new_page()
    # the planner computes its hot spots on first load: on a busy machine that takes a while
    page.set_default_timeout(60_000)
    page.recorder = Recorder(page, server)
    page.goto(server + "/staff")
    page.fill("#login-user", user)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami:not([hidden])")
    return page


def settle(page) -> None:
    """Wait until the page has loaded what it fetches and painted twice since."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_has_no_serious_accessibility_violation(browser, server, reg, size):
    page = signed_in_tab(browser, server, size)
    checked, failed = [], []
    for p in PAGES:
        for lang in LANGS:
            page.goto(server + page_url(p.path, lang, reg))
            settle(page)
            assert page.evaluate("() => document.documentElement.lang") == lang
            found = axe_violations(page)
            checked.append(f"{p.name}/{lang}")
            if found:
                failed.append(f"{p.path} ({lang}, {size}):\n{describe(found)}")
                shot(page, f"a11y-{p.name}-{lang}-{size}")
    assert len(checked) == len(PAGES) * len(LANGS)
    assert not failed, "\n\n".join(failed)
    assert not page.recorder.foreign()
    page.context.close()


def test_the_checker_finds_what_it_must(browser, server):
    """axe-core really runs: a button without a name and grey-on-grey text are found."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        '<html lang="ru"><body><main><button></button>'
        '<p style="color:#bbb;background:#ccc">бледный текст</p></main></body></html>'
    )
    ids = {v["id"] for v in axe_violations(page)}
    assert {"button-name", "color-contrast"} <= ids
    context.close()


def test_the_staff_pages_are_checked_signed_in(browser, server, reg):
    """The signed-in list and appeal are what axe-core sees (not only the sign-in form)."""
    page = signed_in_tab(browser, server, "desktop", user="a11y-inspector")
    page.goto(server + "/staff")
    page.wait_for_selector("#rows tr[data-reg]")
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.goto(f"{server}/staff/{reg}")
    page.wait_for_selector("#log tr")
    page.wait_for_selector("#action-buttons button")
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.context.close()


def test_the_photo_button_is_named_and_reached_by_keyboard(browser, server, reg):
    """The executor's photo picker (a hidden file input and its label as the button) has no
    violation on a phone in Kazakh, and the input still takes the keyboard's focus."""
    page = signed_in_tab(browser, server, "phone", user="a11y-inspector")
    page.goto(f"{server}/staff/{reg}?lang=kk")
    page.wait_for_selector("#log tr")
    page.evaluate(
        "() => ['actions-box', 'action-form', 'act-photos-box']"
        ".forEach(id => { document.getElementById(id).hidden = false; })"
    )
    assert page.is_visible("#act-photos-button")
    assert page.inner_text("#act-photos-button") == "Фото таңдау"
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.focus("#act-photos")
    assert page.evaluate("() => document.activeElement.id") == "act-photos"
    page.context.close()


VIEWPORT_LOCKS = re.compile(r"user-scalable\s*=\s*(no|0)|maximum-scale\s*=\s*1(\.0*)?\b")


@pytest.mark.parametrize("path", sorted({p.path for p in PAGES}))
def test_no_page_stops_pinch_zoom(browser, server, reg, path):
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    page.goto(server + page_url(path, "ru", reg))
    metas = page.evaluate(
        "() => [...document.querySelectorAll('meta[name=viewport]')].map(m => m.content)"
    )
    assert len(metas) == 1, metas
    assert "width=device-width" in metas[0]
    assert not VIEWPORT_LOCKS.search(metas[0]), metas[0]
    context.close()


def test_the_charts_carry_a_text_alternative(browser, server):
    context = browser.new_context(viewport=SIZES["desktop"])
    page = context.new_page()
    page.goto(server + "/planner?lang=en")
    charts = page.evaluate(
        "() => [...document.querySelectorAll('svg.chart')].map(s => "
        "({role: s.getAttribute('role'), alt: s.getAttribute('aria-label') || ''}))"
    )
    assert len(charts) == 3
    for chart in charts:
        assert chart["role"] == "img"
        # the title and every bar with its number
        bar = r"[^:;]+: [\d\u202f]+"
        title = "(Appeals by category|Appeals by month|By season)"
        assert re.match(rf"^{title}: {bar}(; {bar})*$", chart["alt"]), chart
    assert "No heating: " in charts[0]["alt"]
    assert "; winter: " in charts[2]["alt"] or "By season: winter: " in charts[2]["alt"]
    context.close()
