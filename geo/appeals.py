"""Registering appeals: locate, route, deadline, repeats, and the lifecycle.

An appeal is written in one transaction with its first event and the repeat counter of its
object; the API acknowledges only after the commit (``synchronous_commit`` is on in the
service's cluster), so an acknowledged appeal survives a crash.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from geo.errors import Conflict, Forbidden, InvalidInput, NotFound
from geo.models import APPEAL_STATES, CHANNELS, DESCRIPTION_MAX, LOCATED_BY

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
SNAP_RADIUS_M = {"well": 50.0, "building": 40.0, "yard": 30.0, "street": 120.0}


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


LOCATE_SQL = text("""
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS g,
                  ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography AS gg),
well AS (
  SELECT w.id, w.owner_id, coalesce(w.code, w.kind) AS label FROM wells w, p
  WHERE w.city_id = :c AND (CAST(:well_kind AS text) IS NULL OR w.kind = :well_kind)
    AND w.geom && ST_Expand(p.g, :dx_well, :dy_well)
    AND ST_DWithin(w.geom::geography, p.gg, :r_well)
  ORDER BY w.geom <-> p.g LIMIT 1),
bld AS (
  SELECT b.id, b.housing_org_id, b.address_ru AS label FROM buildings b, p
  WHERE b.city_id = :c AND b.geom && ST_Expand(p.g, :dx_building, :dy_building)
    AND ST_DWithin(b.geom::geography, p.gg, :r_building)
  ORDER BY ST_Distance(b.geom, p.g), b.id LIMIT 1),
yard AS (
  SELECT y.id, y.name AS label FROM yards y, p
  WHERE y.city_id = :c AND y.geom && ST_Expand(p.g, :dx_yard, :dy_yard)
    AND ST_DWithin(y.geom::geography, p.gg, :r_yard)
  ORDER BY ST_Distance(y.geom, p.g), y.id LIMIT 1),
bld_yard AS (
  SELECT yb.yard_id AS id, y.name AS label FROM yard_buildings yb
  JOIN yards y ON y.city_id = yb.city_id AND y.id = yb.yard_id
  WHERE yb.city_id = :c AND yb.building_id = (SELECT id FROM bld) LIMIT 1),
street AS (
  SELECT s.id, s.name_ru AS label FROM streets s, p
  WHERE s.city_id = :c AND s.geom && ST_Expand(p.g, :dx_street, :dy_street)
    AND ST_DWithin(s.geom::geography, p.gg, :r_street)
  ORDER BY s.geom <-> p.g LIMIT 1),
district AS (
  SELECT d.id, d.name_ru FROM districts d, p
  WHERE d.city_id = :c AND ST_Covers(d.geom, p.g) ORDER BY d.id LIMIT 1),
area_org AS (
  SELECT o.id FROM organisations o, p
  WHERE o.city_id = :c AND o.kind = :kind AND ST_Covers(o.service_area, p.g)
  ORDER BY ST_Area(o.service_area), o.id LIMIT 1),
akimat AS (
  SELECT o.id FROM organisations o, p
  WHERE o.city_id = :c AND o.kind = 'district_akimat' AND ST_Covers(o.service_area, p.g)
  ORDER BY ST_Area(o.service_area), o.id LIMIT 1),
org_names AS (
  SELECT json_object_agg(o.id, o.name_ru) AS names FROM organisations o
  WHERE o.city_id = :c AND o.id IN (SELECT owner_id FROM well UNION ALL
                                    SELECT housing_org_id FROM bld UNION ALL
                                    SELECT id FROM area_org UNION ALL SELECT id FROM akimat))
SELECT (SELECT row_to_json(well) FROM well) AS well,
       (SELECT row_to_json(bld) FROM bld) AS building,
       (SELECT row_to_json(yard) FROM yard) AS yard,
       (SELECT row_to_json(bld_yard) FROM bld_yard) AS building_yard,
       (SELECT row_to_json(street) FROM street) AS street,
       (SELECT row_to_json(district) FROM district) AS district,
       (SELECT id FROM area_org) AS area_org,
       (SELECT id FROM akimat) AS akimat,
       (SELECT names FROM org_names) AS org_names
