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
