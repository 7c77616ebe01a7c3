"""The map layers of Qala Map, each declared once.

A :class:`Layer` says where its features come from (a table, or a ``SELECT`` with a ``:city``
bound parameter), which properties it shows, which filters it accepts, how it is coloured,
who may see it and at which zooms. The vector-tile routes, the TileJSON documents and the
OGC API – Features collections are all generated from these declarations
(``api/routes/tiles.py``), so adding a layer is one more entry in :data:`LAYERS`.

Identifiers in SQL (tables, columns) come only from here, never from a request; values from
requests are always bound parameters.

>>> get_layer("wells").style.property
'kind'
>>> get_layer("appeals").aggregation.below_zoom
14
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from geo.appeals import states
from geo.models import OBJECT_KINDS, REPAIR_STATES, WELL_KINDS

IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# an appeal is overdue when still being worked on past its deadline (geo.appeals.states)
OVERDUE_SQL = states.overdue_sql()

Visibility = Literal["public", "staff"]
FilterKind = Literal["in", "since", "until", "flag", "min"]


@dataclass(frozen=True)
class Filter:
    """A query parameter that narrows a layer, applied to one column of its source.

    Parameters
    ----------
    name : the query parameter (``status``, ``category``, ``since`` ...).
    column : the source column it tests (a flag tests ``sql`` instead).
    kind : ``in`` (comma-separated values), ``since`` (column >= instant), ``until``
        (column < instant), ``flag`` (``true`` keeps rows where ``sql`` holds), ``min``
        (column >= integer).
    values : the allowed values of an ``in`` filter; empty means "checked elsewhere".
    value_type : ``text`` or ``int``: what the values of an ``in`` filter are.
    sql : the condition of a ``flag`` filter, over source columns.
    doc : what the parameter does, for the API documentation.
    """

    name: str
    column: str
    kind: FilterKind = "in"
    values: tuple[str, ...] = ()
    value_type: Literal["text", "int"] = "text"
    sql: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class Style:
    """Colour the layer by one property: a colour per value, ``default`` for the rest."""

    property: str
    colours: Mapping[str, str]
    default: str = "#9e9e9e"


@dataclass(frozen=True)
class Aggregation:
    """How the appeals layer is aggregated at low zoom (counts per grid cell).

    Parameters
    ----------
    below_zoom : tiles at ``z < below_zoom`` always show counts per cell.
    grid : cells per tile side (32: a cell is 8 px of a 256 px tile).
    max_points : a tile at ``z >= below_zoom`` (below the layer's ``maxzoom``) holding more
        appeals than this is served as cells too, not truncated: every appeal is counted,
        and zooming in shows the points. At ``maxzoom`` tiles are always points. ``None``:
        every tile from ``below_zoom`` on is points, however many (no count is made first;
        the benchmark against tipg runs the layer so, to compare points with points).
    level : the WebMercatorQuad level of the cells kept in ``appeal_cells`` by the triggers
        of migration 0003; ``below_zoom - 1 + log2(grid)`` must not exceed it.
    """

    below_zoom: int = 14
    grid: int = 32
    max_points: int | None = 10_000
    level: int = 20

    @property
    def grid_bits(self) -> int:
        return self.grid.bit_length() - 1


@dataclass(frozen=True)
class Layer:
    """One map layer, declared once; tiles, TileJSON and OGC collections follow from it.

    Parameters
    ----------
    name : the layer's id in URLs and the MVT layer name.
    title : the title by language (``ru``, ``kk``, ``en``).
    source : a table name, or a ``SELECT`` with a ``:city`` bound parameter yielding the
        id, geometry, properties and filtered columns.
    geometry_type : ``Point``, ``LineString``, ``Polygon`` (multi types included) or
        ``Geometry`` (mixed).
    properties : the properties shown in tiles and features, nothing else leaves.
    item_properties : more properties shown only by the OGC items (long text, say).
    filters : the query parameters the layer accepts.
    time_column : the column that ``since``/``until``/``datetime`` test, if any.
    style : how a map colours it.
    visibility : ``public``, or ``staff`` (a Bearer token is needed).
    minzoom, maxzoom : the zooms at which tiles are served (deeper zooms are overzoomed).
    aggregation : counts per grid cell at low zoom (appeals only).
    scope_column : for staff whose role does not see everything (executors), rows are
        limited to their organisation through this column.
    cache_seconds : how long clients and caches may keep a tile.
    """

    name: str
    title: Mapping[str, str]
    source: str
    geometry_type: str
    properties: tuple[str, ...]
    description: str = ""
    id_column: str = "id"
    id_type: Literal["int", "text"] = "int"
    geometry_column: str = "geom"
    item_properties: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    time_column: str | None = None
    style: Style | None = None
    visibility: Visibility = "public"
    minzoom: int = 0
    maxzoom: int = 16
    aggregation: Aggregation | None = None
    scope_column: str | None = None
    cache_seconds: int = 3600

    def __post_init__(self) -> None:
        names = (
            self.name,
            self.id_column,
            self.geometry_column,
            *self.properties,
            *self.item_properties,
            *(f.column for f in self.filters),
            *((self.time_column,) if self.time_column else ()),
            *((self.scope_column,) if self.scope_column else ()),
        )
        for n in names:
            if not IDENT.match(n):
                raise ValueError(f"layer {self.name!r}: {n!r} is not a plain identifier")
        if self.id_column not in self.properties:
            raise ValueError(f"layer {self.name!r}: the id column must be a property")
        if not 0 <= self.minzoom <= self.maxzoom <= 22:
            raise ValueError(f"layer {self.name!r}: zooms must satisfy 0 <= min <= max <= 22")
        agg = self.aggregation
        if agg and agg.below_zoom - 1 + agg.grid_bits > agg.level:
            raise ValueError(
                f"layer {self.name!r}: cells of level {agg.level} are too coarse "
                f"for a {agg.grid}-cell grid at zoom {agg.below_zoom - 1}"
            )
        if agg and 2**agg.grid_bits != agg.grid:
            raise ValueError(f"layer {self.name!r}: the grid must be a power of two")

    @property
    def public(self) -> bool:
        return self.visibility == "public"

    @property
    def source_sql(self) -> str:
        """The source as a query: a bare table becomes ``SELECT * ... WHERE city_id = :city``."""
        if IDENT.match(self.source):
            return f"SELECT * FROM {self.source} WHERE city_id = :city"
        return self.source

    def filter(self, name: str) -> Filter | None:
        return next((f for f in self.filters if f.name == name), None)


# --- the declarations -----------------------------------------------------------------------

APPEAL_STATUS_COLOURS = {
    "registered": "#e53935",
    "assigned": "#fb8c00",
    "in_progress": "#fdd835",
    "reopened": "#8e24aa",
    "deferred": "#6d4c41",
    "resolved": "#43a047",
    "closed": "#2e7d32",
    "rejected": "#757575",
    "duplicate": "#bdbdbd",
}
APPEAL_FILTERS = (
    Filter(
        "status",
        "status",
        "in",
        states.STATES,
        doc="comma-separated statuses, e.g. registered,assigned",
    ),
    Filter(
        "category",
        "category_code",
        "in",
        doc="comma-separated category codes (GET /api/v1/categories)",
    ),
    Filter("since", "created_at", "since", doc="registered at or after (RFC 3339 or date)"),
    Filter("until", "created_at", "until", doc="registered before (RFC 3339 or date)"),
    Filter(
        "overdue",
        "deadline_at",
        "flag",
        sql=OVERDUE_SQL,
        doc="true: only appeals still being worked on past their deadline",
    ),
)
# The public view of an appeal: no applicant (kept in appeal_contacts, never joined), no
# description, no free-text address.
APPEALS_PUBLIC_SQL = f"""
SELECT a.id, a.reg_number, a.category_code, a.status, a.created_at, a.deadline_at,
       {states.overdue_sql("a.status", "a.deadline_at")} AS overdue,
       a.object_kind, a.object_id, a.district_id, a.cell, a.geom
FROM appeals a WHERE a.city_id = :city"""
APPEALS_STAFF_SQL = f"""
SELECT a.id, a.reg_number, a.category_code, a.status, a.created_at, a.deadline_at,
       {states.overdue_sql("a.status", "a.deadline_at")} AS overdue,
       a.object_kind, a.object_id, a.district_id, a.organisation_id, a.channel,
       a.address_text, a.description, a.repeat_of_id, a.first_call_resolved,
       a.callback_done, a.resolved_at, a.cell, a.geom
FROM appeals a WHERE a.city_id = :city"""
# tiles stay small with the few properties a map colours and filters by; a click asks the
# item for the rest (GET /ogc/collections/appeals/items/{id})
APPEAL_PROPERTIES = ("id", "category_code", "status", "overdue")
APPEAL_ITEM_PROPERTIES = (
    "reg_number",
    "created_at",
    "deadline_at",
    "object_kind",
    "object_id",
    "district_id",
)

# one geometry type per collection (GIS clients make one layer type of it): each object as a
# point on it (on the polygon or the line; a well is one)
REPEATS_SQL = """
SELECT r.object_kind || '-' || r.object_id AS id, r.object_kind, r.object_id, r.appeals,
       r.repeats, b.address_ru AS label, ST_PointOnSurface(b.geom) AS geom
FROM object_repeats r JOIN buildings b ON b.city_id = r.city_id AND b.id = r.object_id
WHERE r.city_id = :city AND r.object_kind = 'building'
UNION ALL
SELECT r.object_kind || '-' || r.object_id, r.object_kind, r.object_id, r.appeals, r.repeats,
       y.name, ST_PointOnSurface(y.geom)
FROM object_repeats r JOIN yards y ON y.city_id = r.city_id AND y.id = r.object_id
WHERE r.city_id = :city AND r.object_kind = 'yard'
UNION ALL
SELECT r.object_kind || '-' || r.object_id, r.object_kind, r.object_id, r.appeals, r.repeats,
       coalesce(w.code, w.kind), w.geom
FROM object_repeats r JOIN wells w ON w.city_id = r.city_id AND w.id = r.object_id
WHERE r.city_id = :city AND r.object_kind = 'well'
UNION ALL
SELECT r.object_kind || '-' || r.object_id, r.object_kind, r.object_id, r.appeals, r.repeats,
       s.name_ru, ST_PointOnSurface(s.geom)
FROM object_repeats r JOIN streets s ON s.city_id = r.city_id AND s.id = r.object_id
WHERE r.city_id = :city AND r.object_kind = 'street'"""

LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "districts",
            {"ru": "Районы", "kk": "Аудандар", "en": "Districts"},
            "districts",
            "Polygon",
            ("id", "name_ru", "name_kk"),
            minzoom=6,
            maxzoom=14,
            description="Administrative districts of the city.",
        ),
        Layer(
            "streets",
            {"ru": "Улицы", "kk": "Көшелер", "en": "Streets"},
            "streets",
            "LineString",
            ("id", "name_ru", "name_kk", "kind"),
            minzoom=11,
            filters=(Filter("kind", "kind", "in", ("street", "avenue")),),
            style=Style("kind", {"avenue": "#ffb74d", "street": "#ffffff"}),
        ),
        Layer(
            "buildings",
            {"ru": "Здания", "kk": "Ғимараттар", "en": "Buildings"},
            "buildings",
            "Polygon",
            (
                "id",
                "address_ru",
                "address_kk",
                "house_number",
                "kind",
                "floors",
                "apartments",
                "year_built",
                "housing_org_id",
            ),
            minzoom=14,
            filters=(Filter("kind", "kind", "in", ("apartment", "private")),),
            style=Style("kind", {"apartment": "#90a4ae", "private": "#d7ccc8"}),
        ),
        Layer(
            "yards",
            {"ru": "Дворы", "kk": "Аулалар", "en": "Yards"},
            "yards",
            "Polygon",
            (
                "id",
                "name",
                "area_m2",
                "surface",
                "last_repair_year",
                "repair_status",
                "planned_start",
                "planned_end",
                "contractor_id",
            ),
            minzoom=13,
            filters=(Filter("repair_status", "repair_status", "in", REPAIR_STATES),),
            style=Style(
                "repair_status",
                {
                    "queued": "#ef9a9a",
                    "planned": "#ffe082",
                    "in_progress": "#90caf9",
                    "done": "#a5d6a7",
                },
            ),
        ),
        Layer(
            "wells",
            {"ru": "Колодцы", "kk": "Құдықтар", "en": "Wells"},
            "wells",
            "Point",
            ("id", "code", "kind", "owner_id", "yard_id"),
            minzoom=15,
            filters=(
                Filter("kind", "kind", "in", WELL_KINDS),
                Filter(
                    "owner",
                    "owner_id",
                    "in",
                    value_type="int",
                    doc="comma-separated organisation ids",
                ),
            ),
            style=Style(
                "kind",
                {
                    "sewer": "#6d4c41",
                    "water": "#1e88e5",
                    "heating": "#e53935",
                    "storm": "#00897b",
                    "telecom": "#8e24aa",
                },
            ),
        ),
        Layer(
            "appeals",
            {"ru": "Обращения", "kk": "Өтініштер", "en": "Appeals"},
            APPEALS_PUBLIC_SQL,
            "Point",
            APPEAL_PROPERTIES,
            item_properties=APPEAL_ITEM_PROPERTIES,
            filters=APPEAL_FILTERS,
            time_column="created_at",
            style=Style("status", APPEAL_STATUS_COLOURS),
            aggregation=Aggregation(),
            minzoom=6,
            maxzoom=18,
            cache_seconds=60,
            description="Appeals as points from zoom 14, counts per grid cell below "
            "(every appeal counted). No applicant data, no description.",
        ),
        Layer(
            "appeals_staff",
            {
                "ru": "Обращения (сотрудники)",
                "kk": "Өтініштер (қызметкерлер)",
                "en": "Appeals (staff)",
            },
            APPEALS_STAFF_SQL,
            "Point",
            # the number too: a click on the staff map links the appeal's page
            (*APPEAL_PROPERTIES, "organisation_id", "reg_number"),
            item_properties=(
                *(p for p in APPEAL_ITEM_PROPERTIES if p != "reg_number"),
                "channel",
                "address_text",
                "description",
                "repeat_of_id",
                "first_call_resolved",
                "callback_done",
                "resolved_at",
            ),
            filters=APPEAL_FILTERS,
            time_column="created_at",
            style=Style("status", APPEAL_STATUS_COLOURS),
            aggregation=Aggregation(),
            visibility="staff",
            scope_column="organisation_id",
            minzoom=6,
            maxzoom=18,
            cache_seconds=30,
            description="Appeals with routing and address for staff (Bearer token); applicants' "
            "contacts are never part of a layer.",
        ),
        Layer(
            "repeats",
            {"ru": "Повторные обращения", "kk": "Қайталанған өтініштер", "en": "Repeated appeals"},
            REPEATS_SQL,
            "Point",
            ("id", "object_kind", "object_id", "appeals", "repeats", "label"),
            id_type="text",
            minzoom=12,
            cache_seconds=60,
            filters=(
                Filter(
                    "object_kind",
                    "object_kind",
                    "in",
                    tuple(k for k in OBJECT_KINDS if k != "none"),
                ),
                Filter("min_repeats", "repeats", "min", doc="at least this many repeats"),
            ),
            style=Style(
                "object_kind",
                {"building": "#5c6bc0", "yard": "#66bb6a", "well": "#26c6da", "street": "#ffa726"},
            ),
            description="Map objects with the appeals and repeats counted on them.",
        ),
        # hotspots, repair_queue: one Layer(...) each here, e.g. a source
        # "SELECT id, geom, ... FROM hotspot_cells WHERE city_id = :city" with its
        # properties, filters and style; the routes follow from the declaration.
    )
}


def get_layer(name: str) -> Layer:
    """The layer declared under ``name``; ``KeyError`` if there is none."""
    return LAYERS[name]


def register(layer: Layer) -> Layer:
    """Declare one more layer (hotspots, the repair queue ...) from another module.

    The routes are generated when the app is built (``create_app``), so the layer must be
    registered before that; a declaration in :data:`LAYERS` above is the usual way.
    """
    if layer.name in LAYERS:
        raise ValueError(f"a layer named {layer.name!r} is already declared")
    LAYERS[layer.name] = layer
    return layer


__all__ = [
    "LAYERS",
    "Aggregation",
    "Filter",
    "Layer",
    "Style",
    "get_layer",
    "register",
]
