"""Staff tokens: JWTs signed with the service's secret (HS256), checked claim by claim.

A token names an account (``sub``), the city it works in (``city``), its role there
(``role``) and the account's token version (``ver``); :func:`read_token` refuses a token
whose signature, expiry or any of these claims is wrong with :class:`TokenRefused` (HTTP
401), never with a server error. The signature alone is not trusted for long: every request
also checks the account (:func:`geo.staff.accounts.current_actor`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jwt

from geo.infra.errors import NotAuthenticated
from geo.models import ROLES

ALGORITHM = "HS256"
REQUIRED = ("sub", "city", "role", "ver", "exp", "iat")


class TokenRefused(NotAuthenticated):
    """A bearer token was sent but cannot be used (RFC 6750 ``invalid_token``)."""


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: the account, its city and role there, its token version."""

    user_id: int
    city_id: int
    role: str
    version: int
    name: str = ""


def issue_token(user: dict, secret: str, minutes: int) -> str:
    """A token for ``user`` in one city.

    Parameters
    ----------
    user
        ``id``, ``username``, ``city_id`` (the city the token is for), ``role`` and
        ``organisation_id`` there, and the account's ``token_version``.
    secret
        The signing secret (``Settings.signing_key``).
    minutes
        Lifetime.
    """
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user["id"]),
        "city": user["city_id"],
        "role": user["role"],
        "org": user.get("organisation_id"),
        "name": user["username"],
        "ver": user["token_version"],
        "iat": now,
        "exp": now + dt.timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_token(token: str, secret: str) -> TokenClaims:
    """The claims of a token signed with ``secret``; :class:`TokenRefused` otherwise.

    Examples
    --------
    >>> t = issue_token({"id": 7, "username": "a", "city_id": 1, "role": "operator",
    ...                  "token_version": 0}, "s" * 40, 5)
    >>> read_token(t, "s" * 40).user_id
    7
    """
    try:
        c = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": list(REQUIRED)})
    except jwt.ExpiredSignatureError as exc:
        raise TokenRefused("the token has expired: log in again") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRefused(f"the token lacks the {exc.claim!r} claim: log in again") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRefused("the token was not signed by this service: log in again") from exc
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the token is not valid ({exc}): log in again") from exc
    sub = c["sub"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) < 19):
        raise TokenRefused("the token's 'sub' claim is not an account id: log in again")
    if not (_whole(c["city"]) and 0 < c["city"] < 2**15):
        raise TokenRefused("the token's 'city' claim is not a city id: log in again")
    if c["role"] not in ROLES:
        raise TokenRefused("the token's 'role' claim is not a staff role: log in again")
    if not (_whole(c["ver"]) and 0 <= c["ver"] < 2**31):
        raise TokenRefused("the token's 'ver' claim is not a token version: log in again")
    name = c.get("name")
    return TokenClaims(
        user_id=int(sub),
        city_id=c["city"],
        role=c["role"],
        version=c["ver"],
        name=name if isinstance(name, str) else "",
    )


#: the audience of a stream ticket: never accepted as a bearer token, nor a token as a ticket
TICKET_AUDIENCE = "qala-stream"
TICKET_SECONDS = 60


def issue_ticket(claims: TokenClaims, secret: str, seconds: int = TICKET_SECONDS) -> str:
    """A short-lived ticket to open the staff event stream (``EventSource`` cannot send an
    ``Authorization`` header, and a long-lived token must not travel in a URL, where logs
    and histories keep it). It says what the token said, for ``seconds``, and only to the
    stream (its audience).

    >>> c = TokenClaims(user_id=7, city_id=1, role="inspector", version=0, name="a")
    >>> read_ticket(issue_ticket(c, "s" * 40), "s" * 40) == c
    True
    """
    now = dt.datetime.now(dt.UTC)
    return jwt.encode(
        {
            "aud": TICKET_AUDIENCE,
            "sub": str(claims.user_id),
            "city": claims.city_id,
            "role": claims.role,
            "ver": claims.version,
            "name": claims.name,
            "iat": now,
            "exp": now + dt.timedelta(seconds=seconds),
        },
        secret,
        algorithm=ALGORITHM,
    )


def read_ticket(ticket: str, secret: str) -> TokenClaims:
    """The claims of a stream ticket; :class:`TokenRefused` for anything else (an expired
    ticket, a staff token, a forged one)."""
    try:
        c = jwt.decode(
            ticket,
            secret,
            algorithms=[ALGORITHM],
            audience=TICKET_AUDIENCE,
            options={"require": [*REQUIRED, "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRefused("the stream ticket has expired: ask for a new one") from exc
    except jwt.PyJWTError as exc:
        raise TokenRefused(
            "not a stream ticket: POST /api/v1/staff/stream/ticket with your token"
        ) from exc
    sub = c["sub"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) < 19):
        raise TokenRefused("the ticket's 'sub' claim is not an account id")
    if not (_whole(c["city"]) and _whole(c["ver"]) and c["role"] in ROLES):
        raise TokenRefused("the ticket's claims are not valid")
    name = c.get("name")
    return TokenClaims(
        user_id=int(sub),
        city_id=c["city"],
        role=c["role"],
        version=c["ver"],
        name=name if isinstance(name, str) else "",
    )
