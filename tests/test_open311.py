"""Open311 GeoReport v2: discovery, services, definitions, posting and reading requests,
JSON and XML, errors in the spec's format, idempotency, and no personal data going out.

Most tests drive the PyPI client ``georeport`` against the TestClient (its module-level
``requests`` is swapped for the TestClient, so every call stays inside the test's rolled-back
transaction); ``test_georeport_over_real_http`` runs it unchanged against a uvicorn server on
its own committed database.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from georeport import GeoReport
from sqlalchemy import create_engine, text

from geo.appeals import lifecycle as core
from geo.appeals.actors import Actor
from tests.factories import an_apartment_building, channel_key

BASE = "/open311/v2"
PERSONAL = {
    "first_name": "Жанар",
    "last_name": "Сейткалиева",
    "phone": "+7 701 555 12 34",
    "email": "zhanar.s@example.kz",
}
# the fields of a service request, in the spec's order
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


class ViaTestClient:
    """Stands in for the ``requests`` module inside ``georeport``: GETs go to the TestClient."""

    def __init__(self, client):
        self.client = client

    def get(self, url, params=None, **_):
        return self.client.get(url, params=params)


@pytest.fixture
def key(conn) -> str:
    return channel_key(conn, "open311")


@pytest.fixture
def geo(client, monkeypatch) -> GeoReport:
    monkeypatch.setattr(
        importlib.import_module("georeport.georeport"), "requests", ViaTestClient(client)
    )
    return GeoReport(f"http://testserver{BASE}", jurisdiction="PET")


@pytest.fixture
def geo_xml(client, monkeypatch) -> GeoReport:
    monkeypatch.setattr(
        importlib.import_module("georeport.georeport"), "requests", ViaTestClient(client)
    )
    return GeoReport(f"http://testserver{BASE}", jurisdiction="PET", output_format="xml")


@pytest.fixture
def building(conn, city_id) -> dict:
    return an_apartment_building(conn, city_id)


def post(client, key, fmt="json", headers=None, **form):
    data = {"api_key": key, "jurisdiction_id": "PET", **form} if key else form
    return client.post(f"{BASE}/requests.{fmt}", data=data, headers=headers or {})


def posted_id(response) -> str:
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body) == 1 and set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    return body[0]["service_request_id"]


def spec_error(response, status: int, fmt: str = "json") -> str:
    """The spec's error shape with the expected status; returns the description."""
    assert response.status_code == status, response.text
    if fmt == "xml":
        assert response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        error = root.find("error")
        assert int(error.findtext("code")) == status
        return error.findtext("description")
    body = response.json()
    assert isinstance(body, list) and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    return body[0]["description"]


# --- discovery and services -------------------------------------------------------------------


def test_discovery_names_the_georeport_v2_endpoint_in_both_formats(client):
    d = client.get(f"{BASE}/discovery.json").json()
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(d)
    (ep,) = d["endpoints"]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"].endswith(BASE)
    assert set(ep["formats"]) == {"text/xml", "application/json"}
    r = client.get(f"{BASE}/discovery.xml")
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(r.content)
    assert root.tag == "discovery"
    formats = [f.text for f in root.find("endpoints/endpoint/formats").findall("format")]
    assert set(formats) == {"text/xml", "application/json"}


def test_services_are_our_categories_in_russian_by_default(geo, conn):
    services = geo.get_service_list()
    codes = {r[0]: r[1] for r in conn.execute(text("SELECT code, name_ru FROM categories"))}
    assert {s["service_code"]: s["service_name"] for s in services} == codes
    for s in services:
        assert s["type"] == "realtime"
        assert s["group"] and s["description"]
        assert s["metadata"] is (s["service_code"] in {"lift_broken", "open_manhole", "no_water"})


def test_services_speak_kazakh_and_english_on_request(client):
    kk = {s["service_code"]: s for s in client.get(f"{BASE}/services.json?locale=kk").json()}
    en = {s["service_code"]: s for s in client.get(f"{BASE}/services.json?locale=en").json()}
    assert kk["lift_broken"]["service_name"] == "Лифт істемейді"
    assert en["lift_broken"]["service_name"] == "Lift out of order"
    assert en["lift_broken"]["group"] == "Housing"
    spec_error(client.get(f"{BASE}/services.json?locale=de"), 400)


