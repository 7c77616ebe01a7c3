"""What a request asks of a layer: filter values checked against the layer's declaration and
compiled to SQL conditions with bound parameters.

Times are half-open windows ``[since, until)`` in UTC; a bare date is the start of that UTC
day. The OGC ``datetime`` parameter (an instant or a closed interval) is turned into the same
window, so tiles and features filter alike.

>>> sel = Selection.parse(get_layer("appeals"), {"status": "registered,assigned"})
>>> sel.conditions()[0]
['src.status = ANY(:f_status)']
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from layers.registry import Filter, Layer, get_layer

UTC = dt.UTC
BIGINT = 2**63 - 1
TICK = dt.timedelta(microseconds=1)  # timestamptz resolution: closes an inclusive end
MAX_VALUES = 100
CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class BadQuery(ValueError):
    """A query parameter is malformed; the message says which and how to write it."""


def parse_instant(text: str, name: str, *, end: bool = False) -> dt.datetime:
    """An RFC 3339 date-time (``Z`` or an offset; none means UTC) or a date.

    A date stands for the start of its UTC day, or with ``end=True`` for the start of the
    next day (so that ``until=2026-03-31`` keeps the whole of 31 March).

    >>> parse_instant("2026-03-01", "since").isoformat()
    '2026-03-01T00:00:00+00:00'
    >>> parse_instant("2026-03-31", "until", end=True).isoformat()
    '2026-04-01T00:00:00+00:00'
    """
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            start = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), UTC)
            value = start + dt.timedelta(days=1) if end else start
        else:
            value = dt.datetime.fromisoformat(text)
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadQuery(
            f"{name}: {text!r} is not an RFC 3339 date-time such as "
            "2026-03-01T08:00:00Z, nor a date such as 2026-03-01"
        ) from None
    if not 1000 <= value.year <= 9998:
        raise BadQuery(f"{name}: {text!r} is outside the years 1000..9998")
    return value


def parse_datetime_param(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The OGC ``datetime`` parameter as a half-open window ``[since, until)``.

    An instant matches itself (a date: its whole day); an interval ``start/end`` is closed,
    ``..`` or an empty side leaves it open.

    >>> [t.isoformat() for t in parse_datetime_param("2026-01-01/2026-01-31")]
    ['2026-01-01T00:00:00+00:00', '2026-02-01T00:00:00+00:00']
    """
    text = text.strip()
    if not text:
        raise BadQuery(
            "datetime: empty; give an instant (2026-03-01T08:00:00Z) or an "
            "interval (2026-03-01/2026-03-31, ../2026-03-31, 2026-03-01/..)"
        )
    if "/" not in text:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return parse_instant(text, "datetime"), parse_instant(text, "datetime", end=True)
        at = parse_instant(text, "datetime")
        return at, at + TICK
    parts = text.split("/")
    if len(parts) != 2:
        raise BadQuery(f"datetime: {text!r} has more than one '/'; an interval is start/end")
    start, end = (p.strip() for p in parts)
    if start in ("", "..") and end in ("", ".."):
        raise BadQuery("datetime: an interval needs at least one bound, e.g. 2026-03-01/..")
    since = None if start in ("", "..") else parse_instant(start, "datetime")
    until = None
    if end not in ("", ".."):
        until = (
            parse_instant(end, "datetime", end=True)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", end)
            else parse_instant(end, "datetime") + TICK
        )
    if since and until and since >= until:
        raise BadQuery(f"datetime: the interval {text!r} ends before it starts")
    return since, until


def _values(f: Filter, text: str) -> list:
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise BadQuery(f"{f.name}: give one or more comma-separated values")
    if len(items) > MAX_VALUES:
        raise BadQuery(f"{f.name}: at most {MAX_VALUES} values")
    if f.value_type == "int":
        try:
            numbers = [int(v) for v in items]
        except ValueError:
            raise BadQuery(f"{f.name}: {text!r} must be comma-separated integers") from None
        if any(abs(n) > BIGINT for n in numbers):
            raise BadQuery(f"{f.name}: a value is out of range")
        return numbers
    if f.values:
        wrong = [v for v in items if v not in f.values]
        if wrong:
            raise BadQuery(
                f"{f.name}: unknown value(s) {', '.join(wrong)}; one of {', '.join(f.values)}"
            )
    for v in items:
        if not CODE.match(v):
            raise BadQuery(f"{f.name}: {v!r} is not a code (letters, digits, _ . -)")
    return items