""")


def locate(
    conn: Connection,
    city_id: int,
    cat: dict,
    lon: float,
    lat: float,
    object_kind: str | None = None,
    object_id: int | None = None,
) -> Located:
    """Snap the point to the category's kind of object and route it to the responsible body.

    Routing: a well's owner for well categories, the building's housing organisation for
    housing categories, otherwise the organisation of the category's kind whose service
    area holds the point (the smallest such area); the district akimat when none is found.
    """
    params = {
        "x": lon,
        "y": lat,
        "c": city_id,
        "well_kind": cat["well_kind"],
        "kind": cat["responsible_kind"],
    }
    for kind, metres in SNAP_RADIUS_M.items():
        params[f"r_{kind}"] = metres
        params[f"dx_{kind}"], params[f"dy_{kind}"] = degree_box(lat, metres)
    r = conn.execute(LOCATE_SQL, params).mappings().one()
    want = cat["object_kind"]
    if object_kind and object_id is not None:
        obj = _object(conn, city_id, object_kind, object_id)
    else:
        obj = {
            "well": r["well"],
            "building": r["building"],
            "yard": r["yard"] or r["building_yard"],
            "street": r["street"],
        }.get(want)
        object_kind = want if obj else "none"
    org, routed_by = None, "service area"
    if object_kind == "well" and obj and obj.get("owner_id"):
        org, routed_by = obj["owner_id"], "owner of the well"
    elif cat["responsible_kind"] == "housing_org":
        bld = obj if object_kind == "building" else r["building"]
        if bld and bld.get("housing_org_id"):
            org, routed_by = bld["housing_org_id"], "housing organisation of the building"
    if org is None and cat["responsible_kind"] != "housing_org":
        org = r["area_org"]
    if org is None:
        org, routed_by = r["akimat"], "district akimat (no responsible body found)"
    names = {}
    if org is not None:
        known = r["org_names"] or {}
        if str(org) in known:  # any body the point can be routed to: no second query
            names = {"name_ru": known[str(org)]}
        else:  # the owner of an object the operator picked
            names = (
                conn.execute(
                    text("SELECT name_ru FROM organisations WHERE city_id = :c AND id = :o"),
                    {"c": city_id, "o": org},
                )
                .mappings()
                .first()
            )
    district = r["district"] or {}
    return Located(
        object_kind=object_kind,
        object_id=obj["id"] if obj else None,
        object_label=obj.get("label") if obj else None,
        district_id=district.get("id"),
        district_name=district.get("name_ru"),
        organisation_id=org,
        organisation_name=names.get("name_ru") if names else None,
        routed_by=routed_by,
        deadline_hours=cat["deadline_hours"],
        criticality=cat["criticality"],
    )


def _object(conn: Connection, city_id: int, kind: str, oid: int) -> dict:
    sql = {
        "well": "SELECT id, owner_id, coalesce(code, kind) AS label FROM wells",
        "building": "SELECT id, housing_org_id, address_ru AS label FROM buildings",
        "yard": "SELECT id, name AS label FROM yards",
        "street": "SELECT id, name_ru AS label FROM streets",
    }.get(kind)
    if sql is None:
        raise InvalidInput(f"unknown object kind {kind!r}: building, yard, well or street")
    row = (
        conn.execute(text(sql + " WHERE city_id = :c AND id = :i"), {"c": city_id, "i": oid})
        .mappings()
        .first()
    )
    if row is None:
        raise InvalidInput(f"no {kind} with id {oid} in this city")
    return dict(row)


# Same object OR near the point, as a UNION of two branches so that each one is answered
# from its own index: the object index, and the GiST index on geom through the degree box.
# The box is searched on its own (OFFSET 0 keeps the planner from combining it with the
# category or time indexes, which costs more than it saves once the table is large); the
# other conditions then filter the few appeals in the box.
_REPEAT_COLUMNS = """
  SELECT a.id, a.reg_number, a.status, a.created_at, coalesce(a.repeat_of_id, a.id) AS root_id,
         coalesce(a.object_kind = :ok AND a.object_id = :oid, false) AS same_object,
         round(ST_Distance(a.geom::geography,
               ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography)::numeric, 1) AS distance_m"""
_REPEAT_WHERE = """
  WHERE a.city_id = :c AND a.category_code = :cat
    AND a.created_at >= :at - make_interval(days => :window)
    AND a.status NOT IN ('rejected', 'duplicate')"""
REPEATS_SQL = text(
    "SELECT * FROM ("
    + _REPEAT_COLUMNS
    + """
  FROM appeals a"""
    + _REPEAT_WHERE
    + """
    AND a.object_kind = :ok AND a.object_id = :oid
  UNION"""
    + _REPEAT_COLUMNS
    + """
  FROM (SELECT * FROM appeals
        WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :dx, :dy)
        OFFSET 0) AS a"""
    + _REPEAT_WHERE
    + """
    AND ST_DWithin(a.geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography,
                   :radius)
) AS r
ORDER BY same_object DESC, distance_m, created_at
LIMIT 10
"""
)


def repeat_candidates(
    conn: Connection,
    city_id: int,
    cat: dict,
    loc: Located,
    lon: float,
    lat: float,
    at: dt.datetime | None = None,
) -> list[dict]:
    """Earlier appeals this one would repeat: same category, same object or within the
    category's radius, within its time window; same-object first, then nearest."""
    rows = conn.execute(REPEATS_SQL, _repeat_params(city_id, cat, loc, lon, lat, at)).mappings()
    return [dict(r) for r in rows]


