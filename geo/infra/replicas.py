"""Read replicas: which hot standby may answer a read, or none (then the primary does).

PostgreSQL's streaming hot standbys (``QALA_READ_DATABASE_URLS``; ``qala db up --standby``
makes one locally) answer what only reads. A standby may trail the primary, so two rules
decide whether one may serve a read:

* **lag**: a standby that has received WAL it has not yet replayed for longer than
  ``QALA_READ_MAX_LAG_S`` seconds (``now() - pg_last_xact_replay_timestamp()`` while its
  replay position is behind what it received; an idle primary is no lag) is skipped, and so
  is one that cannot be reached (asked again after a few seconds);
* **read-your-writes**: a caller that has just written carries the primary's WAL position
  after its write (an LSN; ``api.reads`` hands it out as a cookie and a header and remembers
  it per credential); its reads go to a standby only once that standby has replayed up to
  it (``pg_last_wal_replay_lsn()``), else to the primary. So an appeal written and read back
  at once by the same caller is always found, whichever server answers.

The state of each standby (position, lag) is asked at most once a second, by one thread at
a time; the others use the last answer. Standbys that qualify take turns.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("qala.replicas")

#: position (bytes of WAL; the primary's own when it is not in recovery, e.g. promoted) and
#: seconds of replay lag of a server
STATE_SQL = text(
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint, "
    "CASE WHEN NOT pg_is_in_recovery() "
    "  OR pg_last_wal_receive_lsn() IS NULL "
    "  OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)
#: the primary's WAL position now (after a caller's commit: at or past that commit)
PRIMARY_LSN_SQL = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL writes it.

    >>> lsn_text(0x1_0000_00A0)
    '1/A0'
    """
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(value: str | None) -> int | None:
    """An LSN (``'1/A0'``, or its number of bytes) from a cookie or header; None if absent
    or malformed.

    >>> parse_lsn('1/A0'), parse_lsn('4294967456'), parse_lsn('x/y'), parse_lsn(None)
    (4294967456, 4294967456, None, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        if "/" in value:
            hi, lo = value.split("/", 1)
            return (int(hi, 16) << 32) + int(lo, 16)
        return int(value) if len(value) < 24 else None
    except ValueError:
        return None


@dataclass
class Standby:
    """One read replica and what it said last."""

    engine: Engine
    lsn: int = -1
    lag_s: float = 0.0
    up: bool = False
    checked: float = float("-inf")

    @property
    def name(self) -> str:
        url = self.engine.url
        return f"{url.host}:{url.port}"


class ReadReplicas:
    """The standbys of ``QALA_READ_DATABASE_URLS`` and the choice among them.

    Parameters
    ----------
    engines
        One engine per standby (the service role's, like the primary's).
    max_lag_s
        A standby trailing by more is not used.
    check_s
        How often a standby's position and lag are asked (seconds); one that could not
        be reached is asked again after ``4 * check_s``.
    """

    def __init__(self, engines: list[Engine], max_lag_s: float, check_s: float = 1.0):
        self.standbys = [Standby(e) for e in engines]
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def refresh(self, standby: Standby) -> Standby:
        """Ask ``standby`` for its position and lag now."""
        try:
            with standby.engine.connect() as conn:
                lsn, lag = conn.execute(STATE_SQL).one()
            standby.lsn, standby.lag_s, standby.up = int(lsn), float(lag), True
        except DBAPIError as exc:
            if standby.up:
                log.warning("read replica %s not usable: %s", standby.name, type(exc).__name__)
            standby.up = False
        standby.checked = time.monotonic()
        return standby

    def _fresh(self, standby: Standby) -> Standby:
        age = time.monotonic() - standby.checked
        due = self.check_s if standby.up else 4 * self.check_s
        if age >= due and self._lock.acquire(blocking=False):
            try:  # one thread asks; the others go on with the last answer
                self.refresh(standby)
            finally:
                self._lock.release()
        return standby

    def pick(self, after_lsn: int | None = None) -> Engine | None:
        """A standby's engine for a read, or None: the primary must answer.

        ``after_lsn``: the caller's last write; only a standby that has replayed it may
        answer (asked once more before giving up on it)."""
        n = len(self.standbys)
        if not n:
            return None
        start = next(self._turn) % n
        for i in range(n):
            standby = self._fresh(self.standbys[(start + i) % n])
            if not standby.up or standby.lag_s > self.max_lag_s:
                continue
            behind = after_lsn is not None and standby.lsn < after_lsn
            if behind and (self.refresh(standby).lsn < after_lsn or not standby.up):
                continue
            return standby.engine
        return None

    def dispose(self) -> None:
        for standby in self.standbys:
            standby.engine.dispose()
