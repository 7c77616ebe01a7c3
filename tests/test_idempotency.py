"""Idempotency keys belong to their caller and to the request they came with.

* the same key from another caller (another channel's API key, another staff user) is a
  different key: a new appeal;
* the same key, caller and request: the first appeal again (200, ``created`` false);
* the same key and caller with another request: 422 saying the key was used with another
  request, and nothing is written.

Open311 follows the same rules in its own error format; a POST without a key gets one made
of the caller and the form, so an identical re-post within the hour is the first request.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.factories import an_apartment_building, channel_key, staff

KEY = "form-7f3a-0001"


@pytest.fixture
def building(conn, city_id) -> dict:
    return an_apartment_building(conn, city_id, offset=21)


def body(b: dict, **kw) -> dict:
    return {"category": "roof_leak", "lon": b["lon"], "lat": b["lat"], **kw}


def post(client, headers: dict, json: dict, key: str = KEY):
    return client.post("/api/v1/appeals", json=json, headers={**headers, "Idempotency-Key": key})


def count(conn, key: str = KEY) -> int:
    return conn.execute(
        text("SELECT count(*) FROM appeals WHERE idempotency_key = :k"), {"k": key}
    ).scalar_one()


def test_the_same_key_and_request_is_the_first_appeal(client, conn, building):
    caller = {"X-API-Key": channel_key(conn, "website")}
    first = post(client, caller, body(building))
    again = post(client, caller, body(building))
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["created"] is False
    assert again.json()["appeal"]["reg_number"] == first.json()["appeal"]["reg_number"]
    assert count(conn) == 1


def test_another_channels_key_is_another_key(client, conn, building):
    site = {"X-API-Key": channel_key(conn, "website")}
    bot = {"X-API-Key": channel_key(conn, "telegram")}
    first = post(client, site, body(building))
    other = post(client, bot, body(building, description="from the bot"))
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert other.json()["appeal"]["reg_number"] != first.json()["appeal"]["reg_number"]
    assert count(conn) == 2


def test_another_staff_user_has_keys_of_their_own(client, conn, building):
    one, two = staff(conn, "operator"), staff(conn, "operator")
    first = post(client, one, body(building))
    other = post(client, two, body(building))
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert other.json()["appeal"]["reg_number"] != first.json()["appeal"]["reg_number"]


def test_the_same_key_with_another_request_is_refused(client, conn, building):
    caller = {"X-API-Key": channel_key(conn, "website")}
    first = post(client, caller, body(building, description="Течёт крыша"))
    before = conn.execute(text("SELECT count(*) FROM appeals")).scalar_one()
    other = post(client, caller, body(building, description="Нет отопления"))
    assert first.status_code == 201
    assert other.status_code == 422, other.text
    assert "already used with another request" in other.json()["detail"]
    assert KEY in other.json()["detail"]
    assert conn.execute(text("SELECT count(*) FROM appeals")).scalar_one() == before
    # the first request under it still answers
    assert post(client, caller, body(building, description="Течёт крыша")).status_code == 200


def test_the_key_and_hash_are_kept_with_the_appeal(client, conn, building):
    caller = {"X-API-Key": channel_key(conn, "website")}
    reg = post(client, caller, body(building)).json()["appeal"]["reg_number"]
    row = conn.execute(
        text(
            "SELECT a.idempotency_key, a.idempotency_caller, a.idempotency_hash, k.id "
            "FROM appeals a, api_keys k WHERE a.reg_number = :r AND k.key_hash = "
            "encode(sha256(convert_to(:key, 'UTF8')), 'hex')"
        ),
        {"r": reg, "key": caller["X-API-Key"]},
    ).one()
    assert row.idempotency_key == KEY
    assert row.idempotency_caller == f"key:{row.id}"
    assert len(row.idempotency_hash) == 64


# --- Open311 -------------------------------------------------------------------------------------


def o311(client, key: str, building: dict, headers: dict | None = None, **form):
    data = {
        "api_key": key,
        "jurisdiction_id": "PET",
        "service_code": "roof_leak",
        "lat": building["lat"],
        "long": building["lon"],
        **form,
    }
    return client.post("/open311/v2/requests.json", data=data, headers=headers or {})


def test_open311_refuses_a_key_sent_with_another_form(client, conn, building):
    key = channel_key(conn, "open311")
    headers = {"Idempotency-Key": "o311-collide"}
    first = o311(client, key, building, headers, description="Течёт крыша")
    other = o311(client, key, building, headers, description="Нет отопления")
    assert first.status_code == 201
    assert other.status_code == 422, other.text
    (error,) = other.json()
    assert error["code"] == 422 and "another request" in error["description"]
    other_client = o311(client, channel_key(conn, "open311"), building, headers, description="x")
    assert other_client.status_code == 201  # another api_key: another key


def test_open311_without_a_key_an_identical_repost_is_the_first_request(client, conn, building):
    key = channel_key(conn, "open311")
    first = o311(client, key, building, description="Течёт крыша над 5 этажом")
    again = o311(client, key, building, description="Течёт крыша над 5 этажом")
    other = o311(client, key, building, description="Течёт крыша над 4 этажом")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert other.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


def test_open311_default_key_holds_for_the_next_hour_not_longer(
    client, conn, building, monkeypatch
):
    from api.open311 import routes as open311_routes

    key = channel_key(conn, "open311")
    now = 1_900_000_000.0 + 3599  # the last second of a clock hour
    monkeypatch.setattr(open311_routes.time, "time", lambda: now)
    first = o311(client, key, building, description="Лифт")
    monkeypatch.setattr(open311_routes.time, "time", lambda: now + 2)  # the next hour
    again = o311(client, key, building, description="Лифт")
    monkeypatch.setattr(open311_routes.time, "time", lambda: now + 2 * 3600 + 2)
    later = o311(client, key, building, description="Лифт")
    assert (first.status_code, again.status_code, later.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert later.json() != first.json()


# --- keys kept before the migration --------------------------------------------------------------


def test_keys_kept_before_0010_get_the_caller_of_their_first_event(make_database):
    from geo.city.catalog import load_categories
    from geo.infra.migrate import downgrade, upgrade

    url = make_database()
    upgrade(url, "0008")
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            load_categories(c)
            city = c.execute(
                text("""
                INSERT INTO cities (code, name_ru, name_kk, name_en, metric_srid, bounds)
                VALUES ('TST', 't', 't', 't', 32642,
                        ST_Multi(ST_MakeEnvelope(69, 54, 70, 55, 4326))) RETURNING id""")
            ).scalar_one()
            kid = c.execute(
                text(
                    "INSERT INTO api_keys (city_id, key_hash, name, channel) "
                    "VALUES (:c, 'h', 'site', 'website') RETURNING id"
                ),
                {"c": city},
            ).scalar_one()
            made = c.execute(
                text(
                    "SELECT (f.card).reg_number FROM qala_create_appeal(:c, 'garbage', 69.5, "
                    "54.5, 'website', '', 'click', NULL, NULL, NULL, NULL, NULL, NULL, false, "
                    "'old-key', NULL, 'channel:site', 'channel') AS f"
                ),
                {"c": city},
            ).scalar_one()
        upgrade(url)
        with engine.begin() as c:
            caller = c.execute(
                text("SELECT idempotency_caller FROM appeals WHERE reg_number = :r"), {"r": made}
            ).scalar_one()
            assert caller == f"key:{kid}"
            # re-sent by its caller after the upgrade: the first appeal, whatever the hash
            again = c.execute(
                text(
                    "SELECT f.created, (f.card).reg_number FROM qala_create_appeal(:c, "
                    "'garbage', 69.5, 54.5, 'website', '', 'click', NULL, NULL, NULL, NULL, "
                    "NULL, NULL, false, 'old-key', NULL, 'channel:site', 'channel', :caller, "
                    "'0000') AS f"
                ),
                {"c": city, "caller": caller},
            ).one()
            assert tuple(again) == (False, made)
        downgrade(url, "0008")
        upgrade(url)
    finally:
        engine.dispose()
