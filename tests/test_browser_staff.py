"""The staff workspace in headless Chromium against a real server: a whole day — the
operator registers on /operator (a double click is one appeal), the inspector's list shows
it without reloading (the database's NOTIFY, Server-Sent Events), the inspector assigns it,
the executor (another browser) accepts, starts and completes it with a photo, the
controller closes it, the resident's tracker shows the public history and no personal
data; the operator map draws appeals from the vector tiles, live, and the staff maps their
basemap; a page asked for another city keeps it in every request and link, and an account
of two cities picks one; an executor of another organisation gets the 403 page; every page
fits a 390×844 phone, where the work list comes first and its map behind a switch, the top
bar is one row and the photo button speaks the page's language.

The server, the browser and the recorder are ``tests/test_browser.py``'s."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.test_browser import Recorder, shot
from web.i18n import labels

pytestmark = pytest.mark.browser

PASSWORD = "workspace-password"
USERS = ("ws-operator", "ws-inspector", "ws-executor", "ws-outsider", "ws-controller", "ws-both")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}
HEL_ADDRESS = "Mannerheimintie, 5"


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    """A committed copy of the template with an inspector, a controller, an executor of the
    housing organisation of the building the test appeal is on, and one of another."""
    from geo.staff.accounts import grant_role
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
        add_user(conn, "PET", "ws-operator", PASSWORD, "operator")
        # a second city with one building, and an inspector who works in both
        add_hel(conn)
        add_user(conn, "PET", "ws-both", PASSWORD, "inspector")
        grant_role(conn, "ws-both", "HEL", "inspector")
    engine.dispose()
    return url


def add_hel(conn) -> None:
    from geo.city.address import search_text
    from tests.factories import square

    lon, lat = 24.9410, 60.1690
    hel = conn.execute(
        text("""
        INSERT INTO cities (code, name_ru, name_kk, name_en, metric_srid, bounds)
        VALUES ('HEL', 'Хельсинки', 'Хельсинки', 'Helsinki', 32635,
                ST_Multi(ST_MakeEnvelope(:x - 0.05, :y - 0.05, :x + 0.05, :y + 0.05, 4326)))
        RETURNING id"""),
        {"x": lon, "y": lat},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO buildings (city_id, house_number, address_ru, address_kk, search_text, "
            "apartments, floors, geom) VALUES (:c, '5', :a, :a, :s, 40, 6, "
            "ST_GeomFromText(:w, 4326))"
        ),
        {
            "c": hel,
            "a": HEL_ADDRESS,
            "s": search_text(HEL_ADDRESS, HEL_ADDRESS, "5"),
            "w": square(lon, lat, 12),
        },
    )


def a_building(conn) -> dict:
    return dict(
        conn.execute(
            text("""
        SELECT b.city_id, b.housing_org_id AS org, b.address_ru,
               ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
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


def open_as(browser, server, path: str, user: str | None, phone: bool = False):
    """A new browser (context) on ``path``, signed in as ``user``."""
    size = PHONE if phone else DESKTOP
    # an English browser: the page's own language decides how dates are written
    context = browser.new_context(viewport=size, locale="en-US")
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
        " && document.scrollingElement.scrollWidth <= window.innerWidth"
    )


def map_height(page) -> float:
    return page.evaluate(
        "() => { const m = document.querySelector('.folium-map');"
        " return m ? m.getBoundingClientRect().height : 0; }"
    )


def panel_unsqueezed(page) -> bool:
    """The side panel shows all it holds (on a phone the page scrolls, not a small box)."""
    return page.evaluate(
        "() => { const p = document.getElementById('panel');"
        " return !p || p.scrollHeight <= p.clientHeight + 1; }"
    )


