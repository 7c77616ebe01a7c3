"""Reading an Open311 client's input: strings, locale, dates, lists, numbers, attributes.

Open311 clients send everything as strings (query or form fields); each is checked here and
refused with :class:`Open311Error` (answered in the spec's format, status 400) naming the
field and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from api.open311 import texts


class Open311Error(Exception):
    """An error answered in the spec's format with its own HTTP status."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


def bad(description: str) -> Open311Error:
    return Open311Error(400, description)


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """FastAPI's validation error as the spec's (status, description): 404 for a format
    other than json and xml, else 400 naming each field."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        if list(err.get("loc", ()))[:2] == ["path", "format"]:
            return 404, "unsupported format: use .json or .xml"
        problems.append(f"{'.'.join(loc)}: {err.get('msg')}" if loc else str(err.get("msg")))
    return 400, "; ".join(problems) or "invalid request"


def text(value: str | None, name: str, max_length: int) -> str | None:
    """A client's string: stripped, at most ``max_length`` characters, no NUL bytes."""
    if value is None:
        return None
    value = value.strip()
    if "\x00" in value:
        raise bad(f"{name} must not contain NUL characters")
    if len(value) > max_length:
        raise bad(f"{name} is too long: at most {max_length} characters")
    return value or None


def locale(value: str | None) -> str:
    value = text(value, "locale", 8)
    if value is None:
        return "ru"
    value = value.lower()
    if value not in texts.LOCALES:
        raise bad(f"unknown locale {value!r}: ru, kk or en")
    return value


def when(value: str | None, name: str, tz: ZoneInfo) -> dt.datetime | None:
    """An ISO 8601 date-time; one without an offset is read in the city's time zone."""
    value = text(value, name, 40)
    if value is None:
        return None
    # "+05:00" arrives as " 05:00" when a client forgets to encode the plus sign
    value = re.sub(r"(\d) (\d\d:?\d\d)$", r"\1+\2", value)
    try:
        found = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad(f"{name} is not an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from exc
    if not 1970 <= found.year <= 2100:
        raise bad(f"{name} must be between 1970 and 2100")
    # in UTC: PostgreSQL refuses offsets beyond ±15:59, which Python accepts
    return (found if found.tzinfo else found.replace(tzinfo=tz)).astimezone(dt.UTC)


def codes(value: str | None, name: str, max_items: int = 100) -> list[str] | None:
    """A comma-separated list of codes, at most ``max_items`` of them."""
    value = text(value, name, 40 * max_items)
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) > max_items:
        raise bad(f"{name}: at most {max_items} values")
    return items or None


def whole(value: str | None, name: str, low: int, high: int, default: int) -> int:
    """A whole number from ``low`` to ``high``; ``default`` when not given."""
    value = text(value, name, 12)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise bad(f"{name} must be a whole number") from exc
    if not low <= number <= high:
        raise bad(f"{name} must be between {low} and {high}")
    return number


async def attribute_fields(request: Request) -> dict[str, str]:
    """``attribute[code]=value`` fields of the posted form."""
    form = await request.form()
    found = {}
    for key, value in form.multi_items():
        m = re.fullmatch(r"attribute\[([A-Za-z0-9_]{1,40})\](?:\[\])?", key)
        if m and isinstance(value, str):
            found[m.group(1)] = value
    return found


def attributes_note(code: str, given: dict[str, str]) -> str:
    """Check the answers against the service definition; the lines to add to the description.
    Attributes the service does not define are ignored."""
    lines = []
    for attr in texts.ATTRIBUTES.get(code, []):
        value = text(given.get(attr["code"]), f"attribute[{attr['code']}]", 100)
        if value is None:
            if attr["required"]:
                raise bad(f"attribute[{attr['code']}] is required for {code}")
            continue
        if attr["datatype"] == "number":
            shown = str(whole(value, f"attribute[{attr['code']}]", attr["low"], attr["high"], 0))
        else:
            names = {v["key"]: v["name"][0] for v in attr["values"]}
            if value not in names:
                raise bad(f"attribute[{attr['code']}] must be one of {', '.join(names)}")
            shown = names[value].lower()
        lines.append(f"{attr['label']}: {shown}")
    return "; ".join(lines)


def form_digest(form: dict[str, object]) -> str:
    """A digest of a posted form's fields (sorted; the ``api_key`` left out: the caller is
    scoped apart), the same for the same request however its fields were ordered."""
    kept = {k: v for k, v in sorted(form.items()) if k != "api_key" and v is not None}
    return hashlib.sha256(json.dumps(kept, ensure_ascii=False).encode()).hexdigest()
