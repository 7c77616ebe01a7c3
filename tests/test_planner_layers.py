"""The planner's map layers through the API: legend counts, vector tiles drawn from the
analysis, why a layer is empty, exports (CSV, GeoJSON, GeoPackage)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

import mapbox_vector_tile
import pyogrio
import pytest
from sqlalchemy import text

from geo.planning.map_layers import tile_bounds
from tests.factories import insert_appeal

BASE = "/api/v1/planner/layers"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def plant_new_hot_spot(conn, city_id: int, n: int = 80) -> None:
    """``n`` appeals in the last days on one block: a spot hot in the last step only."""
    lon, lat = conn.execute(
        text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM buildings "
            "WHERE city_id = :c AND kind = 'apartment' ORDER BY id LIMIT 1 OFFSET 40"
        ),
        {"c": city_id},
    ).one()
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        insert_appeal(
            conn,
            city_id,
            lon + (i % 9 - 4) * 0.0001,
            lat + (i % 7 - 3) * 0.0001,
            created_at=(now - dt.timedelta(hours=1 + i % 100)).isoformat(),
        )


def test_tile_bounds_are_the_web_mercator_tiling():
    w, s, e, n = tile_bounds(1, 1, 0)
    assert (w, e) == (0.0, 180.0) and s == pytest.approx(0.0) and n == pytest.approx(85.0511, 1e-4)


def test_hot_spots_have_a_legend_of_six_classes_and_tiles_that_carry_them(client):
    s = client.get(f"{BASE}/hotspots?cell_size=250").json()
    assert list(s["legend"]) == ["hot_99", "hot_95", "hot_90", "cold_90", "cold_95", "cold_99"]
    assert s["features"] > 0 and sum(s["legend"].values()) == s["features"]
    assert s["params"]["cell_size"] == 250 and s["params"]["n_cells"] >= s["features"]
    west, south, east, north = s["bounds"]
    x, y = tile_of((west + east) / 2, (south + north) / 2, 12)
    found = 0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            r = client.get(f"{BASE}/hotspots/12/{x + dx}/{y + dy}.pbf?cell_size=250")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
            if r.content:
                feats = mapbox_vector_tile.decode(r.content)["hotspots"]["features"]
                for f in feats:
                    p = f["properties"]
                    assert p["class"] in s["legend"]
                    assert p["z"] == round(p["z"], 2) and p["count"] >= 1
                found += len(feats)
    assert found > 0


def test_other_parameters_change_the_layer(client):
    a = client.get(f"{BASE}/hotspots?cell_size=250").json()
    b = client.get(f"{BASE}/hotspots?cell_size=500&p_method=normal").json()
    assert b["params"]["cell_size"] == 500 and a["legend"] != b["legend"]


def test_too_large_cells_say_why_and_what_to_change(client):
    s = client.get(f"{BASE}/hotspots?cell_size=5000").json()
    assert s["features"] == 0
    assert s["params"]["reason"] == "cells_too_large" and "smaller cells" in s["note"]
    s = client.get(
        f"{BASE}/hotspots?cell_size=250&since=2001-01-01T00:00:00Z&until=2001-02-01T00:00:00Z"
    ).json()
    assert s["features"] == 0 and s["params"]["reason"] == "no_appeals"


@pytest.mark.parametrize("layer", ["emerging", "failing", "clusters", "queue"])
def test_each_layer_has_features_and_exports(client, conn, city_id, layer):
    q = ""
    if layer == "emerging":
        before = client.get(f"{BASE}/emerging?cell_size=250&step=month").json()
        assert before["features"] == 0 and before["params"]["reason"] == "nothing_significant"
        plant_new_hot_spot(conn, city_id)
        q = "cell_size=250&step=month"
    if layer == "clusters":  # 20 appeals within 50 m (the defaults): none in the demo year
        plant_new_hot_spot(conn, city_id)
    s = client.get(f"{BASE}/{layer}?{q}").json()
    assert s["features"] > 0, s
    assert sum(s["legend"].values()) == s["features"]
    if layer == "emerging":
        assert s["legend"]["new_hot_spot"] > 0
    r = client.get(f"{BASE}/{layer}/export?format=csv&{q}")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == s["features"] and "class" in rows[0] and "lon" in rows[0]
    fc = client.get(f"{BASE}/{layer}/export?format=geojson&{q}").json()
    assert len(fc["features"]) == s["features"]
    g = client.get(f"{BASE}/{layer}/export?format=gpkg&{q}")
    assert g.status_code == 200 and "attachment" in g.headers["content-disposition"]
    frame = pyogrio.read_dataframe(io.BytesIO(g.content))
    assert len(frame) == s["features"] and frame.crs.to_epsg() == 4326


def test_a_bad_tile_is_refused(client):
    assert client.get(f"{BASE}/hotspots/3/9/1.pbf").status_code == 422
    assert client.get(f"{BASE}/nothing").status_code == 422


def test_the_default_view_is_computed_when_the_service_starts(client):
    """The workspace's default layer (hot spots of the year, as the public sees them) is
    computed ahead by the service; the page's first request is then answered from it, the
    same answer as one computed on request."""
    import asyncio

    from api.routes import planner_map

    app = client.app
    # the layer cache is the module's: another test's database (a copy of the same
    # template, the same data version) may have filled it with this very layer
    planner_map.CACHE.clear()
    app.state.analyses.clear()
    before = app.state.analyses.computed
    asyncio.run(planner_map.warm_default_view(app))
    assert app.state.analyses.computed == before + 1
    today = dt.datetime.now(dt.UTC).date()
    since = (today - dt.timedelta(days=365)).isoformat() + "T00:00:00Z"
    ahead = client.get(
        f"{BASE}/hotspots?since={since}&cell_size=250&p_method=permutation&step=week"
    ).json()
    assert app.state.analyses.computed == before + 1  # not computed again
    planner_map.CACHE.clear()  # forget the layer: the same parameters computed anew
    app.state.analyses.clear()
    fresh = client.get(f"{BASE}/hotspots?since={since}&cell_size=250").json()
    assert app.state.analyses.computed == before + 2
    assert fresh == ahead and fresh["features"] > 0
