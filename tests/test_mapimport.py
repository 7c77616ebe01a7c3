"""Importing map layers from GeoJSON, GeoPackage and Shapefile: all or nothing."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely import Point, Polygon, box
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from geo.city.address import search_text
from geo.demo import city as demo
from geo.imports.layers import import_layer
from geo.infra.errors import ImportRejected, InvalidInput

# the demo city's centre in its metric CRS (UTM 42N)
X0, Y0 = demo.to_metric().transform(*demo.CENTRE_LONLAT)
QUIET = {"echo": lambda *_: None}


def wgs(g):
    return demo.reproject(g, demo.to_wgs84())


def square(dx: float, dy: float, w: float = 20, h: float = 20):
    """A rectangle ``dx, dy`` metres from the centre, in lon/lat."""
    return wgs(box(X0 + dx, Y0 + dy, X0 + dx + w, Y0 + dy + h))


def write(tmp_path, filename: str, geoms, crs=4326, **columns):
    path = tmp_path / filename
    gpd.GeoDataFrame(columns, geometry=list(geoms), crs=crs).to_file(path, engine="pyogrio")
    return path


def count(conn, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_geojson_buildings_get_addresses_streets_and_search_text(conn, city_id, tmp_path):
    path = write(
        tmp_path,
        "b.geojson",
        [square(0, 0), square(40, 0), square(80, 0)],
        house_number=["12", "14а", "7"],
        street=["ул. Жамбыла", "Жамбыла", "Новая"],
        floors=[5, 9, None],
        apartments=[60, 108, None],
    )
    streets_before = count(conn, "streets")

    report = import_layer(conn, "buildings", path, "PET", **QUIET)

    assert report.counts["buildings"] == 3 and report.counts["new streets"] == 1
    assert count(conn, "streets") == streets_before + 1
    rows = conn.execute(
        text(
            "SELECT b.*, s.name_ru AS street_ru FROM buildings b JOIN streets s "
            "ON s.city_id = b.city_id AND s.id = b.street_id "
            "WHERE b.city_id = :c AND b.source = 'import' ORDER BY b.id"
        ),
        {"c": city_id},
    ).all()
    assert [r.house_number for r in rows] == ["12", "14а", "7"]
    # "ул. Жамбыла" and "Жамбыла" are the demo city's street, in both languages
    assert rows[0].street_id == rows[1].street_id
    assert rows[0].address_ru == "ул. Жамбыла, 12"
    assert rows[0].address_kk == "Жамбыл көшесі, 12"
    assert rows[1].search_text == search_text("ул. Жамбыла, 14а", "Жамбыл көшесі, 14а", "14а")
    assert rows[2].address_ru == "Новая, 7" and rows[2].street_ru == "Новая"
    assert [(r.floors, r.apartments) for r in rows] == [(5, 60), (9, 108), (1, 0)]
    assert all(shapely.from_wkb(r.geom).geom_type == "MultiPolygon" for r in rows)


def test_geopackage_yards_get_their_area_in_m2_and_their_buildings(conn, city_id, tmp_path):
    near = square(0, 110)  # 10 m north of the yard
    far = square(0, 160)  # 60 m north
    bpath = write(
        tmp_path, "b.gpkg", [near, far], house_number=["1", "3"], street=["ул. Абая", "ул. Абая"]
    )
    import_layer(conn, "buildings", bpath, "PET", **QUIET)
    ids = dict(
        conn.execute(
            text("SELECT house_number, id FROM buildings WHERE city_id = :c AND source = 'import'"),
            {"c": city_id},
        ).all()
    )
    # a 120 m x 80 m yard: 9,600 m² in the metric CRS
    ypath = write(
        tmp_path,
        "yards.gpkg",
        [square(-50, 20, 120, 80)],
        name=[None],
        surface=["asphalt"],
        last_repair_year=[2015],
    )

    report = import_layer(conn, "yards", ypath, "PET", **QUIET)

    assert report.counts["yards"] == 1
    yard = conn.execute(
        text("SELECT * FROM yards WHERE city_id = :c AND source = 'import'"), {"c": city_id}
    ).one()
    assert yard.area_m2 == pytest.approx(9600.0, rel=1e-6)
    assert (yard.surface, yard.last_repair_year, yard.repair_status) == ("asphalt", 2015, "queued")
    linked = {
        r[0]
        for r in conn.execute(
            text("SELECT building_id FROM yard_buildings WHERE city_id = :c AND yard_id = :y"),
            {"c": city_id, "y": yard.id},
        )
    }
    assert ids["1"] in linked and ids["3"] not in linked
    assert yard.name.startswith("Двор: ")


def test_a_geopackage_layer_is_chosen_by_name_and_the_report_names_the_others(conn, tmp_path):
    path = tmp_path / "city.gpkg"
    for layer, dx, number in (("roads", 0, "7"), ("houses", 300, "9")):
        gpd.GeoDataFrame(
            {"house_number": [number], "street": ["ул. Абая"]},
            geometry=[square(dx, 400)],
            crs=4326,
        ).to_file(path, layer=layer, engine="pyogrio")

    first = import_layer(conn, "buildings", path, "PET", **QUIET)
    assert "read the first of 2 layers, 'roads' (--layer for 'houses')" in first.summary()
    chosen = import_layer(conn, "buildings", path, "PET", layer="houses", **QUIET)
    assert chosen.counts["buildings"] == 1
    assert not any("layers" in n for n in chosen.notes)
    numbers = {
        r[0]
        for r in conn.execute(
            text("SELECT house_number FROM buildings WHERE source = 'import'")
        ).all()
    }
    assert {"7", "9"} <= numbers
    with pytest.raises(InvalidInput, match="no layer 'parks'; its layers: 'roads', 'houses'"):
        import_layer(conn, "buildings", path, "PET", layer="parks", **QUIET)


def test_shapefile_wells_with_a_yaml_mapping_get_kind_owner_and_yard(conn, city_id, tmp_path):
    yard_id, lon, lat = conn.execute(
        text(
            "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) p FROM yards "
            "WHERE city_id = :c ORDER BY id LIMIT 1) y"
        ),
        {"c": city_id},
    ).one()
    mapping = tmp_path / "wells.yaml"
    mapping.write_text(
        "kind: {column: TYPE, values: {К: sewer, В: water}}\nowner: OWNER\ncode: WELL_CODE\n",
        encoding="utf-8",
    )
    path = write(
        tmp_path,
        "wells.shp",
        [Point(lon, lat), wgs(Point(X0 + 5, Y0 + 5))],
        TYPE=["К", "В"],
        OWNER=['ГКП "Водоканал" (канализация)', None],
        WELL_CODE=["K-1", "W-2"],
    )

    report = import_layer(conn, "wells", path, "PET", mapping=mapping, **QUIET)

    assert report.counts["wells"] == 2
    rows = conn.execute(
        text(
            "SELECT w.code, w.kind, w.yard_id, o.name_ru FROM wells w LEFT JOIN organisations o "
            "ON o.city_id = w.city_id AND o.id = w.owner_id "
            "WHERE w.city_id = :c AND w.source = 'import' ORDER BY w.code"
        ),
        {"c": city_id},
    ).all()
    assert [(r.code, r.kind) for r in rows] == [("K-1", "sewer"), ("W-2", "water")]
    assert rows[0].name_ru == "ГКП «Водоканал» (канализация)" and rows[1].name_ru is None
    assert rows[0].yard_id == yard_id


def test_geojson_districts_are_promoted_to_multipolygons(conn, city_id, tmp_path):
    path = write(tmp_path, "d.geojson", [square(-500, -500, 1000, 1000)], name_ru=["Тестовый"])

    assert import_layer(conn, "districts", path, "PET", **QUIET).counts == {"districts": 1}

    row = conn.execute(
        text(
            "SELECT name_kk, ST_GeometryType(geom) t FROM districts WHERE city_id = :c "
            "AND name_ru = 'Тестовый'"
        ),
        {"c": city_id},
    ).one()
    assert row == ("Тестовый", "ST_MultiPolygon")


def test_a_file_in_utm_is_reprojected_to_wgs84(conn, city_id, tmp_path):
    utm = box(X0 + 300, Y0 + 300, X0 + 330, Y0 + 320)
    path = write(tmp_path, "utm.gpkg", [utm], crs=32642, house_number=["5"], street=["ул. Абая"])

    report = import_layer(conn, "buildings", path, "PET", **QUIET)

    assert "reprojected from EPSG:32642" in report.summary()
    geom = shapely.from_wkb(
        conn.execute(
            text("SELECT geom FROM buildings WHERE city_id = :c AND source = 'import'"),
            {"c": city_id},
        ).scalar_one()
    )
    x, y = utm.exterior.coords[0]
    lon, lat = demo.to_wgs84().transform(x, y)
    assert geom.geoms[0].exterior.coords[0] == pytest.approx((lon, lat), abs=1e-9)
    assert shapely.get_num_coordinates(geom) == 5


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_a_file_without_a_crs_is_refused_unless_one_is_given(conn, city_id, tmp_path):
    path = write(
        tmp_path,
        "nocrs.shp",
        [box(X0, Y0, X0 + 20, Y0 + 20)],
        crs=None,
        HOUSENUM=["9"],
        street=["ул. Абая"],
    )
    mapping = {"house_number": "HOUSENUM"}
    before = count(conn, "buildings")

    with pytest.raises(InvalidInput, match=r"nocrs\.shp declares no CRS: .*--crs"):
        import_layer(conn, "buildings", path, "PET", mapping=mapping, **QUIET)
    assert count(conn, "buildings") == before

    report = import_layer(
        conn, "buildings", path, "PET", mapping=mapping, source_crs="EPSG:32642", **QUIET
    )
    assert report.counts["buildings"] == 1


def test_a_file_with_one_invalid_geometry_imports_nothing_and_names_the_row(conn, tmp_path):
    x, y = X0 + 200, Y0 + 200
    bow_tie = wgs(Polygon([(x, y), (x + 20, y + 20), (x + 20, y), (x, y + 20)]))
    path = write(
        tmp_path,
        "bad.geojson",
        [square(0, 0), bow_tie, square(60, 0)],
        house_number=["1", "2", "3"],
        street=["Новая"] * 3,
    )
    before = (count(conn, "buildings"), count(conn, "streets"))

    with pytest.raises(ImportRejected) as err:
        import_layer(conn, "buildings", path, "PET", **QUIET)

    assert [p.row for p in err.value.rows] == [2]
    assert "Self-intersection" in err.value.rows[0].reason
    assert "nothing imported" in str(err.value) and "row 2: invalid geometry" in str(err.value)
    assert (count(conn, "buildings"), count(conn, "streets")) == before


def test_a_point_outside_the_city_imports_nothing_and_names_the_row(conn, tmp_path):
    path = write(
        tmp_path, "wells.geojson", [wgs(Point(X0, Y0)), Point(69.15, 50.0)], kind=["water", "sewer"]
    )
    before = count(conn, "wells")

    with pytest.raises(ImportRejected, match="row 2: outside the city PET") as err:
        import_layer(conn, "wells", path, "PET", **QUIET)

    assert [p.row for p in err.value.rows] == [2]
    assert count(conn, "wells") == before


def test_a_null_geometry_imports_nothing_and_names_the_row(conn, tmp_path):
    path = write(
        tmp_path, "yards.geojson", [square(0, 0), square(50, 0), None], name=["a", "b", "c"]
    )
    before = count(conn, "yards")

    with pytest.raises(ImportRejected, match="row 3: no geometry") as err:
        import_layer(conn, "yards", path, "PET", **QUIET)

    assert err.value.rows == [(3, "no geometry")]
    assert count(conn, "yards") == before


def test_points_in_a_polygon_layer_are_refused(conn, tmp_path):
    path = write(tmp_path, "b.geojson", [wgs(Point(X0, Y0))], house_number=["1"], street=["Новая"])

    with pytest.raises(ImportRejected, match="row 1: Point where buildings need a polygon"):
        import_layer(conn, "buildings", path, "PET", **QUIET)


def test_the_message_names_the_first_20_bad_rows_and_rows_holds_all(conn, tmp_path):
    path = write(tmp_path, "many.geojson", [None] * 25, name=[str(i) for i in range(25)])

    with pytest.raises(ImportRejected) as err:
        import_layer(conn, "yards", path, "PET", **QUIET)

    msg = str(err.value)
    assert "25 of 25 rows refused" in msg and "row 20:" in msg and "row 21:" not in msg
    assert msg.endswith("and 5 more") and "\n" not in msg
    assert len(err.value.rows) == 25


def test_bad_values_and_unknown_owners_are_rejected_rows(conn, tmp_path):
    path = write(
        tmp_path,
        "wells.geojson",
        [wgs(Point(X0 + i, Y0)) for i in range(3)],
        kind=["water", "lava", "sewer"],
        owner=[None, None, "ТОО «Нет такого»"],
    )

    with pytest.raises(ImportRejected) as err:
        import_layer(conn, "wells", path, "PET", **QUIET)

    reasons = {p.row: p.reason for p in err.value.rows}
    assert set(reasons) == {2, 3}
    assert "kind 'lava' is not one of" in reasons[2]
    assert "owner 'ТОО «Нет такого»': no organisation of PET" in reasons[3]


def test_a_mapped_column_missing_from_the_file_is_an_error_naming_it(conn, tmp_path):
    path = write(tmp_path, "b.geojson", [square(0, 0)], HOUSENUM=["1"], STREET=["Новая"])

    with pytest.raises(
        InvalidInput,
        match="column 'HOUSENUMBE' \\(for house_number\\) is not "
        "in b.geojson; it has: HOUSENUM, STREET",
    ):
        import_layer(
            conn,
            "buildings",
            path,
            "PET",
            mapping={"house_number": "HOUSENUMBE", "street": "STREET"},
            **QUIET,
        )


def test_a_required_field_without_a_column_is_an_error_naming_it(conn, tmp_path):
    path = write(tmp_path, "b.geojson", [square(0, 0)], STREET=["Новая"])

    with pytest.raises(InvalidInput, match="buildings need a 'house_number' column"):
        import_layer(conn, "buildings", path, "PET", **QUIET)


# --- the command line -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_db(make_database):
    """A database of its own with the demo city committed, as `qala` would find it."""
    from geo.demo.load import load_demo_city
    from geo.infra.migrate import upgrade

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as c:
        load_demo_city(c)
    yield url, engine
    engine.dispose()


def test_cli_import_of_a_bad_file_exits_non_zero_with_one_line(cli_db, tmp_path):
    from api.cli import app

    url, engine = cli_db
    path = write(
        tmp_path,
        "bad.geojson",
        [square(0, 0), None],
        house_number=["1", "2"],
        street=["Новая", "Новая"],
    )
    with engine.connect() as c:
        before = count(c, "buildings")

    result = CliRunner().invoke(
        app, ["import", "buildings", str(path), "--city", "PET"], env={"QALA_DATABASE_URL": url}
    )

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("qala: error: bad.geojson: nothing imported")
    assert "row 2: no geometry" in lines[0]
    with engine.connect() as c:
        assert count(c, "buildings") == before


def test_cli_import_of_a_good_file_commits_and_says_what_it_wrote(cli_db, tmp_path):
    from api.cli import app

    url, engine = cli_db
    path = write(tmp_path, "good.geojson", [square(0, 0)], house_number=["1"], street=["Новая"])
    with engine.connect() as c:
        before = count(c, "buildings")

    result = CliRunner().invoke(
        app, ["import", "buildings", str(path), "--city", "PET"], env={"QALA_DATABASE_URL": url}
    )

    assert result.exit_code == 0, result.stderr
    assert "good.geojson -> PET: 1 buildings" in result.stderr
    with engine.connect() as c:
        assert count(c, "buildings") == before + 1
