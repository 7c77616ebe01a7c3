"""Vector tiles of the map layers: every appeal counted at low zoom, points with ids at high
zoom, counts kept current by the triggers, no applicant data in public tiles, staff tiles
behind a token."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from layers import Aggregation, Selection, get_layer, refresh_appeal_cells, render_tile
from layers.cells import Grid, cell_key
from layers.tiles import BUFFER, EXTENT
from tests.factories import an_apartment_building, make_appeal, staff

PERSONAL = ("Айгерим Нурланова", "+7 705 123 45 67", "aigerim@example.kz")
SECRET_TEXT = "подъезд 3, код домофона 1234"
APPLICANT_WORDS = ("applicant", "name", "phone", "email", "description", "address_text")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return x, y


def city_tiles(conn, city_id: int, z: int) -> list[tuple[int, int]]:
    w, s, e, n = conn.execute(
        text(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
            "(SELECT bounds::box2d AS b FROM cities WHERE id = :c) t"
        ),
        {"c": city_id},
    ).one()
    x0, y0 = tile_of(w, n, z)
    x1, y1 = tile_of(e, s, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def get_tile(client, layer: str, z: int, x: int, y: int, headers=None, **params):
    r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return r, mapbox_vector_tile.decode(r.content).get(layer, {"features": []})["features"]


def sql_count(conn, city_id: int, z: int, x: int, y: int, where: str = "true", **params) -> int:
    """Appeals inside the tile's area, counted directly with ST_TileEnvelope."""
    return conn.execute(
        text(f"""
        SELECT count(*) FROM appeals
        WHERE city_id = :c AND ST_Intersects(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x,
              :y)) AND {where}"""),
        {"c": city_id, "z": z, "x": x, "y": y, **params},
    ).scalar_one()


def counted(features) -> int:
    return sum(f["properties"]["count"] for f in features)


def test_z10_tiles_count_every_appeal_of_their_area(client, conn, city_id):
    total_city = conn.execute(
        text("SELECT count(*) FROM appeals WHERE city_id = :c"), {"c": city_id}
    ).scalar_one()
    seen = 0
    for x, y in city_tiles(conn, city_id, 10):
        r, features = get_tile(client, "appeals", 10, x, y)
        expected = sql_count(conn, city_id, 10, x, y)
        assert counted(features) == expected == int(r.headers["X-Qala-Counted"])
        assert r.headers["X-Qala-Tile"] == "cells"
        assert all(f["geometry"]["type"] == "Point" for f in features)
        seen += expected
    assert seen == total_city > 0


def test_cells_carry_counts_by_status_that_add_up(client, conn, city_id):
    for x, y in city_tiles(conn, city_id, 12):
        _, features = get_tile(client, "appeals", 12, x, y)
        for f in features:
            p = f["properties"]
            by_status = sum(v for k, v in p.items() if k != "count")
            assert by_status == p["count"] > 0


@pytest.mark.parametrize(
    "params, where",
    [
        ({"status": "closed"}, "status = 'closed'"),
        ({"status": "assigned,in_progress"}, "status IN ('assigned', 'in_progress')"),
        ({"category": "lift_broken,roof_leak"}, "category_code IN ('lift_broken', 'roof_leak')"),
        ({"since": "2026-01-01"}, "created_at >= '2026-01-01T00:00:00Z'"),
        ({"until": "2026-06-15T12:00:00Z"}, "created_at < '2026-06-15T12:00:00Z'"),
        (
            {"since": "2026-02-10", "until": "2026-07-20"},
            "created_at >= '2026-02-10T00:00:00Z' AND created_at < '2026-07-21T00:00:00Z'",
        ),
        (
            {"since": "2026-03-05", "until": "2026-03-20"},
            "created_at >= '2026-03-05T00:00:00Z' AND created_at < '2026-03-21T00:00:00Z'",
        ),
        (
            {"overdue": "true"},
            "status IN ('registered', 'assigned', 'in_progress', 'reopened') "
            "AND deadline_at < now()",
        ),
        (
            {"category": "garbage", "since": "2026-04-01", "status": "closed"},
            "category_code = 'garbage' AND created_at >= '2026-04-01T00:00:00Z' "
            "AND status = 'closed'",
        ),
    ],
)
def test_filtered_cells_count_exactly_what_sql_counts(client, conn, city_id, params, where):
    for x, y in city_tiles(conn, city_id, 11):
        r, features = get_tile(client, "appeals", 11, x, y, **params)
        assert counted(features) == sql_count(conn, city_id, 11, x, y, where)
        assert int(r.headers["X-Qala-Counted"]) == counted(features)