def words_unbroken(page) -> list[str]:
    """The labels (field names, card labels) that a line break cuts inside a word: none."""
    return page.evaluate("""() => {
        const out = [];
        for (const el of document.querySelectorAll('label, dt, th, summary, h2, h3, button')) {
            if (!el.offsetParent) continue;
            const text = (el.childNodes[0] && el.childNodes[0].nodeType === 3 ?
                          el.childNodes[0].textContent : '').trim();
            for (const word of text.split(/\\s+/)) {
                if (word.length < 4) continue;
                const span = document.createElement('span');
                span.textContent = word;
                span.style.whiteSpace = 'nowrap';
                el.appendChild(span);
                const fits = span.getBoundingClientRect().width <= el.clientWidth + 1;
                span.remove();
                if (!fits) out.push(word);
            }
        }
        return out;
    }""")


def topbar_compact(page) -> bool:
    """The top bar on a phone is one row: the pages and languages behind its menu button."""
    return page.evaluate(
        "() => document.getElementById('topbar').getBoundingClientRect().height <= 56"
    )


def painted(page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def the_list_then_the_map(page, name: str) -> None:
    """The work list on a phone: the list first, the map hidden behind the "Map" switch;
    tapped, the map fills the screen under the bar (Leaflet told its new size) and the
    page does not scroll; "List" brings the list back."""
    assert page.is_visible("#view-switch"), name
    assert page.is_visible("#rows tr[data-reg]") and map_height(page) == 0, name
    assert page.get_attribute("#view-list", "aria-pressed") == "true", name
    page.click("#view-map")
    page.wait_for_selector('body[data-view="map"]')
    painted(page)
    assert page.is_hidden("#panel") and page.get_attribute("#view-map", "aria-pressed") == "true"
    top, bottom, width = page.evaluate(
        "() => { const r = document.querySelector('.folium-map').getBoundingClientRect();"
        " return [r.top, r.bottom, r.width]; }"
    )
    height = page.viewport_size["height"]
    assert bottom <= height + 1 and bottom - top >= 0.75 * height, (name, top, bottom)
    assert width >= page.viewport_size["width"] - 1, name
    assert page.evaluate(
        "() => document.scrollingElement.scrollHeight <= window.innerHeight + 1"
    ), name  # the map is the screen: nothing to scroll through
    assert no_horizontal_scroll(page), name
    leaflet = page.evaluate(
        "() => { const s = window[window.Qala.config.map].getSize(); return [s.x, s.y]; }"
    )
    assert leaflet == [round(width), round(bottom - top)], (name, leaflet)
    shot(page, f"staff-phone-{name}-map")
    page.click("#view-list")
    page.wait_for_selector('body[data-view="list"]')
    assert page.is_visible("#rows tr[data-reg]") and map_height(page) == 0, name


def at_both_sizes(page, name: str, ready=None, work_list: bool = False) -> None:
    """Screenshots at the desktop size and at 390×844, where the page must not scroll
    sideways, its map must be seen (the work list's after tapping "Map"), and no label is
    cut inside a word."""
    shot(page, f"day-{name}")
    page.set_viewport_size(PHONE)
    painted(page)
    if ready:
        ready()
    assert no_horizontal_scroll(page), name
    assert topbar_compact(page), name
    if work_list:
        the_list_then_the_map(page, name)
    else:
        assert map_height(page) > 0, name
    assert panel_unsqueezed(page), name
    assert words_unbroken(page) == [], name
    shot(page, f"day-{name}-phone", full=True)
    page.set_viewport_size(DESKTOP)
    painted(page)
    if work_list:  # the desktop again: the table and the map side by side
        assert page.is_visible("#rows tr[data-reg]") and map_height(page) > 0, name
        assert page.is_hidden("#view-switch"), name


def register(server: str, building: dict) -> str:
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


def a_photo(folder: Path) -> Path:
    from PIL import Image

    path = folder / "roof-done.jpg"
    Image.new("RGB", (640, 480), (180, 90, 40)).save(path, "JPEG", quality=80)
    return path


def operator_registers(page, building: dict, description: str) -> str:
    """On /operator: the address found by search, a category, the caller's words and
    contacts, and a double click on "register"; the number it shows."""
    page.fill("#search-input", building["address_ru"])
    page.wait_for_selector("#search-results li[data-i]")
    page.click(f"#search-results li[data-i]:has-text('{building['address_ru']}')")
    page.wait_for_selector("#card .card-section")
    page.select_option("#reg-category", "roof_leak")
    page.wait_for_function("() => document.getElementById('reg-org').textContent !== '—'")
    page.fill("#reg-description", description)
    page.fill("#reg-name", "Айгерим Тестова")
    page.fill("#reg-phone", "+7 701 000 00 01")
    page.dblclick("#reg-submit")
    page.wait_for_selector("#reg-done:not([hidden])")
    page.wait_for_load_state("networkidle")
    return page.inner_text("#reg-number").strip()


def test_a_day_in_the_workspace(browser, server, building, live_db, tmp_path):
    inspector = open_as(browser, server, "/staff", "ws-inspector")
    inspector.wait_for_selector("#rows tr[data-reg]")
    inspector.wait_for_selector('body[data-live="on"]')

    # the operator registers on /operator: a double click is one appeal
    operator = open_as(browser, server, "/operator", "ws-operator")
    description = f"Течёт крыша над подъездом 2 ({time.monotonic_ns()})"
    reg = operator_registers(operator, building, description)
    engine = create_engine(live_db)
    with engine.connect() as c:
        made = c.execute(
            text("SELECT reg_number FROM appeals WHERE description = :d"), {"d": description}
        ).scalars()
        assert list(made) == [reg]
    engine.dispose()
    # on the list without reloading: pushed from the commit through NOTIFY and the stream
    inspector.wait_for_selector(f'#rows tr[data-reg="{reg}"]', timeout=2_000)
    assert inspector.locator(f'#rows tr[data-reg="{reg}"] .badge').first.inner_text() == (
        "зарегистрировано"
    )
    # and on the operator's map, from the vector tiles
    operator.wait_for_function(f"() => window.QalaAppeals.drawn().includes('{reg}')", timeout=2_000)
    at_both_sizes(operator, "operator")
    operator.recorder.check()
    operator.context.close()
    at_both_sizes(
        inspector,
        "staff-list",
        lambda: inspector.wait_for_selector("#rows tr[data-reg]"),
        work_list=True,
    )

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
    # the object by its address, never its internal id
    assert f"здание: {building['address_ru']}" in facts and "#" not in facts
    assert inspector.locator("#log tr").count() == 2  # the header and "registered"
    inspector.click('#action-buttons button[data-action="assign"]')
    inspector.wait_for_selector(
        f'#act-organisation option[value="{building["org"]}"]', state="attached"
    )
    inspector.select_option("#act-organisation", str(building["org"]))
    inspector.click("#act-submit")
    wait_status(inspector, "assigned")
    at_both_sizes(inspector, "staff-appeal-assigned")

    # the executor, in another browser, accepts, starts and completes with a photo
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
    executor.click('#action-buttons button[data-action="complete"]')
    executor.wait_for_selector("#act-photos-box:not([hidden])")
    # the photo button and the files chosen in the page's language, not the browser's
    assert executor.inner_text("#act-photos-button") == "Выбрать фото"
    assert executor.inner_text("#act-photos-names") == "Фото не выбраны"
    executor.set_input_files("#act-photos", str(a_photo(tmp_path)))
    assert executor.inner_text("#act-photos-names") == "Выбрано: roof-done.jpg"
    executor.fill("#act-comment", "заменили кровлю")
    executor.fill("#act-public", "Крыша отремонтирована")
    executor.click("#act-submit")
    wait_status(executor, "resolved")
    # its thumbnail on the page (fetched with the token, shown as data)
    executor.wait_for_function(
        "() => { const i = document.querySelector('#thumbs img');"
        " return i && i.src.startsWith('data:image/jpeg') && i.naturalWidth > 0; }"
    )
    at_both_sizes(executor, "staff-appeal-executor")
    # the inspector's open page followed, without reloading
    wait_status(inspector, "resolved")
    assert not inspector.locator("#appeal-notice").is_hidden()

    # the controller verifies (the executor's photo is on the page) and closes
    controller = open_as(browser, server, f"/staff/{reg}", "ws-controller")
    controller.wait_for_selector('#action-buttons button[data-action="close"]')
    controller.wait_for_selector("#thumbs img")
    assert controller.locator('#action-buttons button[data-action="send_back"]').count() == 1
    act(controller, "close")
    wait_status(controller, "closed")
    log = controller.inner_text("#log")
    assert "заменили кровлю" in log and "приняли" in log
    assert "Крыша отремонтирована" in controller.inner_text("#notes")
    at_both_sizes(controller, "staff-appeal-closed")
    for page in (inspector, executor, controller):
        page.recorder.check()
        page.context.close()

    # the resident's tracker: the public history, the executor's photo, no personal data
    resident = open_as(browser, server, f"/track?reg={reg}", None)
    resident.wait_for_selector("#track-history")
    history = resident.inner_text("#track-history")
    assert "зарегистрировано" in history and "исполнено → закрыто" in history
    assert "Крыша отремонтирована" in resident.inner_text("#track-notes")
    assert resident.locator("#track-media a").count() == 1  # the executor's photo
    content = resident.content()
    for private in ("Айгерим", "701 000", "заменили кровлю", "ws-executor", "ws-controller"):
        assert private not in content, private
    at_both_sizes(resident, "track")
    resident.recorder.check()
    resident.context.close()


def test_the_operator_map_draws_appeals_live_and_links_them(browser, server, building):
    operator = open_as(browser, server, "/operator?lang=kk", "ws-operator")
    name = operator.evaluate("() => window.Qala.config.map")
    operator.evaluate(
        f"() => {{ window['{name}'].setView([{building['lat']}, {building['lon']}], 17, "
        "{animate: false}); }"
    )
    operator.wait_for_function("() => window.QalaAppeals.drawn().length > 0")
    # registered elsewhere: on this map within 2 s, without reloading
    reg = register(server, building)
    operator.wait_for_function(f"() => window.QalaAppeals.drawn().includes('{reg}')", timeout=2_000)
    # close up, the streets' Kazakh names and the house numbers from the city's layers
    operator.wait_for_selector(".qala-label.house")
    operator.wait_for_selector(".qala-label.street")
    streets = operator.locator(".qala-label.street").all_inner_texts()
    assert any(w in " ".join(streets) for w in ("көшесі", "даңғылы", "көше")), streets
    # a click on the appeal's dot: a popup linking its page
    x, y = operator.evaluate(f"""() => {{
        const m = window['{name}'], p = m.latLngToContainerPoint([{building["lat"]},
                                                                   {building["lon"]}]);
        const r = m.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""")
    operator.mouse.click(x, y)
    operator.wait_for_selector(".qala-appeal-popup a.appeal-link")
    link = operator.locator(".qala-appeal-popup a.appeal-link").first.get_attribute("href")
    assert link.startswith("/staff/PET-") and "lang=kk" in link
    # the category groups are named, never their codes
    groups = operator.evaluate(
        "() => [...document.querySelectorAll('#reg-category optgroup')].map(g => g.label)"
    )
    assert groups and "housing" not in groups and all(not g.isascii() for g in groups), groups
    shot(operator, "operator-map-kk")
    operator.recorder.check()
    operator.context.close()


def test_a_page_of_another_city_keeps_it_in_every_request_and_link(browser, server):
    page = open_as(browser, server, "/operator?city=HEL", None)
    page.fill("#search-input", "Mannerheimintie 5")
    page.wait_for_selector("#search-results li[data-i]")
    assert HEL_ADDRESS in page.inner_text("#search-results")
    page.wait_for_load_state("networkidle")
    ours = [
        u
        for u in page.recorder.requests
        if u.startswith(server) and "/static/" not in u and "/favicon" not in u
    ]
    assert ours and all("city=HEL" in u for u in ours), [u for u in ours if "city=HEL" not in u]
    links = page.evaluate(
        "() => [...document.querySelectorAll('a[href^=\"/\"]')].map(a => a.getAttribute('href'))"
    )
    assert links and all("city=HEL" in h for h in links), links
    page.recorder.check()
    page.context.close()


def test_an_account_of_two_cities_picks_the_city(browser, server):
    page = open_as(browser, server, "/staff", "ws-both")
    page.wait_for_selector("#city-pick-box:not([hidden])")
    options = page.locator("#city-pick option").all_inner_texts()
    assert len(options) == 2 and any("Хельсинки" in o for o in options), options
    assert all("инспектор" in o for o in options), options
    page.select_option("#city-pick", "HEL")
    page.wait_for_url("**/staff?*city=HEL*")  # the page of the other city
    page.wait_for_selector("#whoami:not([hidden])")  # the new token is for HEL
    # the list's answer came (the page's first row, "sign in", is a hint too)
    page.wait_for_function("() => document.getElementById('shown').textContent !== ''")
    assert page.inner_text("#rows") == "Ничего не найдено"  # HEL has no appeals
    assert "Хельсинки" in page.inner_text(".topbar .city")
    page.recorder.check()
    page.context.close()


def test_an_executor_of_another_organisation_gets_the_403_page(browser, server, building):
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
        ("operator", "/operator", "ws-operator"),
        ("operator_kk", "/operator?lang=kk", "ws-operator"),
        ("list", "/staff", "ws-inspector"),
        ("list_kk", "/staff?lang=kk", "ws-inspector"),
        ("appeal", "/staff/{reg}", "ws-inspector"),
        ("appeal_en", "/staff/{reg}?lang=en", "ws-controller"),
        ("appeal_kk", "/staff/{reg}?lang=kk", "ws-inspector"),
        ("forbidden", "/staff/{reg}", "ws-outsider"),
    ],
)
def test_each_page_fits_a_phone(browser, server, building, name, path, user):
    reg = register(server, building)
    page = open_as(browser, server, path.format(reg=reg), user, phone=True)
    if name == "forbidden":
        page.wait_for_selector('body[data-status="403"]')
    elif path.startswith("/staff/{reg}"):
        page.wait_for_selector("#log tr")
    elif path.startswith("/staff"):
        page.wait_for_selector("#rows tr[data-reg]")
    assert no_horizontal_scroll(page), name
    assert topbar_compact(page), name
    if name.startswith("list"):
        # the filters folded under their summary, so the list comes first
        assert page.evaluate("() => !document.getElementById('filters-details').open"), name
        the_list_then_the_map(page, name)
    elif name == "forbidden":  # the map goes with the appeal: nothing to place, the 403 alone
        assert map_height(page) == 0, name
    else:
        assert map_height(page) > 0, name
    if name.startswith("appeal"):  # the photo button speaks the page's language
        lang = name.partition("_")[2] or "ru"
        button = page.locator("#act-photos-button").text_content().strip()
        assert button == labels(lang)["choose_photos"], (name, button)
    assert panel_unsqueezed(page), name
    assert words_unbroken(page) == [], name
    shot(page, f"staff-phone-{name}", full=True)
    page.context.close()