def _repeat_params(
    city_id: int, cat: dict, loc: Located, lon: float, lat: float, at: dt.datetime | None = None
) -> dict:
    dx, dy = degree_box(lat, float(cat["repeat_radius_m"]))
    return {
        "c": city_id,
        "cat": cat["code"],
        "ok": loc.object_kind,
        "oid": loc.object_id or -1,
        "x": lon,
        "y": lat,
        "radius": cat["repeat_radius_m"],
        "dx": dx,
        "dy": dy,
        "window": cat["repeat_window_days"],
        "at": at or dt.datetime.now(dt.UTC),
    }


# The create path: the repeat candidates (as JSON, in their order) and the next value of the
# year's registration-number sequence (NULL while it does not exist) in one round trip.
REPEATS_AND_NUMBER_SQL = text(
    "SELECT nextval(to_regclass(:seq)) AS n, (SELECT coalesce(json_agg(r ORDER BY "
    "r.same_object DESC, r.distance_m, r.created_at), '[]') FROM ("
    + REPEATS_SQL.text
    + ") AS r) AS candidates"
)


def validate(new: NewAppeal) -> None:
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
    cat = category(conn, new.category)
    loc = locate(conn, city_id, cat, new.lon, new.lat, new.object_kind, new.object_id)
    loc.candidates = repeat_candidates(conn, city_id, cat, loc, new.lon, new.lat)
    return loc


def ensure_sequence(conn: Connection, city_id: int, year: int) -> str:
    """The registration-number sequence of a city and year (created on first use)."""
    name = sequence_name(city_id, year)
    conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name}"))
    return name


def sequence_name(city_id: int, year: int) -> str:
    return f"appeal_seq_{int(city_id)}_{int(year)}"


def next_reg_number(conn: Connection, city_id: int, code: str, year: int) -> str:
    """The next registration number of the city and year: one round trip, no savepoint.

    ``to_regclass`` is NULL while the year's sequence does not exist yet (and ``nextval``
    of NULL is NULL), so only the year's first appeal creates it. Nothing here swallows
    an error: a lost connection surfaces as itself (the API answers 503).
    """
    n = conn.execute(NEXTVAL_SQL, {"s": sequence_name(city_id, year)}).scalar()
    return _reg_number(conn, city_id, code, year, n)


def _reg_number(conn: Connection, city_id: int, code: str, year: int, n: int | None) -> str:
    """``n`` from ``nextval(to_regclass(...))``: None when the sequence is yet to be made."""
    name = sequence_name(city_id, year)
    if n is None:
        nested = conn.begin_nested()
        try:
            ensure_sequence(conn, city_id, year)
            nested.commit()
        except IntegrityError:  # another transaction created it at the same moment
            nested.rollback()
        n = conn.execute(text(f"SELECT nextval('{name}')")).scalar_one()
    return f"{code}-{year}-{n:06d}"


NEXTVAL_SQL = text("SELECT nextval(to_regclass(:s))")

