"""What an OpenStreetMap extract says beyond buildings, yards and streets: districts from
administrative boundaries, wells and manholes from ``man_made=manhole`` with the bodies that
operate them.

Districts: the ``boundary=administrative`` polygons that lie in the city (they intersect its
bounds without covering :data:`CITY_SHARE` of them: those are the city itself or a region
around it), grouped by ``admin_level``; the coarsest level with at least two such polygons
becomes the city's districts, each clipped to the city's bounds. Names: ``name:ru`` and
``name:kk`` where tagged, else ``name``.

Wells: each ``man_made=manhole`` node whose ``manhole=*`` value names a kind we keep
(:data:`MANHOLE_KINDS`: sewer, drain → storm, water, heating, telecom ...); other manholes are
counted and left out (the ``wells.kind`` CHECK holds five kinds, and a guessed kind would route
an appeal to the wrong body). ``ref`` becomes the well's code. The ``operator`` tag, else
``owner``, names the body that answers for it: an organisation of the city with that name, or a
new ``utility`` without a service area (it is responsible for its wells, not for an area), so
that an appeal about the well is routed to it as live intake does (``qala_locate``: the owner
of the well). Wells are placed in the yards that hold them.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import Connection, text

from geo.imports.osm.extract import tag, tags_of
from geo.imports.write import place_wells, write_rows
from geo.models import District, Well

CITY_SHARE = 0.9
"""A boundary covering this share of the city's bounds is the city (or more), not a district."""
MANHOLE_KINDS = {
    "sewer": "sewer",
    "sewage": "sewer",
    "wastewater": "sewer",
    "drain": "storm",
    "storm": "storm",
    "stormwater": "storm",
    "rainwater": "storm",
    "water": "water",
    "water_supply": "water",
    "drinking_water": "water",
    "heating": "heating",
    "district_heating": "heating",
    "heat": "heating",
    "telecom": "telecom",
    "telecommunications": "telecom",
    "telephone": "telecom",
    "cable": "telecom",
}
"""OSM ``manhole=*`` values -> ``wells.kind``."""


def admin_level(r: dict) -> int | None:
    """The record's ``admin_level`` as a number (None when untagged or not a number).

    >>> admin_level({"admin_level": "9"}), admin_level({"tags": '{"admin_level": "x"}'})
    (9, None)
    """
    v = tag(r, tags_of(r.get("tags")), "admin_level")
    return int(v) if v is not None and v.isdigit() else None


def choose_districts(
    boundaries: list[tuple[dict, MultiPolygon]], bounds: MultiPolygon
) -> list[tuple[dict, MultiPolygon]]:
    """The boundaries that become districts: the coarsest ``admin_level`` with at least two
    named polygons inside the city, each clipped to ``bounds`` (see the module docstring).

    Parameters
    ----------
    boundaries : list of (record, polygon)
        ``boundary=administrative`` records of the extract with their repaired polygons.
    bounds : MultiPolygon
        The city's bounds (lon/lat).

    Returns
    -------
    list of (record, MultiPolygon)
        Empty when no level has two districts.
    """
    city_area = bounds.area
    by_level: dict[int, list[tuple[dict, MultiPolygon]]] = {}
    for r, g in boundaries:
        level = admin_level(r)
        if level is None or tag(r, tags_of(r.get("tags")), "name") is None:
            continue
        inside = g.intersection(bounds)
        if inside.is_empty or inside.area >= CITY_SHARE * city_area:
            continue
        parts = [p for p in getattr(inside, "geoms", [inside]) if p.geom_type == "Polygon"]
        if parts:
            by_level.setdefault(level, []).append((r, MultiPolygon(parts)))
    for level in sorted(by_level):
        if len(by_level[level]) >= 2:
            return by_level[level]
    return []


def write_districts(
    conn: Connection, city_id: int, boundaries: list[tuple[dict, MultiPolygon]], bounds
) -> int:
    """The city's districts from its administrative boundaries; how many were written."""
    rows = []
    for r, g in choose_districts(boundaries, bounds):
        tags = tags_of(r.get("tags"))
        name = tag(r, tags, "name")
        rows.append(
            {
                "city_id": city_id,
                "name_ru": tag(r, tags, "name:ru") or name,
                "name_kk": tag(r, tags, "name:kk") or name,
                "geom": from_shape(g, srid=4326),
            }
        )
    return len(write_rows(conn, District, rows, "districts"))


@dataclass(frozen=True)
class WellTally:
    """Wells written, how many had an operator, bodies created, manholes of no known kind."""

    written: int = 0
    operated: int = 0
    bodies: int = 0
    unknown_kind: int = 0

    def notes(self) -> list[str]:
        out = [
            f"wells: {self.written} from man_made=manhole, {self.operated} with an operator "
            f"or owner ({self.bodies} organisations created for them)"
        ]
        if self.unknown_kind:
            out.append(
                f"{self.unknown_kind} manholes without a known manhole=* kind left out "
                f"(kinds read: {', '.join(sorted(set(MANHOLE_KINDS)))})"
            )
        return out


def _body(conn: Connection, city_id: int, name: str, known: dict[str, int]) -> tuple[int, bool]:
    """The organisation of the city called ``name`` (case aside), created as a utility
    without a service area when there is none."""
    key = name.casefold()
    if key in known:
        return known[key], False
    found = conn.execute(
        text(
            "SELECT id FROM organisations WHERE city_id = :c AND lower(name_ru) = lower(:n) "
            "ORDER BY id LIMIT 1"
        ),
        {"c": city_id, "n": name},
    ).scalar()
    created = found is None
    if created:
        found = conn.execute(
            text(
                "INSERT INTO organisations (city_id, kind, name_ru, name_kk) "
                "VALUES (:c, 'utility', :n, :n) RETURNING id"
            ),
            {"c": city_id, "n": name},
        ).scalar_one()
    known[key] = found
    return found, created


def write_wells(conn: Connection, city_id: int, manholes: list[dict]) -> WellTally:
    """Wells from ``man_made=manhole`` nodes, owned by their operator (see the module)."""
    known: dict[str, int] = {}
    rows, operated, bodies, unknown = [], 0, 0, 0
    for r in manholes:
        tags = tags_of(r.get("tags"))
        kind = MANHOLE_KINDS.get((tag(r, tags, "manhole") or "").lower())
        if kind is None:
            unknown += 1
            continue
        owner = tag(r, tags, "operator") or tag(r, tags, "owner")
        owner_id = None
        if owner:
            owner_id, created = _body(conn, city_id, owner, known)
            operated += 1
            bodies += created
        ref = tag(r, tags, "ref")
        rows.append(
            {
                "city_id": city_id,
                "code": ref[:32] if ref else None,
                "kind": kind,
                "owner_id": owner_id,
                "source": "osm",
                "geom": from_shape(r["geometry"], srid=4326),
            }
        )
    ids = write_rows(conn, Well, rows, "wells")
    if ids:
        place_wells(conn, city_id, well_ids=ids)
    return WellTally(len(ids), operated, bodies, unknown)
