"""Registering appeals: locate, route, deadline, repeats, and the lifecycle.

An appeal is written in one transaction with its first event and the repeat counter of its
object; the API acknowledges only after the commit (``synchronous_commit`` is on in the
service's cluster), so an acknowledged appeal survives a crash.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import Connection, text

from geo.errors import Conflict, Forbidden, InvalidInput, NotFound
from geo.models import APPEAL_STATES, CHANNELS, DESCRIPTION_MAX, LOCATED_BY, MEDIA_URL_MAX

# who may move an appeal from which state to which
TRANSITIONS: dict[str, set[str]] = {
    "registered": {"assigned", "rejected", "duplicate", "resolved", "deferred"},
    "assigned": {"assigned", "in_progress", "resolved", "rejected", "deferred", "duplicate"},
    "in_progress": {"resolved", "deferred", "assigned"},
    "resolved": {"closed", "reopened"},
    "closed": {"reopened"},
    "rejected": {"reopened"},
    "deferred": {"assigned", "in_progress"},
    "duplicate": {"reopened"},
    "reopened": {"assigned", "in_progress", "resolved"},
}
ROLE_TARGETS: dict[str, set[str]] = {
    "operator": {"resolved", "duplicate"},
    "inspector": set(APPEAL_STATES) - {"registered"},
    "executor": {"in_progress", "resolved", "deferred"},
    "controller": {"closed", "reopened", "assigned"},
    "planner": {"deferred"},
    "admin": set(APPEAL_STATES) - {"registered"},
}
OPEN_STATES = ("registered", "assigned", "in_progress", "reopened", "deferred")
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
class Actor:
    """Who does something: a staff user, a channel integration, or the public."""

    name: str
    role: str  # operator, inspector, executor, controller, planner, admin, channel, public
    organisation_id: int | None = None
    user_id: int | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in {"operator", "inspector", "controller", "planner", "admin"}

    @property
    def sees_contacts(self) -> bool:
        return self.role in {"operator", "inspector", "controller", "admin", "executor"}


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
# the arguments of qala_create_appeal in order, as named parameters (SQLAlchemy) and as
# positional ones ($1 ... for asyncpg, which the API's write path uses)
CREATE_ARGS = (
    "c", "cat", "x", "y", "channel", "descr", "located_by", "ok", "oid", "addr", "name",
    "phone", "email", "fcr", "key", "repeat_of", "actor", "role",
)  # fmt: skip
_CREATE = (
    "SELECT f.created, f.problem, f.problem_kind, (f.card).*\nFROM qala_create_appeal({}) AS f"
)
CREATE_SQL = text(_CREATE.format(", ".join(f":{a}" for a in CREATE_ARGS)))
CREATE_SQL_POSITIONAL = _CREATE.format(", ".join(f"${i}" for i in range(1, len(CREATE_ARGS) + 1)))
_NOT_CARD = ("created", "problem", "problem_kind")


def _raise_problem(row) -> None:
    """Turn a function's ``problem`` (a row or mapping with ``problem``/``problem_kind``)
    into the domain error the API maps to a 4xx."""
    if row["problem"]:
        raise (NotFound if row["problem_kind"] == "not_found" else InvalidInput)(row["problem"])


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


def media(conn: Connection, city_id: int, appeal_id: int) -> list[str]:
    """The links to photos and videos of an appeal, first added first."""
    return list(
        conn.execute(
            text("SELECT url FROM appeal_media WHERE city_id = :c AND appeal_id = :a ORDER BY id"),
            {"c": city_id, "a": appeal_id},
        ).scalars()
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


def create_params(city_id: int, new: NewAppeal, actor: Actor) -> dict:
    """The checked arguments of ``qala_create_appeal`` (what Python checks itself first)."""
    validate(new)
    _check_coords(new.lon, new.lat)
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
    }


def created_card(row: dict) -> tuple[dict, bool]:
    """(the appeal, created) from a row of ``CREATE_SQL``; a refusal raises its error."""
    _raise_problem(row)
    return {k: v for k, v in row.items() if k not in _NOT_CARD}, row["created"]


def create_appeal(
    conn: Connection, city_id: int, new: NewAppeal, actor: Actor
) -> tuple[dict, bool]:
    """Register an appeal; returns (the appeal, created). A re-sent idempotency key returns
    the first appeal with ``created=False``. Runs in the caller's transaction (or, on an
    autocommit connection, is one transaction of its own).

    One round trip: ``qala_create_appeal`` checks the key, the city's bounds and the
    category, locates and routes, links the repeat, numbers, writes the appeal, its
    contacts, its first event(s) and the object's repeat counter, and returns the appeal
    as ``get_appeal`` reads it (without contacts). The API's write path sends the same
    call through asyncpg (``api.deps.Db.create_appeal``).
    """
    row = conn.execute(CREATE_SQL, create_params(city_id, new, actor)).mappings().one()
    return created_card(dict(row))


def log_event(
    conn: Connection,
    city_id: int,
    appeal_id: int,
    actor: Actor,
    from_status,
    to_status: str,
    organisation_id,
    comment: str | None,
) -> None:
    conn.execute(
        text("""
        INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                                   organisation_id, comment)
        VALUES (:c, :a, :actor, :role, :f, :t, :o, :cm)"""),
        {
            "c": city_id,
            "a": appeal_id,
            "actor": actor.name,
            "role": actor.role,
            "f": from_status,
            "t": to_status,
            "o": organisation_id,
            "cm": comment,
        },
    )


# An appeal as readers see it: the view appeal_cards (migration 0005); callers add
# "AND a.<column> ..." conditions and ORDER BY.
APPEAL_SQL = "SELECT a.* FROM appeal_cards a WHERE a.city_id = :c"


def get_appeal(
    conn: Connection,
    city_id: int,
    reg_number: str | None = None,
    appeal_id: int | None = None,
    actor: Actor | None = None,
) -> dict:
    """One appeal by number or id. With a staff ``actor``: checks the organisation and adds
    contacts where the role may see them. Without one: no personal data at all."""
    where, key = ("a.reg_number = :k", reg_number) if reg_number else ("a.id = :k", appeal_id)
    row = conn.execute(text(APPEAL_SQL + f" AND {where}"), {"c": city_id, "k": key}).mappings()
    found = row.first()
    if found is None:
        raise NotFound(
            f"no appeal with registration number {reg_number!r}"
            if reg_number
            else f"no appeal with id {appeal_id}"
        )
    appeal = dict(found)
    if actor is not None:
        for_staff(conn, city_id, appeal, actor)
    return appeal


def for_staff(conn: Connection, city_id: int, appeal: dict, actor: Actor) -> dict:
    """An appeal as a staff ``actor`` may see it: checks the organisation and adds the
    applicant's contacts where the role may see them (in place; returned too)."""
    check_can_see(actor, appeal)
    if actor.sees_contacts:
        contact = (
            conn.execute(
                text(
                    "SELECT name, phone, email FROM appeal_contacts "
                    "WHERE city_id = :c AND appeal_id = :a"
                ),
                {"c": city_id, "a": appeal["id"]},
            )
            .mappings()
            .first()
        )
        appeal["applicant"] = dict(contact) if contact else None
    return appeal