def test_the_phone_top_bar_is_one_row_with_the_pages_behind_a_menu(browser, server):
    page = open_as(browser, server, "/staff?lang=kk", "ws-inspector", phone=True)
    assert topbar_compact(page)
    assert page.is_hidden(".topbar .nav") and page.is_hidden(".topbar .langs")
    assert page.inner_text("#menu-button") == "Мәзір"
    page.click("#menu-button")
    assert page.get_attribute("#menu-button", "aria-expanded") == "true"
    assert page.is_visible(".topbar .nav a") and page.is_visible(".topbar .langs a")
    assert no_horizontal_scroll(page)
    shot(page, "staff-phone-menu-open")
    page.keyboard.press("Escape")
    assert page.is_hidden(".topbar .nav")
    assert page.get_attribute("#menu-button", "aria-expanded") == "false"
    page.recorder.check()
    page.context.close()


def test_the_folded_filters_say_how_many_are_on(browser, server):
    page = open_as(
        browser, server, "/staff?lang=en&overdue=true&channel=phone_109", "ws-inspector", True
    )
    page.wait_for_function("() => document.getElementById('shown').textContent !== ''")
    assert page.inner_text("#filters-summary") == "Filters (2 active)"
    assert page.evaluate("() => !document.getElementById('filters-details').open")
    page.click("#filters-summary")
    page.uncheck("#f-overdue")
    page.click("#filters button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('filters-summary').textContent === 'Filters (1 active)'"
    )
    page.recorder.check()
    page.context.close()


