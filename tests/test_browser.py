"""The real pages in headless Chromium against a real server and a committed database.

A uvicorn server runs on a free 127.0.0.1 port in a background thread; Debian's Chromium is
driven with Playwright (no browser download). Every request of every page is recorded: all
must go to that server. Screenshots go to ``artifacts/screenshots/``. The database, server and
browser fixtures are ``tests/browser_fixtures.py``'s.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from geo.infra.settings import PROJECT_ROOT
from tests.browser_fixtures import OPERATOR, PASSWORD

pytestmark = pytest.mark.browser

SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
PAGES = {
    "landing": "/",
    "operator": "/operator",
    "queue": "/queue",
    "track": "/track",
    "planner": "/planner",
    "operator_kk": "/operator?lang=kk",
    "queue_en": "/queue?lang=en",
}


class Recorder:
    """Everything a page asked for and complained about."""

    def __init__(self, page, base: str) -> None:
        self.base = base
        self.requests: list[str] = []
        self.failures: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        # a request cancelled by leaving the page or by a newer one is not a failure
        page.on(
            "requestfailed",
            lambda r: (
                "ERR_ABORTED" not in (r.failure or "")
                and self.failures.append(f"{r.url}: {r.failure}")
            ),
        )
        page.on(
            "response",
            lambda r: r.status >= 400 and self.failures.append(f"{r.url}: HTTP {r.status}"),
        )
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def foreign(self) -> list[str]:
        return [
            u for u in self.requests if not (u.startswith(self.base + "/") or u.startswith("data:"))
        ]

    def check(self) -> None:
        assert not self.foreign(), f"requests to other hosts: {self.foreign()[:5]}"
        assert not self.failures, self.failures
        assert not self.errors, self.errors


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="ru-RU")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.recorder = Recorder(pg, server)
    pg.base = server
    yield pg
    context.close()


def shot(page, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def map_has_drawn(page) -> bool:
    """Some canvas or vector path inside the map has visible pixels."""
    return page.evaluate("""() => {
        const box = document.querySelector('.folium-map');
        if (!box) return false;
        if (box.querySelector('.leaflet-overlay-pane path, .leaflet-tile-pane path')) return true;
        for (const c of box.querySelectorAll('canvas')) {
            if (!c.width || !c.height) continue;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4 * 97) if (d[i] > 0) return true;
        }
        return false;
    }""")


def sign_in(page) -> None:
    page.fill("#login-user", OPERATOR)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#whoami:not([hidden])")


def a_building(db, offset: int = 40) -> dict:
    with db.connect() as c:
        return dict(
            c.execute(
                text("""
            SELECT b.id, b.address_ru, b.house_number,
                   ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
            FROM buildings b JOIN cities ci ON ci.id = b.city_id AND ci.code = 'PET'
            WHERE b.kind = 'apartment' ORDER BY b.id LIMIT 1 OFFSET :o"""),
                {"o": offset},
            )
            .mappings()
            .one()
        )


def settled(page, name: str | None = None) -> None:
    """Wait until the map (when ``name`` is given) has loaded every tile of its view and the
    browser has painted twice since: a condition, not a sleep."""
    if name:
        page.wait_for_function(f"""() => {{
            const m = window['{name}'];
            let busy = false;
            if (m) m.eachLayer(l => {{ if (l.isLoading && l.isLoading()) busy = true; }});
            return !busy;
        }}""")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def click_on_map(page, lon: float, lat: float) -> None:
    """Centre the map on a point, then click there with the mouse like a person would."""
    name = page.evaluate("() => window.Qala.config.map")
    page.evaluate(f"() => {{ window['{name}'].setView([{lat}, {lon}], 18, {{animate: false}}); }}")
    settled(page, name)
    x, y = page.evaluate(f"""() => {{
        const m = window['{name}'], p = m.latLngToContainerPoint([{lat}, {lon}]);
        const r = m.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""")
    page.mouse.click(x, y)


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_loads_with_no_error_and_no_request_to_another_host(page, name):
    page.goto(page.base + PAGES[name], wait_until="networkidle")
    if name.startswith(("operator", "queue", "track", "planner")):
        page.wait_for_function("() => document.querySelector('.leaflet-container') !== null")
        settled(page, page.evaluate("() => window.Qala && window.Qala.config.map"))
    settled(page)
    shot(page, name, full=name == "planner")
    page.recorder.check()
    assert page.recorder.requests[0].startswith(page.base)
    html_lang = page.evaluate("() => document.documentElement.lang")
    assert html_lang == {"kk": "kk", "en": "en"}.get(name.rsplit("_", 1)[-1], "ru")


def test_the_map_draws_the_citys_layers(page):
    responses = []
    page.on(
        "response",
        lambda r: (
            ("/web/api/layers/" in r.url or "/tiles/" in r.url)
            and responses.append((r.url, r.status))
        ),
    )
    page.goto(page.base + "/operator", wait_until="networkidle")
    page.wait_for_function("() => document.querySelector('.leaflet-container') !== null")
    assert responses, "the map asked for no layer"
    assert all(status in (200, 204) for _, status in responses), responses
    layers = {re.search(r"/(?:layers|tiles)/(\w+)", u).group(1) for u, _ in responses}
    assert {"districts", "streets", "yards"} <= layers
    assert map_has_drawn(page)
    # zoomed in, the buildings come too
    name = page.evaluate("() => window.Qala.config.map")
    with page.expect_response(lambda r: "buildings" in r.url) as got:
        page.evaluate(f"() => {{ window['{name}'].setZoom(16, {{animate: false}}); }}")
    assert got.value.status in (200, 204)
    page.wait_for_load_state("networkidle")
    page.recorder.check()


def test_the_search_finds_an_address_and_centres_the_map_there(page, db):
    b = a_building(db)
    page.goto(page.base + "/operator", wait_until="networkidle")
    page.fill("#search-input", b["address_ru"])
    page.wait_for_selector("#search-results li[data-i]")
    hits = page.inner_text("#search-results")
    assert b["address_ru"] in hits
    page.click(f"#search-results li[data-i]:has-text('{b['address_ru']}')")
    name = page.evaluate("() => window.Qala.config.map")
    page.wait_for_function(f"() => window['{name}'].getZoom() === 18")
    lat, lon, zoom = page.evaluate(
        f"() => {{ const m = window['{name}'], c = m.getCenter(); "
        f"return [c.lat, c.lng, m.getZoom()]; }}"
    )
    assert zoom == 18
    assert abs(lat - b["lat"]) < 0.0005 and abs(lon - b["lon"]) < 0.0008
    assert page.input_value("#reg-address") == b["address_ru"]
    page.recorder.check()


def test_a_click_on_the_map_opens_the_place_card(page, db):
    b = a_building(db, offset=55)
    page.goto(page.base + "/operator", wait_until="networkidle")
    sign_in(page)
    click_on_map(page, b["lon"], b["lat"])
    page.wait_for_selector("#card .card-section")
    card = page.inner_text("#card")
    assert b["address_ru"] in card
    assert "Колодцы и их владельцы" in card and "Двор" in card
    page.wait_for_load_state("networkidle")
    shot(page, "operator_place_card")
    page.recorder.check()


def test_registering_from_the_console_creates_the_appeal_and_the_tracker_shows_it(page, db):
    b = a_building(db, offset=77)
    page.goto(page.base + "/operator", wait_until="networkidle")
    sign_in(page)
    click_on_map(page, b["lon"], b["lat"])
    page.wait_for_selector("#card .card-section")
    page.select_option("#reg-category", "roof_leak")
    page.wait_for_function("() => document.getElementById('reg-org').textContent !== '—'")
    assert "здание" in page.inner_text("#reg-object")
    assert "120" in page.inner_text("#reg-deadline")  # a roof leak: 5 days
    page.fill("#reg-description", "Протекает кровля над пятым этажом")
    page.fill("#reg-address", f"{b['address_ru']}, кв. 77, спросить Айгуль")  # free text
    page.fill("#reg-name", "Айгуль Браузерова")
    page.fill("#reg-phone", "+7 705 000 11 22")
    page.click("#reg-submit")
    page.wait_for_selector("#reg-done:not([hidden])")
    reg = page.inner_text("#reg-number").strip()
    assert re.fullmatch(r"PET-\d{4}-\d{6}", reg), reg
    shot(page, "operator_registered")
    page.recorder.check()

    with db.connect() as c:
        row = (
            c.execute(
                text("""
            SELECT a.category_code, a.object_kind, a.object_id, a.located_by, a.channel,
                   a.description, ac.name AS applicant
            FROM appeals a LEFT JOIN appeal_contacts ac
              ON ac.city_id = a.city_id AND ac.appeal_id = a.id
            WHERE a.reg_number = :r"""),
                {"r": reg},
            )
            .mappings()
            .one()
        )
    assert (row["category_code"], row["object_kind"], row["object_id"]) == (
        "roof_leak",
        "building",
        b["id"],
    )
    assert (row["located_by"], row["channel"]) == ("click", "phone_109")
    assert row["applicant"] == "Айгуль Браузерова"

    page.click("#reg-number")
    page.wait_for_selector("#track-status")
    assert page.inner_text("#track-number") == reg
    assert page.inner_text("#track-status") == "зарегистрировано"
    assert "Протекает кровля" in page.inner_text("#track-result")
    page.wait_for_load_state("networkidle")
    assert map_has_drawn(page)
    shot(page, "track_result")
    content = page.content()
    assert "Айгуль" not in content and "705 000" not in content
    assert "кв. 77" not in content  # the operator's free text is not public
    assert b["address_ru"] in page.inner_text("#track-result")  # the map's address is
    page.recorder.check()


def test_the_tracker_says_when_a_number_is_unknown(page):
    page.goto(page.base + "/track", wait_until="networkidle")
    page.fill("#track-reg", "PET-1999-999999")
    page.click("#track-form button")
    page.wait_for_selector("#track-result .error")
    assert "не найдено" in page.inner_text("#track-result")
    page.recorder.errors = [e for e in page.recorder.errors if "404" not in e]
    page.recorder.failures = [f for f in page.recorder.failures if "HTTP 404" not in f]
    page.recorder.check()


def test_the_tracker_links_the_photos_sent_with_an_appeal(page, db):
    """A photo link kept with an appeal (Open311 media_url) is on the tracker: a link that
    opens apart from the page, never an image loaded from elsewhere (the CSP allows none)."""
    from geo.appeals.actors import Actor
    from geo.appeals.intake import NewAppeal, add_media, create_appeal

    photo = "https://cdn.example.kz/appeals/roof.jpg"
    with db.begin() as conn:
        city = conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                "FROM buildings WHERE city_id = :c ORDER BY id LIMIT 1"
            ),
            {"c": city},
        ).one()
        appeal, _ = create_appeal(
            conn,
            city,
            NewAppeal(category="roof_leak", lon=lon, lat=lat, channel="open311"),
            Actor(name="open311-test", role="channel"),
        )
        add_media(conn, city, appeal["id"], photo)
    page.goto(f"{page.base}/track?reg={appeal['reg_number']}", wait_until="networkidle")
    page.wait_for_selector("#track-media a")
    link = page.locator("#track-media a").first
    assert link.get_attribute("href") == photo
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")
    assert "Фото и видео" in page.inner_text("#track-result")
    page.recorder.check()


def _ready_to_register(page, db, offset: int, description: str) -> None:
    b = a_building(db, offset=offset)
    page.goto(page.base + "/operator", wait_until="networkidle")
    sign_in(page)
    click_on_map(page, b["lon"], b["lat"])
    page.wait_for_selector("#card .card-section")
    page.select_option("#reg-category", "garbage")
    page.wait_for_function("() => document.getElementById('reg-org').textContent !== '—'")
    page.fill("#reg-description", description)


def is_registration(url: str) -> bool:
    """A request to register an appeal (the page names its city in every request)."""
    return urlsplit(url).path == "/api/v1/appeals"


def _registered(db, description: str) -> list[str]:
    with db.connect() as c:
        return list(
            c.execute(
                text("SELECT reg_number FROM appeals WHERE description = :d ORDER BY id"),
                {"d": description},
            ).scalars()
        )


def test_a_double_click_registers_one_appeal(page, db):
    description = f"двойной щелчок {time.monotonic_ns()}"
    _ready_to_register(page, db, 91, description)
    keys = []
    page.on(
        "request",
        lambda r: (
            is_registration(r.url)
            and r.method == "POST"
            and keys.append(r.headers.get("idempotency-key"))
        ),
    )
    page.dblclick("#reg-submit")
    page.wait_for_selector("#reg-done:not([hidden])")
    page.wait_for_load_state("networkidle")
    assert len(_registered(db, description)) == 1
    # the next appeal, even with the same words, is another request: a new key
    page.fill("#reg-description", description)
    with page.expect_response(lambda r: is_registration(r.url)) as second:
        page.click("#reg-submit")
    assert second.value.status == 201
    assert len(_registered(db, description)) == 2
    assert len(set(keys)) == 2, keys
    page.recorder.check()


def test_the_same_form_sent_twice_at_once_is_one_appeal(page, db):
    description = f"одновременно {time.monotonic_ns()}"
    _ready_to_register(page, db, 93, description)
    keys = []
    page.on(
        "request",
        lambda r: (
            is_registration(r.url)
            and r.method == "POST"
            and keys.append(r.headers.get("idempotency-key"))
        ),
    )
    with page.expect_response(lambda r: is_registration(r.url)):
        page.evaluate("""() => {
            const form = document.getElementById('register-form');
            form.requestSubmit();
            form.requestSubmit();
        }""")
    page.wait_for_selector("#reg-done:not([hidden])")
    page.wait_for_load_state("networkidle")
    assert len(keys) == 2 and keys[0] == keys[1], keys
    assert len(_registered(db, description)) == 1
    page.recorder.check()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_work_from_the_service_alone(page, path):
    """Swagger UI and ReDoc come from npm, served by the service; under their CSP they load
    nothing from elsewhere and raise no error (a CSP violation is a console error)."""
    page.goto(page.base + path, wait_until="networkidle")
    if path == "/docs":
        # the tags come folded (docExpansion none); every tag unfolds to its operations
        spec = page.evaluate("() => fetch('/openapi.json').then(r => r.json())")
        per_tag: dict[str, int] = {}
        for ops in spec["paths"].values():
            for op in ops.values():
                for tag in op.get("tags", []):
                    per_tag[tag] = per_tag.get(tag, 0) + 1
        page.wait_for_selector(".swagger-ui .opblock-tag")
        assert page.locator(".swagger-ui .opblock-tag").count() == len(per_tag)
        for tag, n in per_tag.items():  # unfolded one at a time, as a reader does
            header = page.locator(f'h3.opblock-tag[data-tag="{tag}"]')
            section = page.locator(".swagger-ui .opblock-tag-section", has=header)
            header.click()
            expect(section.locator(".opblock")).to_have_count(n)
            header.click()
            expect(section.locator(".opblock")).to_have_count(0)
    else:
        page.wait_for_selector(".redoc-wrap")
        page.wait_for_function("() => document.body.innerText.includes('/api/v1/appeals')")
    page.wait_for_load_state("networkidle")
    shot(page, f"docs_{path.strip('/')}")
    rec = page.recorder
    # ReDoc runs its search in a worker of our own origin (a blob: URL)
    rec.requests = [u for u in rec.requests if not u.startswith(f"blob:{page.base}/")]
    # ReDoc's menu always shows its maker's logo from their CDN: the CSP stops it (nothing
    # leaves the service; the image is missing) and says so on the console
    logo = "https://cdn.redoc.ly/"
    assert all(f.endswith(": csp") for f in rec.failures if f.startswith(logo)), rec.failures
    rec.requests = [u for u in rec.requests if not u.startswith(logo)]
    rec.failures = [f for f in rec.failures if not f.startswith(logo)]
    rec.errors = [e for e in rec.errors if not (logo in e and "Content Security Policy" in e)]
    rec.check()


def test_a_queue_tooltip_shows_under_the_pages_csp(page):
    """Leaflet writes tooltips at run time: under the CSP (no inline style attributes, no
    inline scripts without the page's nonce) they still show, with no violation."""
    page.goto(page.base + "/queue", wait_until="networkidle")
    name = page.evaluate("() => window.Qala.config.map")
    x, y, address = page.evaluate(f"""() => {{
        const m = window['{name}'];
        let found = null;
        m.eachLayer(l => {{
            if (!found && l.feature && l.feature.properties && l.feature.properties.rank === 1)
                found = l;
        }});
        m.setView(found.getLatLng(), 17, {{animate: false}});
        const p = m.latLngToContainerPoint(found.getLatLng());
        const r = m.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y, found.feature.properties.address];
    }}""")
    settled(page, name)
    page.mouse.move(x, y)
    page.wait_for_selector(".leaflet-tooltip")
    assert address.split(",")[0].replace("Двор: ", "") in page.inner_text(".leaflet-tooltip")
    page.recorder.check()
