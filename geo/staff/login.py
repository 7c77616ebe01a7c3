"""Logging in, throttled per account and per client address.

Failed logins are rows of ``login_failures`` (the user name as typed, lower case, and the
client's address), so every process of the service counts the same ones. After
``per_account`` failures for a name, or ``per_client`` from an address, within ``window_s``
seconds, every login for that name or from that address is refused — even with the right
password — until enough of those failures are older than the window; a refused attempt is
not counted, so the wait ends. A successful login clears its account's failures. Rows older
than the window are pruned as new ones arrive. Passwords are never logged.

``login_failures`` has no city and is not granted to the service: it is read and written
through the SECURITY DEFINER functions ``qala_login_wait``, ``qala_login_failed`` and
``qala_login_succeeded`` (migration 0011), as a login has no scope yet.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.staff.auth import authenticate

log = logging.getLogger("qala.login")

# the n-th most recent failure in the window (n = the limit): while it exists the limit is
# reached, and it leaves the window first among those that keep it reached
NTH_SQL = text("SELECT account, client FROM qala_login_wait(:a, :c, :w, :na, :nc)")


@dataclass(frozen=True)
class Limits:
    """How many failed logins (per account, per client address) a window of ``window_s``
    seconds allows."""

    window_s: int = 15 * 60
    per_account: int = 5
    per_client: int = 20


@dataclass(frozen=True)
class Attempt:
    """How a login went: the account (``None`` when refused) and, when throttled, the seconds
    to wait."""

    user: dict | None
    retry_after: int | None = None


def _account_key(username: str) -> str:
    return username.strip().lower()[:64]


def retry_after(conn: Connection, username: str, client: str, limits: Limits) -> int | None:
    """Seconds until a login for ``username`` from ``client`` may be tried again, or ``None``
    when it may be tried now."""
    row = conn.execute(
        NTH_SQL,
        {
            "a": _account_key(username),
            "c": client[:64],
            "w": limits.window_s,
            "na": limits.per_account,
            "nc": limits.per_client,
        },
    ).one()
    waits = [float(w) for w in row if w is not None]
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def log_in(conn: Connection, username: str, password: str, client: str, limits: Limits) -> Attempt:
    """Check a user name and password unless the account or the client is throttled.

    ``conn`` should commit each statement as it runs (autocommit), so a failure is counted
    although the login is answered with an error. Concurrent attempts on one account are
    taken one at a time (an advisory lock), so they cannot all slip under its limit.
    """
    key, client = _account_key(username), client[:64]
    lock = {"k": f"qala.login:{key}"}
    conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), lock)
    try:
        wait = retry_after(conn, username, client, limits)
        if wait is not None:
            log.warning("login throttled for %r from %s: retry after %d s", key, client, wait)
            return Attempt(None, wait)
        user = authenticate(conn, username, password)
        if user is None:
            # counted, and those older than the window pruned
            conn.execute(
                text("SELECT qala_login_failed(:a, :c, :w)"),
                {"a": key, "c": client, "w": limits.window_s},
            )
            log.warning("login failed for %r from %s", key, client)
            return Attempt(None)
        conn.execute(text("SELECT qala_login_succeeded(:a)"), {"a": key})
        log.info("login of %r from %s", key, client)
        return Attempt(user)
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), lock)
