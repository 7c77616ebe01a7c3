"""The pages as HTML: languages, the city map from our own layers, no other host anywhere."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import text

from geo.planning.repair_queue import QueueRules, compute_queue
from tests.factories import an_apartment_building, make_appeal
from web import assets, i18n
from web.registry import PAGES as REGISTERED

PAGES = ["/", "/operator", "/queue", "/track", "/planner", "/me", "/map"]
MAP_PAGES = ["/operator", "/queue", "/track", "/planner", "/map"]
URL = re.compile(r"""(?:https?:)?//[^\s"'<>`)\\]+""", re.IGNORECASE)


class Refs(HTMLParser):
    """Every script src, stylesheet/icon href and img src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "img" and a.get("src"):
            self.images.append(a["src"])


class TopBar(HTMLParser):
    """The links of the top bar's ``<nav>`` and the cards of the home page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.nav: list[str] = []
        self.current: list[str] = []
        self.cards: list[str] = []
        self._in_nav = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "nav" and a.get("class") == "nav":
            self._in_nav = True
        elif tag == "a" and self._in_nav:
            self.nav.append(a["href"])
            if a.get("aria-current") == "page":
                self.current.append(a["href"])
        elif tag == "a" and "card" in (a.get("class") or "").split():
            self.cards.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav = False


def refs(html: str) -> Refs:
    parser = Refs()
    parser.feed(html)
    return parser


def config(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="qala-config">(.*?)</script>', html, re.S
    )
    assert found, "the page has no #qala-config"
    return json.loads(found.group(1))


@pytest.fixture
def page(client):
    def get(path: str) -> str:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        return r.text

    return get


@pytest.mark.parametrize("path", PAGES)
def test_a_page_names_no_other_host_and_loads_everything_from_static(client, page, path):
    html = page(path)
    foreign = [u for u in URL.findall(html) if not u.startswith("//127.0.0.1")]
    assert not foreign, f"{path} names other hosts: {foreign[:5]}"
    r = refs(html)
    assert r.scripts, "the page has scripts"
    for url in r.scripts + r.links + r.images:
        assert url.startswith("/static/"), f"{path}: {url} is not served by us"
        got = client.get(url)
        assert got.status_code == 200, f"{url} -> {got.status_code} (run `cd web && npm ci`?)"


@pytest.mark.parametrize("path", PAGES)
def test_a_page_forbids_other_hosts_by_content_security_policy(client, path):
    csp = client.get(path).headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http" not in csp


def test_our_scripts_and_styles_name_no_other_host(client):
    for name in (
        "qala.js",
        "operator.js",
        "track.js",
        "planner.js",
        "me.js",
        "map.js",
        "queue.js",
        "qala.css",
    ):
        body = client.get(f"/static/{name}").text
        assert not URL.findall(body), name


def test_vendored_libraries_come_from_npm_not_from_the_repository():
    manifest = json.loads((assets.WEB / "package.json").read_text())
    assert {"leaflet", "leaflet.vectorgrid"} <= set(manifest["dependencies"])
    assert (assets.WEB / "package-lock.json").exists()
    assert not assets.missing_vendor(), "run `cd web && npm ci`"


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_russian_by_default(page, path):
    html = page(path)
    assert '<html lang="ru">' in html
    assert "Пульт оператора" in html and "Очередь ремонта дворов" in html
    assert config(html)["lang"] == "ru"


@pytest.mark.parametrize(("lang", "word"), [("kk", "Оператор пульті"), ("en", "Operator console")])
def test_kazakh_and_english_are_chosen_with_lang(page, lang, word):
    html = page(f"/operator?lang={lang}")
    assert f'<html lang="{lang}">' in html
    assert word in html
    assert config(html)["t"]["operator"] == word
    assert "Пульт оператора" not in html


def test_an_unknown_language_falls_back_to_russian(page):
    assert '<html lang="ru">' in page("/?lang=xx")


def test_the_switcher_links_every_language_and_keeps_the_query(page):
    html = page("/track?reg=PET-2026-000001&lang=en")
    for code in ("kk", "en"):
        assert f'href="/track?reg=PET-2026-000001&amp;lang={code}"' in html
    assert 'href="/track?reg=PET-2026-000001"' in html  # Russian: no lang parameter
    assert config(html)["reg"] == "PET-2026-000001"