def test_at_z16_appeals_are_points_with_their_ids(client, conn, city_id):
    row = (
        conn.execute(
            text("""
        SELECT id, status, category_code, ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM appeals WHERE city_id = :c ORDER BY id LIMIT 1 OFFSET 100"""),
            {"c": city_id},
        )
        .mappings()
        .one()
    )
    x, y = tile_of(row["lon"], row["lat"], 16)
    r, features = get_tile(client, "appeals", 16, x, y)
    assert r.headers["X-Qala-Tile"] == "points"
    mine = [f for f in features if f["id"] == row["id"]]
    assert len(mine) == 1
    assert mine[0]["geometry"]["type"] == "Point"
    assert mine[0]["properties"]["status"] == row["status"]
    assert mine[0]["properties"]["category_code"] == row["category_code"]
    assert "count" not in mine[0]["properties"]
    # the tile counts its own appeals; neighbours in the buffer are drawn, not counted
    assert int(r.headers["X-Qala-Counted"]) == sql_count(conn, city_id, 16, x, y)


def sql_ids(conn, city_id: int, z: int, x: int, y: int, margin: float = 0.0) -> set[int]:
    """Ids of the appeals inside the tile's area (widened by ``margin`` of its width)."""
    return set(
        conn.execute(
            text("""
            SELECT id FROM appeals WHERE city_id = :c AND ST_Intersects(
                ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y, margin => :m))"""),
            {"c": city_id, "z": z, "x": x, "y": y, "m": margin},
        ).scalars()
    )


def test_points_tiles_of_the_city_show_each_appeal_once(client, conn, city_id):
    """Counted from the decoded tiles (feature ids), not from what the server says."""
    shown: set[int] = set()
    for x, y in city_tiles(conn, city_id, 14):
        _, features = get_tile(client, "appeals", 14, x, y)
        ids = [f["id"] for f in features]
        assert all(
            f["geometry"]["type"] == "Point" and "count" not in f["properties"] for f in features
        )
        assert len(ids) == len(set(ids)), "an appeal twice in one tile"
        # every appeal of the tile's own area, and nothing beyond its buffer
        assert sql_ids(conn, city_id, 14, x, y) <= set(ids)
        assert set(ids) <= sql_ids(conn, city_id, 14, x, y, margin=BUFFER / EXTENT + 1e-3)
        shown |= set(ids)
    every = set(
        conn.execute(text("SELECT id FROM appeals WHERE city_id = :c"), {"c": city_id}).scalars()
    )
    assert shown == every


def test_a_new_appeal_is_counted_in_the_next_z10_tile(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=7)
    x, y = tile_of(b["lon"], b["lat"], 10)
    _, before = get_tile(client, "appeals", 10, x, y)
    _, before_open = get_tile(client, "appeals", 10, x, y, status="registered")
    appeal = make_appeal(conn, city_id, "lift_broken", b["lon"], b["lat"])
    _, after = get_tile(client, "appeals", 10, x, y)
    _, after_open = get_tile(client, "appeals", 10, x, y, status="registered")
    assert counted(after) == counted(before) + 1
    assert counted(after_open) == counted(before_open) + 1
    # a change of status moves the count between statuses, not in or out of the tile
    conn.execute(
        text(
            "UPDATE appeals SET status = 'closed', closed_at = now() WHERE city_id = :c AND id = :i"
        ),
        {"c": city_id, "i": appeal["id"]},
    )
    _, closed = get_tile(client, "appeals", 10, x, y)
    _, closed_open = get_tile(client, "appeals", 10, x, y, status="registered")
    assert counted(closed) == counted(after)
    assert counted(closed_open) == counted(before_open)