def test_services_xml_has_the_spec_element_names(geo_xml):
    services = geo_xml.get_service_list()  # xmltodict over <services><service>…
    lift = next(s for s in services if s["service_code"] == "lift_broken")
    assert set(lift) >= {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert lift["metadata"] == "true" and lift["type"] == "realtime"


def test_a_service_definition_lists_its_attributes(geo, geo_xml):
    d = geo.get_service_definition("lift_broken")
    assert d["service_code"] == "lift_broken"
    attrs = {a["code"]: a for a in d["attributes"]}
    assert set(attrs) == {"people_trapped", "entrance", "floor"}
    assert attrs["people_trapped"]["required"] is True
    assert attrs["people_trapped"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in attrs["people_trapped"]["values"]} == {"yes", "no"}
    assert attrs["floor"]["datatype"] == "number" and attrs["floor"]["required"] is False
    assert [a["order"] for a in d["attributes"]] == [1, 2, 3]
    x = geo_xml.get_service_definition("open_manhole")
    first = x["attributes"]["attribute"][0]
    assert first["code"] == "well_kind" and first["variable"] == "true"
    assert {v["key"] for v in first["values"]["value"]} >= {"sewer", "water", "unknown"}
    # a service without attributes has an empty list
    assert geo.get_service_definition("garbage") == {"service_code": "garbage", "attributes": []}


def test_an_unknown_service_definition_is_404_in_the_spec_format(client):
    spec_error(client.get(f"{BASE}/services/no_such_thing.json"), 404)
    spec_error(client.get(f"{BASE}/services/no_such_thing.xml"), 404, "xml")


# --- posting and reading requests -------------------------------------------------------------


def test_post_with_lat_long_and_read_it_back(client, conn, key, geo, building):
    r = post(
        client,
        key,
        service_code="roof_leak",
        lat=building["lat"],
        long=building["lon"],
        description="Течёт крыша над последним этажом",
    )
    rid = posted_id(r)
    assert rid.startswith("PET-")
    assert "120" in r.json()[0]["service_notice"]
    got = geo.get_service_request(rid)
    assert list(got) == REQUEST_FIELDS
    assert got["service_request_id"] == rid and got["status"] == "open"
    assert got["service_code"] == "roof_leak" and got["service_name"] == "Протекает кровля"
    assert got["description"] is None  # free text is not published: it may name people
    assert got["address"] == building["address_ru"]
    assert got["address_id"] == str(building["id"])
    assert abs(got["lat"] - building["lat"]) < 1e-6 and abs(got["long"] - building["lon"]) < 1e-6
    org = conn.execute(
        text("SELECT name_ru FROM organisations WHERE id = :o"), {"o": building["housing_org_id"]}
    ).scalar_one()
    assert got["agency_responsible"] == org
    requested = dt.datetime.fromisoformat(got["requested_datetime"])
    expected = dt.datetime.fromisoformat(got["expected_datetime"])
    assert requested.tzinfo is not None and expected - requested == dt.timedelta(hours=120)
    row = conn.execute(
        text("SELECT channel, located_by FROM appeals WHERE reg_number = :r"), {"r": rid}
    ).one()
    assert tuple(row) == ("open311", "gps")


def test_post_with_address_string_lands_on_the_building(client, conn, key, geo, building):
    rid = posted_id(
        post(client, key, service_code="entrance_cleaning", address_string=building["address_ru"])
    )
    got = geo.get_service_request(rid)
    assert got["address"] == building["address_ru"]
    assert got["address_id"] == str(building["id"])
    row = conn.execute(
        text("SELECT object_kind, object_id, located_by FROM appeals WHERE reg_number = :r"),
        {"r": rid},
    ).one()
    assert tuple(row) == ("building", building["id"], "address")


def test_post_with_address_id(client, key, geo, building):
    rid = posted_id(post(client, key, service_code="no_heating", address_id=str(building["id"])))
    assert geo.get_service_request(rid)["address_id"] == str(building["id"])
    spec_error(post(client, key, service_code="no_heating", address_id="999999999"), 400)
    spec_error(post(client, key, service_code="no_heating", address_id="abc"), 400)


def test_attributes_are_checked_against_the_definition_and_kept(client, key, conn, building):
    where = {"lat": building["lat"], "long": building["lon"]}
    missing = spec_error(post(client, key, service_code="lift_broken", **where), 400)
    assert "people_trapped" in missing
    spec_error(
        post(
            client,
            key,
            service_code="lift_broken",
            **where,
            **{"attribute[people_trapped]": "maybe"},
        ),
        400,
    )
    spec_error(
        post(
            client,
            key,
            service_code="lift_broken",
            **where,
            **{"attribute[people_trapped]": "no", "attribute[floor]": "300"},
        ),
        400,
    )
    rid = posted_id(
        post(
            client,
            key,
            service_code="lift_broken",
            description="Лифт стоит",
            **where,
            **{
                "attribute[people_trapped]": "yes",
                "attribute[floor]": "7",
                "attribute[colour]": "red",
            },
        )
    )
    description = conn.execute(
        text("SELECT description FROM appeals WHERE reg_number = :r"), {"r": rid}
    ).scalar_one()  # staff see it; the public does not
    assert description.startswith("Лифт стоит")
    assert "Люди в кабине: да" in description and "Этаж: 7" in description
    assert "red" not in description  # attributes the service does not define are ignored


def test_post_answers_in_xml(client, key, building):
    r = post(
        client, key, "xml", service_code="roof_leak", lat=building["lat"], long=building["lon"]
    )
    assert r.status_code == 201 and r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    (req,) = root.findall("request")
    assert [c.tag for c in req] == ["service_request_id", "service_notice", "account_id"]
    assert req.findtext("service_request_id").startswith("PET-")


def test_an_idempotency_key_makes_a_resent_post_harmless(client, conn, key, building):
    form = {"service_code": "roof_leak", "lat": building["lat"], "long": building["lon"]}
    first = post(client, key, headers={"Idempotency-Key": "o311-abc-1"}, **form)
    again = post(client, key, headers={"Idempotency-Key": "o311-abc-1"}, **form)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    n = conn.execute(text("SELECT count(*) FROM appeals WHERE idempotency_key = 'o311-abc-1'"))
    assert n.scalar_one() == 1
    spec_error(post(client, key, headers={"Idempotency-Key": "x" * 200}, **form), 400)


def test_a_link_kept_before_photos_were_stored_is_still_shown(
    client, conn, key, geo, geo_xml, building
):
    """Links posted before photos were fetched and stored (appeal_media) stay public; a
    media_url posted now is fetched and cleaned (tests/test_media_fetch.py)."""
    from geo.appeals.intake import add_media

    photo = "https://cdn.example.kz/appeals/2026/11/roof.jpg?size=large"
    form = {"service_code": "roof_leak", "lat": building["lat"], "long": building["lon"]}
    rid = posted_id(post(client, key, headers={"Idempotency-Key": "o311-media-1"}, **form))
    appeal = conn.execute(text("SELECT city_id, id FROM appeals WHERE reg_number = :r"), {"r": rid})
    city, appeal_id = appeal.one()
    add_media(conn, city, appeal_id, photo)
    assert geo.get_service_request(rid)["media_url"] == photo
    assert geo_xml.get_service_request(rid)["media_url"] == photo
    assert client.get(f"/public/track/{rid}").json()["media"] == [photo]
    plain = posted_id(post(client, key, **form))
    assert geo.get_service_request(plain)["media_url"] is None


@pytest.mark.parametrize(
    ("media", "says"),
    [
        ("ftp://example.kz/a.jpg", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https:///no-host.jpg", "with a host"),
        ("https://example.kz/a b.jpg", "spaces"),
        ("https://[::1/a.jpg", "not a valid URL"),
        ("https://example.kz/" + "a" * 2048, "at most 2048"),
    ],
)
def test_a_bad_media_url_is_400_and_nothing_is_saved(client, conn, key, building, media, says):
    before = conn.execute(text("SELECT count(*) FROM appeals")).scalar_one()
    r = post(
        client,
        key,
        service_code="roof_leak",
        lat=building["lat"],
        long=building["lon"],
        media_url=media,
    )
    assert says in spec_error(r, 400)
    assert conn.execute(text("SELECT count(*) FROM appeals")).scalar_one() == before


# --- GET requests: filters, window, paging ----------------------------------------------------


@pytest.fixture
def three(client, key, building) -> list[str]:
    """Three fresh requests of a rare service, the newest last."""
    ids = []
    for i in range(3):
        ids.append(
            posted_id(
                post(
                    client,
                    key,
                    service_code="scooter_parking",
                    lat=building["lat"] + i * 0.0003,
                    long=building["lon"],
                )
            )
        )
    return ids


def test_get_requests_by_ids_and_by_service_code(geo, three):
    got = geo.get_service_requests(service_request_id=",".join(three[:2]))
    assert sorted(r["service_request_id"] for r in got) == sorted(three[:2])
    got = geo.get_service_requests(service_code="scooter_parking,no_such_service")
    ids = [r["service_request_id"] for r in got]
    assert set(three) <= set(ids)
    assert {r["service_code"] for r in got} == {"scooter_parking"}
    assert all(list(r) == REQUEST_FIELDS for r in got)


def test_get_requests_filters_by_status(geo, conn, city_id, three):
    core.transition(
        conn, city_id, core.TransitionRequest(three[0], "resolved"), Actor("insp", "inspector")
    )
    closed = {
        r["service_request_id"]
        for r in geo.get_service_requests(service_code="scooter_parking", status="closed")
    }
    opened = {
        r["service_request_id"]
        for r in geo.get_service_requests(service_code="scooter_parking", status="open")
    }
    assert three[0] in closed and three[0] not in opened
    assert set(three[1:]) <= opened and not set(three[1:]) & closed
    both = {
        r["service_request_id"]
        for r in geo.get_service_requests(service_code="scooter_parking", status="open,closed")
    }
    assert set(three) <= both
    got = geo.get_service_request(three[0])
    assert got["status"] == "closed" and got["status_notes"] == "Выполнено"
    assert got["updated_datetime"] >= got["requested_datetime"]


def test_get_requests_by_dates(geo, client, three):
    now = dt.datetime.now(dt.UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    within = geo.get_service_requests(
        service_code="scooter_parking",
        start_date=(now - dt.timedelta(days=1)).strftime(fmt),
        end_date=(now + dt.timedelta(days=1)).strftime(fmt),
    )
    assert set(three) <= {r["service_request_id"] for r in within}
    future = geo.get_service_requests(
        service_code="scooter_parking", start_date=(now + dt.timedelta(days=2)).strftime(fmt)
    )
    assert future == []
    # an offset, and a "+" that arrived unencoded as a space
    local = client.get(
        f"{BASE}/requests.json?service_code=scooter_parking&end_date=2099-01-01T00:00:00 05:00"
    )
    assert local.status_code == 200
    spec_error(client.get(f"{BASE}/requests.json?start_date=yesterday"), 400)
    spec_error(
        client.get(
            f"{BASE}/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"
        ),
        400,
    )  # more than 90 days
    spec_error(
        client.get(
            f"{BASE}/requests.json?start_date=2026-03-01T00:00:00Z&end_date=2026-02-01T00:00:00Z"
        ),
        400,
    )


def test_the_default_window_is_the_last_90_days(client, conn, city_id, three):
    conn.execute(
        text(
            "UPDATE appeals SET created_at = now() - interval '100 days' "
            "WHERE city_id = :c AND reg_number = :r"
        ),
        {"c": city_id, "r": three[0]},
    )
    ids = {
        r["service_request_id"]
        for r in client.get(f"{BASE}/requests.json?service_code=scooter_parking").json()
    }
    assert three[0] not in ids and set(three[1:]) <= ids
    # an id overrides every other argument, the window included
    by_id = client.get(
        f"{BASE}/requests.json?service_request_id={three[0]}&service_code=garbage"
    ).json()
    assert [r["service_request_id"] for r in by_id] == [three[0]]


def test_paging_extension(client, three):
    url = f"{BASE}/requests.json?service_code=scooter_parking&page_size=2"
    page1 = [r["service_request_id"] for r in client.get(url + "&page=1").json()]
    page2 = [r["service_request_id"] for r in client.get(url + "&page=2").json()]
    assert len(page1) == 2 and not set(page1) & set(page2)
    assert page1 == [three[2], three[1]]  # newest first
    assert three[0] in page2
    assert client.get(url + "&page=999").json() == []
    spec_error(client.get(url + "&page=0"), 400)
    spec_error(client.get(f"{BASE}/requests.json?page_size=1001"), 400)
    spec_error(client.get(f"{BASE}/requests.json?status=pending"), 400)


def test_at_most_1000_requests_come_back(client):
    assert len(client.get(f"{BASE}/requests.json").json()) <= 1000


def test_requests_xml_has_the_spec_element_names(client, geo_xml, three):
    r = client.get(f"{BASE}/requests.xml?service_code=scooter_parking")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    reqs = root.findall("request")
    assert len(reqs) >= 3
    for req in reqs:
        assert [c.tag for c in req] == REQUEST_FIELDS
    one = geo_xml.get_service_request(three[1])
    assert one["service_request_id"] == three[1] and one["status"] == "open"
    assert one["service_code"] == "scooter_parking"


def test_xml_survives_control_characters_in_a_description(client, key, building):
    rid = posted_id(
        post(
            client,
            key,
            service_code="garbage",
            lat=building["lat"],
            long=building["lon"],
            description="бак\x0bпереполнен\x1b",
        )
    )
    root = ET.fromstring(client.get(f"{BASE}/requests/{rid}.xml").content)
    assert root.findtext("request/service_request_id") == rid
    assert not root.findtext("request/description")  # free text is not published


def test_an_unknown_request_is_404(client):
    spec_error(client.get(f"{BASE}/requests/PET-1999-000000.json"), 404)
    spec_error(client.get(f"{BASE}/requests/PET-1999-000000.xml"), 404, "xml")


# --- errors in the spec's format --------------------------------------------------------------


def test_without_a_valid_api_key_posting_is_403(client, building):
    form = {"service_code": "roof_leak", "lat": building["lat"], "long": building["lon"]}
    spec_error(post(client, None, **form), 403)
    spec_error(post(client, None, "xml", **form), 403, "xml")
    spec_error(post(client, "qk_not-a-key", **form), 403)


def test_an_unknown_jurisdiction_is_404(client, key, building):
    form = {"service_code": "roof_leak", "lat": building["lat"], "long": building["lon"]}
    spec_error(post(client, key, **{**form, "jurisdiction_id": "ZZZ"}), 404)
    spec_error(client.get(f"{BASE}/services.json?jurisdiction_id=ZZZ"), 404)
    spec_error(client.get(f"{BASE}/requests.xml?jurisdiction_id=ZZZ"), 404, "xml")


def test_an_unknown_or_missing_service_code_is_400(client, key, building):
    where = {"lat": building["lat"], "long": building["lon"]}
    assert "no_such" in spec_error(post(client, key, service_code="no_such", **where), 400)
    spec_error(post(client, key, "xml", service_code="no_such", **where), 400, "xml")
    spec_error(post(client, key, **where), 400)


def test_a_location_is_required_and_must_be_in_the_city(client, key, building):
    spec_error(post(client, key, service_code="garbage"), 400)
    spec_error(post(client, key, service_code="garbage", lat=building["lat"]), 400)
    spec_error(post(client, key, service_code="garbage", lat="north", long="east"), 400)
    spec_error(post(client, key, service_code="garbage", lat=10.0, long=10.0), 400)
    spec_error(post(client, key, service_code="garbage", address_string="Несуществующая 999"), 400)
    street_only = building["address_ru"].rsplit(",", 1)[0]
    assert "house number" in spec_error(
        post(client, key, service_code="garbage", address_string=street_only), 400
    )


def test_bad_input_never_gets_fastapis_422(client, key):
    for r in (
        client.get(f"{BASE}/services.csv"),
        client.get(f"{BASE}/requests.json?page=x"),
        client.post(f"{BASE}/requests.json", data={"api_key": key, "lat": "x"}),
        client.post(
            f"{BASE}/requests.json",
            content=b"\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ):
        assert r.status_code in (400, 403, 404), r.text
        spec_error(r, r.status_code)


# --- personal data ----------------------------------------------------------------------------


def test_no_personal_data_in_any_response(client, conn, key, building):
    form = {
        "service_code": "roof_leak",
        "lat": building["lat"],
        "long": building["lon"],
        "description": "Капает с потолка, звоните 8 (701) 555-12-34 или zhanar.s@example.kz",
        **PERSONAL,
    }
    bodies = []
    r = post(client, key, **form)
    rid = posted_id(r)
    bodies.append(r.text)
    bodies.append(post(client, key, "xml", **form).text)
    for fmt in ("json", "xml"):
        bodies.append(client.get(f"{BASE}/requests/{rid}.{fmt}").text)
        bodies.append(client.get(f"{BASE}/requests.{fmt}?service_request_id={rid}").text)
        bodies.append(client.get(f"{BASE}/requests.{fmt}?service_code=roof_leak").text)
        bodies.append(client.get(f"{BASE}/requests.{fmt}").text)
    assert rid in bodies[2]
    assert "Капает с потолка" not in bodies[2]  # free text is not published at all
    needles = [*PERSONAL.values(), "555-12-34", "555 12 34", "example.kz", "Жанар"]
    for body in bodies:
        for needle in needles:
            assert needle not in body
    # ... while the contact centre still has them
    contact = conn.execute(
        text("""
        SELECT c.name, c.phone, c.email FROM appeal_contacts c
        JOIN appeals a ON a.city_id = c.city_id AND a.id = c.appeal_id
        WHERE a.reg_number = :r"""),
        {"r": rid},
    ).one()
    assert tuple(contact) == ("Жанар Сейткалиева", PERSONAL["phone"], PERSONAL["email"])


# --- the real thing: georeport over HTTP against uvicorn ----------------------------------------


@pytest.fixture(scope="module")
def live(make_database, template_url, as_service):
    """A uvicorn server in a thread on its own committed database, as the service role."""
    import uvicorn

    from api.app import create_app
    from geo.infra.localdb import free_port
    from geo.infra.settings import Settings
    from geo.staff.auth import add_api_key

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        api_key = add_api_key(conn, "PET", "open311-live", "open311")
        b = an_apartment_building(
            conn, conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        )
    engine.dispose()
    settings = Settings(
        database_url=as_service(url),
        admin_database_url=url,
        environment="test",
        db_pool_size=2,
        secret_key="test-secret-key-of-at-least-32-bytes!",
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", log_config=None
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield {"root": f"http://127.0.0.1:{port}{BASE}", "key": api_key, "building": b}
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_georeport_over_real_http(live):
    b = live["building"]
    client = GeoReport(live["root"], jurisdiction="PET", api_key=live["key"])
    services = client.get_service_list()
    assert "lift_broken" in {s["service_code"] for s in services}
    assert client.get_service_definition("lift_broken")["attributes"][0]["code"] == "people_trapped"
    # georeport does not post: a plain form POST, as the spec has it
    r = requests.post(
        f"{live['root']}/requests.json",
        timeout=30,
        data={
            "api_key": client.api_key,
            "jurisdiction_id": "PET",
            "service_code": "lift_broken",
            "address_string": b["address_ru"],
            "attribute[people_trapped]": "no",
            **PERSONAL,
        },
    )
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    got = client.get_service_request(rid)
    assert got["service_code"] == "lift_broken" and got["address"] == b["address_ru"]
    listed = client.get_service_requests(service_code="lift_broken", status="open")
    assert rid in {x["service_request_id"] for x in listed}
    as_xml = GeoReport(live["root"], jurisdiction="PET", output_format="xml")
    assert as_xml.get_service_request(rid)["service_request_id"] == rid
    for url in (f"{live['root']}/requests/{rid}.json", f"{live['root']}/requests.xml"):
        body = requests.get(url, timeout=30).text
        assert rid in body
        assert not any(v in body for v in PERSONAL.values())
    denied = requests.post(
        f"{live['root']}/requests.xml", timeout=30, data={"service_code": "lift_broken"}
    )
    assert denied.status_code == 403
    assert ET.fromstring(denied.content).findtext("error/code") == "403"
