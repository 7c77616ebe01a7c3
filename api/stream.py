"""Changes of appeals pushed to the staff pages: PostgreSQL LISTEN/NOTIFY to Server-Sent
Events.

Migration 0014's trigger sends ``NOTIFY qala_appeals`` with a small JSON payload after every
statement that writes an appeal's event or note (the commit delivers it). One
:class:`AppealHub` per process holds one connection that LISTENs and hands each payload to
the subscribers it concerns: the same city, and for an executor only its organisation's
appeals (the one it had before a reassignment too, so it sees the appeal leave). A bulk
load is one ``bulk`` word per city. When the listening connection is lost, every subscriber
is told (its stream ends); the page reconnects and refetches what it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import asyncpg

from geo.staff.scope import Scope

log = logging.getLogger("qala.stream")
CHANNEL = "qala_appeals"  # migration 0014
QUEUE_MAX = 1000  # a subscriber this far behind is dropped (it reconnects and refetches)


@dataclass(eq=False)
class Subscriber:
    """One open stream: its scope and the payloads waiting for it (``None``: the end)."""

    scope: Scope
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))

    def wants(self, change: dict) -> bool:
        if change.get("city") != self.scope.city_id:
            return False
        actor = self.scope.actor
        if actor.role != "executor" or change.get("kind") == "bulk":
            return True
        return actor.organisation_id in (change.get("org"), change.get("previous_org"))


class AppealHub:
    """The process's one LISTEN connection and its subscribers (connects on first use)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._subs: set[Subscriber] = set()
        self._lock = asyncio.Lock()

    async def subscribe(self, scope: Scope) -> Subscriber:
        """A new subscriber, listening before this returns (nothing committed after it is
        missed)."""
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self.dsn, timeout=5, server_settings={"application_name": "qala-stream"}
                )
                self._conn.add_termination_listener(self._lost)
                await self._conn.add_listener(CHANNEL, self._notified)
            sub = Subscriber(scope)
            self._subs.add(sub)
            return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)

    def _notified(self, conn, pid, channel, payload: str) -> None:
        try:
            change = json.loads(payload)
        except ValueError:
            log.warning("unreadable notification on %s", channel)
            return
        for sub in list(self._subs):
            if sub.wants(change):
                try:
                    sub.queue.put_nowait(change)
                except asyncio.QueueFull:  # too far behind: end it, the page refetches
                    self._subs.discard(sub)
                    sub.queue = asyncio.Queue(1)
                    sub.queue.put_nowait(None)

    def _lost(self, conn) -> None:
        log.warning("the stream's LISTEN connection was lost; subscribers reconnect")
        self._conn = None
        for sub in list(self._subs):
            self._end(sub)
        self._subs.clear()

    @staticmethod
    def _end(sub: Subscriber) -> None:
        try:
            sub.queue.put_nowait(None)
        except asyncio.QueueFull:
            sub.queue = asyncio.Queue(1)
            sub.queue.put_nowait(None)

    async def close(self) -> None:
        for sub in list(self._subs):
            self._end(sub)
        self._subs.clear()
        if self._conn is not None and not self._conn.is_closed():
            self._conn.remove_termination_listener(self._lost)  # closing is not losing
            await self._conn.close()
        self._conn = None


def message(change: dict) -> str:
    """One Server-Sent Event for a change: what a page needs to refresh (the number, the
    state, what changed), no organisation ids, no personal data."""
    data = {k: change.get(k) for k in ("kind", "reg", "status")}
    return f"event: appeal\ndata: {json.dumps(data)}\n\n"