def test_deleted_and_moved_appeals_leave_their_cells(client, conn, city_id):
    x, y = tile_of(69.15, 54.87, 10)
    _, before = get_tile(client, "appeals", 10, x, y)
    # copies of two appeals (no events, so that they may be deleted)
    ids = (
        conn.execute(
            text("""
        INSERT INTO appeals (city_id, reg_number, channel, category_code, located_by, status,
                             deadline_at, geom)
        SELECT city_id, reg_number || '-copy', channel, category_code, located_by, status,
               deadline_at, geom
        FROM appeals WHERE city_id = :c ORDER BY id LIMIT 2 RETURNING id"""),
            {"c": city_id},
        )
        .scalars()
        .all()
    )
    _, added = get_tile(client, "appeals", 10, x, y)
    assert counted(added) == counted(before) + 2
    conn.execute(
        text(
            "UPDATE appeals SET geom = ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326) "
            "WHERE city_id = :c AND id = :i"
        ),
        {"c": city_id, "i": ids[0]},
    )
    conn.execute(
        text("DELETE FROM appeals WHERE city_id = :c AND id = :i"), {"c": city_id, "i": ids[1]}
    )
    _, after = get_tile(client, "appeals", 10, x, y)
    assert counted(after) == counted(before)
    _, far = get_tile(client, "appeals", 10, *tile_of(0.5, 0.5, 10))
    assert counted(far) == 1


def test_the_triggers_and_the_refresh_agree(conn, city_id):
    b = an_apartment_building(conn, city_id, offset=11)
    make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    conn.execute(
        text(
            "UPDATE appeals SET status = 'in_progress' WHERE city_id = :c AND id IN "
            "(SELECT id FROM appeals WHERE city_id = :c ORDER BY id LIMIT 25)"
        ),
        {"c": city_id},
    )
    snapshot = text("""
        SELECT category_code, month, cell, n, n_registered, n_assigned, n_in_progress,
               n_closed, sx, sy
        FROM appeal_cells WHERE city_id = :c ORDER BY category_code, month, cell""")
    kept = conn.execute(snapshot, {"c": city_id}).all()
    assert refresh_appeal_cells(conn, city_id) == len(kept)
    again = conn.execute(snapshot, {"c": city_id}).all()
    assert [r[:8] for r in again] == [r[:8] for r in kept]
    assert [r[8:] for r in again] == [pytest.approx(r[8:], rel=1e-12) for r in kept]
    assert conn.execute(text("SELECT count(*) FROM appeal_cells WHERE n <= 0")).scalar() == 0


