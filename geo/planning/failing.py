"""Objects that keep failing, and the places where accidents happen most often."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.hotspots import budget
from geo.infra.errors import InvalidInput
from geo.infra.timespan import year_window

OBJECTS_SQL = text("""
SELECT r.object_kind, r.object_id, r.appeals, r.repeats,
       coalesce(b.address_ru, y.name, w.code || ' (' || w.kind || ')', s.name_ru) AS label,
       coalesce(wo.name_ru, ho.name_ru) AS responsible,
       ST_X(ST_PointOnSurface(coalesce(b.geom, y.geom, w.geom, s.geom))) AS lon,
       ST_Y(ST_PointOnSurface(coalesce(b.geom, y.geom, w.geom, s.geom))) AS lat
FROM object_repeats r
LEFT JOIN buildings b ON r.object_kind = 'building' AND b.city_id = r.city_id AND b.id = r.object_id
LEFT JOIN yards y ON r.object_kind = 'yard' AND y.city_id = r.city_id AND y.id = r.object_id
LEFT JOIN wells w ON r.object_kind = 'well' AND w.city_id = r.city_id AND w.id = r.object_id
LEFT JOIN streets s ON r.object_kind = 'street' AND s.city_id = r.city_id AND s.id = r.object_id
LEFT JOIN organisations wo ON wo.city_id = w.city_id AND wo.id = w.owner_id
LEFT JOIN organisations ho ON ho.city_id = b.city_id AND ho.id = b.housing_org_id
WHERE r.city_id = :c AND (CAST(:kind AS text) IS NULL OR r.object_kind = :kind)
ORDER BY r.repeats DESC, r.appeals DESC, r.object_kind, r.object_id
LIMIT :lim
""")


def failing_objects(
    conn: Connection, city_id: int, kind: str | None = None, limit: int = 50
) -> list[dict]:
    """Wells, yards, buildings and streets ranked by repeats, then appeals."""
    if kind not in (None, "building", "yard", "well", "street"):
        raise InvalidInput("kind must be building, yard, well or street")
    return [
        dict(r)
        for r in conn.execute(OBJECTS_SQL, {"c": city_id, "kind": kind, "lim": limit}).mappings()
    ]


CLUSTERS_SQL = text("""
WITH pts AS (
  SELECT a.id, a.category_code, ST_Transform(a.geom, c.metric_srid) AS g
  FROM appeals a JOIN cities c ON c.id = a.city_id
  WHERE a.city_id = :c AND NOT a.placeholder_geocode
    AND a.created_at >= :since AND a.created_at < :until
    AND (CAST(:cat AS text) IS NULL OR a.category_code = :cat)),
cl AS (SELECT *, ST_ClusterDBSCAN(g, eps => :eps, minpoints => :minpts) OVER () AS k FROM pts)
SELECT k AS cluster, count(*) AS appeals,
       mode() WITHIN GROUP (ORDER BY category_code) AS top_category,
       ST_AsGeoJSON(ST_Transform(ST_Centroid(ST_Collect(g)), 4326), 6)::json AS centre,
       ST_AsGeoJSON(ST_Transform(ST_ConvexHull(ST_Collect(g)), 4326), 6)::json AS hull,
       round(sqrt(ST_Area(ST_ConvexHull(ST_Collect(g))) / pi())::numeric, 1) AS radius_m
FROM cl WHERE k IS NOT NULL GROUP BY k ORDER BY appeals DESC LIMIT :lim
""")


@dataclass(frozen=True)
class ClusterQuery:
    """Which appeals to cluster and how.

    Parameters
    ----------
    eps_m : the DBSCAN distance, metres (1..5000).
    min_points : appeals within ``eps_m`` that make a core point (2..100000).
    since, until : the window of ``created_at``; by default the last year.
    category : only this category's code.
    limit : at most this many clusters, largest first.
    """

    eps_m: float = 50.0
    min_points: int = 20
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    category: str | None = None
    limit: int = 50


COUNT_SQL = text("""
SELECT (SELECT count(*) FROM appeals a
        WHERE a.city_id = :c AND NOT a.placeholder_geocode
          AND a.created_at >= :since AND a.created_at < :until
          AND (CAST(:cat AS text) IS NULL OR a.category_code = :cat)),
       ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g)
FROM (SELECT ST_Transform(bounds, metric_srid) AS g FROM cities WHERE id = :c) b
""")

#: pairs of appeals a clustering may compare (:func:`geo.hotspots.budget.check_clusters`)
MAX_WORK = 1e9


def precheck_clusters(
    conn: Connection, city_id: int, q: ClusterQuery, max_work: float = MAX_WORK
) -> int:
    """The appeals a clustering would compare (counted in the window), refused with
    :class:`geo.hotspots.budget.TooMuchWork` when the pairs within ``eps_m`` would exceed
    ``max_work``."""
    since, until = year_window(q.since, q.until)
    n, width, height = conn.execute(
        COUNT_SQL, {"c": city_id, "since": since, "until": until, "cat": q.category}
    ).one()
    if n:
        extent = budget.Extent(float(width or 0), float(height or 0))
        budget.check_clusters(int(n), q.eps_m, extent, max_work)
    return int(n)


def density_clusters(
    conn: Connection, city_id: int, q: ClusterQuery | None = None, max_work: float = MAX_WORK
) -> list[dict]:
    """ST_ClusterDBSCAN in the city's metric CRS: "places where accidents happen most often".

    The appeals of the window are counted first and the pairs within ``eps_m`` estimated
    (:func:`geo.hotspots.budget.check_clusters`): above ``max_work`` it is refused before
    the clustering starts.

    Raises
    ------
    InvalidInput
        ``eps_m`` or ``min_points`` out of range, or too much work
        (:class:`geo.hotspots.budget.TooMuchWork`).
    """
    q = q or ClusterQuery()
    if not (1 <= q.eps_m <= 5000) or not (2 <= q.min_points <= 100000):
        raise InvalidInput("eps_m must be 1..5000 m and min_points 2..100000")
    since, until = year_window(q.since, q.until)
    if not precheck_clusters(conn, city_id, q, max_work):
        return []
    rows = conn.execute(
        CLUSTERS_SQL,
        {
            "c": city_id,
            "eps": q.eps_m,
            "minpts": q.min_points,
            "since": since,
            "until": until,
            "cat": q.category,
            "lim": q.limit,
        },
    ).mappings()
    return [dict(r) for r in rows]
