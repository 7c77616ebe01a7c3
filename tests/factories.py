"""Test data factories: staff users with tokens, channel keys, appeals at known places."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from geo.appeals.actors import Actor
from geo.appeals.intake import NewAppeal, create_appeal
from geo.staff.auth import add_api_key, add_user
from geo.staff.tokens import issue_token

_n = itertools.count(1)


SECRET = "test-secret-key-of-at-least-32-bytes!"  # the `settings` fixture's
PASSWORD = "secret-password"


def staff_in(conn, user_id: int, city_id: int) -> dict:
    """An account with its role in one city: what a token for that city is made from."""
    row = (
        conn.execute(
            text("""
        SELECT u.id, u.username, u.token_version, u.active, r.city_id, r.role,
               r.organisation_id
        FROM users u JOIN staff_roles r ON r.user_id = u.id
        WHERE u.id = :i AND r.city_id = :c"""),
            {"i": user_id, "c": city_id},
        )
        .mappings()
        .one()
    )
    return dict(row)


def make_user(conn, role: str, organisation_id: int | None = None, city: str = "PET") -> dict:
    """A staff account at home in ``city`` with ``role`` there (password ``PASSWORD``)."""
    name = f"{role}{next(_n)}"
    uid = add_user(conn, city, name, PASSWORD, role, organisation_id=organisation_id)
    home = conn.execute(text("SELECT city_id FROM users WHERE id = :i"), {"i": uid}).scalar_one()
    return staff_in(conn, uid, home)


def auth_header(user: dict, secret: str = SECRET) -> dict:
    return {"Authorization": f"Bearer {issue_token(user, secret, 60)}"}


def staff(conn, role: str, organisation_id: int | None = None, city: str = "PET") -> dict:
    """The Authorization header of a new staff user at home in ``city``."""
    return auth_header(make_user(conn, role, organisation_id, city))


def channel_key(conn, channel: str = "website", city: str = "PET") -> str:
    return add_api_key(conn, city, f"{channel}-bot-{next(_n)}", channel)


def make_appeal(conn, city_id: int, category: str, lon: float, lat: float, **kw) -> dict:
    actor = kw.pop("actor", Actor(name="operator-test", role="operator"))
    appeal, _ = create_appeal(
        conn, city_id, NewAppeal(category=category, lon=lon, lat=lat, **kw), actor
    )
    return appeal


def a_yard_well(conn, city_id: int, kind: str | None = None) -> dict:
    """A well in a yard, with its owner, far from the planted hotspots' noise."""
    row = (
        conn.execute(
            text("""
        SELECT w.id, w.kind, w.owner_id, ST_X(w.geom) AS lon, ST_Y(w.geom) AS lat, w.yard_id
        FROM wells w WHERE w.city_id = :c AND w.yard_id IS NOT NULL
          AND (CAST(:k AS text) IS NULL OR w.kind = :k)
        ORDER BY w.id LIMIT 1 OFFSET 17"""),
            {"c": city_id, "k": kind},
        )
        .mappings()
        .one()
    )
    return dict(row)


def an_apartment_building(conn, city_id: int, offset: int = 40) -> dict:
    row = (
        conn.execute(
            text("""
        SELECT b.id, b.address_ru, b.address_kk, b.house_number, b.housing_org_id,
               ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
        FROM buildings b WHERE b.city_id = :c AND b.kind = 'apartment'
        ORDER BY b.id LIMIT 1 OFFSET :o"""),
            {"c": city_id, "o": offset},
        )
        .mappings()
        .one()
    )
    return dict(row)


def make_city(conn, code: str, lon: float = 69.40, lat: float = 54.95) -> int:
    """An empty test city (a 0.1° square) in the demo city's UTM zone."""
    return conn.execute(
        text("""
        INSERT INTO cities (code, name_ru, name_kk, name_en, metric_srid, bounds)
        VALUES (:code, :code, :code, :code, 32642,
                ST_Multi(ST_MakeEnvelope(:x - 0.05, :y - 0.05, :x + 0.05, :y + 0.05, 4326)))
        RETURNING id"""),
        {"code": code, "x": lon, "y": lat},
    ).scalar_one()


def square(lon: float, lat: float, half_m: float) -> str:
    """WKT of a square of half-side ``half_m`` metres around a point (local approximation)."""
    import math

    dx = half_m / (111_320 * math.cos(math.radians(lat)))
    dy = half_m / 110_540
    return (
        f"MULTIPOLYGON((({lon - dx} {lat - dy},{lon + dx} {lat - dy},{lon + dx} {lat + dy},"
        f"{lon - dx} {lat + dy},{lon - dx} {lat - dy})))"
    )


def make_org(conn, city_id: int, kind: str = "housing_org", name: str = "Org") -> int:
    return conn.execute(
        text(
            "INSERT INTO organisations (city_id, kind, name_ru, name_kk) "
            "VALUES (:c, :k, :n, :n) RETURNING id"
        ),
        {"c": city_id, "k": kind, "n": name},
    ).scalar_one()


def insert_appeal(
    conn, city_id: int, lon: float, lat: float, category: str = "garbage", **cols
) -> int:
    """A raw appeal row (for hand-made statistics), bypassing routing."""
    values = {
        "reg_number": f"T-{next(_n):07d}",
        "channel": "phone_109",
        "located_by": "click",
        "status": "registered",
        "created_at": "now()",
        "deadline_at": None,
        **cols,
    }
    created = values.pop("created_at")
    deadline = values.pop("deadline_at")
    names = ", ".join(values)
    binds = ", ".join(f":{k}" for k in values)
    return conn.execute(
        text(f"""
        INSERT INTO appeals (city_id, category_code, geom, created_at, deadline_at, {names})
        VALUES (:c, :cat, ST_SetSRID(ST_MakePoint(:x, :y), 4326),
                CAST(:created AS timestamptz),
                coalesce(CAST(:deadline AS timestamptz),
                         CAST(:created AS timestamptz) + interval '24 hours'), {binds})
        RETURNING id"""),
        {
            "c": city_id,
            "cat": category,
            "x": lon,
            "y": lat,
            "created": "now" if created == "now()" else created,
            "deadline": deadline,
            **values,
        },
    ).scalar_one()


def categories_database(make_database) -> str:
    """A new database (``make_database``), migrated, with the categories loaded and no
    appeal: what a first history import goes into. Its URL."""
    from sqlalchemy import create_engine

    from geo.city.catalog import load_categories
    from geo.infra.migrate import upgrade

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        load_categories(conn)
    engine.dispose()
    return url


#: Offsets (metres) and azimuths (degrees) around a category's radius where the live rule's
#: answer turns: a centimetre, the ellipsoid's micrometre error, a nanometre, exactly on it.
RADIUS_EDGES = [(0.01, 90), (-0.01, 90), (2e-7, 0), (-2e-7, 0), (0.0, 30), (1e-9, 60), (-1e-9, 120)]
RADIUS_EDGES += [(0.01, 200), (-0.01, 200)]


def repeat_links(conn, city_id: int) -> dict[int, int]:
    """The city's linked appeals: id -> the appeal it repeats."""
    return dict(
        conn.execute(
            text(
                "SELECT id, repeat_of_id FROM appeals "
                "WHERE city_id = :c AND repeat_of_id IS NOT NULL"
            ),
            {"c": city_id},
        ).all()
    )
