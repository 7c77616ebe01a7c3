"""GIS clients: what GDAL (Debian's ``gdal-bin``) and QGIS read from the OGC API.

* every collection has a typed JSON Schema of its features (``describedby``) and its
  queryables (OGC API – Features Part 3), both from the database's own column types;
* ``ogr2ogr`` with default options copies every public collection, and the counts equal the
  API's ``numberMatched``; integer columns arrive as integers.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from api import process

SECRET = "gis-clients-test-secret-key-of-32-bytes!"
OGR2OGR = shutil.which("ogr2ogr") or "/usr/bin/ogr2ogr"


def test_each_collection_links_its_schema_and_queryables(client):
    doc = client.get("/ogc/collections/buildings").json()
    rels = {link["rel"]: link for link in doc["links"]}
    assert rels["describedby"]["type"] == "application/schema+json"
    schema = client.get(urlsplit(rels["describedby"]["href"]).path)
    assert schema.status_code == 200 and schema.headers["content-type"] == "application/schema+json"
    props = schema.json()["properties"]
    assert props["id"] == {"type": "integer", "x-ogc-role": "id"}
    assert props["floors"]["type"] == props["apartments"]["type"] == "integer"
    assert props["housing_org_id"]["type"] == "integer"  # even where every value is null
    assert props["address_ru"]["type"] == "string"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert (
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables"
        in client.get("/ogc/conformance").json()["conformsTo"]
    )


def test_queryables_are_the_filters_a_query_may_send(client):
    q = client.get("/ogc/collections/appeals/queryables").json()
    assert set(q["properties"]) >= {"status", "category"}
    assert "registered" in q["properties"]["status"]["enum"]
    assert q["additionalProperties"] is False
    # each queryable is a query parameter of the items, filtering on the server
    everything = client.get("/ogc/collections/appeals/items?limit=1").json()["numberMatched"]
    some = client.get("/ogc/collections/appeals/items?limit=1000&status=assigned").json()
    assert 0 < some["numberMatched"] < everything
    assert {f["properties"]["status"] for f in some["features"]} == {"assigned"}


def test_a_staff_layers_schema_is_for_staff_only(client):
    assert client.get("/ogc/collections/appeals_staff/schema").status_code in (401, 403)


@pytest.fixture(scope="module")
def served(db_url, as_service, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gis") / "api.log"
    proc, base = process.start_qala(as_service(db_url), SECRET, log)
    try:
        yield base
    finally:
        process.stop(proc)


def ogr_count(path, layer: str) -> int:
    done = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(path), layer], capture_output=True, text=True, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("Feature Count:"))
    return int(line.split(":")[1])


def test_ogr2ogr_copies_every_public_collection(served, tmp_path):
    assert shutil.which("ogr2ogr"), "ogr2ogr is missing: apt-get install -y gdal-bin"
    collections = httpx.get(served + "/ogc/collections", timeout=30).json()["collections"]
    names = [c["id"] for c in collections]
    assert {"buildings", "yards", "wells", "streets", "districts", "appeals"} <= set(names)
    out = tmp_path / "city.gpkg"
    done = subprocess.run(
        [OGR2OGR, "-f", "GPKG", str(out), f"OAPIF:{served}/ogc", *names],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in names:
        matched = httpx.get(f"{served}/ogc/collections/{name}/items?limit=1", timeout=30).json()[
            "numberMatched"
        ]
        assert matched > 0, name
        assert ogr_count(out, name) == matched, name
    fields = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(out), "buildings"], capture_output=True, text=True
    ).stdout
    assert "floors: Integer" in fields and "apartments: Integer" in fields


def test_a_cql2_filter_runs_on_the_server(client):
    everything = client.get("/ogc/collections/appeals/items?limit=1").json()["numberMatched"]
    by_param = client.get("/ogc/collections/appeals/items?limit=1&status=assigned").json()
    got = client.get(
        "/ogc/collections/appeals/items",
        params={"filter": "status = 'assigned'", "filter-lang": "cql2-text", "limit": 10000},
    ).json()
    assert 0 < got["numberMatched"] == by_param["numberMatched"] < everything
    assert {f["properties"]["status"] for f in got["features"]} == {"assigned"}
    both = client.get(
        "/ogc/collections/appeals/items",
        params={"filter": "status IN ('assigned', 'registered') AND NOT category = 'ice'"},
    ).json()
    one = client.get(
        "/ogc/collections/appeals/items",
        params={"filter": "(status = 'assigned' OR status = 'registered') AND category <> 'ice'"},
    ).json()
    assert both["numberMatched"] == one["numberMatched"] > 0
    # GDAL 3.6 says cql-text: the same grammar
    old = client.get(
        "/ogc/collections/appeals/items",
        params={"filter": "(status = 'assigned')", "filter-lang": "cql-text"},
    ).json()
    assert old["numberMatched"] == got["numberMatched"]


@pytest.mark.parametrize(
    ("cql", "says"),
    [
        ("status = ", "not CQL2 text"),
        ("colour = 'red'", "'colour' is not a queryable of 'appeals'"),
        ("status = 'lost'", "status = 'lost' is unknown"),
        ("status = 5", "takes text"),
        ("status = 'x'; DROP TABLE appeals", "not CQL2 text"),
        ("S_INTERSECTS(geom, POINT(1 1))", "not supported"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_what_is_wrong(client, cql, says):
    r = client.get("/ogc/collections/appeals/items", params={"filter": cql})
    assert r.status_code == 400, r.text
    assert says in r.json()["detail"]


def test_an_unknown_filter_language_is_refused(client):
    r = client.get(
        "/ogc/collections/appeals/items",
        params={"filter": "status = 'assigned'", "filter-lang": "cql2-json"},
    )
    assert r.status_code == 400 and "cql2-text" in r.json()["detail"]


def test_the_ogc_api_description_declares_limit_filters_and_one_geometry_per_collection(client):
    landing = client.get("/ogc").json()
    desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = client.get(urlsplit(desc["href"]).path)
    assert doc.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    api = doc.json()
    assert api["components"]["parameters"]["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10000,
        "default": 100,
    }
    items = api["paths"]["/collections/appeals/items"]["get"]["parameters"]
    names = {p.get("name") or p["$ref"].rsplit("/", 1)[1] for p in items}
    assert {"limit", "filter", "filter-lang", "status", "category"} <= names
    assert "cql-text" in api["components"]["parameters"]["filter-lang"]["schema"]["enum"]
    kinds = {
        c["id"]: client.get(f"/ogc/collections/{c['id']}/items?limit=10000").json()["features"]
        for c in client.get("/ogc/collections").json()["collections"]
    }
    for name, features in kinds.items():
        types = {f["geometry"]["type"].removeprefix("Multi") for f in features if f["geometry"]}
        assert len(types) <= 1, (name, types)


def test_ogr2ogr_sends_a_status_filter_to_the_server(served, tmp_path):
    """GDAL reads /ogc/api, finds `status` a query parameter and `cql-text` a filter language
    of the appeals' items, and sends `-where` as `filter=`: the server answers only the
    matching appeals (GDAL's log shows the URLs; nothing is filtered on the client)."""
    matched = httpx.get(
        f"{served}/ogc/collections/appeals/items",
        params={"limit": 1, "status": "assigned"},
        timeout=30,
    ).json()["numberMatched"]
    out = tmp_path / "assigned.gpkg"
    done = subprocess.run(
        [
            OGR2OGR,
            "--debug",
            "on",
            "-f",
            "GPKG",
            str(out),
            f"OAPIF:{served}/ogc",
            "appeals",
            "-where",
            "status = 'assigned'",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CQL text detected" in done.stderr
    assert "evaluated on client side" not in done.stderr
    fetched = [line for line in done.stderr.splitlines() if "/collections/appeals/items?" in line]
    assert fetched and all("filter=" in line for line in fetched[1:]), fetched[:3]
    assert 0 < ogr_count(out, "appeals") == matched