# Before an appeal is written, in one round trip: a replayed idempotency key, the point in
# the city, the category, the city's code and the transaction's time.
CREATE_CONTEXT_SQL = text("""
SELECT (SELECT id FROM appeals WHERE city_id = :c AND idempotency_key = :key) AS _existing,
       ST_Covers(c.bounds, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) AS _inside,
       c.code AS _city_code, now() AS _now, cat.*
FROM (SELECT 1) AS one
LEFT JOIN cities c ON c.id = :c
LEFT JOIN categories cat ON cat.code = :cat
""")


def create_appeal(
    conn: Connection, city_id: int, new: NewAppeal, actor: Actor
) -> tuple[dict, bool]:
    """Register an appeal; returns (the appeal, created). A re-sent idempotency key returns
    the first appeal with ``created=False``. Runs in the caller's transaction.

    Four round trips: the context (key, city, point, category, time), locate and route,
    the repeat candidates with the registration number, and one statement that writes the
    appeal, its contacts, its first event(s) and the object's repeat counter and reads the
    appeal back. Checks and errors come in the same order as in :func:`preview`.
    """
    ctx = None
    if _coords_ok(new.lon, new.lat):
        ctx = (
            conn.execute(
                CREATE_CONTEXT_SQL,
                {
                    "c": city_id,
                    "key": new.idempotency_key or None,
                    "x": new.lon,
                    "y": new.lat,
                    "cat": new.category,
                },
            )
            .mappings()
            .one()
        )
        existing = ctx["_existing"]
    elif new.idempotency_key:
        existing = _id_by_key(conn, city_id, new.idempotency_key)
    else:
        existing = None
    if existing:
        return get_appeal(conn, city_id, appeal_id=existing), False
    validate(new)
    _check_coords(new.lon, new.lat)
    _check_inside(ctx["_inside"], city_id, new.lon, new.lat)
    if ctx["code"] is None:
        raise _unknown_category(new.category)
    cat = {k: v for k, v in ctx.items() if not k.startswith("_")}
    loc = locate(conn, city_id, cat, new.lon, new.lat, new.object_kind, new.object_id)
    year = ctx["_now"].astimezone(dt.UTC).year
    found = conn.execute(
        REPEATS_AND_NUMBER_SQL,
        {
            **_repeat_params(city_id, cat, loc, new.lon, new.lat),
            "seq": sequence_name(city_id, year),
        },
    ).one()
    loc.candidates = found.candidates  # dicts from JSON: only root_id and reg_number are used
    reg = _reg_number(conn, city_id, ctx["_city_code"], year, found.n)
    repeat_of = None
    if new.repeat_of:
        repeat_of = conn.execute(
            text(
                "SELECT coalesce(repeat_of_id, id) FROM appeals "
                "WHERE city_id = :c AND reg_number = :r"
            ),
            {"c": city_id, "r": new.repeat_of},
        ).scalar()
        if repeat_of is None:
            raise InvalidInput(f"repeat_of: no appeal {new.repeat_of!r}")
    elif loc.candidates:
        repeat_of = loc.candidates[0]["root_id"]
    status = "resolved" if new.first_call_resolved else "registered"
    comment = f"routed to {loc.organisation_name or '—'} ({loc.routed_by})" + (
        f"; repeat of {loc.candidates[0]['reg_number']}"
        if repeat_of and loc.candidates and not new.repeat_of
        else ""
    )
    params = {
        "c": city_id,
        "reg": reg,
        "channel": new.channel,
        "cat": new.category,
        "descr": new.description or "",
        "located_by": new.located_by,
        "ok": loc.object_kind,
        "oid": loc.object_id,
        "addr": new.address_text or loc.object_label,
        "district": loc.district_id,
        "org": loc.organisation_id,
        "status": status,
        "hours": loc.deadline_hours,
        "repeat_of": repeat_of,
        "fcr": new.first_call_resolved,
        "key": new.idempotency_key,
        "x": new.lon,
        "y": new.lat,
        "with_contact": bool(new.applicant_name or new.applicant_phone or new.applicant_email),
        "name": new.applicant_name,
        "phone": new.applicant_phone,
        "email": new.applicant_email,
        "actor": actor.name,
        "role": actor.role,
        "comment": comment,
        "count_object": loc.object_kind != "none" and loc.object_id is not None,
        "repeats": 1 if repeat_of else 0,
    }
    appeal = conn.execute(WRITE_APPEAL_SQL, params).mappings().first()
    if appeal is None:  # the same key arrived concurrently and won
        return _by_key(conn, city_id, new.idempotency_key), False
    return dict(appeal), True


