"""Where a request's reads go: a read replica, or the primary (``geo.infra.replicas``).

The one rule, applied by :func:`read_engine` (called by ``api.deps.get_session``, the one
place sessions are made): a ``GET`` or ``HEAD`` is a read and may be answered by a hot
standby of ``QALA_READ_DATABASE_URLS`` that is fresh enough; every other method writes and
goes to the primary, as do the lookups and the appeal write of ``api.deps.Db`` and the rare
``GET`` that writes (marked :func:`writes_on_get`: the unsubscribe link of messages).

Read-your-writes: after a write (a ``POST``/``PUT``/``PATCH``/``DELETE`` answered below
400) :class:`ReadYourWrites` asks the primary for its WAL position (after the commit, so at
or past it) and hands it to the caller three ways: the ``qala_lsn`` cookie (a browser; it
expires after ``QALA_READ_OWN_WRITES_S``), the ``X-Qala-LSN`` answer header (a client may
send it back as a request header), and remembered in the process for the same credentials
(a bot's API key, a staff token) for the same time. A read that carries a position is
answered by a standby only once that standby has replayed up to it, else by the primary.
Without replicas configured none of this runs (no cookie, no extra query).
"""

from __future__ import annotations

import hashlib
import logging
import time
from http.cookies import SimpleCookie

from fastapi import FastAPI, Request
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.infra.replicas import PRIMARY_LSN_SQL, ReadReplicas, lsn_text, parse_lsn

log = logging.getLogger("qala.reads")
COOKIE = "qala_lsn"
HEADER = "x-qala-lsn"
READS = {"GET", "HEAD"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _credential(headers: dict[bytes, bytes]) -> str | None:
    given = headers.get(b"authorization") or headers.get(b"x-api-key")
    return hashlib.sha256(given).hexdigest() if given else None


class Writers:
    """Per credential, the primary's position after its last write, for ``window`` s."""

    def __init__(self, window: float):
        self.window = window
        self._last: dict[str, tuple[float, int]] = {}

    def put(self, who: str, lsn: int) -> None:
        if len(self._last) > 100_000:  # never grow without bound
            self._last.clear()
        self._last[who] = (time.monotonic(), lsn)

    def get(self, who: str) -> int | None:
        hit = self._last.get(who)
        if hit and time.monotonic() - hit[0] < self.window:
            return hit[1]
        self._last.pop(who, None)
        return None


class ReadYourWrites:
    """ASGI middleware: the caller's last write position in, a new one out (see module)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI):
        self.app = app
        self.fastapi = fastapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.fastapi.state
        if scope["type"] != "http" or getattr(state, "replicas", None) is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        who = _credential(headers)
        writers: Writers = state.writers
        if scope["method"] in READS:
            cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
            given = [
                parse_lsn(cookie[COOKIE].value) if COOKIE in cookie else None,
                parse_lsn(headers.get(HEADER.encode(), b"").decode("latin-1")),
                writers.get(who) if who else None,
            ]
            known = [lsn for lsn in given if lsn is not None]
            scope.setdefault("state", {})["after_lsn"] = max(known) if known else None
            await self.app(scope, receive, send)
            return

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                lsn = await self._primary_lsn()
                if lsn is not None:
                    out = MutableHeaders(scope=message)
                    out.append(HEADER, lsn_text(lsn))
                    out.append(
                        "set-cookie",
                        f"{COOKIE}={lsn_text(lsn)}; Max-Age={int(writers.window)}; Path=/; "
                        "HttpOnly; SameSite=Lax",
                    )
                    if who:
                        writers.put(who, lsn)
            await send(message)

        if scope["method"] in WRITES:
            await self.app(scope, receive, send_with_position)
        else:  # OPTIONS and the like write nothing
            await self.app(scope, receive, send)

    async def _primary_lsn(self) -> int | None:
        pool = self.fastapi.state.db.pool
        try:
            return await pool.fetchval(PRIMARY_LSN_SQL, timeout=3)
        except Exception as exc:  # noqa: BLE001 - the write stands; reads then go by lag only
            log.warning("no WAL position after a write: %s", type(exc).__name__)
            return None


def writes_on_get(endpoint):
    """Mark a route that writes although it is a ``GET`` (a link in an e-mail, such as
    unsubscribe): its session is always the primary's."""
    endpoint.qala_writes = True
    return endpoint


def read_engine(request: Request) -> Engine | None:
    """The standby that answers this request's reads, or None (the primary)."""
    replicas: ReadReplicas | None = getattr(request.app.state, "replicas", None)
    if replicas is None or request.method not in READS:
        return None
    if getattr(request.scope.get("endpoint"), "qala_writes", False):
        return None
    return replicas.pick(getattr(request.state, "after_lsn", None))


def install(app: FastAPI) -> None:
    """Put :class:`ReadYourWrites` around the app (it does nothing without replicas)."""
    app.add_middleware(ReadYourWrites, fastapi=app)