def test_every_label_exists_in_three_languages():
    for table in (i18n.LABELS, i18n.STATES, i18n.CHANNELS, i18n.OBJECTS, i18n.WELL_KINDS):
        for key, words in table.items():
            assert len(words) == 3 and all(w.strip() for w in words), key
    assert set(i18n.labels("kk")) == set(i18n.LABELS)


@pytest.mark.parametrize("path", MAP_PAGES)
def test_map_pages_draw_the_city_from_its_own_layers_without_a_tile_server(page, path):
    html = page(path)
    assert 'class="folium-map"' in html and "L.map(" in html
    assert "L.tileLayer(" not in html  # no raster basemap from anywhere
    assert "/web/api/layers/buildings.geojson" in html or "/tiles/buildings/" in html
    assert "/static/vendor/leaflet/leaflet.js" in html
    name = config(html)["map"]
    assert name and f"var {name} = L.map(" in html


@pytest.mark.parametrize("path", [*MAP_PAGES, "/staff", "/staff/PET-2026-000001"])
def test_the_maps_draw_their_basemap_from_the_vector_tiles(page, path):
    """Every base layer has a tile route (``layers/``): none comes as GeoJSON."""
    html = page(path)
    assert "/tiles/buildings/{z}/{x}/{y}.pbf" in html and "/tiles/streets/" in html
    assert "/web/api/layers/" not in html


def test_a_layer_without_tiles_comes_as_geojson():
    from geo.city.basemap import CityView
    from web import citymap

    view = CityView(1, "PET", {"ru": "П"}, True, 69.0, 54.8, 69.3, 55.0)
    parts = citymap.map_parts(
        citymap.city_map(view, {}, tiled={"streets"}, layers=("streets", "buildings"))
    )
    assert "/tiles/streets/{z}/{x}/{y}.pbf?city=PET" in parts.script
    assert "/web/api/layers/buildings.geojson?city=PET" in parts.script
    assert "/tiles/buildings/" not in parts.script


def test_the_map_opens_on_the_city(page, conn, city_id):
    html = page("/operator")
    lat, lon = map(float, re.search(r"center: \[([\d.]+), ([\d.]+)\]", html).groups())
    inside = conn.execute(
        text("""
        SELECT ST_Covers(ST_Envelope(bounds), ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        FROM cities WHERE id = :c"""),
        {"x": lon, "y": lat, "c": city_id},
    ).scalar_one()
    assert inside
    assert json.dumps("Центральный район")[1:-1] in html  # district names on the map


def test_the_operator_console_has_search_place_card_form_and_login(page):
    html = page("/operator")
    for element in (
        'id="search-input"',
        'id="card"',
        'id="register-form"',
        'id="reg-category"',
        'id="login-form"',
        'id="reg-submit"',
        'value="phone_109"',
    ):
        assert element in html, element
    assert "/static/operator.js" in html


