"""OGC API – Features under /ogc: landing, conformance, collections, items with bbox, paging,
datetime and filters, one item; bad parameters answered 400 with what is wrong."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from tests.factories import an_apartment_building, make_appeal, staff

GEOJSON = "application/geo+json"
BOX = (69.12, 54.855, 69.17, 54.885)


def links(doc: dict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in doc["links"]}


def path_of(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def count(conn, city_id: int, where: str = "true", **params) -> int:
    return conn.execute(
        text(f"SELECT count(*) FROM appeals WHERE city_id = :c AND {where}"),
        {"c": city_id, **params},
    ).scalar_one()


def test_the_landing_page_links_conformance_collections_and_the_api(client):
    doc = client.get("/ogc").json()
    rels = links(doc)
    assert path_of(rels["self"]) == "/ogc"
    assert path_of(rels["conformance"]) == "/ogc/conformance"
    assert path_of(rels["data"]) == "/ogc/collections"
    assert client.get(path_of(rels["service-desc"])).status_code == 200
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf


def test_collections_list_the_public_layers_and_staff_ones_only_to_staff(client, conn):
    public = {c["id"] for c in client.get("/ogc/collections").json()["collections"]}
    assert {"buildings", "yards", "wells", "streets", "districts", "appeals", "repeats"} <= public
    assert "appeals_staff" not in public
    seen_by_staff = client.get("/ogc/collections", headers=staff(conn, "operator")).json()
    assert "appeals_staff" in {c["id"] for c in seen_by_staff["collections"]}
    for c in seen_by_staff["collections"]:
        assert path_of(links(c)["items"]).startswith(f"/ogc/collections/{c['id']}/items")


def test_a_collection_has_its_extent_and_links(client):
    doc = client.get("/ogc/collections/appeals").json()
    assert doc["itemType"] == "feature"
    w, s, e, n = doc["extent"]["spatial"]["bbox"][0]
    assert w < 69.15 < e and s < 54.87 < n
    first, last = doc["extent"]["temporal"]["interval"][0]
    assert first < last
    assert path_of(links(doc)["items"]) == "/ogc/collections/appeals/items"
    assert "temporal" not in client.get("/ogc/collections/wells").json()["extent"]


def test_items_are_geojson_in_lon_lat_with_counts(client, conn, city_id):
    r = client.get("/ogc/collections/appeals/items", params={"limit": 5})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(GEOJSON)
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert doc["numberMatched"] == count(conn, city_id)
    assert doc["numberReturned"] == len(doc["features"]) == 5
    lon, lat = doc["features"][0]["geometry"]["coordinates"]
    assert 69 < lon < 70 and 54 < lat < 55
    props = doc["features"][0]["properties"]
    assert {"status", "category_code", "created_at", "reg_number"} <= set(props)
    assert not {"description", "address_text", "applicant_name"} & set(props)


def test_the_bbox_keeps_the_features_inside_it(client, conn, city_id):
    r = client.get(
        "/ogc/collections/appeals/items", params={"bbox": ",".join(map(str, BOX)), "limit": 1000}
    )
    doc = r.json()
    inside = count(
        conn,
        city_id,
        "ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))",
        w=BOX[0],
        s=BOX[1],
        e=BOX[2],
        n=BOX[3],
    )
    assert 0 < doc["numberMatched"] == inside < count(conn, city_id)
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert BOX[0] <= lon <= BOX[2] and BOX[1] <= lat <= BOX[3]


def test_paging_follows_next_and_prev_links(client, conn, city_id):
    url = "/ogc/collections/appeals/items?limit=250&status=closed"
    seen: list[int] = []
    pages = 0
    while url:
        doc = client.get(url).json()
        seen += [f["id"] for f in doc["features"]]
        rels = links(doc)
        if pages:
            assert "prev" in rels
        url = path_of(rels["next"]) if "next" in rels else None
        pages += 1
    assert pages >= 2
    assert seen == sorted(set(seen))
    assert len(seen) == count(conn, city_id, "status = 'closed'")
    second = client.get("/ogc/collections/appeals/items?limit=250&offset=250").json()
    prev = parse_qs(urlsplit(links(second)["prev"]).query)
    assert prev["offset"] == ["0"] and prev["limit"] == ["250"]


def test_datetime_filters_the_time_layers(client, conn, city_id):
    cases = {
        "2026-03-01/2026-03-31": "created_at >= '2026-03-01Z' AND created_at < '2026-04-01Z'",
        "2026-06-01T00:00:00Z/..": "created_at >= '2026-06-01T00:00:00Z'",
        "../2026-01-15T12:00:00Z": "created_at <= '2026-01-15T12:00:00Z'",
        "2026-05-05": "created_at >= '2026-05-05Z' AND created_at < '2026-05-06Z'",
    }
    for value, where in cases.items():
        doc = client.get(
            "/ogc/collections/appeals/items", params={"datetime": value, "limit": 1}
        ).json()
        assert doc["numberMatched"] == count(conn, city_id, where), value
    r = client.get("/ogc/collections/wells/items", params={"datetime": "2026-03-01"})
    assert r.status_code == 400 and "no time" in r.json()["detail"]


def test_layer_filters_apply_to_items(client, conn, city_id):
    doc = client.get(
        "/ogc/collections/appeals/items",
        params={"category": "lift_broken", "status": "closed,assigned"},
    ).json()
    assert doc["numberMatched"] == count(
        conn, city_id, "category_code = 'lift_broken' AND status IN ('closed', 'assigned')"
    )
    assert doc["features"], "the demo city has such appeals"
    assert all(f["properties"]["category_code"] == "lift_broken" for f in doc["features"])
    wells = client.get("/ogc/collections/wells/items", params={"kind": "sewer"}).json()
    assert wells["numberMatched"] > 0
    assert {f["properties"]["kind"] for f in wells["features"]} == {"sewer"}


def test_one_item_by_id(client, conn, city_id):
    b = an_apartment_building(conn, city_id)
    r = client.get(f"/ogc/collections/buildings/items/{b['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    doc = r.json()
    assert doc["id"] == b["id"] and doc["properties"]["address_ru"] == b["address_ru"]
    assert doc["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert path_of(links(doc)["collection"]) == "/ogc/collections/buildings"
    assert client.get("/ogc/collections/buildings/items/999999999").status_code == 404
    assert client.get("/ogc/collections/buildings/items/abc").status_code == 404


def test_the_staff_collection_shows_more_and_needs_a_token(client, conn, city_id):
    b = an_apartment_building(conn, city_id, offset=31)
    a = make_appeal(
        conn,
        city_id,
        "roof_leak",
        b["lon"],
        b["lat"],
        description="течёт с потолка в спальне",
        applicant_phone="+7 701 000 00 00",
    )
    assert client.get(f"/ogc/collections/appeals_staff/items/{a['id']}").status_code == 401
    assert client.get("/ogc/collections/appeals_staff/items").status_code == 401
    public = client.get(f"/ogc/collections/appeals/items/{a['id']}").json()
    assert "description" not in public["properties"]
    r = client.get(
        f"/ogc/collections/appeals_staff/items/{a['id']}", headers=staff(conn, "operator")
    )
    assert r.status_code == 200
    props = r.json()["properties"]
    assert props["description"] == "течёт с потолка в спальне"
    assert "+7 701 000 00 00" not in r.text  # contacts are in no layer at all


def test_repeats_are_objects_with_their_counts(client, conn, city_id):
    doc = client.get("/ogc/collections/repeats/items", params={"limit": 3}).json()
    expected = conn.execute(
        text("SELECT count(*) FROM object_repeats WHERE city_id = :c"), {"c": city_id}
    ).scalar_one()
    assert doc["numberMatched"] == expected > 0
    f = doc["features"][0]
    assert f["id"] == f"{f['properties']['object_kind']}-{f['properties']['object_id']}"
    one = client.get(f"/ogc/collections/repeats/items/{f['id']}").json()
    assert one["properties"]["appeals"] == f["properties"]["appeals"]


@pytest.mark.parametrize(
    "query, words",
    [
        ("bbox=69.1,54.8,69.2", "4"),
        ("bbox=69.2,54.8,69.1,54.9", "east of"),
        ("bbox=69.1,95,69.2,96", "latitudes"),
        ("bbox=a,b,c,d", "numbers"),
        ("datetime=yesterday", "RFC 3339"),
        ("datetime=2026-05-01/2026-04-01", "ends before"),
        ("datetime=../..", "at least one bound"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("status=lost", "status"),
        ("colour=red", "unknown query parameter"),
    ],
)
def test_bad_parameters_are_400_with_a_message(client, query, words):
    r = client.get(f"/ogc/collections/appeals/items?{query}")
    assert r.status_code == 400
    assert words in r.json()["detail"]


def test_a_limit_above_the_maximum_is_served_as_the_maximum(client):
    doc = client.get("/ogc/collections/appeals/items", params={"limit": 50_000}).json()
    assert doc["numberReturned"] == min(doc["numberMatched"], 10_000)
    assert client.get("/ogc/collections/nowhere/items").status_code == 404
