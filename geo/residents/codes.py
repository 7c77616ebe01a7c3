"""Signing a resident in with a one-time code sent to the phone or e-mail of their appeals.

No password: the resident names the contact they left on an appeal, a six-digit code is sent
there through the outbox (the same worker and senders as every message to applicants), and
the code buys a session token scoped to that contact (:func:`issue_token`).

What is kept of a code (``resident_codes``, migration 0018) is its HMAC keyed with the
service's secret and a random nonce; the code itself is derived from the nonce and the
secret (:func:`derive_code`) by the worker when it sends the message, so neither the table
nor the outbox holds a code, and the database alone cannot tell one. A code lives
``ttl_s`` seconds and works once; asking for a new one ends the old. Requests are throttled
per contact and per client address, and wrong codes are counted per contact and per client
(``login_failures``, as staff logins): after ``max_failures`` wrong codes for a contact it is
locked for the window, whatever code comes next. The answer to a request is the same
whether the contact is on an appeal or not (nobody learns whose contact it is); only a
known contact is written to.

>>> len(derive_code("s" * 40, "00ff")), derive_code("s" * 40, "00ff").isdigit()
(6, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import jwt
from sqlalchemy import Connection, text

from geo.infra.errors import InvalidInput, NotAuthenticated, TooManyAttempts
from geo.staff.tokens import ALGORITHM, TokenRefused

CODE_DIGITS = 6
#: the audience of a resident's session token: never a staff token, nor one a ticket
AUDIENCE = "qala-resident"


@dataclass(frozen=True)
class CodeLimits:
    """How long a code lives, and how many requests and wrong codes a window allows."""

    ttl_s: int = 10 * 60
    window_s: int = 15 * 60
    per_contact: int = 3  # codes asked for one contact
    per_client: int = 10  # codes asked from one client address
    max_failures: int = 5  # wrong codes for one contact: then locked for the window
    failures_per_client: int = 20  # wrong codes (and staff logins) from one client


def derive_code(secret: str, nonce: str) -> str:
    """The code of a nonce: an HMAC of it with the service's secret, as six digits."""
    mac = hmac.new(secret.encode(), b"qala-sign-in:" + nonce.encode(), hashlib.sha256)
    return f"{int.from_bytes(mac.digest()[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def code_hash(secret: str, city_id: int, contact_key: str, code: str) -> str:
    """What is kept of a code: its HMAC with the city and contact it is for."""
    message = f"qala-code|{city_id}|{contact_key}|{code.strip()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def contact_key(conn: Connection, contact: str) -> str:
    """The contact as the database matches it (``qala_contact_key``: an e-mail in lower
    case, a phone as its digits with 8 → 7); :class:`InvalidInput` if it is neither."""
    key = conn.execute(text("SELECT qala_contact_key(:c)"), {"c": contact or ""}).scalar()
    if key is None or ("@" in key and not _looks_like_email(key)):
        raise InvalidInput(
            "contact: give the phone number (+7 7xx xxx xx xx) or the e-mail you left on "
            "your appeal"
        )
    return key


def _looks_like_email(key: str) -> bool:
    name, _, host = key.partition("@")
    return bool(name) and "." in host and "@" not in host and len(key) <= 254


def request_code(
    conn: Connection, secret: str, city_id: int, contact: str, client: str, limits: CodeLimits
) -> None:
    """Make a code for ``contact`` and queue it to be sent there (if the contact is on an
    appeal of the city). ``conn`` should be in autocommit: each call is its own
    transaction.

    Raises
    ------
    InvalidInput
        Not a phone number or an e-mail.
    TooManyAttempts
        Too many codes asked for this contact or from this client, or the contact is
        locked after wrong codes (429, with the seconds to wait).
    """
    key = contact_key(conn, contact)
    nonce = secrets.token_hex(16)
    digest = code_hash(secret, city_id, key, derive_code(secret, nonce))
    outcome, wait = conn.execute(
        text(
            "SELECT outcome, wait_s FROM qala_resident_code_request(:c, :k, :h, :n, :cl, :ttl, "
            ":w, :pc, :pcl, :mx)"
        ),
        {
            "c": city_id,
            "k": key,
            "h": digest,
            "n": nonce,
            "cl": client[:64],
            "ttl": limits.ttl_s,
            "w": limits.window_s,
            "pc": limits.per_contact,
            "pcl": limits.per_client,
            "mx": limits.max_failures,
        },
    ).one()
    if outcome == "locked":
        raise TooManyAttempts(locked_message(wait), wait)
    if outcome == "throttled":
        raise TooManyAttempts(
            f"too many codes asked for this contact or from this address: ask again in "
            f"{_minutes(wait)}",
            wait,
        )
    if outcome != "sent":
        raise InvalidInput("contact: give the phone number or the e-mail of your appeal")