def test_a_tile_over_its_points_budget_is_served_as_cells(conn, city_id):
    layer = get_layer("appeals")
    tight = dataclasses.replace(layer, aggregation=Aggregation(max_points=5))
    x, y = max(city_tiles(conn, city_id, 14), key=lambda t: sql_count(conn, city_id, 14, *t))
    expected = sql_count(conn, city_id, 14, x, y)
    assert expected > 5
    with conn.begin_nested():
        as_cells = render_tile(conn, tight, Selection(tight), city_id, 14, x, y)
        as_points = render_tile(conn, layer, Selection(layer), city_id, 14, x, y)
    assert (as_cells.kind, as_cells.counted) == ("cells", expected)
    assert (as_points.kind, as_points.counted) == ("points", expected)
    # counted from the tiles themselves: the cells' counts, the points' ids
    cells = mapbox_vector_tile.decode(as_cells.data)["appeals"]["features"]
    assert counted(cells) == expected
    own = sql_ids(conn, city_id, 14, x, y)
    assert own <= {
        f["id"] for f in mapbox_vector_tile.decode(as_points.data)["appeals"]["features"]
    }
    # max_points=None: points however many (no count made first); below zoom 14 still cells
    every = dataclasses.replace(layer, aggregation=Aggregation(max_points=None))
    with conn.begin_nested():
        as_all = render_tile(conn, every, Selection(every), city_id, 14, x, y)
        above = render_tile(conn, every, Selection(every), city_id, 13, x // 2, y // 2)
    assert as_all.kind == "points" and above.kind == "cells"
    all_points = mapbox_vector_tile.decode(as_all.data)["appeals"]["features"]
    assert own <= {f["id"] for f in all_points}
    # at the layer's deepest zoom there is nothing to zoom into: always points
    deepest = render_tile(conn, tight, Selection(tight), city_id, 18, *tile_of(69.15, 54.87, 18))
    assert deepest.kind == "points"


def test_public_tiles_never_carry_applicant_data(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=23)
    appeal = make_appeal(
        conn,
        city_id,
        "no_water",
        b["lon"],
        b["lat"],
        description=SECRET_TEXT,
        applicant_name=PERSONAL[0],
        applicant_phone=PERSONAL[1],
        applicant_email=PERSONAL[2],
        address_text="кв. 45",
    )
    x, y = tile_of(b["lon"], b["lat"], 16)
    r, features = get_tile(client, "appeals", 16, x, y)
    mine = next(f for f in features if f["id"] == appeal["id"])
    assert set(mine["properties"]) <= set(get_layer("appeals").properties)
    for f in features:
        assert not any(w in key for key in f["properties"] for w in APPLICANT_WORDS)
    for secret in (*PERSONAL, SECRET_TEXT, "кв. 45"):
        assert secret.encode() not in r.content
    for z in (10, 13):
        r, _ = get_tile(client, "appeals", z, *tile_of(b["lon"], b["lat"], z))
        for secret in (*PERSONAL, SECRET_TEXT):
            assert secret.encode() not in r.content


def test_the_staff_layer_needs_a_token(client, conn, city_id):
    x, y = tile_of(69.15, 54.87, 10)
    r = client.get(f"/tiles/appeals_staff/10/{x}/{y}.pbf")
    assert r.status_code == 401
    assert "Bearer" in r.json()["detail"]
    assert client.get("/tiles/appeals_staff.json").status_code == 401
    headers = staff(conn, "operator")
    r, features = get_tile(client, "appeals_staff", 10, x, y, headers=headers)
    assert counted(features) == sql_count(conn, city_id, 10, x, y)
    assert r.headers["Cache-Control"].startswith("private")
    assert "Authorization" in r.headers["Vary"]


def test_an_executor_sees_only_the_appeals_of_their_organisation(client, conn, city_id):
    org = conn.execute(
        text("""SELECT organisation_id FROM appeals WHERE city_id = :c
        AND organisation_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""),
        {"c": city_id},
    ).scalar_one()
    headers = staff(conn, "executor", organisation_id=org)
    for x, y in city_tiles(conn, city_id, 10):
        _, features = get_tile(client, "appeals_staff", 10, x, y, headers=headers)
        assert counted(features) == sql_count(
            conn, city_id, 10, x, y, "organisation_id = :o", o=org
        )


def test_plain_layers_are_features_with_their_declared_properties(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=3)
    x, y = tile_of(b["lon"], b["lat"], 15)
    r, features = get_tile(client, "buildings", 15, x, y)
    assert b["id"] in {f["id"] for f in features}
    assert r.headers["Cache-Control"] == "public, max-age=3600"
    mine = next(f for f in features if f["id"] == b["id"])
    assert mine["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert set(mine["properties"]) <= set(get_layer("buildings").properties)
    _, apartments = get_tile(client, "buildings", 15, x, y, kind="private")
    assert all(f["properties"]["kind"] == "private" for f in apartments)
    # below the layer's minimum zoom the tile is empty
    r = client.get(
        f"/tiles/buildings/10/{tile_of(b['lon'], b['lat'], 10)[0]}/"
        f"{tile_of(b['lon'], b['lat'], 10)[1]}.pbf"
    )
    assert r.status_code == 200 and r.content == b""


def test_a_tile_is_cached_by_etag(client, conn, city_id):
    x, y = tile_of(69.15, 54.87, 12)
    r, _ = get_tile(client, "appeals", 12, x, y)
    assert r.headers["Cache-Control"] == "public, max-age=60"
    again = client.get(
        f"/tiles/appeals/12/{x}/{y}.pbf", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304


def test_tilejson_describes_the_layer(client, conn, city_id):
    doc = client.get("/tiles/appeals.json", params={"status": "registered"}).json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"][0].endswith("/tiles/appeals/{z}/{x}/{y}.pbf?status=registered")
    assert (doc["minzoom"], doc["maxzoom"]) == (6, 18)
    w, s, e, n = doc["bounds"]
    assert w < 69.15 < e and s < 54.87 < n
    fields = doc["vector_layers"][0]["fields"]
    assert fields["count"] == "Number" and fields["status"] == "String"
    assert fields["overdue"] == "Boolean"
    assert doc["aggregation"]["below_zoom"] == 14
    assert doc["style"]["property"] == "status"
    index = client.get("/tiles").json()["layers"]
    assert "appeals_staff" not in {la["name"] for la in index}


@pytest.mark.parametrize(
    "path, status",
    [
        ("/tiles/nowhere/10/1/1.pbf", 404),
        ("/tiles/appeals/10/5000/1.pbf", 404),
        ("/tiles/appeals/23/1/1.pbf", 422),
        ("/tiles/appeals/10/1/1.pbf?status=lost", 400),
        ("/tiles/appeals/10/1/1.pbf?since=yesterday", 400),
        ("/tiles/nowhere.json", 404),
        ("/tiles/appeals/10/1/1.pbf?since=2026-05-01&until=2026-04-01", 400),
    ],
)
def test_bad_tile_requests_say_what_is_wrong(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert r.json()["detail"]


def test_grid_keys_cover_a_tile_exactly():
    g = Grid.of(14, 11339, 5192, 5)
    n = 2 ** (20 - 14)
    assert g.k0 == cell_key(11339 * n, 5192 * n)
    assert g.k1 == cell_key(11339 * n + n - 1, 5192 * n + n - 1)
    assert g.k1 - g.k0 + 1 == n * n
    assert len(g.ring(1)) == 4 * n + 4
    assert (g.shift2, g.level) == (2, 20)
    low = Grid.of(10, 708, 324, 5)  # a 32-cell grid of level 15: read from level 16
    assert low.level == 16
    assert low.params["ck0"] == cell_key(708 * 64, 324 * 64)
    assert low.params["cshift2"] == 2


def test_both_levels_of_cells_hold_the_same_counts(conn, city_id):
    rows = conn.execute(
        text("""
        SELECT level, category_code = '' AS all_categories, month = '-infinity' AS all_time,
               sum(n), sum(n_closed) FROM appeal_cells WHERE city_id = :c
        GROUP BY 1, 2, 3 ORDER BY 2, 3, 1"""),
        {"c": city_id},
    ).all()
    by_set: dict = {}
    for level, *key, n, closed in rows:
        by_set.setdefault(tuple(key), {})[level] = (n, closed)
    assert len(by_set) == 3
    for levels in by_set.values():
        assert levels[16] == levels[20]


def test_the_layer_registry_refuses_a_bad_declaration():
    with pytest.raises(ValueError, match="identifier"):
        dataclasses.replace(get_layer("wells"), properties=("id", "kind; DROP TABLE wells"))
    with pytest.raises(ValueError, match="too coarse"):
        dataclasses.replace(get_layer("appeals"), aggregation=Aggregation(below_zoom=19))


def test_month_edges_are_split_between_table_and_live_rows():
    from layers.cells import plan

    layer = get_layer("appeals")
    since = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)
    until = dt.datetime(2026, 7, 20, tzinfo=dt.UTC)
    p = plan(Selection(layer, {"since": since, "until": until}))
    assert p.params["m_first"] == dt.date(2026, 3, 1) and p.params["m_last"] == dt.date(2026, 7, 1)
    assert p.table and p.live
    whole = plan(Selection(layer, {"since": dt.datetime(2026, 2, 1, tzinfo=dt.UTC)}))
    assert whole.table and whole.live is None


def test_one_declaration_gives_a_layer_all_its_routes():
    from api.routes.tiles import LayerRoutes

    extra = dataclasses.replace(
        get_layer("wells"), name="manholes", title={"ru": "Люки", "kk": "Люктер", "en": "Manholes"}
    )
    paths = {r.path for r in LayerRoutes({"manholes": extra}).router.routes}
    assert {
        "/tiles/manholes/{z}/{x}/{y}.pbf",
        "/tiles/manholes.json",
        "/ogc/collections/manholes",
        "/ogc/collections/manholes/items",
        "/ogc/collections/manholes/items/{featureId}",
    } <= paths


def test_vectorised_cell_keys_are_appeal_cell_to_the_bit(conn):
    """geo.infra.cells.cell_keys (bulk loaders) numbers points as appeal_cell(geom) does in SQL,
    over the whole Mercator square, a city and exact cell edges."""
    import numpy as np

    from geo.infra.cells import CELL, HALF, cell_keys

    rng = np.random.default_rng(7)
    lon = np.r_[rng.uniform(-180, 180, 20_000), rng.uniform(69.3, 69.5, 20_000), -180, 180, 0]
    lat = np.r_[rng.uniform(-89.9, 89.9, 20_000), rng.uniform(54.9, 55.0, 20_000), -90, 90, 0]
    # points on the western edges of cells: x = -HALF + k * CELL
    edge = (rng.integers(0, 2**20, 2_000) * CELL - HALF) * 180 / HALF
    lon, lat = np.r_[lon, edge], np.r_[lat, rng.uniform(-60, 60, 2_000)]
    sql = conn.execute(
        text("""
        SELECT appeal_cell(ST_SetSRID(ST_MakePoint(x, y), 4326))
        FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(x, y, i)
        ORDER BY i"""),
        {"lon": lon.tolist(), "lat": lat.tolist()},
    ).scalars()
    assert np.array_equal(cell_keys(lon, lat), np.fromiter(sql, np.int64))


def test_an_appeal_keeps_its_cell_when_written_and_when_moved(conn, city_id):
    b = an_apartment_building(conn, city_id)
    a = make_appeal(conn, city_id, "garbage", b["lon"], b["lat"])
    check = text("SELECT cell, appeal_cell(geom) FROM appeals WHERE city_id = :c AND id = :i")
    kept, computed = conn.execute(check, {"c": city_id, "i": a["id"]}).one()
    assert kept == computed
    conn.execute(
        text(
            "UPDATE appeals SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) "
            "WHERE city_id = :c AND id = :i"
        ),
        {"c": city_id, "i": a["id"], "x": b["lon"] + 0.01, "y": b["lat"]},
    )
    moved, computed = conn.execute(check, {"c": city_id, "i": a["id"]}).one()
    assert moved == computed != kept
    # the demo's generated appeals (written by COPY with their cell) agree too
    wrong = conn.execute(
        text("SELECT count(*) FROM appeals WHERE city_id = :c AND cell <> appeal_cell(geom)"),
        {"c": city_id},
    ).scalar_one()
    assert wrong == 0
