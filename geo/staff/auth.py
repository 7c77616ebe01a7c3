"""Staff users, password hashing (Argon2 via pwdlib), tokens (JWT) and channel API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import jwt
from pwdlib import PasswordHash
from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.city.catalog import city_id as city_id_of
from geo.infra.errors import Forbidden, InvalidInput
from geo.models import CHANNELS, ROLES

HASHER = PasswordHash.recommended()
ALGORITHM = "HS256"


def add_user(
    conn: Connection,
    city_code: str,
    username: str,
    password: str,
    role: str,
    organisation_id: int | None = None,
    full_name: str = "",
) -> int:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "executor" and organisation_id is None:
        raise InvalidInput("an executor belongs to an organisation: give --organisation ID")
    if len(password) < 8:
        raise InvalidInput("the password must have at least 8 characters")
    cid = city_id_of(conn, city_code)
    return conn.execute(
        text("""
        INSERT INTO users (city_id, username, full_name, password_hash, role, organisation_id)
        VALUES (:c, :u, :f, :h, :r, :o) RETURNING id"""),
        {
            "c": cid,
            "u": username,
            "f": full_name,
            "h": HASHER.hash(password),
            "r": role,
            "o": organisation_id,
        },
    ).scalar_one()


def authenticate(conn: Connection, username: str, password: str) -> dict | None:
    row = (
        conn.execute(text("SELECT * FROM users WHERE username = :u AND active"), {"u": username})
        .mappings()
        .first()
    )
    if row is None:
        HASHER.hash(password)  # same time whether or not the user exists
        return None
    if not HASHER.verify(password, row["password_hash"]):
        return None
    return dict(row)


def issue_token(user: dict, secret: str, minutes: int) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user["id"]),
        "city": user["city_id"],
        "role": user["role"],
        "org": user["organisation_id"],
        "name": user["username"],
        "iat": now,
        "exp": now + dt.timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def actor_from_token(token: str, secret: str) -> tuple[Actor, int]:
    try:
        c = jwt.decode(token, secret, algorithms=[ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise Forbidden("the token has expired: log in again") from exc
    except jwt.PyJWTError as exc:
        raise Forbidden("the token is not valid") from exc
    return Actor(
        name=c["name"], role=c["role"], organisation_id=c.get("org"), user_id=int(c["sub"])
    ), c["city"]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_api_key(conn: Connection, city_code: str, name: str, channel: str) -> str:
    """Create a channel key; only its SHA-256 is stored, the key is returned once."""
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    cid = city_id_of(conn, city_code)
    key = "qk_" + secrets.token_urlsafe(24)
    conn.execute(
        text("INSERT INTO api_keys (city_id, key_hash, name, channel) VALUES (:c, :h, :n, :ch)"),
        {"c": cid, "h": _digest(key), "n": name, "ch": channel},
    )
    return key


def actor_from_api_key(conn: Connection, key: str) -> tuple[Actor, int, str] | None:
    row = conn.execute(
        text("SELECT id, city_id, name, channel FROM api_keys WHERE key_hash = :h AND active"),
        {"h": _digest(key)},
    ).first()
    if row is None:
        return None
    actor = Actor(name=f"channel:{row.name}", role="channel", key_id=row.id)
    return actor, row.city_id, row.channel


DEMO_PASSWORD = "qala-demo-2026"


def add_demo_users(conn: Connection, city_code: str) -> list[str]:
    """One staff user per role for the demo city (password ``DEMO_PASSWORD``; demo only).

    The executor belongs to the housing organisation with the most buildings.
    """
    cid = city_id_of(conn, city_code)
    org = conn.execute(
        text("""
        SELECT housing_org_id FROM buildings WHERE city_id = :c AND housing_org_id IS NOT NULL
        GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""),
        {"c": cid},
    ).scalar()
    names = []
    for role in ROLES:
        add_user(
            conn,
            city_code,
            role,
            DEMO_PASSWORD,
            role,
            organisation_id=org if role == "executor" else None,
            full_name=f"Демо: {role}",
        )
        names.append(role)
    return names
