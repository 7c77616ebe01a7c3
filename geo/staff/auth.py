"""Staff users, password hashing (Argon2 via pwdlib), channel API keys, the demo users.

Tokens: :mod:`geo.staff.tokens`; roles per city and revocation: :mod:`geo.staff.accounts`.
"""

from __future__ import annotations

import hashlib
import secrets

from pwdlib import PasswordHash
from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.city.catalog import city_id as city_id_of
from geo.infra.errors import InvalidInput, NotFound
from geo.models import CHANNELS, ROLES
from geo.staff.accounts import grant_role

HASHER = PasswordHash.recommended()


def add_user(
    conn: Connection,
    city_code: str,
    username: str,
    password: str,
    role: str,
    organisation_id: int | None = None,
    full_name: str = "",
) -> int:
    """A new staff account whose home is ``city_code``, with ``role`` there; its id.

    Roles in other cities: :func:`geo.staff.accounts.grant_role`.
    """
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "executor" and organisation_id is None:
        raise InvalidInput("an executor belongs to an organisation: give --organisation ID")
    if len(password) < 8:
        raise InvalidInput("the password must have at least 8 characters")
    if not username or len(username) > 64:
        raise InvalidInput("a user name has 1 to 64 characters")
    cid = city_id_of(conn, city_code)
    taken = conn.execute(text("SELECT 1 FROM users WHERE username = :u"), {"u": username}).scalar()
    if taken:
        raise InvalidInput(
            f"user {username!r} already exists: `qala user grant` gives it a role in another city"
        )
    uid = conn.execute(
        text("""
        INSERT INTO users (city_id, username, full_name, password_hash)
        VALUES (:c, :u, :f, :h) RETURNING id"""),
        {"c": cid, "u": username, "f": full_name, "h": HASHER.hash(password)},
    ).scalar_one()
    grant_role(conn, username, city_code, role, organisation_id)
    return uid


def authenticate(conn: Connection, username: str, password: str) -> dict | None:
    """The active account with this user name and password, else ``None`` (in the same
    time whether or not the account exists).

    Nobody has a scope before logging in, and accounts of every city share one name space:
    the account is read through ``qala_login_user`` (migration 0011, SECURITY DEFINER), which
    crosses the cities' row-level security for this one lookup. It is the only way the
    service sees a password hash (``users.password_hash`` is not granted to it): the hash of
    the one active account named, verified here (Argon2 is not in PostgreSQL) and never
    returned.
    """
    row = (
        conn.execute(text("SELECT * FROM qala_login_user(:u)"), {"u": username}).mappings().first()
    )
    if row is None:
        HASHER.hash(password)  # same time whether or not the user exists
        return None
    if not HASHER.verify(password, row["password_hash"]):
        return None
    return {k: v for k, v in row.items() if k != "password_hash"}


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
    """The channel actor, city and channel of an active key, else None: through
    ``qala_api_key`` (migration 0011), as the key's city is not known before the lookup."""
    row = conn.execute(
        text("SELECT id, city_id, name, channel FROM qala_api_key(:h)"), {"h": _digest(key)}
    ).first()
    if row is None:
        return None
    actor = Actor(name=f"channel:{row.name}", role="channel", key_id=row.id)
    return actor, row.city_id, row.channel


def api_keys(conn: Connection, city_id: int | None = None) -> list[dict]:
    """Channel keys (never the keys themselves: only their hashes are stored), of one city
    or of all."""
    rows = conn.execute(
        text("""
        SELECT k.id, c.code AS city, k.name, k.channel, k.active
        FROM api_keys k JOIN cities c ON c.id = k.city_id
        WHERE CAST(:c AS smallint) IS NULL OR k.city_id = :c ORDER BY k.city_id, k.id"""),
        {"c": city_id},
    ).mappings()
    return [dict(r) for r in rows]


def revoke_api_key(conn: Connection, key: str | int, city_id: int | None = None) -> list[dict]:
    """Revoke a channel key by its id or its name (every key of that name), within one city
    when ``city_id`` is given; the keys revoked.

    The database refuses the key at once; a process that remembered it as valid
    (``QALA_API_KEY_CACHE_S``) may accept it until that time has passed.
    """
    by_id = isinstance(key, int) or (isinstance(key, str) and key.isascii() and key.isdigit())
    ident = int(key) if by_id else None
    if ident is not None and ident >= 2**62:
        raise NotFound(f"no API key {key!r}")
    rows = conn.execute(
        text(f"""
        UPDATE api_keys k SET active = false FROM cities c
        WHERE c.id = k.city_id AND {"k.id = :i" if by_id else "k.name = :n"}
          AND (CAST(:c AS smallint) IS NULL OR k.city_id = :c)
        RETURNING k.id, c.code AS city, k.name, k.channel, k.active"""),
        {"i": ident, "n": str(key), "c": city_id},
    ).mappings()
    revoked = [dict(r) for r in rows]
    if not revoked:
        where = " in your city" if city_id is not None else ""
        raise NotFound(f"no API key {key!r}{where}: `qala apikey list` shows them")
    return revoked


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
