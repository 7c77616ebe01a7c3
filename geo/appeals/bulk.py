"""After appeals are written in bulk (the demo generator, a history import): repeats linked,
counters per object recounted, and the registration-number sequences moved past the numbers
already taken. One statement each, over a whole city.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.intake import ensure_sequence

#: Each unlinked appeal's best earlier candidate by the live rule of
#: ``qala_repeat_candidates`` (migration 0005): same category, not rejected or a duplicate,
#: within the category's window before it, and on the same map object or within the
#: category's radius (geography metres); the same object first, then the nearest (to 0.1 m, as
#: the live function rounds), then the earliest.  Set-based: the pairs within the radius come
#: from an equality (hash) join on square buckets of the city's metric CRS a little larger than
#: the category's radius (the 3 x 3 buckets around an appeal hold every point within the
#: radius: the projection's scale error is far below :data:`BUCKET_MARGIN`), checked in
#: metres, then on the sphere as live; the pairs on one object from a join on the object.  A
#: placeholder geocode (a default point such as a city hall) is no place: never a neighbour
#: within the radius.
BUCKET_MARGIN = 1.02
#: The appeals of the city with their buckets: square ones of the city's metric CRS a little
#: larger than the category's radius, and time buckets as long as the category's window (an
#: appeal's candidates are in the 3 x 3 squares around it and in its time bucket or the one
#: before).
POINTS_SQL = f"""
CREATE TEMP TABLE repeat_points AS
SELECT a.id, a.category_code AS cat, a.created_at AS t, a.object_kind AS kind,
       a.object_id AS oid, a.repeat_of_id AS link, a.placeholder_geocode AS ph,
       a.status NOT IN ('rejected', 'duplicate') AS counts,
       c.repeat_radius_m AS r, make_interval(days => c.repeat_window_days) AS w,
       floor(extract(epoch FROM a.created_at) / (86400 * c.repeat_window_days))::bigint AS tb,
       ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, m.x, m.y,
       floor(m.x / (c.repeat_radius_m * {BUCKET_MARGIN}))::bigint AS gx,
       floor(m.y / (c.repeat_radius_m * {BUCKET_MARGIN}))::bigint AS gy
FROM appeals a
JOIN categories c ON c.code = a.category_code
CROSS JOIN LATERAL (
  SELECT coalesce(a.x_m, ST_X(ST_Transform(a.geom, :srid))) AS x,
         coalesce(a.y_m, ST_Y(ST_Transform(a.geom, :srid))) AS y) AS m
WHERE a.city_id = :c
"""

#: geography distance of two appeals of repeat_points, as live rounds it (0.1 m)
_D = (
    "round(ST_Distance(ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326)::geography, "
    "ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4326)::geography)::numeric, 1)"
)
CANDIDATES_SQL = f"""
CREATE TEMP TABLE repeat_links AS
WITH probe AS MATERIALIZED (
  SELECT a.*, a.gx + dx.v AS kx, a.gy + dy.v AS ky, a.tb + dt.v AS kt
  FROM repeat_points a
  CROSS JOIN (VALUES (-1), (0), (1)) AS dx(v)
  CROSS JOIN (VALUES (-1), (0), (1)) AS dy(v)
  CROSS JOIN (VALUES (-1), (0)) AS dt(v)
  WHERE a.link IS NULL AND NOT a.ph AND CAST(:radius AS boolean)),
pairs AS (
  SELECT a.id, b.id AS bid, b.link AS blink, b.t AS bt,
         coalesce(b.kind = a.kind AND b.oid = a.oid, false) AS same_object, {_D} AS d
  FROM probe a
  JOIN repeat_points b ON b.cat = a.cat AND b.gx = a.kx AND b.gy = a.ky AND b.tb = a.kt
  WHERE NOT b.ph AND b.counts
    AND b.t >= a.t - a.w AND (b.t, b.id) < (a.t, a.id)
    AND (b.x - a.x) ^ 2 + (b.y - a.y) ^ 2 <= (a.r * {BUCKET_MARGIN}) ^ 2
    AND ST_DWithin(ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326)::geography,
                   ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4326)::geography, a.r)
  UNION ALL
  SELECT a.id, b.id, b.link, b.t, true, {_D}
  FROM repeat_points a
  JOIN repeat_points b ON b.cat = a.cat AND b.kind = a.kind AND b.oid = a.oid
  WHERE a.link IS NULL AND a.oid IS NOT NULL AND b.counts
    AND b.t >= a.t - a.w AND (b.t, b.id) < (a.t, a.id))
