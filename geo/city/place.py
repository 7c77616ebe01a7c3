"""The place card: what the operator must see while the resident is still on the line."""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.intake import Located, check_point, degree_box, locate
from geo.appeals.states import ACTIVE, sql_list

WELL_RADIUS_M = 60.0
NEARBY_RADIUS_M = 150.0

CARD_SQL = text(f"""
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS g,
                  ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :dx, :dy) AS box),
b AS (
  SELECT b.* FROM buildings b, p WHERE b.city_id = :c
    AND b.geom && p.box AND ST_DWithin(b.geom::geography, p.g::geography, 25)
  ORDER BY ST_Distance(b.geom, p.g), b.id LIMIT 1),
y AS (
  SELECT y.* FROM yards y, p WHERE y.city_id = :c AND (
      ST_Covers(y.geom, p.g)
      OR y.id IN (SELECT yard_id FROM yard_buildings WHERE city_id = :c
                  AND building_id = (SELECT id FROM b)))
  ORDER BY ST_Distance(y.geom, p.g), y.id LIMIT 1)
SELECT
  (SELECT json_build_object('id', b.id, 'address_ru', b.address_ru, 'address_kk', b.address_kk,
     'apartments', b.apartments, 'floors', b.floors, 'year_built', b.year_built,
     'kind', b.kind, 'housing_org', (SELECT json_build_object('id', o.id, 'name_ru', o.name_ru,
        'name_kk', o.name_kk, 'phone', o.phone) FROM organisations o
        WHERE o.city_id = b.city_id AND o.id = b.housing_org_id)) FROM b) AS building,
  (SELECT json_build_object('id', y.id, 'name', y.name, 'area_m2', round(y.area_m2::numeric),
     'surface', y.surface, 'last_repair_year', y.last_repair_year,
     'repair_status', y.repair_status,
     'buildings', (SELECT count(*) FROM yard_buildings yb WHERE yb.city_id = y.city_id
                   AND yb.yard_id = y.id),
     'apartments', (SELECT coalesce(sum(bb.apartments), 0) FROM yard_buildings yb
                    JOIN buildings bb ON bb.city_id = yb.city_id AND bb.id = yb.building_id
                    WHERE yb.city_id = y.city_id AND yb.yard_id = y.id)) FROM y) AS yard,
  (SELECT coalesce(json_agg(w ORDER BY w.distance_m), '[]') FROM (
     SELECT w.id, w.code, w.kind, round(ST_Distance(w.geom::geography, p.g::geography)::numeric,
            1) AS distance_m, o.id AS owner_id, o.name_ru AS owner_ru, o.name_kk AS owner_kk,
            o.phone AS owner_phone, ST_X(w.geom) AS lon, ST_Y(w.geom) AS lat,
            (w.yard_id = (SELECT id FROM y)) AS in_this_yard
     FROM wells w CROSS JOIN p
     LEFT JOIN organisations o ON o.city_id = w.city_id AND o.id = w.owner_id
     WHERE w.city_id = :c AND ((w.geom && p.box
                                AND ST_DWithin(w.geom::geography, p.g::geography, :wr))
                               OR w.yard_id = (SELECT id FROM y))) w) AS wells,
  (SELECT json_build_object('id', d.id, 'name_ru', d.name_ru, 'name_kk', d.name_kk)
     FROM districts d, p WHERE d.city_id = :c AND ST_Covers(d.geom, p.g)
     ORDER BY d.id LIMIT 1) AS district,
  (SELECT coalesce(json_agg(a ORDER BY a.created_at DESC), '[]') FROM (
     SELECT a.reg_number, a.category_code, a.status, a.created_at, a.deadline_at,
            (a.deadline_at < now()) AS overdue,
            round(ST_Distance(a.geom::geography, p.g::geography)::numeric, 1) AS distance_m
     FROM appeals a, p
     WHERE a.city_id = :c AND a.status IN {sql_list(ACTIVE)}
       AND a.geom && p.box AND ST_DWithin(a.geom::geography, p.g::geography, :nr)
     ORDER BY a.created_at DESC LIMIT 20) a) AS open_nearby,
  (SELECT coalesce(json_agg(h ORDER BY h.appeals DESC), '[]') FROM (
     SELECT a.category_code, count(*) AS appeals, count(a.repeat_of_id) AS repeats,
            max(a.created_at) AS last_at
     FROM appeals a, p
     WHERE a.city_id = :c AND (
        (a.object_kind = 'building' AND a.object_id = (SELECT id FROM b))
        OR (a.object_kind = 'yard' AND a.object_id = (SELECT id FROM y))
        OR (a.geom && p.box AND ST_DWithin(a.geom::geography, p.g::geography, 30)))
     GROUP BY a.category_code) h) AS history
""")


def place_card(
    conn: Connection, city_id: int, lon: float, lat: float, category_code: str | None = None
) -> dict:
    """Building, yard, wells with owners, district, open appeals nearby and history by
    category at a point; with ``category_code`` also the body an appeal would go to and the
    deadline it would get. One round trip to the database (two with a category)."""
    check_point(conn, city_id, lon, lat)
    # one lon/lat box holding the largest radius lets every lookup use its GiST index
    dx, dy = degree_box(lat, max(WELL_RADIUS_M, NEARBY_RADIUS_M))
    params = {"c": city_id, "x": lon, "y": lat, "wr": WELL_RADIUS_M, "nr": NEARBY_RADIUS_M}
    row = conn.execute(CARD_SQL, {**params, "dx": dx, "dy": dy}).mappings().one()
    card = dict(row)
    card["point"] = {"lon": lon, "lat": lat}
    card["repeats"] = sum(h["repeats"] for h in card["history"])
    if category_code:
        loc: Located = locate(conn, city_id, category_code, lon, lat)
        card["suggestion"] = {
            "category": category_code,
            "criticality": loc.criticality,
            "deadline_hours": loc.deadline_hours,
            "object_kind": loc.object_kind,
            "object_id": loc.object_id,
            "object_label": loc.object_label,
            "organisation_id": loc.organisation_id,
            "organisation_ru": loc.organisation_name,
            "routed_by": loc.routed_by,
        }
    return card
