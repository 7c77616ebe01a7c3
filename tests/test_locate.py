"""Locate: address search in Russian and Kazakh, and the place card."""

from __future__ import annotations

from sqlalchemy import text

from geo.city.place import place_card
from geo.city.search import search_address
from tests.factories import a_yard_well, an_apartment_building, staff


def _abaya_building(conn, city_id):
    return (
        conn.execute(
            text("""
        SELECT b.id, b.house_number, b.address_ru FROM buildings b JOIN streets s
          ON s.city_id = b.city_id AND s.id = b.street_id
        WHERE b.city_id = :c AND s.name_ru = 'пр. Абая' AND b.house_number ~ '^[0-9]+$'
        ORDER BY b.id LIMIT 1"""),
            {"c": city_id},
        )
        .mappings()
        .one()
    )


def test_search_finds_the_russian_forms_people_type(conn, city_id):
    b = _abaya_building(conn, city_id)
    n = b["house_number"]
    for typed in (f"Абая {n}", f"пр. Абая, д.{n}", f"проспект Абая {n}", f"АБАЯ {n}"):
        hits = search_address(conn, city_id, typed)
        assert hits and hits[0]["id"] == b["id"], typed


def test_search_finds_the_kazakh_form(conn, city_id):
    b = _abaya_building(conn, city_id)
    hits = search_address(conn, city_id, f"Абай даңғылы {b['house_number']}")
    assert hits[0]["id"] == b["id"]


def test_search_forgives_a_typo(conn, city_id):
    b = _abaya_building(conn, city_id)
    for typo in ("Абяа", "Абаяя", "Обая"):
        hits = search_address(conn, city_id, f"{typo} {b['house_number']}")
        assert b["id"] in [h["id"] for h in hits[:3]], typo


def test_search_forgives_a_missing_letter_in_a_long_name(conn, city_id):
    b = (
        conn.execute(
            text("""
        SELECT b.id, b.house_number, s.name_ru FROM buildings b JOIN streets s
          ON s.city_id = b.city_id AND s.id = b.street_id
        WHERE b.city_id = :c AND char_length(s.name_ru) > 12 AND b.house_number ~ '^[0-9]+$'
        ORDER BY b.id LIMIT 1"""),
            {"c": city_id},
        )
        .mappings()
        .one()
    )
    name = b["name_ru"].split(" ", 1)[1]
    typo = name[:3] + name[4:]
    hits = search_address(conn, city_id, f"{typo} {b['house_number']}")
    assert hits and hits[0]["id"] == b["id"], typo


def test_search_answers_carry_the_buildings_point(conn, city_id):
    b = an_apartment_building(conn, city_id)
    hit = search_address(conn, city_id, b["address_ru"])[0]
    assert hit["id"] == b["id"]
    assert abs(hit["lon"] - b["lon"]) < 1e-6 and abs(hit["lat"] - b["lat"]) < 1e-6


def test_place_card_names_the_owner_of_the_wells_in_the_yard(conn, city_id):
    well = a_yard_well(conn, city_id, "sewer")
    owner = conn.execute(
        text("SELECT name_ru FROM organisations WHERE city_id = :c AND id = :o"),
        {"c": city_id, "o": well["owner_id"]},
    ).scalar_one()
    card = place_card(conn, city_id, well["lon"], well["lat"])
    assert card["yard"]["id"] == well["yard_id"]
    by_id = {w["id"]: w for w in card["wells"]}
    assert by_id[well["id"]]["owner_ru"] == owner
    assert by_id[well["id"]]["in_this_yard"] is True
    # every well of the yard is listed, each with an owner
    n_yard_wells = conn.execute(
        text("SELECT count(*) FROM wells WHERE city_id = :c AND yard_id = :y"),
        {"c": city_id, "y": well["yard_id"]},
    ).scalar_one()
    assert sum(w["in_this_yard"] for w in card["wells"]) == n_yard_wells
    assert card["wells"]
    assert all(w["owner_ru"] for w in card["wells"])


def test_place_card_of_a_building_shows_housing_org_yard_and_suggestion(conn, city_id):
    b = an_apartment_building(conn, city_id)
    card = place_card(conn, city_id, b["lon"], b["lat"], "roof_leak")
    assert card["building"]["id"] == b["id"]
    assert card["building"]["housing_org"]["id"] == b["housing_org_id"]
    assert card["yard"] is not None and card["district"] is not None
    assert card["suggestion"]["organisation_id"] == b["housing_org_id"]
    assert card["suggestion"]["deadline_hours"] == 120


def test_place_card_api_needs_staff_and_answers_in_one_call(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    assert client.get("/api/v1/place", params={"lon": b["lon"], "lat": b["lat"]}).status_code == 401
    r = client.get(
        "/api/v1/place",
        params={"lon": b["lon"], "lat": b["lat"], "category": "lift_broken"},
        headers=staff(conn, "operator"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert {
        "building",
        "yard",
        "wells",
        "district",
        "open_nearby",
        "history",
        "suggestion",
    } <= body.keys()


def test_search_api_rejects_an_empty_street(client):
    r = client.get("/api/v1/search/address", params={"q": "12"})
    assert r.status_code == 422 and "street" in r.json()["detail"]


def test_the_examples_people_use_find_abaya_12(conn, city_id):
    """The demo city numbers houses as a city does: "Абая 12" exists and is found in all
    the forms the 109 operators hear."""
    forms = ("Абая 12", "пр. Абая, д.12", "Абай даңғылы 12", "Абяа 12")
    found = {search_address(conn, city_id, f)[0]["address_ru"] for f in forms}
    assert found == {"пр. Абая, 12"}
