"""Default time windows of queries, held within the years a ``datetime`` can hold.

A window given by one end (the planner's year back from ``until``, the repair queue's three
years) is computed by moving that end; an end the user chose near year 1 or 9999 must not
make the move overflow (it did: ``until=0001-02-08`` answered 500).

>>> shifted(dt.datetime(1, 2, 8, tzinfo=dt.UTC), -dt.timedelta(days=365)).year
1
"""

from __future__ import annotations

import datetime as dt


def shifted(t: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``t + delta``, or the first or last moment ``datetime`` holds when that is beyond."""
    try:
        return t + delta
    except OverflowError:
        edge = dt.datetime.max if delta > dt.timedelta(0) else dt.datetime.min
        return edge.replace(tzinfo=t.tzinfo)


def window_before(
    since: dt.datetime | None, until: dt.datetime | None, span: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    """``(since, until)`` with the defaults: until now, from ``span`` before ``until``."""
    until = until or dt.datetime.now(dt.UTC)
    return since or shifted(until, -span), until


def year_window(
    since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """The window of a planner's query: by default until now, from a year before ``until``."""
    return window_before(since, until, dt.timedelta(days=365))
