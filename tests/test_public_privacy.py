"""A caller's free-text address never reaches a public answer; the map's address does.

Appeals are registered with a free-text address naming a person and a phone (the operator's
form, a channel's API key, Open311's ``address_string`` next to lat/long). Then every GET
route of the service is asked, without credentials, for everything it would show about
them (each format, each layer, the tile holding them), and no answer may contain a word of
that text. Staff still read it.
"""

from __future__ import annotations

import itertools
import math
import re

import pytest
from sqlalchemy import text

from tests.factories import a_yard_well, an_apartment_building, channel_key, staff

FREE_TEXT = "кв. 45, спросить Жанар Сейткалиеву, тел. +7 701 555 12 34"
NEEDLES = ("Жанар", "Сейткалиев", "555 12 34", "701 555", "кв. 45")
LAYERS = ("districts", "streets", "buildings", "yards", "wells", "appeals", "repeats")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture
def registered(client, conn, city_id) -> list[dict]:
    """Three appeals with the free text: on a building (operator), at a well (a channel's
    key), and from Open311 with lat/long and an address_string."""
    building = an_apartment_building(conn, city_id, offset=12)
    well = a_yard_well(conn, city_id)
    operator = staff(conn, "operator")
    made = []
    r = client.post(
        "/api/v1/appeals",
        json={
            "category": "roof_leak",
            "lon": building["lon"],
            "lat": building["lat"],
            "address_text": FREE_TEXT,
            "applicant_name": "Жанар Сейткалиева",
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    made.append({**r.json()["appeal"], "lon": building["lon"], "lat": building["lat"]})
    r = client.post(
        "/api/v1/appeals",
        json={
            "category": "open_manhole",
            "lon": well["lon"],
            "lat": well["lat"],
            "address_text": FREE_TEXT,
        },
        headers={"X-API-Key": channel_key(conn, "telegram")},
    )
    assert r.status_code == 201, r.text
    made.append({**r.json()["appeal"], "lon": well["lon"], "lat": well["lat"]})
    r = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": channel_key(conn, "open311"),
            "jurisdiction_id": "PET",
            "service_code": "garbage",
            "lat": building["lat"],
            "long": building["lon"],
            "address_string": FREE_TEXT,
        },
    )
    assert r.status_code == 201, r.text
    reg = r.json()[0]["service_request_id"]
    made.append({"reg_number": reg, "lon": building["lon"], "lat": building["lat"]})
    for appeal in made:
        appeal["id"] = conn.execute(
            text("SELECT id FROM appeals WHERE city_id = :c AND reg_number = :r"),
            {"c": city_id, "r": appeal["reg_number"]},
        ).scalar_one()
        kept = conn.execute(
            text("SELECT address_text FROM appeals WHERE id = :i"), {"i": appeal["id"]}
        ).scalar_one()
        assert kept == FREE_TEXT  # kept for staff
    return made


def _values(name: str, appeals: list[dict]) -> list[str]:
    """Values of a path parameter that show our appeals."""
    regs = [a["reg_number"] for a in appeals]
    a = appeals[0]
    return {
        "format": ["json", "xml"],
        "reg_number": regs,
        "service_request_id": regs,
        "service_code": ["roof_leak"],
        "featureId": [str(x["id"]) for x in appeals],
        "yard_id": ["1"],
        "layer": list(LAYERS),
        "z": ["16"],
        "x": [str(tile_of(a["lon"], a["lat"], 16)[0])],
        "y": [str(tile_of(a["lon"], a["lat"], 16)[1])],
    }.get(name, ["1"])


def public_urls(app, appeals: list[dict]) -> list[str]:
    """Every GET route of the app (API and pages) with the values that show our appeals."""
    lon, lat = appeals[0]["lon"], appeals[0]["lat"]
    bbox = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    regs = ",".join(a["reg_number"] for a in appeals)
    query = {
        "/track": f"reg={appeals[0]['reg_number']}",
        "/items": f"bbox={bbox}&limit=1000",
        ".geojson": f"bbox={bbox}",
        "/open311/v2/requests.": f"service_request_id={regs}",
    }
    paths = {path for path, item in app.openapi()["paths"].items() if "get" in item}
    # and the pages, which the OpenAPI leaves out
    paths |= {"/", "/track", "/queue", "/operator", "/planner", "/web/api/layers/{layer}.geojson"}
    urls = []
    for path in sorted(paths):
        names = re.findall(r"{(\w+)}", path)
        for combo in itertools.product(*(_values(n, appeals) for n in names)):
            url = path
            for name, value in zip(names, combo, strict=True):
                url = url.replace("{" + name + "}", value)
            extra = [q for key, q in query.items() if key in url]
            urls.append(url + ("?" + "&".join(extra) if extra else ""))
    return urls


def test_no_public_answer_holds_the_callers_free_text(app, client, registered):
    urls = public_urls(app, registered)
    assert len(urls) > 60
    showing = []
    for url in urls:
        r = client.get(url)
        assert r.status_code < 500, (url, r.status_code, r.text[:300])
        body = r.content.decode("utf-8", errors="replace")
        for needle in NEEDLES:
            assert needle not in body, f"{url} shows {needle!r}"
        if r.status_code == 200 and registered[0]["reg_number"] in body:
            showing.append(url.split("?")[0])
    # the answers that show the appeal were asked (the test is not empty)
    for expected in (
        f"/public/track/{registered[0]['reg_number']}",
        "/open311/v2/requests.json",
        "/open311/v2/requests.xml",
        f"/open311/v2/requests/{registered[0]['reg_number']}.xml",
        "/ogc/collections/appeals/items",
    ):
        assert expected in showing, (expected, showing)


def test_the_tracker_and_open311_show_the_map_address(client, conn, city_id, registered):
    building = an_apartment_building(conn, city_id, offset=12)
    reg = registered[0]["reg_number"]
    tracked = client.get(f"/public/track/{reg}").json()["appeal"]
    assert tracked["address_ru"] == building["address_ru"]
    assert tracked["address_kk"] == building["address_kk"]
    assert "address_text" not in tracked
    # Open311 with lat/long and the caller's words: the map's address near the point
    o311 = registered[2]["reg_number"]
    got = client.get(f"/open311/v2/requests/{o311}.json").json()[0]
    assert got["address"] == building["address_ru"]
    kk = client.get(f"/open311/v2/requests/{o311}.json?locale=kk").json()[0]
    assert kk["address"] == building["address_kk"]


def test_a_well_far_from_buildings_gets_the_street_or_nothing_never_the_text(client, registered):
    got = client.get(f"/public/track/{registered[1]['reg_number']}").json()["appeal"]
    assert got["address_ru"] is None or not any(n in got["address_ru"] for n in NEEDLES)


def test_staff_still_read_the_free_text(client, conn, registered):
    r = client.get(
        f"/api/v1/appeals/{registered[0]['reg_number']}", headers=staff(conn, "operator")
    )
    assert r.status_code == 200 and r.json()["address_text"] == FREE_TEXT
