"""What the pages keep per data version: answers that scan a city's appeals (the year's
statistics, the repair queue), kept in this process while the city's data stay as they were
and at most :data:`TTL` seconds, so that a page view costs two index look-ups instead of a
scan of millions of appeals. A new or changed appeal makes a new data version
(:func:`geo.hotspots.workers.data_version`); the queue is also keyed by the yards' planned
fields (:func:`yards_version`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from sqlalchemy import Connection, text

from geo.hotspots.workers import data_version
from geo.planning.repair_queue import PublicQueue, check_budget, compute_queue, cut_queue
from geo.staff.scope import Scope

KEEP, TTL = 16, 300.0  # as the analyses' answers (QALA_ANALYSIS_CACHE_S)


class Kept:
    """The newest :data:`KEEP` values by key, each for at most :data:`TTL` seconds."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._gates: dict[tuple, threading.Lock] = {}  # one computation a key at a time

    def get(self, key: tuple):
        """The value kept under ``key`` if it is younger than :data:`TTL`, else None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and time.monotonic() - hit[0] <= TTL:
                self._items.move_to_end(key)
                return hit[1]
        return None

    def put(self, key: tuple, value):
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > KEEP:
                self._items.popitem(last=False)
        return value

    def compute(self, key: tuple, fn):
        """The value kept under ``key``, else ``fn()``, kept. Requests that miss the same key
        at once wait for the first one's ``fn`` instead of each running their own (right
        after a new appeal every page view misses: N anonymous views, one scan)."""
        hit = self.get(key)
        if hit is not None:
            return hit
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        try:
            with gate:
                hit = self.get(key)
                if hit is None:
                    hit = self.put(key, fn())
                return hit
        finally:
            with self._lock:
                if self._gates.get(key) is gate and not gate.locked():
                    del self._gates[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


QUEUES = Kept()


def yards_version(conn: Connection, city_id: int) -> int:
    """The city's yards as the queue ranks them, cheaply (a hash of the fields a planner
    sets: ``geo.planning.repair_queue.set_repair``): a yard marked done or given dates
    leaves or moves in the queue at once, not when the next appeal arrives."""
    return conn.execute(
        text(
            "SELECT coalesce(sum(hashtext(concat_ws('|', id, repair_status, planned_start, "
            "planned_end, contractor_id, cost_estimate, last_repair_year, name))), 0) "
            "FROM yards WHERE city_id = :c"
        ),
        {"c": city_id},
    ).scalar_one()


def kept_queue(
    conn: Connection,
    scope: Scope,
    budget: float | None = None,
    version: tuple | None = None,
    compute: bool = True,
) -> PublicQueue | None:
    """The public queue (:func:`geo.planning.repair_queue.public_queue`, cut by ``budget``),
    the same for every viewer of the city. One ranking is kept per data version and cut
    for each budget asked for (an anonymous caller varying the budget costs no scan).
    ``version``: the city's data version when the caller has read it; ``compute=False``:
    None when it is not kept."""
    check_budget(budget)
    version = version or data_version(conn, scope.city_id)
    key = (scope.city_id, version, yards_version(conn, scope.city_id))
    if compute:
        ranked = QUEUES.compute(key, lambda: compute_queue(conn, scope.city_id))
    else:
        ranked = QUEUES.get(key)
    return None if ranked is None else cut_queue(ranked, budget)
