"""The photo stores: a folder (default) and S3. S3 is tested against moto's S3 server
(``moto[server]``, a real HTTP endpoint on the loopback), not against AWS or MinIO."""

from __future__ import annotations

import hashlib
import io

import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from geo.infra.errors import InvalidInput
from geo.infra.localdb import free_port
from geo.media.store import FolderStore, S3Store
from tests.factories import an_apartment_building, make_appeal, staff
from tests.test_photos import assert_no_metadata, jpeg_with_exif

BUCKET = "qala-photos"


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(monkeypatch, s3_endpoint):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    store = S3Store(BUCKET, s3_endpoint)
    store.client.create_bucket(Bucket=BUCKET)
    return s3_endpoint


def test_the_folder_store_keeps_a_file_whole_under_its_hash(tmp_path):
    store = FolderStore(tmp_path)
    data = b"a photo"
    key = hashlib.sha256(data).hexdigest()
    assert store.get(key) is None
    store.put(key, data)
    store.put(key, data)  # again: left as it is
    assert store.get(key) == data
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{key}.jpg"]
    with pytest.raises(InvalidInput):
        store.get("../../etc/passwd")


def test_the_s3_store_keeps_and_returns_photos(aws):
    store = S3Store(BUCKET, aws)
    data = b"\xff\xd8 a photo"
    key = hashlib.sha256(data).hexdigest()
    assert store.get(key) is None
    store.put(key, data)
    assert store.get(key) == data
    names = [o["Key"] for o in store.client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert f"photos/{key}.jpg" in names


@pytest.fixture
def settings(settings, request):
    if "aws" not in request.fixturenames:
        return settings
    endpoint = request.getfixturevalue("aws")
    return settings.model_copy(
        update={"photo_store": "s3", "s3_bucket": BUCKET, "s3_endpoint_url": endpoint}
    )


def test_photos_go_to_s3_when_the_settings_say_so(aws, client, conn, city_id, settings):
    b = an_apartment_building(conn, city_id)
    appeal = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"])
    r = client.post(
        f"/api/v1/appeals/{appeal['reg_number']}/photos",
        files={"photo": ("p.jpg", jpeg_with_exif(), "image/jpeg")},
        headers=staff(conn, "operator"),
    )
    assert r.status_code == 201, r.text
    page = client.get(r.json()["page_url"])
    assert page.status_code == 200
    assert_no_metadata(page.content)
    assert Image.open(io.BytesIO(page.content)).size == (800, 1200)
    stored = S3Store(BUCKET, aws).get(hashlib.sha256(page.content).hexdigest())
    assert stored == page.content
    assert not (settings.data_dir / "photos").exists()  # nothing in the folder
