"""The yard queue from the API equals a ranking computed here from geometry and the documented
rule (an appeal counts for its object's yard, else for the yard holding its point; yards
ranked by apartments, appeals, area), on the demo city and after an import; the demo's planted
appeals get their yard as live ones do."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from geo.appeals.states import DISMISSED
from geo.infra.settings import PROJECT_ROOT

MAPPING = PROJECT_ROOT / "data" / "mappings" / "boston311.yaml"

# each appeal's yard from geometry: not appeals.yard_id
RANKING_SQL = """
WITH counted AS (
  SELECT coalesce(
           CASE a.object_kind
             WHEN 'yard' THEN a.object_id
             WHEN 'building' THEN (SELECT min(yb.yard_id) FROM yard_buildings yb
                                   WHERE yb.city_id = a.city_id AND yb.building_id = a.object_id)
             WHEN 'well' THEN (SELECT w.yard_id FROM wells w
                               WHERE w.city_id = a.city_id AND w.id = a.object_id)
           END,
           (SELECT min(y.id) FROM yards y
            WHERE y.city_id = a.city_id AND ST_Contains(y.geom, a.geom))) AS yard
  FROM appeals a JOIN categories c ON c.code = a.category_code
  WHERE a.city_id = :c AND c.counts_for_yard_queue AND NOT a.status = ANY(:dismissed)
    AND NOT a.placeholder_geocode
    AND a.created_at >= now() - interval '1095 days' AND a.created_at < now()),
per_yard AS (SELECT yard, count(*) AS n FROM counted WHERE yard IS NOT NULL GROUP BY yard),
apartments AS (
  SELECT yb.yard_id, sum(b.apartments) AS n FROM yard_buildings yb
  JOIN buildings b ON b.city_id = yb.city_id AND b.id = yb.building_id
  WHERE yb.city_id = :c GROUP BY yb.yard_id)
SELECT y.id, coalesce(ap.n, 0) AS apartments, coalesce(p.n, 0) AS appeals
FROM yards y LEFT JOIN per_yard p ON p.yard = y.id LEFT JOIN apartments ap ON ap.yard_id = y.id
WHERE y.city_id = :c AND y.repair_status IN ('queued', 'planned')
  AND (y.last_repair_year IS NULL OR y.last_repair_year < extract(year FROM now()) - 4)
ORDER BY coalesce(ap.n, 0) DESC, coalesce(p.n, 0) DESC, y.area_m2 DESC, y.id
"""


def _city(conn) -> int:
    return conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()


def _ranking(conn, cid: int) -> list[tuple[int, int, int]]:
    rows = conn.execute(text(RANKING_SQL), {"c": cid, "dismissed": list(DISMISSED)}).all()
    return [(r.id, int(r.apartments), int(r.appeals)) for r in rows]


def _api(client) -> list[tuple[int, int, int]]:
    items = client.get("/api/v1/queue?city=PET&limit=5000").json()["items"]
    return [(i["yard_id"], i["apartments"], i["appeals"]) for i in items]


def test_queue_from_the_api_equals_a_ranking_from_geometry_on_the_demo_city(client, conn):
    cid = _city(conn)
    expected = _ranking(conn, cid)
    assert sum(n for *_, n in expected) > 0
    assert _api(client) == expected


def test_the_demo_planted_appeals_get_their_yard_as_live_ones(conn, city_id):
    """The planted hot spots sit on yards: their appeals inside a yard count for it."""
    rows = conn.execute(
        text("""
        SELECT a.yard_id, (SELECT min(y.id) FROM yards y
                           WHERE y.city_id = a.city_id AND ST_Intersects(y.geom, a.geom)) AS geo
        FROM appeals a WHERE a.city_id = :c AND a.object_kind = 'none'"""),
        {"c": city_id},
    ).all()
    assert sum(r.geo is not None for r in rows) > 0
    assert [r.yard_id for r in rows] == [r.geo for r in rows]


def test_queue_from_the_api_equals_a_ranking_from_geometry_after_an_import(
    client, conn, api_database, tmp_path
):
    """Appeals imported from a file (yard flooding inside yards) move the queue as the rule
    says."""
    from geo.imports.history import import_history

    cid = _city(conn)
    yards = conn.execute(
        text("""
        SELECT id, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
        FROM yards WHERE city_id = :c AND repair_status = 'queued' ORDER BY id LIMIT 12"""),
        {"c": cid},
    ).all()
    mapping = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    mapping["categories"]["map"]["Yard Flooding"] = "yard_flooding"
    mapping["timezone"] = "UTC"
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    header = (
        "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,OnTime_Status,CASE_STATUS,CASE_TITLE,"
        "TYPE,Department,Location,LATITUDE,LONGITUDE,Source"
    )
    lines = [header]
    for k, y in enumerate(yards):
        for j in range(k % 4 + 1):  # 1-4 appeals per yard
            lines.append(
                f"Q{k}-{j},2026-01-{j + 2:02d} 09:00:00,,,,Open,x,Yard Flooding,PARK,"
                f"yard {y.id},{y.lat:.7f},{y.lon:.7f},Constituent Call"
            )
    path = Path(tmp_path / "yards.csv")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = _ranking(conn, cid)
    engine = create_engine(api_database.admin)
    report = import_history(
        engine, path, mapping_path, city="PET", echo=lambda *_: None, progress=False
    )
    engine.dispose()
    assert report.imported == len(lines) - 1
    after = _ranking(conn, cid)
    assert after != before
    assert _api(client) == after