def locked_message(wait: int) -> str:
    return (
        "wrong code entered too many times: signing in with this contact is locked for "
        f"{_minutes(wait)}; then ask for a new code"
    )


def _minutes(seconds: int) -> str:
    return f"{max(1, -(-int(seconds) // 60))} min"


def check_code(
    conn: Connection,
    secret: str,
    city_id: int,
    contact: str,
    code: str,
    client: str,
    limits: CodeLimits,
) -> str:
    """The contact key ``code`` signs in, if it is the contact's current code.

    Raises
    ------
    NotAuthenticated
        A wrong or expired code (401; how many tries are left).
    TooManyAttempts
        The contact is locked after ``max_failures`` wrong codes, or the client sent too
        many wrong codes (429, with the seconds to wait).
    """
    key = contact_key(conn, contact)
    code = (code or "").strip()
    digest = code_hash(secret, city_id, key, code)
    outcome, wait, left, signed = conn.execute(
        text(
            "SELECT outcome, wait_s, attempts_left, contact FROM qala_resident_code_check("
            ":c, :k, :h, :cl, :w, :mx, :pcl)"
        ),
        {
            "c": city_id,
            "k": key,
            "h": digest,
            "cl": client[:64],
            "w": limits.window_s,
            "mx": limits.max_failures,
            "pcl": limits.failures_per_client,
        },
    ).one()
    if outcome == "ok":
        return signed
    if outcome == "locked":
        raise TooManyAttempts(locked_message(wait), wait)
    if outcome == "throttled":
        raise TooManyAttempts(
            f"too many wrong codes from this address: try again in {_minutes(wait)}", wait
        )
    if outcome == "expired":
        raise NotAuthenticated(
            f"no valid code for this contact (it expired or was used): ask for a new code; "
            f"{left} attempts left"
        )
    raise NotAuthenticated(f"wrong code: {left} attempts left")


def issue_token(secret: str, city_id: int, contact: str, minutes: int) -> str:
    """A resident's session token: for one city and one contact key, ``minutes`` long."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        "aud": AUDIENCE,
        "sub": "resident",
        "city": city_id,
        "contact": contact,
        "iat": now,
        "exp": now + dt.timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def is_resident_token(token: str) -> bool:
    """Whether a bearer token claims to be a resident's (read unverified: only to choose
    which check it gets; :func:`read_token` verifies it)."""
    try:
        aud = jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError:
        return False
    return aud == AUDIENCE


def read_token(token: str, secret: str) -> tuple[int, str]:
    """The city and contact key of a resident's session token; :class:`TokenRefused`
    otherwise.

    >>> read_token(issue_token("s" * 40, 1, "a@b.kz", 5), "s" * 40)
    (1, 'a@b.kz')
    """
    try:
        c = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["aud", "sub", "city", "contact", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRefused("your session has ended: sign in again with a new code") from exc
    except jwt.PyJWTError as exc:
        raise TokenRefused("not a resident's session: sign in again with a new code") from exc
    city, contact = c["city"], c["contact"]
    if not (isinstance(city, int) and not isinstance(city, bool) and 0 < city < 2**15):
        raise TokenRefused("the session's 'city' claim is not a city id: sign in again")
    if not (isinstance(contact, str) and 0 < len(contact) <= 254):
        raise TokenRefused("the session's 'contact' claim is not a contact: sign in again")
    return city, contact