def test_a_layer_of_the_basemap_comes_as_geojson_for_a_bounding_box(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    bbox = f"{b['lon'] - 0.002},{b['lat'] - 0.002},{b['lon'] + 0.002},{b['lat'] + 0.002}"
    r = client.get(f"/web/api/layers/buildings.geojson?bbox={bbox}")
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert b["id"] in {f["id"] for f in fc["features"]}
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 69 < lon < 70 and 54 < lat < 55  # lon/lat order, as GeoJSON has it


@pytest.mark.parametrize(
    ("layer", "bbox", "status"),
    [
        ("buildings", "1,2,3", 422),
        ("buildings", "a,b,c,d", 422),
        ("buildings", "3,2,1,4", 422),
        ("users", "69,54,70,55", 404),
        ("appeal_contacts", "69,54,70,55", 404),
    ],
)
def test_bad_layer_requests_are_refused(client, layer, bbox, status):
    assert client.get(f"/web/api/layers/{layer}.geojson?bbox={bbox}").status_code == status


def test_the_queue_page_lists_the_queue_in_rank_order_with_the_rule(page, conn, city_id):
    html = page("/queue")
    queue = compute_queue(conn, city_id, QueueRules())
    ranks = [
        int(r)
        for r in re.findall(
            r'<tr class="(?:un)?funded" data-yard="\d+"[^>]*>\s*'
            r'<td class="num"[^>]*>(\d+)</td>',
            html,
        )
    ]
    assert ranks == [q["rank"] for q in queue]
    first = re.search(r'data-yard="(\d+)"', html).group(1)
    assert int(first) == queue[0]["yard_id"]
    for words in ("больше всего квартир", "больше обращений", "большей площади"):
        assert words in html
    assert html.count('class="budget-line"') == 1
    assert html.count('<tr class="funded"') == min(70, len(queue))


def test_the_queue_speaks_the_pages_language_says_why_and_anchors_every_yard(page, conn, city_id):
    queue = compute_queue(conn, city_id, QueueRules())
    first = queue[0]
    # a yard is named by its largest building, in Kazakh on the Kazakh page
    assert first["address_kk"].startswith("Аула: ") and first["address_kk"] != first["address"]
    kk = page("/queue?lang=kk")
    assert first["address_kk"].split(",")[0] in kk and "Неліктен бұл орын" in kk
    assert f'id="yard-{first["yard_id"]}"' in kk
    en = page("/queue?lang=en")
    assert "Why this rank" in en and "This yard is number 1." in en
    assert 'id="queue-search"' in en and 'id="queue-legend"' in en
    ru = page("/queue")
    assert "Двор на 1-м месте" in ru and first["address"] in ru


def test_a_budget_moves_the_budget_line(page, conn, city_id):
    queue = compute_queue(conn, city_id, QueueRules())
    budget = queue[2]["cumulative_cost"] + 1
    html = page(f"/queue?budget={budget}")
    assert html.count('<tr class="funded"') == 3
    assert "Выше черты" in html


def test_the_planner_dashboard_has_charts_hotspots_and_the_queue(page):
    from web.pages import planner as planner_page

    # kept per city and data version in the process: another test's copy of the same
    # template may have filled them
    planner_page.forget_panels()
    # computed for the current data only when asked: the page first leaves their places
    # waiting (its script asks for them once the map is drawn) ...
    first = page("/planner")
    assert first.count("data-panel") == 3 and '<svg class="chart"' not in first
    assert "Очаги обращений" in first
    # ... and they come alone, each part under its place's id
    part = page("/planner?part=panels")
    assert "<html" not in part and "<nav" not in part
    for slot in ("p-totals", "p-charts", "p-queue"):
        assert f'id="{slot}"' in part
    assert part.count('<svg class="chart" role="img" aria-label=') == 3
    # kept for the current data now: the next page has them in place
    html = page("/planner")
    assert "data-panel" not in html
    assert html.count('<svg class="chart" role="img" aria-label=') == 3
    for season in ("зима", "весна", "лето", "осень"):
        assert season in html
    assert "Нет отопления" in html  # a category by its name, not its code
    assert "Очаги обращений" in html and "budget-line" in html
    assert "/api/v1/ratings" not in html  # on-time rates load only for signed-in staff


def test_the_tracker_page_asks_for_a_number(page):
    html = page("/track")
    assert 'id="track-reg"' in html and "/static/track.js" in html
    assert "Персональные данные" in html


def test_no_page_shows_an_applicants_personal_data(page, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=12)
    secret_name, secret_phone = "Жанар Сейткали-Тест", "+7 701 555 98 76"
    appeal = make_appeal(
        conn,
        city_id,
        "roof_leak",
        b["lon"],
        b["lat"],
        applicant_name=secret_name,
        applicant_phone=secret_phone,
    )
    for path in PAGES + [f"/track?reg={appeal['reg_number']}"]:
        html = page(path)
        assert secret_name not in html and secret_phone not in html, path


@pytest.mark.parametrize("declared", REGISTERED, ids=lambda p: p.name)
def test_every_registered_page_is_served_and_in_the_nav_where_declared(page, declared):
    html = page(declared.path)
    assert config(html)["page"] == declared.name
    assert f'<body class="page-{declared.name}">' in html
    scripts = refs(html).scripts
    if declared.script:
        assert any(s.startswith(f"/static/{declared.script}?") for s in scripts), scripts
    bar = TopBar()
    bar.feed(html)
    in_nav = [p.path for p in REGISTERED if p.nav]
    assert in_nav, "the registry declares pages for the top bar"
    assert bar.nav == in_nav  # every page's top bar: the declared pages, in their order
    assert bar.current == ([declared.path] if declared.nav else [])
    home = TopBar()
    home.feed(page("/"))
    assert (declared.path in home.cards) == (declared.about is not None)
