"""The planner workspace in headless Chromium (Debian's), against a real server and database:
parameters change what the map draws and what the legend says, every layer switch draws,
an empty result says why, ratings list every body, the repair plan compares two plans;
screenshots at desktop size and at 390×844 (no sideways scrolling there)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from tests.test_browser import SHOTS, Recorder, settled
from tests.test_planner_layers import plant_new_hot_spot

pytestmark = pytest.mark.browser

PLANNER, PASSWORD = "planner-browser", "planner-password"
LAYERS = ("hotspots", "emerging", "failing", "clusters", "queue")


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    """A committed copy of the demo city, a planner, and appeals of the last days on one
    block (a new hot spot and a density cluster: the demo year has neither)."""
    from geo.staff.auth import add_user

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        add_user(conn, "PET", PLANNER, PASSWORD, "planner")
        city = conn.exec_driver_sql("SELECT id FROM cities WHERE code = 'PET'").scalar_one()
        plant_new_hot_spot(conn, city, n=25)
    engine.dispose()
    return url


def _page(browser, server, width: int = 1400, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="ru-RU")
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.recorder = Recorder(pg, server)
    pg.base = server
    return context, pg


@pytest.fixture
def page(browser, server):
    context, pg = _page(browser, server)
    yield pg
    context.close()


def loaded(page, loads: int) -> dict:
    """Wait until the workspace has finished its ``loads``-th layer (summary, then every
    tile of the view drawn), and the browser has painted; its state."""
    page.wait_for_function(
        f"() => window.QalaPlanner && window.QalaPlanner.loads >= {loads} "
        "&& !window.QalaPlanner.busy"
    )
    settled(page, page.evaluate("() => window.Qala.config.map"))
    return page.evaluate(
        "() => ({legend: QalaPlanner.legend, drawn: QalaPlanner.drawn, loads: QalaPlanner.loads,"
        " layer: QalaPlanner.layer, text: document.getElementById('legend').innerText})"
    )


def painted(page) -> bool:
    """The analysis pane (above the basemap) has visible pixels."""
    return page.evaluate("""() => {
        for (const c of document.querySelectorAll('.leaflet-qala-analysis-pane canvas')) {
            if (!c.width || !c.height) continue;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4 * 31) if (d[i] > 0) return true;
        }
        return false;
    }""")


def open_planner(page, cell_size: int | None = 500) -> dict:
    """The workspace, first with its defaults, then (the test city has some 600 appeals a
    year: too few for significant 250 m cells) with ``cell_size``."""
    page.goto(page.base + "/planner", wait_until="domcontentloaded")
    state = loaded(page, 1)
    if cell_size is None:
        return state
    page.fill("input[name=cell_size]", str(cell_size))
    page.click("#params button[type=submit]")
    return loaded(page, 2)


def test_a_parameter_change_changes_the_map_and_the_legend(page):
    first = open_planner(page)
    assert first["layer"] == "hotspots"
    # three hot and three cold shades, in the legend as on the map
    classes = [e["cls"] for e in first["legend"]]
    assert classes == ["hot_99", "hot_95", "hot_90", "cold_90", "cold_95", "cold_99"]
    colours = page.evaluate("() => Qala.config.planner.colours.hotspots")
    assert {e["cls"]: e["colour"] for e in first["legend"]} == colours
    assert "горячая точка, 99 %" in first["text"] and "холодная точка, 95 %" in first["text"]
    assert sum(first["drawn"].values()) > 0 and painted(page)
    assert set(first["drawn"]) <= set(classes)
    # the analysis pane is above the basemap's yards and streets
    z = page.evaluate("""() => [getComputedStyle(document.querySelector(
        '.leaflet-qala-analysis-pane')).zIndex, getComputedStyle(document.querySelector(
        '.leaflet-overlay-pane')).zIndex].map(Number)""")
    assert z[0] > z[1]
    page.fill("input[name=cell_size]", "750")
    page.select_option("select[name=p_method]", "normal")
    page.click("#params button[type=submit]")
    second = loaded(page, 3)
    assert second["text"] != first["text"]
    counts = lambda s: {e["cls"]: e["count"] for e in s["legend"]}  # noqa: E731
    assert counts(second) != counts(first)
    assert second["drawn"] != first["drawn"] and sum(second["drawn"].values()) > 0
    note = page.inner_text("#layer-note")
    assert "750" in note and "нормальное приближение" in note
    page.recorder.check()


def test_each_layer_switch_draws(page):
    open_planner(page)
    # a band of its own: the one chosen from the data moves with the date (the demo year and
    # the planted appeals are dated from today), and on 2026-12-01 it took 3,250 m, nearly
    # the whole test city, where no cell is significant
    page.fill("input[name=band]", "1500")
    page.click("#params button[type=submit]")
    loads = 3
    for layer in LAYERS:
        if layer != "hotspots":
            page.check(f"#layer-switch input[value={layer}]")
            loads += 1
        state = loaded(page, loads)
        assert state["layer"] == layer
        assert state["legend"], layer
        assert sum(state["drawn"].values()) > 0, f"{layer} drew nothing: {state}"
        # every class drawn is in the legend, with the legend's colour
        assert set(state["drawn"]) <= {e["cls"] for e in state["legend"]}, layer
        assert painted(page), layer
        assert page.is_hidden("#empty")
        href = page.get_attribute("#layer-exports a[data-format=gpkg]", "href")
        assert href.startswith(f"/api/v1/planner/layers/{layer}/export?format=gpkg")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"planner_{layer}.png"))
    page.recorder.check()


def test_an_empty_result_says_why_and_what_to_change(page):
    open_planner(page, 5000)
    box = page.locator("#empty")
    assert box.is_visible()
    assert box.get_attribute("data-reason") == "cells_too_large"
    assert "Уменьшите ячейку" in box.inner_text()
    page.screenshot(path=str(SHOTS / "planner_empty.png"))
    page.recorder.check()


def test_tooltips_speak_in_words(page):
    open_planner(page, None)
    html = page.evaluate(
        "() => QalaPlanner.tooltip('hotspots', {class: 'hot_99', z: 3.2029261167475775, count: 41})"
    )
    assert "горячая точка, 99 %" in html and "z = 3,20" in html and "обращений: 41" in html
    assert "hot_99" not in html and "3,2029" not in html


def test_ratings_list_every_body_sortable_and_worst_first(page):
    open_planner(page, None)
    page.fill("#login-user", PLANNER)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#ratings-table tbody tr")
    total = page.evaluate(
        "() => fetch('/api/v1/ratings', {headers: {Authorization: 'Bearer ' + Qala.token()}})"
        ".then(r => r.json()).then(r => r.organisations.length)"
    )
    rows = page.locator("#ratings-table tbody tr")
    assert rows.count() == total > 20
    best_first = rows.first.inner_text()
    page.select_option("#ratings-order", "worst")
    page.wait_for_function(
        "() => { const r = document.querySelector('#ratings-table tbody tr');"
        f" return r !== null && r.innerText !== {best_first!r}; }}"
    )
    assert rows.count() == total
    page.click("#ratings-table th button[data-key=overdue]")
    page.click("#ratings-table th button[data-key=overdue]")  # twice: most overdue first
    cells = page.locator("#ratings-table tbody tr td:nth-child(4)").all_inner_texts()
    values = [int(c.replace("\u00a0", "").replace(" ", "").replace("\u202f", "")) for c in cells]
    assert values == sorted(values, reverse=True)
    page.recorder.check()


def test_the_repair_plan_compares_two_budgets(page):
    open_planner(page, None)
    page.locator("#plan").scroll_into_view_if_needed()
    page.wait_for_selector("#plan-years tbody tr")
    assert page.locator("#plan-years tbody tr").count() == 3
    page.fill("input[name=budgets_b]", "1e8,1e8,1e8")
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("#plan-moved tbody tr")
    assert page.locator("#plan-moved tbody tr").count() > 0
    href = page.get_attribute("#plan-exports a[data-format=gpkg]", "href")
    assert href.startswith("/api/v1/repair-plan?format=gpkg")
    page.recorder.check()


@pytest.mark.parametrize("size", [(1400, 900), (390, 844)])
def test_screenshots_and_no_sideways_scroll_on_a_phone(browser, server, size):
    context, page = _page(browser, server, *size)
    try:
        open_planner(page)
        assert painted(page)
        page.wait_for_selector("#p-charts svg.chart")  # the panels, in place
        wide = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wider = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth
                    && !e.closest('.leaflet-container') && !e.closest('.scroll-x'))
            .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
        assert wide <= 0, f"{wide}px of sideways scroll at {size}: {wider}"
        page.screenshot(path=str(SHOTS / f"planner_{size[0]}x{size[1]}.png"), full_page=True)
        page.recorder.check()
    finally:
        context.close()


def test_the_first_view_asks_only_for_its_own_layer_and_says_when_drawn(page):
    """The default layer and its legend are drawn, the page marks itself drawn
    (``<html data-ready>``, what bench_pages times), and no other layer, nor the ratings,
    was asked for: those load when switched on (each still draws then:
    test_each_layer_switch_draws)."""
    state = open_planner(page, None)
    assert state["layer"] == "hotspots" and state["legend"]
    assert page.get_attribute("html", "data-ready") == "true"
    assert float(page.get_attribute("html", "data-ready-ms")) > 0
    asked = [u for u in page.recorder.requests if "/api/v1/" in u]
    assert any("/api/v1/planner/layers/hotspots?" in u for u in asked)
    for other in ("emerging", "failing", "clusters", "queue"):
        assert not any(f"/layers/{other}" in u for u in asked), other
    assert not any("/api/v1/ratings" in u for u in asked)
    page.check("#layer-switch input[value=emerging]")
    loaded(page, 2)
    assert any("/layers/emerging?" in u for u in page.recorder.requests)
    page.recorder.check()


def test_the_years_figures_come_after_the_map_when_not_computed_yet(page):
    """A page whose totals, charts and queue are not kept for the current data (a new
    appeal since) comes without them, draws its map first, then asks for them
    (``?part=panels``) and puts each in its place: three charts, the queue with its budget
    line, the totals."""
    from web.pages import planner as planner_page

    planner_page.forget_panels()  # as a new appeal makes them stale (the server is in-process)
    page.goto(page.base + "/planner", wait_until="domcontentloaded")
    assert page.locator("[data-panel]").count() == 3
    loaded(page, 1)
    page.wait_for_function("() => window.QalaPlanner.panels === true")
    assert page.locator("[data-panel]").count() == 0
    assert page.locator("#p-charts svg.chart").count() == 3
    assert page.locator("#p-queue tr.budget-line").count() == 1
    assert page.locator("#p-totals .tile").count() == 3
    asked = page.recorder.requests
    first_layer = next(i for i, u in enumerate(asked) if "/api/v1/planner/layers/hotspots?" in u)
    panels = next(i for i, u in enumerate(asked) if "part=panels" in u)
    assert panels > first_layer
    page.recorder.check()


@pytest.mark.parametrize(
    "lang, placeholder, shown, error",
    [
        ("ru", "дд.мм.гггг", r"\d\d\.\d\d\.\d{4}", "Дата должна быть в виде дд.мм.гггг"),
        ("kk", "кк.аа.жжжж", r"\d\d\.\d\d\.\d{4}", "Күн кк.аа.жжжж түрінде болуы керек"),
        ("en", "dd/mm/yyyy", r"\d\d/\d\d/\d{4}", "A date is written dd/mm/yyyy"),
    ],
)
def test_dates_are_typed_in_the_pages_format_and_a_bad_one_is_refused(
    page, lang, placeholder, shown, error
):
    import datetime as dt
    import re

    page.goto(page.base + f"/planner?lang={lang}", wait_until="domcontentloaded")
    loaded(page, 1)
    since = page.locator("#params input[name=since]")
    # a text field in the page's format, not the browser's date control (mm/dd/yyyy)
    assert since.get_attribute("type") in (None, "text")
    assert since.get_attribute("placeholder") == placeholder
    assert page.get_attribute("#params input[name=until]", "placeholder") == placeholder
    year_ago = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=365)
    sep = "/" if lang == "en" else "."
    assert re.fullmatch(shown, since.input_value())
    assert since.input_value() == year_ago.strftime(f"%d{sep}%m{sep}%Y")
    # the default period is what the page asked for
    first = [u for u in page.recorder.requests if "/layers/hotspots?" in u][0]
    assert f"since={year_ago.isoformat()}T00%3A00%3A00Z" in first
    # a date that cannot be: said, marked, and nothing asked for
    asked = len(page.recorder.requests)
    page.fill("#params input[name=since]", f"31{sep}02{sep}2026")
    page.click("#params button[type=submit]")
    box = page.locator("#params-error")
    assert box.is_visible() and box.inner_text() == error
    assert since.get_attribute("aria-invalid") == "true"
    assert len(page.recorder.requests) == asked
    # a good one: the error goes, and the layer is asked for that day
    page.fill("#params input[name=since]", f"01{sep}06{sep}2026")
    page.fill("#params input[name=cell_size]", "500")
    page.click("#params button[type=submit]")
    loaded(page, 2)
    assert box.is_hidden() and since.get_attribute("aria-invalid") == "false"
    last = [u for u in page.recorder.requests if "/layers/hotspots?" in u][-1]
    assert "since=2026-06-01T00%3A00%3A00Z" in last
    page.recorder.check()


def test_the_clusters_parameters_are_shown_with_their_layer_and_sent_with_it(page):
    open_planner(page, None)
    fields = ("eps_m", "min_points", "limit")
    for name in fields:  # hot spots do not use them
        assert page.is_hidden(f"#params input[name={name}]")
    page.check("#layer-switch input[value=clusters]")
    loaded(page, 2)
    values = {n: page.input_value(f"#params input[name={n}]") for n in fields}
    assert values == {"eps_m": "50", "min_points": "20", "limit": "50"}
    for name in fields:  # each with its default said beside it
        label = page.locator(f"#params label:has(input[name={name}])")
        assert label.is_visible()
        assert f"по умолчанию: {values[name]}" in label.inner_text()
    first = [u for u in page.recorder.requests if "/layers/clusters?" in u][-1]
    assert "eps_m=50" in first and "min_points=20" in first
    page.fill("#params input[name=eps_m]", "80")
    page.fill("#params input[name=min_points]", "10")
    page.click("#params button[type=submit]")
    state = loaded(page, 3)
    last = [u for u in page.recorder.requests if "/layers/clusters?" in u][-1]
    assert "eps_m=80" in last and "min_points=10" in last
    href = page.get_attribute("#layer-exports a[data-format=csv]", "href")
    assert "eps_m=80" in href and "min_points=10" in href
    assert sum(state["drawn"].values()) > 0
    page.check("#layer-switch input[value=hotspots]")
    loaded(page, 4)
    assert page.is_hidden("#params input[name=eps_m]")
    last = [u for u in page.recorder.requests if "/layers/hotspots?" in u][-1]
    assert "eps_m" not in last
    page.recorder.check()
