"""Hot spots from the database: planted ones found, uniform noise gives none, API formats."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import text

from geo.demo.appeals import Hotspot, default_hotspots, load_demo_appeals, read_city
from geo.hotspots.run import HotspotQuery, run_emerging, run_hotspots
from tests.factories import make_city

PLANTED = [
    Hotspot(69.1210, 54.8905, radius_m=120, share=0.03),
    Hotspot(69.1790, 54.8520, radius_m=120, share=0.03),
]


@pytest.fixture
def planted(conn, city_id):
    load_demo_appeals(conn, city_id, n=12000, seed=41, hotspots=PLANTED, events=False)
    return city_id


def _cell_of(lon, lat, size, srid=32642):
    x, y = Transformer.from_crs(4326, srid, always_xy=True).transform(lon, lat)
    return int(np.floor(x / size)), int(np.floor(y / size))


def test_planted_hotspots_are_found_at_99_percent(conn, planted):
    res = run_hotspots(conn, planted, HotspotQuery(cell_size=100))
    hot = {(c["ix"], c["iy"]) for c in res["cells"] if c["class"] == "hot_99"}
    for h in PLANTED:
        assert _cell_of(h.lon, h.lat, 100) in hot
    p = res["params"]
    assert p["cell_size"] == 100 and p["fdr"] is True
    assert p["p_method"] == "permutation" and p["study_area"] == "incidents"
    assert p["n_cells_empty"] == 0 and p["n_points_used"] == 12600  # every appeal in a cell


def test_the_three_planted_demo_hotspots_are_found_at_99_percent(conn, city_id):
    """The demo's own planted hot spots (three yards chosen by the seed), at 100 m cells with
    the default band, p-values and study area."""
    spots = default_hotspots(read_city(conn, city_id))
    assert len(spots) == 3
    load_demo_appeals(conn, city_id, n=12000, seed=41, hotspots=spots, events=False)
    res = run_hotspots(conn, city_id, HotspotQuery(cell_size=100))
    hot = {(c["ix"], c["iy"]) for c in res["cells"] if c["class"] == "hot_99"}
    for h in spots:
        assert _cell_of(h.lon, h.lat, 100) in hot
    p = res["params"]
    assert p["p_method"] == "permutation" and p["permutations_max"] > p["permutations"]
    for key in ("p_rule", "study_area_rule", "band_rule", "band", "n_cells", "seed"):
        assert key in p


def test_default_parameters_are_chosen_from_the_data_and_reported(conn, planted):
    res = run_hotspots(conn, planted, HotspotQuery(category="stray_dogs"))
    p = res["params"]
    assert p["cell_size"] > 0 and p["band"] > p["cell_size"]
    assert "band_rule" in p and "cell_size_rule" in p
    assert p["n_points"] == p["n_points_used"] + p["n_outliers_removed"] + p["n_invalid"]


def test_uniform_random_appeals_leave_no_cell_after_fdr_in_most_seeds(conn):
    cid = make_city(conn, "UNI")
    survived = []
    for seed in range(5):
        conn.execute(text("DELETE FROM appeals WHERE city_id = :c"), {"c": cid})  # next seed
        conn.execute(text("SELECT setseed(:s)"), {"s": seed / 10})
        conn.execute(
            text("""
            INSERT INTO appeals (city_id, reg_number, channel, category_code, located_by,
                                 deadline_at, geom)
            SELECT :c, 'U-' || i, 'phone_109', 'garbage', 'click', now(),
                   ST_SetSRID(ST_MakePoint(69.35 + random() * 0.10,
                                           54.90 + random() * 0.10), 4326)
            FROM generate_series(1, 4000) i"""),
            {"c": cid},
        )
        res = run_hotspots(conn, cid, HotspotQuery(cell_size=250, band=500))
        survived.append(sum(c["class"] != "not_significant" for c in res["cells"]))
    assert sum(n > 0 for n in survived) <= 1, survived


def test_filters_narrow_the_appeals(conn, planted):
    everything = run_hotspots(conn, planted, HotspotQuery(cell_size=250, band=500))
    dogs = run_hotspots(conn, planted, HotspotQuery(cell_size=250, band=500, category="stray_dogs"))
    total = sum(c["count"] for c in everything["cells"])
    assert 0 < sum(c["count"] for c in dogs["cells"]) < total


def test_emerging_hotspots_report_a_category_per_cell(conn, planted):
    res = run_emerging(conn, planted, HotspotQuery(cell_size=250, band=500), step="month")
    assert res["params"]["steps"] >= 10
    assert sum(res["summary"].values()) == len(res["cells"])


def test_emerging_refuses_more_time_steps_than_it_can_compare(client, planted):
    """A window of centuries (the schema fuzzer sent one) is refused at once with what to
    change, instead of keeping a worker busy with Mann-Kendall for minutes."""
    r = client.get(
        "/api/v1/hotspots/emerging",
        params={"cell_size": 250, "since": "1900-01-01T00:00:00Z", "step": "week"},
    )
    assert r.status_code == 422, r.text
    assert "time steps" in r.json()["detail"] and "shorter window" in r.json()["detail"]


def test_emerging_refuses_more_trend_pairs_than_it_can_compare(client, planted):
    """Fewer than 260 monthly steps, but on 50 m cells: too many pairs of steps over all
    cells for Mann-Kendall (the work estimate of geo.hotspots.budget); refused before it
    starts with what to change: larger cells or fewer steps."""
    r = client.get(
        "/api/v1/hotspots/emerging",
        params={
            "cell_size": 35,
            "since": "2010-01-01T00:00:00Z",
            "step": "month",
            "study_area": "city",
        },
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "steps compared" in detail and "cell_size >=" in detail and "time steps" in detail
    assert "step=month" not in detail  # already months
    assert r.json()["change"]["cell_size"] > 50


def test_hotspot_api_exports_geojson_and_csv(client, conn, planted):
    r = client.get("/api/v1/hotspots", params={"cell_size": 250, "band": 500, "format": "geojson"})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["features"]
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert 68 < lon < 70 and 54 < lat < 56  # GeoJSON is lon, lat
    csv_ = client.get("/api/v1/hotspots", params={"cell_size": 250, "band": 500, "format": "csv"})
    assert csv_.text.splitlines()[0].startswith("cell,ix,iy,count")
    bad = client.get("/api/v1/hotspots", params={"srid": 4326, "cell_size": 250})
    assert bad.status_code == 422 and "metres" in bad.json()["detail"]


def test_failing_objects_and_clusters(client, conn, planted):
    objs = client.get("/api/v1/failing-objects", params={"kind": "well"}).json()
    assert objs and objs[0]["object_kind"] == "well"
    assert objs == sorted(
        objs, key=lambda o: (-o["repeats"], -o["appeals"], o["object_kind"], o["object_id"])
    )
    clusters = client.get("/api/v1/clusters", params={"eps_m": 40, "min_points": 30}).json()
    assert clusters and clusters[0]["appeals"] >= 30


@pytest.mark.parametrize("cell_size", [3054, 3742, 5])
def test_cells_too_large_or_too_small_for_the_city_are_a_clear_422(client, cell_size):
    for path in ("/api/v1/hotspots", "/api/v1/hotspots/emerging"):
        r = client.get(path, params={"cell_size": cell_size})
        assert r.status_code == 422, (path, r.text)
        assert "cells" in r.json()["detail"]


@pytest.mark.parametrize("cell_size", [50, 100, 250, 500, 75, 130])
def test_counts_per_cell_equal_an_independent_count(conn, planted, cell_size):
    """Whatever the route of the count (the 50 m cells regrouped for a side of a whole number
    of them, a direct count otherwise), every appeal is in the cell its metric coordinates
    fall in: equal to numpy's floor over the same coordinates."""
    from geo.hotspots.run import counts_sql, study_area_grid

    srid = conn.execute(text("SELECT metric_srid FROM cities WHERE id = :c"), {"c": planted})
    _, params = counts_sql(conn, planted, srid.scalar_one(), float(cell_size), "true")
    assert ("k" in params) == (cell_size % 50 == 0)
    grid = study_area_grid(conn, planted, HotspotQuery(cell_size=cell_size), cell_size)
    got = {(int(i), int(j)): int(n) for i, j, n in zip(grid.ix, grid.iy, grid.counts, strict=True)}
    xy = np.array(
        conn.execute(
            text("SELECT x_m, y_m FROM appeals WHERE city_id = :c AND NOT placeholder_geocode"),
            {"c": planted},
        ).all()
    )
    cells, n = np.unique(np.floor(xy / cell_size).astype(np.int64), axis=0, return_counts=True)
    assert got == {(int(i), int(j)): int(k) for (i, j), k in zip(cells, n, strict=True)}
    assert sum(got.values()) == len(xy) > 10_000
