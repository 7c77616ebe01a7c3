"""Staff accounts and their roles per city; revocation that takes effect at once.

An account (``users``) has a home city and a role in each city it works in
(``staff_roles``). A token is for one of those cities; every staff request checks, in one
lookup by primary keys (:func:`current_actor`), that the account is still active, that the
token's version is the account's current one, and what the account's role in that city is
*now*. So disabling an account, "log out everywhere" (both raise the version) and taking a
role away stop its tokens on the next request, in every process, with no cache to expire.

Under row-level security (migration 0011) the service sees an account only in a scope of
its home city or of a city it works in. The two lookups made before a request has a scope,
or across cities, go through SECURITY DEFINER functions that return only what they need:
``qala_token_account`` (:func:`current_actor`) and ``qala_account_roles`` (:func:`roles_of`).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.city.catalog import city_id as city_id_of
from geo.infra.errors import Forbidden, InvalidInput, NotFound
from geo.models import ROLES
from geo.staff.tokens import TokenClaims, TokenRefused

# the account and its role in the token's city (none: NULL), before the request's scope
CURRENT_SQL = text(
    "SELECT username, active, token_version, role, organisation_id, city_code "
    "FROM qala_token_account(:u, :c)"
)
# its cities and roles, the home city first, across cities
ROLES_SQL = text("SELECT city_id, city, role, organisation_id, home FROM qala_account_roles(:u)")


def current_actor(conn: Connection, claims: TokenClaims) -> tuple[Actor, str]:
    """The account behind a token as it is now, and the code of the token's city.

    Raises :class:`~geo.staff.tokens.TokenRefused` (HTTP 401) when the account is gone or
    disabled, the token was revoked, or the account has no role in the token's city any
    more. The role and organisation come from the database, not from the token.
    """
    row = conn.execute(CURRENT_SQL, {"u": claims.user_id, "c": claims.city_id}).first()
    if row is None:
        raise TokenRefused("the account of this token no longer exists")
    if not row.active:
        raise TokenRefused(f"the account {row.username!r} is disabled")
    if row.token_version != claims.version:
        raise TokenRefused("this token was revoked (logged out everywhere): log in again")
    if row.role is None:
        raise TokenRefused(
            f"the account {row.username!r} has no role in {row.city_code or 'this city'} any "
            "more: log in again"
        )
    actor = Actor(
        name=row.username,
        role=row.role,
        organisation_id=row.organisation_id,
        user_id=claims.user_id,
    )
    return actor, row.city_code


def account(conn: Connection, username: str) -> dict:
    """An account by its user name; :class:`NotFound` when there is none."""
    row = (
        conn.execute(
            text(
                "SELECT u.id, u.city_id, c.code AS home_city, u.username, u.full_name, u.active, "
                "u.token_version FROM users u JOIN cities c ON c.id = u.city_id "
                "WHERE u.username = :n"
            ),
            {"n": username},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no user {username!r}")
    return dict(row)


def roles_of(conn: Connection, user_id: int) -> list[dict]:
    """The cities an account works in, its role and organisation in each: the home city
    first, then the others by id."""
    return [dict(r) for r in conn.execute(ROLES_SQL, {"u": user_id}).mappings()]


def role_in(conn: Connection, user: dict, city_code: str | None) -> dict:
    """The account's role in the city named (``None``: its default city, the home city
    when it has a role there, else its first).

    Raises :class:`Forbidden` when it has no role in that city (or in none).
    """
    roles = roles_of(conn, user["id"])
    if not roles:
        raise Forbidden(f"the account {user['username']!r} has no role in any city")
    if city_code is None:
        return roles[0]
    wanted = city_code.strip().upper()
    for r in roles:
        if r["city"] == wanted:
            return r
    cities = ", ".join(r["city"] for r in roles)
    raise Forbidden(
        f"the account {user['username']!r} has no role in {wanted}: it works in {cities}"
    )


def token_subject(user: dict, role: dict) -> dict:
    """What :func:`geo.staff.tokens.issue_token` needs for ``user`` in ``role``'s city."""
    return {
        "id": user["id"],
        "username": user["username"],
        "token_version": user["token_version"],
        "city_id": role["city_id"],
        "role": role["role"],
        "organisation_id": role["organisation_id"],
    }


def grant_role(
    conn: Connection,
    username: str,
    city_code: str,
    role: str,
    organisation_id: int | None = None,
) -> dict:
    """Give an account a role in a city (replacing the role it had there).

    Raises :class:`InvalidInput` for an unknown role, an executor without an organisation,
    or an organisation of another city; :class:`NotFound` for an unknown user or city.
    """
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "executor" and organisation_id is None:
        raise InvalidInput("an executor belongs to an organisation: give --organisation ID")
    cid = city_id_of(conn, city_code)
    if organisation_id is not None:
        found = conn.execute(
            text("SELECT 1 FROM organisations WHERE city_id = :c AND id = :o"),
            {"c": cid, "o": organisation_id},
        ).scalar()
        if not found:
            raise InvalidInput(f"organisation {organisation_id} is not one of {city_code}'s")
    user = account(conn, username)
    conn.execute(
        text("""
        INSERT INTO staff_roles (city_id, user_id, role, organisation_id) VALUES (:c, :u, :r, :o)
        ON CONFLICT (city_id, user_id)
        DO UPDATE SET role = excluded.role, organisation_id = excluded.organisation_id"""),
        {"c": cid, "u": user["id"], "r": role, "o": organisation_id},
    )
    return {"city_id": cid, "role": role, "organisation_id": organisation_id, **user}


def log_out_everywhere(conn: Connection, user_id: int) -> None:
    """Every token issued so far to this account stops working (its version goes up)."""
    conn.execute(
        text("UPDATE users SET token_version = token_version + 1 WHERE id = :u"), {"u": user_id}
    )


def set_active(conn: Connection, user_id: int, active: bool) -> None:
    """Disable (its tokens stop working at once, also after it is enabled again) or enable
    an account."""
    conn.execute(
        text(
            "UPDATE users SET active = :a, "
            "token_version = token_version + CASE WHEN :a THEN 0 ELSE 1 END WHERE id = :u"
        ),
        {"a": active, "u": user_id},
    )


def city_staff(conn: Connection, city_id: int) -> list[dict]:
    """The accounts with a role in a city, for its admins: no password hashes."""
    rows = conn.execute(
        text("""
        SELECT u.id, u.username, u.full_name, r.role, r.organisation_id, u.active,
               c.code AS home_city
        FROM staff_roles r JOIN users u ON u.id = r.user_id JOIN cities c ON c.id = u.city_id
        WHERE r.city_id = :c ORDER BY u.username"""),
        {"c": city_id},
    ).mappings()
    return [dict(r) for r in rows]


def managed_account(conn: Connection, city_id: int, username: str) -> dict:
    """An account an admin of ``city_id`` may disable, enable or log out: one whose home is
    that city. Another city's account is :class:`NotFound` when it has no role here, and
    :class:`Forbidden` (its home city manages it) when it has."""
    try:
        user = account(conn, username)
    except NotFound:
        raise NotFound(f"no user {username!r} in your city") from None
    if user["city_id"] == city_id:
        return user
    works_here = conn.execute(
        text("SELECT 1 FROM staff_roles WHERE city_id = :c AND user_id = :u"),
        {"c": city_id, "u": user["id"]},
    ).scalar()
    if not works_here:
        raise NotFound(f"no user {username!r} in your city")
    raise Forbidden(
        f"the account {username!r} belongs to {user['home_city']}: its admins manage it"
    )
