"""The residents' public map (``/map``): appeals drawn at the map object they are about.

The public ``appeals`` layer draws each appeal at the point it was given, which for a
resident's report may be their own window. This layer draws it at its object instead: the
building or yard (a point inside it), the well, the nearest point of the street; an appeal
on no object at its point rounded to a 0.001° grid (about 110 × 65 m here). Rows are still
picked by the appeal's own indexed point (``geom``) and drawn at ``place``, which is always
within the snapping distance of it. No applicant, description or typed address, as in every
public layer; no counts per cell either (a cell of one appeal would be its exact point), so
tiles start at zoom 13 and the page filters by period.
"""

from __future__ import annotations

from geo.appeals import states
from layers.registry import APPEAL_FILTERS, APPEAL_STATUS_COLOURS, Layer, Style, register

GRID_DEGREES = 0.001
APPEALS_MAP_SQL = f"""
SELECT a.id, a.reg_number, a.category_code, a.status, a.created_at, a.deadline_at,
       a.resolved_at, {states.overdue_sql("a.status", "a.deadline_at")} AS overdue,
       a.object_kind, a.cell, a.geom,
       coalesce(
         CASE a.object_kind
           WHEN 'building' THEN (SELECT ST_PointOnSurface(b.geom) FROM buildings b
                                 WHERE b.city_id = a.city_id AND b.id = a.object_id)
           WHEN 'yard' THEN (SELECT ST_PointOnSurface(y.geom) FROM yards y
                             WHERE y.city_id = a.city_id AND y.id = a.object_id)
           WHEN 'well' THEN (SELECT w.geom FROM wells w
                             WHERE w.city_id = a.city_id AND w.id = a.object_id)
           WHEN 'street' THEN (SELECT ST_ClosestPoint(s.geom, a.geom) FROM streets s
                               WHERE s.city_id = a.city_id AND s.id = a.object_id)
         END,
         ST_SetSRID(ST_MakePoint(round(ST_X(a.geom) / {GRID_DEGREES}) * {GRID_DEGREES},
                                 round(ST_Y(a.geom) / {GRID_DEGREES}) * {GRID_DEGREES}), 4326)
       ) AS place
FROM appeals a WHERE a.city_id = :city"""

APPEALS_MAP = register(
    Layer(
        "appeals_map",
        {"ru": "Карта обращений", "kk": "Өтініштер картасы", "en": "Appeals map"},
        APPEALS_MAP_SQL,
        "Point",
        ("id", "category_code", "status", "overdue"),
        geometry_column="place",
        item_properties=("reg_number", "created_at", "deadline_at", "resolved_at", "object_kind"),
        filters=APPEAL_FILTERS,
        time_column="created_at",
        style=Style("status", APPEAL_STATUS_COLOURS),
        minzoom=13,
        maxzoom=17,
        cache_seconds=60,
        description="Appeals for the residents' map, each at the building, yard, well or "
        "street it is about (never the point given), without applicant data; from zoom 13.",
    )
)