SELECT DISTINCT ON (id) id, bid AS parent, blink AS parent_link
FROM pairs
ORDER BY id, same_object DESC, d, bt, bid
"""

#: The link is to the root of the candidate's chain, as live (``coalesce(repeat_of_id, id)``):
#: a candidate linked in this same pass passes on its own root, resolved down the chains.
ROOTS_SQL = """
WITH RECURSIVE r AS (
  SELECT l.id, coalesce(l.parent_link, l.parent) AS root FROM repeat_links l
  WHERE NOT EXISTS (SELECT 1 FROM repeat_links q WHERE q.id = l.parent)
  UNION ALL
  SELECT l.id, r.root FROM repeat_links l JOIN r ON l.parent = r.id)
UPDATE appeals a SET repeat_of_id = r.root
FROM r WHERE a.city_id = :c AND a.id = r.id
"""


def link_repeats(conn: Connection, city_id: int, within_radius: bool = True) -> int:
    """Link every unlinked appeal of the city to the one it repeats, by the live intake's rule.

    The rule of ``qala_create_appeal`` / ``qala_repeat_candidates`` (migration 0005), applied
    to each appeal as of its own ``created_at``: the best earlier candidate (same category,
    not rejected or a duplicate, within the category's window; on the same map object, or
    within the category's radius), and the link goes to that candidate's root. Set-based: one
    statement finds every appeal's candidate (:data:`CANDIDATES_SQL`: hash joins on metric
    buckets and on objects, no per-appeal search), one resolves the roots and writes the
    links (:data:`ROOTS_SQL`). Appeals already linked keep their link. Returns the number
    of appeals linked.
    """
    srid = conn.execute(
        text("SELECT metric_srid FROM cities WHERE id = :c"), {"c": city_id}
    ).scalar_one()
    params = {"c": city_id, "srid": srid, "radius": within_radius}
    # temporary tables dropped at the end, not ON COMMIT: a caller in autocommit mode (an
    # API test's connection) would lose them after each statement
    conn.execute(text("DROP TABLE IF EXISTS repeat_points, repeat_links"))
    # the pairs are one hash join (a merge join would sort the 18 probes of every appeal) in
    # memory; the caller's settings come back at the end
    saved = conn.execute(
        text("SELECT current_setting('work_mem'), current_setting('enable_mergejoin')")
    ).one()
    conn.execute(text("SET LOCAL work_mem = '256MB'"))
    conn.execute(text("SET LOCAL enable_mergejoin = off"))
    conn.execute(text(POINTS_SQL), params)
    conn.execute(text("ANALYZE repeat_points"))
    conn.execute(text(CANDIDATES_SQL), params)
    conn.execute(text("CREATE INDEX ON repeat_links (parent)"))
    conn.execute(text("CREATE UNIQUE INDEX ON repeat_links (id)"))
    conn.execute(text("ANALYZE repeat_links"))
    linked = conn.execute(text(ROOTS_SQL), params).rowcount
    conn.execute(text("DROP TABLE repeat_points, repeat_links"))
    conn.execute(
        text("SELECT set_config('work_mem', :w, true), set_config('enable_mergejoin', :m, true)"),
        {"w": saved[0], "m": saved[1]},
    )
    return linked


def refresh_object_repeats(conn: Connection, city_id: int) -> None:
    """Recount appeals and repeats per object (after a bulk load)."""
    conn.execute(text("DELETE FROM object_repeats WHERE city_id = :c"), {"c": city_id})
    conn.execute(
        text("""
        INSERT INTO object_repeats (city_id, object_kind, object_id, appeals, repeats)
        SELECT city_id, object_kind, object_id, count(*), count(repeat_of_id)
        FROM appeals WHERE city_id = :c AND object_kind <> 'none' AND object_id IS NOT NULL
        GROUP BY city_id, object_kind, object_id"""),
        {"c": city_id},
    )


def numbers_taken(conn: Connection, city_id: int) -> dict[int, int]:
    """The highest registration number used per year (numbers like ``PET-2026-000123``)."""
    return dict(
        conn.execute(
            text("""
        SELECT split_part(reg_number, '-', 2)::int AS y,
               max(split_part(reg_number, '-', 3)::bigint) AS n
        FROM appeals WHERE city_id = :c AND reg_number ~ '^[A-Z]+-[0-9]{4}-[0-9]+$'
        GROUP BY 1"""),
            {"c": city_id},
        ).all()
    )


def advance_sequences(conn: Connection, city_id: int) -> None:
    """Move each year's registration-number sequence past the numbers already taken."""
    for year, top in numbers_taken(conn, city_id).items():
        name = ensure_sequence(conn, city_id, year)
        conn.execute(
            text("SELECT setval(CAST(:s AS regclass), greatest(:n, 1))"), {"s": name, "n": top}
        )