def _flag(f: Filter, text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise BadQuery(f"{f.name}: {text!r} must be true or false")


@dataclass
class Selection:
    """Checked filter values for one layer (and the organisation an executor is limited to).

    ``values`` maps a filter's name to a list (``in``), an aware datetime (``since``,
    ``until``), a bool (``flag``) or an int (``min``).
    """

    layer: Layer
    values: dict[str, object] = field(default_factory=dict)
    scope: int | None = None

    @classmethod
    def parse(
        cls,
        layer: Layer,
        raw: dict[str, str | None],
        datetime: str | None = None,
        scope: int | None = None,
    ) -> Selection:
        """Check the raw query values of ``layer``'s filters (``None`` = not given)."""
        values: dict[str, object] = {}
        for name, text in raw.items():
            f = layer.filter(name)
            if f is None:
                raise BadQuery(f"{name}: layer {layer.name!r} has no such filter")
            if text is None:
                continue
            if f.kind == "in":
                values[name] = _values(f, text)
            elif f.kind in ("since", "until"):
                values[name] = parse_instant(text, name, end=f.kind == "until")
            elif f.kind == "flag":
                values[name] = _flag(f, text)
            else:
                try:
                    values[name] = int(text)
                except ValueError:
                    raise BadQuery(f"{name}: {text!r} must be an integer") from None
                if abs(values[name]) > BIGINT:
                    raise BadQuery(f"{name}: {text!r} is out of range")
        sel = cls(layer, values, scope)
        if datetime is not None:
            if not layer.time_column:
                raise BadQuery(f"datetime: layer {layer.name!r} has no time to filter on")
            sel.narrow(*parse_datetime_param(datetime))
        since, until = sel.window
        if since and until and since >= until:
            raise BadQuery(
                f"since/until: the window [{since.isoformat()}, {until.isoformat()}) is empty"
            )
        return sel

    @property
    def time_filters(self) -> tuple[Filter | None, Filter | None]:
        """The layer's ``since`` and ``until`` filters (``None`` where it has none)."""
        fs = self.layer.filters
        return (
            next((f for f in fs if f.kind == "since"), None),
            next((f for f in fs if f.kind == "until"), None),
        )

    @property
    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The time window ``[since, until)`` asked for (``None`` = open)."""
        fs, fu = self.time_filters
        return (self.values.get(fs.name) if fs else None, self.values.get(fu.name) if fu else None)

    def narrow(self, since: dt.datetime | None, until: dt.datetime | None) -> None:
        """Intersect the time window with ``[since, until)``."""
        fs, fu = self.time_filters
        old_since, old_until = self.window
        if since is not None and fs:
            self.values[fs.name] = max(since, old_since) if old_since else since
        if until is not None and fu:
            self.values[fu.name] = min(until, old_until) if old_until else until

    def given(self, kind: str) -> list[Filter]:
        """The declared filters of ``kind`` that this request uses."""
        return [f for f in self.layer.filters if f.kind == kind and f.name in self.values]

    def conditions(
        self,
        alias: str = "src",
        skip: tuple[str, ...] = (),
    ) -> tuple[list[str], dict]:
        """SQL conditions over the source (as ``alias``) and their bound parameters.

        Filters named in ``skip`` are left out (the caller handles them itself).
        """
        conds: list[str] = []
        params: dict[str, object] = {}
        for f in self.layer.filters:
            if f.name in skip or f.name not in self.values:
                continue
            value, key = self.values[f.name], f"f_{f.name}"
            col = f"{alias}.{f.column}"
            if f.kind == "in":
                conds.append(f"{col} = ANY(:{key})")
            elif f.kind == "since" or f.kind == "min":
                conds.append(f"{col} >= :{key}")
            elif f.kind == "until":
                conds.append(f"{col} < :{key}")
            else:
                conds.append(f"({f.sql})" if value else f"NOT ({f.sql})")
                continue
            params[key] = value
        if self.scope is not None and self.layer.scope_column:
            conds.append(f"{alias}.{self.layer.scope_column} = :scope_org")
            params["scope_org"] = self.scope
        return conds, params


__all__ = ["BadQuery", "Selection", "get_layer", "parse_datetime_param", "parse_instant"]
