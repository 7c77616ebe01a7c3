"""Test data factories: staff users with tokens, channel keys, appeals at known places."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from geo.appeals import Actor, NewAppeal, create_appeal
from geo.auth import add_api_key, add_user, issue_token

_n = itertools.count(1)


def make_user(conn, role: str, organisation_id: int | None = None, city: str = "PET") -> dict:
    name = f"{role}{next(_n)}"
    uid = add_user(conn, city, name, "secret-password", role, organisation_id=organisation_id)
    row = conn.execute(text("SELECT * FROM users WHERE id = :i"), {"i": uid}).mappings().one()
    return dict(row)


def auth_header(user: dict, secret: str = "test-secret-key-of-at-least-32-bytes!") -> dict:
    return {"Authorization": f"Bearer {issue_token(user, secret, 60)}"}


def staff(conn, role: str, organisation_id: int | None = None) -> dict:
    return auth_header(make_user(conn, role, organisation_id))


def channel_key(conn, channel: str = "website") -> str:
    return add_api_key(conn, "PET", f"{channel}-bot-{next(_n)}", channel)


def make_appeal(conn, city_id: int, category: str, lon: float, lat: float, **kw) -> dict:
    actor = kw.pop("actor", Actor(name="operator-test", role="operator"))
    appeal, _ = create_appeal(conn, city_id, NewAppeal(category=category, lon=lon, lat=lat, **kw),
                              actor)
    return appeal


def a_yard_well(conn, city_id: int, kind: str | None = None) -> dict:
    """A well in a yard, with its owner, far from the planted hotspots' noise."""
    row = conn.execute(text("""
        SELECT w.id, w.kind, w.owner_id, ST_X(w.geom) AS lon, ST_Y(w.geom) AS lat, w.yard_id
        FROM wells w WHERE w.city_id = :c AND w.yard_id IS NOT NULL
          AND (CAST(:k AS text) IS NULL OR w.kind = :k)
        ORDER BY w.id LIMIT 1 OFFSET 17"""), {"c": city_id, "k": kind}).mappings().one()
    return dict(row)


def an_apartment_building(conn, city_id: int, offset: int = 40) -> dict:
    row = conn.execute(text("""
        SELECT b.id, b.address_ru, b.address_kk, b.house_number, b.housing_org_id,
               ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
        FROM buildings b WHERE b.city_id = :c AND b.kind = 'apartment'
        ORDER BY b.id LIMIT 1 OFFSET :o"""), {"c": city_id, "o": offset}).mappings().one()
    return dict(row)