def map_box(page) -> dict:
    """Where the appeal's map is: its box on the screen, Leaflet's idea of its size, and
    what comes just before it."""
    return page.evaluate("""() => {
        const box = document.querySelector('.mapbox');
        const r = box.querySelector('.folium-map').getBoundingClientRect();
        const size = window[window.Qala.config.map].getSize();
        const before = box.previousElementSibling;
        return {top: r.top, height: r.height, width: r.width, leaflet: [size.x, size.y],
                before: before ? before.id : null, in_panel: !!box.closest('#panel'),
                actions: document.getElementById('actions-box').getBoundingClientRect().top};
    }""")


@pytest.mark.parametrize("lang", ["ru", "kk", "en"])
def test_the_appeal_map_on_a_phone_is_under_the_title_and_compact(browser, server, building, lang):
    """On a phone the appeal's map comes under its number and status (not at the end of
    a long page), a third of the screen high, on the first screen; on a desktop it is the
    right-hand column again, as before."""
    reg = register(server, building)
    page = open_as(browser, server, f"/staff/{reg}?lang={lang}", "ws-inspector", phone=True)
    page.wait_for_selector("#log tr")
    painted(page)
    at = map_box(page)
    assert at["in_panel"] and at["before"] == "appeal-notice", at
    assert 200 <= at["height"] <= 0.4 * PHONE["height"], at
    assert at["top"] + at["height"] <= PHONE["height"], at  # seen without scrolling
    assert at["top"] > page.locator("#appeal-badges").bounding_box()["y"], at
    assert at["top"] + at["height"] <= at["actions"], at  # before the actions, not after
    assert at["width"] >= PHONE["width"] - 80, at  # the width of the panel's boxes
    assert at["leaflet"] == [round(at["width"]), round(at["height"])], at  # told its size
    assert no_horizontal_scroll(page) and panel_unsqueezed(page)
    assert page.evaluate(  # the appeal's point is on it, in view
        """() => { const m = window[window.Qala.config.map]; let seen = false;
                   m.eachLayer(l => { if (l instanceof L.CircleMarker
                                          && m.getBounds().contains(l.getLatLng())) seen = true; });
                   return seen; }"""
    )
    shot(page, f"staff-phone-appeal-map-{lang}")
    page.set_viewport_size(DESKTOP)
    painted(page)
    at = map_box(page)
    assert not at["in_panel"] and at["before"] == "panel", at  # the desktop's column
    assert at["height"] >= DESKTOP["height"] - 100 and at["width"] >= 500, at
    assert at["leaflet"] == [round(at["width"]), round(at["height"])], at
    page.recorder.check()
    page.context.close()


@pytest.mark.parametrize("path", ["/staff", "/staff/{reg}"])
def test_the_staff_maps_draw_the_basemap_from_vector_tiles(browser, server, building, path):
    reg = register(server, building)
    page = open_as(browser, server, path.format(reg=reg), "ws-inspector")
    name = page.evaluate("() => window.Qala.config.map")
    page.evaluate(
        f"() => {{ window['{name}'].setView([{building['lat']}, {building['lon']}], 16, "
        "{animate: false}); }"
    )
    page.wait_for_load_state("networkidle")
    ours = [u.removeprefix(server) for u in page.recorder.requests if u.startswith(server)]
    tiled = {u.split("/")[2] for u in ours if u.startswith("/tiles/") and ".pbf" in u}
    assert {"districts", "yards", "streets", "buildings"} <= tiled, tiled
    assert not [u for u in ours if u.startswith("/web/api/layers/")]  # no GeoJSON basemap
    page.recorder.check()
    page.context.close()


def test_two_staff_at_once_one_wins_the_other_is_shown_the_new_state(
    browser,
    server,
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
