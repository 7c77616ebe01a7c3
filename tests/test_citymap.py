"""The city map in PostGIS: migrations, the demo city, yard areas."""

from __future__ import annotations

import pytest
from shapely import box
from sqlalchemy import create_engine, inspect, text

from geo.demo import city as demo
from geo.demo.load import load_demo_city
from geo.infra.migrate import downgrade, upgrade

TABLES = {
    "cities",
    "categories",
    "organisations",
    "districts",
    "streets",
    "buildings",
    "yards",
    "yard_buildings",
    "wells",
    "appeals",
    "appeal_contacts",
    "appeal_events",
    "users",
    "api_keys",
    "object_repeats",
}


def test_migrations_go_up_and_down_and_up_again(make_database):
    url = make_database()
    engine = create_engine(url)
    upgrade(url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(url, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_every_city_table_keeps_city_id_first_in_its_key(engine):
    insp = inspect(engine)
    for table in TABLES - {"categories", "cities"}:
        pk = insp.get_pk_constraint(table)["constrained_columns"]
        assert pk[0] == "city_id", table


def test_geometry_columns_are_typed_4326_and_indexed(conn):
    rows = conn.execute(
        text(
            "SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns "
            "WHERE f_table_schema = 'public'"
        )
    ).all()
    assert rows and all(r.srid == 4326 for r in rows)
    indexed = {
        r[0]
        for r in conn.execute(
            text("SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'")
        )
    }
    assert {r.f_table_name for r in rows} <= indexed


def test_yard_area_is_square_metres_in_the_metric_crs(conn, city_id):
    # a 120 m x 80 m rectangle in UTM 42N, stored as lon/lat: 9,600 m² by hand
    x, y = demo.to_metric().transform(69.15, 54.87)
    rect = box(x, y, x + 120, y + 80)
    wgs = demo.reproject(rect, demo.to_wgs84())
    area = conn.execute(
        text(
            "INSERT INTO yards (city_id, geom) VALUES (:c, ST_Multi(ST_GeomFromText(:w, 4326))) "
            "RETURNING area_m2"
        ),
        {"c": city_id, "w": wgs.wkt},
    ).scalar_one()
    assert area == pytest.approx(9600.0, rel=1e-6)


def test_demo_city_is_reproducible_from_its_seed():
    a, b, c = demo.generate_city(5), demo.generate_city(5), demo.generate_city(6)
    assert [r.geom.wkb for r in a.buildings] == [r.geom.wkb for r in b.buildings]
    assert [r.attrs for r in a.wells] == [r.attrs for r in b.wells]
    assert [r.geom.wkb for r in a.buildings] != [r.geom.wkb for r in c.buildings]


def test_demo_city_has_the_size_of_a_city_of_220k(conn, city_id):
    counts = dict(
        conn.execute(
            text("""
        SELECT 'apartment_buildings', count(*) FROM buildings
          WHERE city_id = :c AND kind = 'apartment'
        UNION ALL SELECT 'yards', count(*) FROM yards WHERE city_id = :c
        UNION ALL SELECT 'wells', count(*) FROM wells WHERE city_id = :c
        UNION ALL SELECT 'owned_wells', count(*) FROM wells
          WHERE city_id = :c AND owner_id IS NOT NULL
        UNION ALL SELECT 'synthetic', count(*) FROM cities WHERE id = :c AND synthetic"""),
            {"c": city_id},
        ).all()
    )
    assert 1200 <= counts["apartment_buildings"] <= 2000
    assert 300 <= counts["yards"] <= 900
    assert counts["wells"] >= 2000 and counts["owned_wells"] == counts["wells"]
    assert counts["synthetic"] == 1


def test_demo_city_loaded_twice_from_one_seed_is_the_same(make_database):
    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    digests = []
    for code in ("AAA", "BBB"):
        with engine.begin() as conn:
            cid = load_demo_city(conn, seed=11, code=code)["city_id"]
            digests.append(
                conn.execute(
                    text(
                        "SELECT md5(string_agg(address_ru || ST_AsText(geom), '|' ORDER BY id)) "
                        "FROM buildings WHERE city_id = :c"
                    ),
                    {"c": cid},
                ).scalar_one()
            )
    engine.dispose()
    assert digests[0] == digests[1]


def test_categories_carry_deadlines_from_criticality(conn):
    rows = dict(conn.execute(text("SELECT code, deadline_hours FROM categories")).all())
    assert rows["open_manhole"] == 24
    assert max(rows.values()) <= 240
    urgent = conn.execute(
        text("SELECT bool_and(deadline_hours = 24) FROM categories WHERE criticality = 'urgent'")
    ).scalar_one()
    assert urgent


def test_ready_reports_database_and_postgis(client):
    body = client.get("/ready").json()
    assert body["database"].startswith("PostgreSQL 15")
    assert body["postgis"].startswith("3.")
    assert "PET" in body["cities"]


def test_the_migrations_build_exactly_what_the_models_declare(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from geo.infra.migrate import compared
    from geo.models import Base

    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"include_object": compared, "compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_migration_0006_keeps_the_cell_of_appeals_already_there(make_database):
    """Appeals written before ``appeals.cell`` get it from ``appeal_cell(geom)``; after a
    downgrade the counts per cell are kept by 0003's triggers again."""
    from geo.city.catalog import load_categories
    from tests.factories import insert_appeal, make_city

    url = make_database()
    engine = create_engine(url)
    upgrade(url, "0005")
    with engine.begin() as conn:
        load_categories(conn)
        city = make_city(conn, "MIG")
        for i in range(5):
            insert_appeal(conn, city, 69.40 + i * 0.003, 54.95)
    upgrade(url)
    count = text(
        "SELECT sum(n) FROM appeal_cells WHERE city_id = :c AND level = 20 "
        "AND category_code = '' AND month = '-infinity'"
    )
    with engine.begin() as conn:
        wrong = conn.execute(
            text("SELECT count(*) FROM appeals WHERE cell IS DISTINCT FROM appeal_cell(geom)")
        ).scalar_one()
        assert wrong == 0
        assert conn.execute(count, {"c": city}).scalar_one() == 5
        insert_appeal(conn, city, 69.41, 54.96)
        assert conn.execute(count, {"c": city}).scalar_one() == 6
    downgrade(url, "0005")
    with engine.begin() as conn:
        assert "cell" not in {c["name"] for c in inspect(conn).get_columns("appeals")}
        insert_appeal(conn, city, 69.42, 54.96)
        assert conn.execute(count, {"c": city}).scalar_one() == 7
        assert conn.execute(text("SELECT refresh_appeal_cells(:c)"), {"c": city}).scalar() > 0
        assert conn.execute(count, {"c": city}).scalar_one() == 7
    engine.dispose()
