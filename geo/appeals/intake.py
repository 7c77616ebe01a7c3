"""Registering appeals: validate, locate, route, deadline, repeats, preview and create.

Every channel (the operator's form, a channel's API key, Open311) goes through the same
checks and the same PL/pgSQL functions (migration 0005). An appeal is written in one
transaction with its first event and the repeat counter of its object; the API acknowledges
only after the commit (``synchronous_commit`` is on in the service's cluster), so an
acknowledged appeal survives a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.infra.errors import InvalidInput, KeyReused, NotFound
from geo.models import CHANNELS, DESCRIPTION_MAX, LOCATED_BY, MEDIA_URL_MAX

# snapping radii (well 50 m, building 40 m, yard 30 m, street 120 m): see qala_locate in
# migrations/versions/0005_appeal_functions.py


def degree_box(lat: float, metres: float) -> tuple[float, float]:
    """Half-width and half-height in degrees of a lon/lat box that holds every point within
    ``metres`` (on the spheroid) of a point at latitude ``lat``, with a 10 % margin.

    The box goes into ``geom && ST_Expand(point, dx, dy)`` next to the exact
    ``ST_DWithin(geom::geography, ...)``: the same answer, but the GiST index on ``geom``
    can be used (a cast to geography cannot). A degree of latitude is at least 110 574 m,
    a degree of longitude at least 111 319 m * cos(latitude) (taken at the box's edge
    nearest to the pole). Near a pole the box is the whole world.
    """
    dy = metres / 110_574.0 * 1.1
    edge = abs(lat) + dy
    if edge >= 89.0:
        return 360.0, 180.0
    return metres / (111_319.0 * math.cos(math.radians(edge))) * 1.1, dy


@dataclass
class NewAppeal:
    category: str
    lon: float
    lat: float
    channel: str = "phone_109"
    description: str = ""
    located_by: str = "click"
    object_kind: str | None = None  # set with object_id when the operator picked the object
    object_id: int | None = None
    address_text: str | None = None
    applicant_name: str | None = None
    applicant_phone: str | None = None
    applicant_email: str | None = None
    first_call_resolved: bool = False
    idempotency_key: str | None = None
    repeat_of: str | None = None  # a registration number the operator chose as the original
    # the hash of the request as the channel sent it (see request_hash); None: of these fields
    request_hash: str | None = None


@dataclass
class Located:
    """What the map says about a point for a category: object, district, body, deadline."""

    object_kind: str
    object_id: int | None
    object_label: str | None
    district_id: int | None
    district_name: str | None
    organisation_id: int | None
    organisation_name: str | None
    routed_by: str
    deadline_hours: int
    criticality: str
    candidates: list[dict] = field(default_factory=list)


def _coords_ok(lon: float, lat: float) -> bool:
    return -180 <= lon <= 180 and -90 <= lat <= 90


def _check_coords(lon: float, lat: float) -> None:
    if not _coords_ok(lon, lat):
        raise InvalidInput(
            f"malformed coordinates: lon={lon}, lat={lat} (lon -180..180, "
            "lat -90..90; GeoJSON order is lon, lat)"
        )


def _check_inside(inside: bool | None, city_id: int, lon: float, lat: float) -> None:
    if inside is None:
        raise NotFound(f"no city with id {city_id}")
    if not inside:
        raise InvalidInput(f"the point ({lon:.6f}, {lat:.6f}) is outside the city")


def check_point(conn: Connection, city_id: int, lon: float, lat: float) -> None:
    _check_coords(lon, lat)
    inside = conn.execute(
        text(
            "SELECT ST_Covers(bounds, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) FROM cities "
            "WHERE id = :c"
        ),
        {"x": lon, "y": lat, "c": city_id},
    ).scalar()
    _check_inside(inside, city_id, lon, lat)


def _unknown_category(code: str) -> InvalidInput:
    return InvalidInput(f"unknown category {code!r}: see GET /api/v1/categories")


def category(conn: Connection, code: str) -> dict:
    row = conn.execute(text("SELECT * FROM categories WHERE code = :c"), {"c": code}).mappings()
    found = row.first()
    if found is None:
        raise _unknown_category(code)
    return dict(found)


# The rules of locating, routing, repeats and registration are PL/pgSQL functions (migration
# 0005): planned once per connection, one round trip each. They return ``problem`` and
# ``problem_kind`` instead of raising, so nothing is written and the transaction stays usable.
LOCATE_SQL = text("SELECT * FROM qala_locate(:c, :cat, :x, :y, :ok, :oid)")
REPEATS_SQL = text("SELECT * FROM qala_repeat_candidates(:c, :cat, :ok, :oid, :x, :y, :at)")
# the arguments of qala_create_appeal in order, as named parameters (SQLAlchemy); the API's
# write path (asyncpg, one statement in autocommit) calls ``qala_create_appeal_as`` with two
# more, positional: it first sets the transaction's scope (city and role from the arguments,
# the caller's organisation and user) for row-level security (migration 0011), then
# registers, so the write stays one round trip
CREATE_ARGS = (
    "c", "cat", "x", "y", "channel", "descr", "located_by", "ok", "oid", "addr", "name",
    "phone", "email", "fcr", "key", "repeat_of", "actor", "role", "caller", "request_hash",
)  # fmt: skip
CREATE_AS_ARGS = (*CREATE_ARGS, "org", "user")
_CREATE = "SELECT f.created, f.problem, f.problem_kind, (f.card).*\nFROM {}({}) AS f"
CREATE_SQL = text(_CREATE.format("qala_create_appeal", ", ".join(f":{a}" for a in CREATE_ARGS)))
CREATE_AS_SQL_POSITIONAL = _CREATE.format(
    "qala_create_appeal_as", ", ".join(f"${i}" for i in range(1, len(CREATE_AS_ARGS) + 1))
)
_NOT_CARD = ("created", "problem", "problem_kind")


PROBLEMS = {"not_found": NotFound, "key_reused": KeyReused}


def _raise_problem(row) -> None:
    """Turn a function's ``problem`` (a row or mapping with ``problem``/``problem_kind``)
    into the domain error the API maps to a 4xx."""
    if row["problem"]:
        raise PROBLEMS.get(row["problem_kind"], InvalidInput)(row["problem"])


def locate(
    conn: Connection,
    city_id: int,
    category_code: str,
    lon: float,
    lat: float,
    object_kind: str | None = None,
    object_id: int | None = None,
) -> Located:
    """Snap the point to the category's kind of object and route it to the responsible body.

    Routing (``qala_locate`` in the database): a well's owner for well categories, the
    building's housing organisation for housing categories, otherwise the organisation of the
    category's kind whose service area holds the point (the smallest such area); the
    district akimat when none is found.
    """
    r = conn.execute(
        LOCATE_SQL,
        {
            "c": city_id,
            "cat": category_code,
            "x": lon,
            "y": lat,
            "ok": object_kind or None,
            "oid": object_id,
        },
    ).one()
    _raise_problem(r._mapping)
    return Located(
        object_kind=r.object_kind,
        object_id=r.object_id,
        object_label=r.object_label,
        district_id=r.district_id,
        district_name=r.district_name,
        organisation_id=r.organisation_id,
        organisation_name=r.organisation_name,
        routed_by=r.routed_by,
        deadline_hours=r.deadline_hours,
        criticality=r.criticality,
    )


def repeat_candidates(
    conn: Connection,
    city_id: int,
    category_code: str,
    loc: Located,
    lon: float,
    lat: float,
    at: dt.datetime | None = None,
) -> list[dict]:
    """Earlier appeals this one would repeat: same category, same object or within the
    category's radius, within its time window; same-object first, then nearest."""
    rows = conn.execute(
        REPEATS_SQL,
        {
            "c": city_id,
            "cat": category_code,
            "ok": loc.object_kind,
            "oid": loc.object_id if loc.object_id is not None else -1,
            "x": lon,
            "y": lat,
            "at": at or dt.datetime.now(dt.UTC),
        },
    ).mappings()
    return [dict(r) for r in rows]