def _id_by_key(conn: Connection, city_id: int, key: str) -> int | None:
    return conn.execute(
        text("SELECT id FROM appeals WHERE city_id = :c AND idempotency_key = :k"),
        {"c": city_id, "k": key},
    ).scalar()


def _by_key(conn: Connection, city_id: int, key: str) -> dict | None:
    aid = _id_by_key(conn, city_id, key)
    return get_appeal(conn, city_id, appeal_id=aid) if aid else None


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


APPEAL_SQL = """
SELECT a.id, a.reg_number, a.channel, a.category_code, cat.name_ru AS category_ru,
       cat.name_kk AS category_kk, cat.name_en AS category_en, a.description, a.located_by,
       a.object_kind, a.object_id, a.address_text, a.district_id, a.organisation_id,
       o.name_ru AS organisation_ru, o.name_kk AS organisation_kk, a.status, a.created_at,
       a.deadline_at, a.resolved_at, a.closed_at, a.deferred_to_year,
       r.reg_number AS repeat_of, a.first_call_resolved, a.callback_done,
       a.status IN ('registered','assigned','in_progress','reopened')
         AND a.deadline_at < now() AS overdue,
       ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat
FROM appeals a
JOIN categories cat ON cat.code = a.category_code
LEFT JOIN organisations o ON o.city_id = a.city_id AND o.id = a.organisation_id
LEFT JOIN appeals r ON r.city_id = a.city_id AND r.id = a.repeat_of_id
WHERE a.city_id = :c
"""

# The appeal, its contacts, its first event(s) and its object's repeat counter in one
# statement, reading the appeal back as get_appeal does (APPEAL_SQL over the new row).
# Nothing is written when the idempotency key is taken: every part reads from ``ins``.
# The events are inserted in order (registered, then resolved on the first call).
_APPEAL_FROM = "FROM appeals a\nJOIN categories cat"
if APPEAL_SQL.count(_APPEAL_FROM) != 1:  # the write must read the new row, not the table
    raise RuntimeError("APPEAL_SQL changed: update WRITE_APPEAL_SQL in geo/appeals.py")
WRITE_APPEAL_SQL = text(
    """
WITH ins AS (
  INSERT INTO appeals (city_id, reg_number, channel, category_code, description,
      located_by, object_kind, object_id, address_text, district_id, organisation_id,
      status, deadline_at, resolved_at, repeat_of_id, first_call_resolved,
      idempotency_key, source_type, geom)
  VALUES (:c, :reg, :channel, :cat, :descr, :located_by, :ok, :oid, :addr, :district,
      :org, :status, now() + make_interval(hours => :hours),
      CASE WHEN :fcr THEN now() END, :repeat_of, :fcr, :key, 'api',
      ST_SetSRID(ST_MakePoint(:x, :y), 4326))
  ON CONFLICT (city_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING *),
contact AS (
  INSERT INTO appeal_contacts (city_id, appeal_id, name, phone, email)
  SELECT city_id, id, :name, :phone, :email FROM ins WHERE :with_contact),
events AS (
  INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                             organisation_id, comment)
  SELECT ins.city_id, ins.id, :actor, :role, e.from_status, e.to_status, :org, e.comment
  FROM ins, (VALUES (1, NULL, 'registered', :comment),
                    (2, 'registered', 'resolved', 'resolved on the first call'))
            AS e (n, from_status, to_status, comment)
  WHERE e.n = 1 OR :fcr
  ORDER BY e.n),
counted AS (
  INSERT INTO object_repeats (city_id, object_kind, object_id, appeals, repeats)
  SELECT city_id, object_kind, object_id, 1, :repeats FROM ins WHERE :count_object
  ON CONFLICT (city_id, object_kind, object_id) DO UPDATE
  SET appeals = object_repeats.appeals + 1,
      repeats = object_repeats.repeats + EXCLUDED.repeats)
"""
    + APPEAL_SQL.replace(_APPEAL_FROM, "FROM ins a\nJOIN categories cat")
)


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