def check_can_see(actor: Actor, appeal: dict) -> None:
    if actor.sees_everything:
        return
    if actor.role == "executor" and appeal["organisation_id"] == actor.organisation_id:
        return
    raise Forbidden("this appeal is assigned to another organisation")


def history(conn: Connection, city_id: int, appeal_id: int, staff: bool = False) -> list[dict]:
    """The event log of an appeal, oldest first; the public sees roles, not names."""
    rows = conn.execute(
        text("""
        SELECT e.at, e.from_status, e.to_status, e.actor, e.actor_role, e.comment,
               o.name_ru AS organisation_ru
        FROM appeal_events e
        LEFT JOIN organisations o ON o.city_id = e.city_id AND o.id = e.organisation_id
        WHERE e.city_id = :c AND e.appeal_id = :a ORDER BY e.at, e.id"""),
        {"c": city_id, "a": appeal_id},
    ).mappings()
    out = []
    for r in rows:
        item = dict(r)
        if not staff:
            item.pop("actor")
            item.pop("comment")
        out.append(item)
    return out


def transition(
    conn: Connection,
    city_id: int,
    reg_number: str,
    to_status: str,
    actor: Actor,
    comment: str | None = None,
    organisation_id: int | None = None,
    deferred_to_year: int | None = None,
) -> dict:
    """Move an appeal to ``to_status`` if the state machine and the actor's role allow it."""
    if to_status not in APPEAL_STATES:
        raise InvalidInput(f"unknown status {to_status!r}: one of {', '.join(APPEAL_STATES)}")
    row = (
        conn.execute(
            text(
                "SELECT id, status, organisation_id FROM appeals WHERE city_id = :c "
                "AND reg_number = :r FOR UPDATE"
            ),
            {"c": city_id, "r": reg_number},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no appeal with registration number {reg_number!r}")
    check_can_see(actor, dict(row))
    if to_status not in ROLE_TARGETS.get(actor.role, set()):
        raise Forbidden(f"a user with role {actor.role!r} cannot set status {to_status!r}")
    if to_status not in TRANSITIONS[row["status"]]:
        allowed = ", ".join(sorted(TRANSITIONS[row["status"]]))
        raise Conflict(
            f"an appeal in status {row['status']!r} cannot become {to_status!r}; allowed: {allowed}"
        )
    if to_status == "deferred" and not deferred_to_year:
        raise InvalidInput("deferred needs deferred_to_year (the year the budget allows)")
    org = row["organisation_id"]
    if organisation_id is not None and organisation_id != org:
        if actor.role not in {"inspector", "controller", "admin"}:
            raise Forbidden("only inspectors and controllers route appeals to an organisation")
        exists = conn.execute(
            text("SELECT 1 FROM organisations WHERE city_id = :c AND id = :o"),
            {"c": city_id, "o": organisation_id},
        ).scalar()
        if not exists:
            raise InvalidInput(f"no organisation with id {organisation_id} in this city")
        org = organisation_id
    conn.execute(
        text("""
        UPDATE appeals SET status = :s, organisation_id = :o,
          deferred_to_year = CASE WHEN :s = 'deferred' THEN :y ELSE deferred_to_year END,
          resolved_at = CASE WHEN :s = 'resolved' THEN now()
                             WHEN :s = 'reopened' THEN NULL ELSE resolved_at END,
          closed_at = CASE WHEN :s = 'closed' THEN now()
                           WHEN :s = 'reopened' THEN NULL ELSE closed_at END
        WHERE city_id = :c AND id = :i"""),
        {"s": to_status, "o": org, "y": deferred_to_year, "c": city_id, "i": row["id"]},
    )
    log_event(conn, city_id, row["id"], actor, row["status"], to_status, org, comment)
    return get_appeal(conn, city_id, appeal_id=row["id"], actor=actor)


def list_appeals(
    conn: Connection,
    city_id: int,
    actor: Actor,
    status: str | None = None,
    overdue: bool | None = None,
    organisation_id: int | None = None,
    category: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict]:
    """Appeals a staff actor may see: an executor only its organisation's."""
    where = []
    params: dict = {"c": city_id, "lim": limit, "off": offset}
    if actor.role == "executor":
        where.append("a.organisation_id = :own")
        params["own"] = actor.organisation_id
    elif not actor.sees_everything:
        raise Forbidden(f"role {actor.role!r} cannot list appeals")
    if status:
        if status not in APPEAL_STATES:
            raise InvalidInput(f"unknown status {status!r}")
        where.append("a.status = :st")
        params["st"] = status
    if overdue is not None:
        cond = (
            "a.status IN ('registered','assigned','in_progress','reopened') "
            "AND a.deadline_at < now()"
        )
        where.append(cond if overdue else f"NOT ({cond})")
    if organisation_id is not None:
        where.append("a.organisation_id = :org")
        params["org"] = organisation_id
    if category:
        where.append("a.category_code = :cat")
        params["cat"] = category
    sql = APPEAL_SQL + "".join(f" AND {w}" for w in where)
    sql += " ORDER BY a.created_at DESC, a.id DESC LIMIT :lim OFFSET :off"
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]