_TEXT_FIELDS = (
    "category", "channel", "description", "located_by", "object_kind", "address_text",
    "applicant_name", "applicant_phone", "applicant_email", "idempotency_key", "repeat_of",
)  # fmt: skip


def media_url(url: str) -> str:
    """A photo's or video's link checked for storing: an absolute http(s) URL with a host, at
    most :data:`~geo.models.MEDIA_URL_MAX` characters, without spaces or control characters.

    >>> media_url("https://example.kz/p/1.jpg")
    'https://example.kz/p/1.jpg'

    Raises
    ------
    InvalidInput
        With what is wrong with it.
    """
    url = url.strip()
    if len(url) > MEDIA_URL_MAX:
        raise InvalidInput(f"media_url is longer than {MEDIA_URL_MAX} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("media_url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidInput(f"media_url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("media_url must be an http:// or https:// address with a host")
    return url


def add_media(conn: Connection, city_id: int, appeal_id: int, url: str) -> None:
    """Keep a link to a photo or video of the appeal (checked by :func:`media_url`)."""
    conn.execute(
        text("INSERT INTO appeal_media (city_id, appeal_id, url) VALUES (:c, :a, :u)"),
        {"c": city_id, "a": appeal_id, "u": media_url(url)},
    )


def validate(new: NewAppeal) -> None:
    for name in _TEXT_FIELDS:  # no driver sends a NUL byte to PostgreSQL: say so first
        if "\x00" in (getattr(new, name) or ""):
            raise InvalidInput(f"{name}: text must not contain NUL (\\x00) characters")
    if new.channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {new.channel!r}: one of {', '.join(CHANNELS)}")
    if new.located_by not in LOCATED_BY:
        raise InvalidInput(f"unknown located_by {new.located_by!r}: one of {', '.join(LOCATED_BY)}")
    if len(new.description or "") > DESCRIPTION_MAX:
        raise InvalidInput(
            f"the description has {len(new.description)} characters; "
            f"at most {DESCRIPTION_MAX} are allowed"
        )


def preview(conn: Connection, city_id: int, new: NewAppeal) -> Located:
    """Everything the operator sees before saving: object, body, deadline, repeat candidates."""
    validate(new)
    check_point(conn, city_id, new.lon, new.lat)
    loc = locate(conn, city_id, new.category, new.lon, new.lat, new.object_kind, new.object_id)
    loc.candidates = repeat_candidates(conn, city_id, new.category, loc, new.lon, new.lat)
    return loc


def ensure_sequence(conn: Connection, city_id: int, year: int) -> str:
    """The registration-number sequence of a city and year (created on first use)."""
    name = sequence_name(city_id, year)
    conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name}"))
    return name


def sequence_name(city_id: int, year: int) -> str:
    """As ``qala_create_appeal`` names it: registration numbers of a city and UTC year."""
    return f"appeal_seq_{int(city_id)}_{int(year)}"


def caller_of(actor: Actor) -> str:
    """Whose idempotency keys these are: one channel API key (``key:<id>``), one staff user
    (``user:<id>``), else the actor's role and name. Two callers never share a key.

    >>> caller_of(Actor(name="operator", role="operator", user_id=7))
    'user:7'
    """
    if actor.key_id is not None:
        return f"key:{actor.key_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"{actor.role}:{actor.name}"


def request_hash(new: NewAppeal) -> str:
    """The SHA-256 (hex) of what an appeal request asks for: every field of ``new`` but the
    key itself, so the same request under the same key is recognised and another one is
    not. A channel may set ``new.request_hash`` to the hash of its own request instead
    (Open311 hashes the posted form, attributes and photo link included)."""
    if new.request_hash:
        return new.request_hash
    fields = asdict(new)
    fields.pop("idempotency_key")
    fields.pop("request_hash")
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_params(city_id: int, new: NewAppeal, actor: Actor) -> dict:
    """The checked arguments of ``qala_create_appeal`` (what Python checks itself first)."""
    validate(new)
    _check_coords(new.lon, new.lat)
    keyed = bool(new.idempotency_key)
    return {
        "c": city_id,
        "cat": new.category,
        "x": new.lon,
        "y": new.lat,
        "channel": new.channel,
        "descr": new.description or "",
        "located_by": new.located_by,
        "ok": new.object_kind or None,
        "oid": new.object_id,
        "addr": new.address_text,
        "name": new.applicant_name,
        "phone": new.applicant_phone,
        "email": new.applicant_email,
        "fcr": new.first_call_resolved,
        "key": new.idempotency_key or None,
        "repeat_of": new.repeat_of,
        "actor": actor.name,
        "role": actor.role,
        "caller": caller_of(actor),
        "request_hash": request_hash(new) if keyed else None,
    }


def created_card(row: dict) -> tuple[dict, bool]:
    """(the appeal, created) from a row of ``CREATE_SQL``; a refusal raises its error."""
    _raise_problem(row)
    return {k: v for k, v in row.items() if k not in _NOT_CARD}, row["created"]


def create_appeal(
    conn: Connection, city_id: int, new: NewAppeal, actor: Actor
) -> tuple[dict, bool]:
    """Register an appeal; returns (the appeal, created). A key the same caller sent before
    with the same request returns the first appeal with ``created=False``; with another
    request it raises :class:`~geo.infra.errors.KeyReused`. Keys of different callers
    (:func:`caller_of`) never meet. Runs in the caller's transaction (or, on an autocommit
    connection, is one transaction of its own).

    One round trip: ``qala_create_appeal`` checks the key, the city's bounds and the
    category, locates and routes, links the repeat, numbers, writes the appeal, its
    contacts, its first event(s) and the object's repeat counter, and returns the appeal
    as ``get_appeal`` reads it (without contacts). The API's write path sends the same
    call through asyncpg (``api.deps.Db.create_appeal``).
    """
    row = conn.execute(CREATE_SQL, create_params(city_id, new, actor)).mappings().one()
    return created_card(dict(row))


_KEYED_SQL = text(
    "SELECT v.* FROM appeals a JOIN appeal_cards v ON v.city_id = a.city_id AND v.id = a.id "
    "WHERE a.city_id = :c AND a.idempotency_caller = :caller AND a.idempotency_key = :key"
)


def appeal_by_key(conn: Connection, city_id: int, actor: Actor, key: str) -> dict | None:
    """The appeal ``actor`` registered under an idempotency key.

    Parameters
    ----------
    conn
        A connection.
    city_id
        The city.
    actor
        Who sent the key (its keys are its own: :func:`caller_of`).
    key
        The idempotency key.

    Returns
    -------
    dict or None
        The appeal as ``appeal_cards`` shows it, or ``None`` when the caller has no appeal
        under that key.
    """
    row = conn.execute(_KEYED_SQL, {"c": city_id, "caller": caller_of(actor), "key": key})
    found = row.mappings().first()
    return dict(found) if found else None
