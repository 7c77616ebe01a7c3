"""Organisations and their service areas from a GIS file (``qala import organisations``):
all or nothing, each bad row named; routing then picks the smallest area holding the point."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import text

from geo.appeals.intake import locate
from geo.city.catalog import add_organisation
from geo.imports.layers import import_layer
from geo.infra.errors import ImportRejected, InvalidInput


def centre(conn, city_id) -> tuple[float, float]:
    return conn.execute(
        text(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(bounds) AS c FROM cities "
            "WHERE id = :c) AS x"
        ),
        {"c": city_id},
    ).one()


def write(tmp_path, rows) -> str:
    path = tmp_path / "orgs.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": props, "geometry": mapping(geom)}
                    for props, geom in rows
                ],
            }
        )
    )
    return str(path)


def test_organisations_import_with_their_areas_and_route(conn, city_id, tmp_path):
    x, y = centre(conn, city_id)
    small, large = (
        box(x - 0.002, y - 0.002, x + 0.002, y + 0.002),
        box(x - 0.02, y - 0.02, x + 0.02, y + 0.02),
    )
    file = write(
        tmp_path,
        [
            (
                {"name_ru": "Лифт-Сервис Центр", "kind": "lift_company", "phone": "+7 7152 000"},
                small,
            ),
            (
                {
                    "name_ru": "Лифт-Сервис Город",
                    "name_kk": "Лифт-Сервис Қала",
                    "kind": "lift_company",
                },
                large,
            ),
        ],
    )
    before = conn.execute(text("SELECT count(*) FROM organisations")).scalar_one()
    report = import_layer(conn, "organisations", file, "PET", echo=lambda *_: None)
    assert "organisations" in report.summary()
    rows = conn.execute(
        text(
            "SELECT name_ru, name_kk, kind, ST_GeometryType(service_area) FROM organisations "
            "WHERE name_ru LIKE 'Лифт-Сервис%' ORDER BY name_ru"
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("Лифт-Сервис Город", "Лифт-Сервис Қала", "lift_company", "ST_MultiPolygon"),
        ("Лифт-Сервис Центр", "Лифт-Сервис Центр", "lift_company", "ST_MultiPolygon"),
    ]
    assert conn.execute(text("SELECT count(*) FROM organisations")).scalar_one() == before + 2
    # routing: the smallest service area of the category's kind that holds the point
    assert locate(conn, city_id, "lift_broken", x, y).organisation_name == "Лифт-Сервис Центр"
    far = locate(conn, city_id, "lift_broken", x + 0.01, y + 0.01)
    assert far.organisation_name != "Лифт-Сервис Центр"


def test_a_bad_row_and_nothing_is_written(conn, city_id, tmp_path):
    x, y = centre(conn, city_id)
    area = box(x - 0.01, y - 0.01, x + 0.01, y + 0.01)
    file = write(
        tmp_path,
        [
            ({"name_ru": "Водоканал", "kind": "utility"}, area),
            ({"name_ru": "Кто-то", "kind": "wizard"}, area),
        ],
    )
    before = conn.execute(text("SELECT count(*) FROM organisations")).scalar_one()
    with pytest.raises(ImportRejected, match="row 2"):
        import_layer(conn, "organisations", file, "PET", echo=lambda *_: None)
    assert conn.execute(text("SELECT count(*) FROM organisations")).scalar_one() == before


def test_org_add_refuses_an_unknown_kind(conn):
    with pytest.raises(InvalidInput, match="is not one of"):
        add_organisation(conn, "PET", "wizard", "Кто-то")
