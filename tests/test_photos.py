"""Photos of appeals: checked by content, metadata gone, resized, stored by hash, approved.

The photos are made here with Pillow: a JPEG carrying EXIF (GPS, camera, orientation), a
text file named like a photo, a PNG that decodes into too many pixels. What the service
serves is read back byte by byte: no APP1 (EXIF/XMP) segment, no comment, no camera name.
"""

from __future__ import annotations

import hashlib
import io
import struct

import pytest
from PIL import ExifTags, Image
from sqlalchemy import text

from geo.infra.errors import InvalidInput, TooLarge, UnsupportedMedia
from geo.media.photos import process
from tests.factories import an_apartment_building, channel_key, make_appeal, staff

LON, LAT = 69.15, 54.87  # where the test photo says it was taken


def jpeg_with_exif(size=(1200, 800), orientation=6) -> bytes:
    """A JPEG as a phone makes it: EXIF with the camera, a GPS position and an orientation
    (6: the picture must be turned a quarter to the right), and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "Secret Model 7"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (54.0, 52.0, 12.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (69.0, 9.0, 0.0),
    }
    img = Image.new("RGB", size, (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, size[0] // 4, size[1]))  # a blue band on the left
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken at home, flat 12")
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it has GPS
    return data


def segments(jpeg: bytes) -> list[int]:
    """The markers of a JPEG's segments up to the image data (SOS), read from its bytes."""
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    found, i = [], 2
    while i < len(jpeg):
        assert jpeg[i] == 0xFF
        marker = jpeg[i + 1]
        found.append(marker)
        if marker == 0xDA:  # start of scan: the pixels follow
            break
        (length,) = struct.unpack(">H", jpeg[i + 2 : i + 4])
        i += 2 + length
    return found


def assert_no_metadata(jpeg: bytes) -> None:
    marks = segments(jpeg)
    assert not [m for m in marks if 0xE1 <= m <= 0xEF], "an APPn segment (EXIF, XMP, ICC) left"
    assert 0xFE not in marks, "a comment segment left"
    for secret in (b"Exif\x00\x00", b"TestCam", b"Secret Model", b"flat 12", b"GPS"):
        assert secret not in jpeg
    assert not Image.open(io.BytesIO(jpeg)).getexif()


def stored_files(settings) -> list:
    root = settings.data_dir / "photos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- processing, without the database -----------------------------------------------------------


def test_a_phone_photo_loses_its_metadata_and_is_turned_upright():
    photo = process(jpeg_with_exif())
    assert (photo.width, photo.height) == (800, 1200)  # orientation 6: turned
    assert photo.page.size == (800, 1200) and photo.thumb.size == (213, 320)
    assert photo.gps == (LON, LAT)
    for copy in (photo.page, photo.thumb):
        assert_no_metadata(copy.data)
        assert copy.key == hashlib.sha256(copy.data).hexdigest()
    upright = Image.open(io.BytesIO(photo.page.data))
    assert upright.getpixel((400, 50))[2] > 150  # the blue band is now on top
    assert upright.getpixel((400, 1100))[0] > 150


def test_large_photos_are_resized_for_the_page_and_the_thumbnail():
    photo = process(jpeg_with_exif(size=(4000, 3000), orientation=1))
    assert photo.page.size == (1600, 1200) and photo.thumb.size == (320, 240)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_png_webp_and_heic_are_read_by_their_content(fmt):
    out = io.BytesIO()
    Image.new("RGBA" if fmt == "PNG" else "RGB", (640, 480), (10, 120, 10)).save(out, fmt)
    photo = process(out.getvalue())
    assert photo.page.size == (640, 480)
    assert_no_metadata(photo.page.data)


def test_what_is_not_a_photo_is_refused_by_its_content_whatever_its_name():
    with pytest.raises(UnsupportedMedia, match="not a photo"):
        process(b"%PDF-1.7 not an image at all" * 100)
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    with pytest.raises(UnsupportedMedia):
        process(gif.getvalue())  # a real image, of a kind not accepted
    with pytest.raises(UnsupportedMedia, match="decoded"):
        process(jpeg_with_exif()[:2000])  # truncated


def bomb() -> bytes:
    """A PNG of a few kilobytes that decodes into 144 million pixels."""
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")
    return out.getvalue()


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    data = bomb()
    assert len(data) < 100_000
    with pytest.raises(InvalidInput, match="decompression bomb"):
        process(data)


def test_a_photo_over_the_limit_is_refused():
    with pytest.raises(TooLarge, match="at most"):
        process(jpeg_with_exif(), max_bytes=1000)


# --- through the API ---------------------------------------------------------------------------


@pytest.fixture
def appeal(conn, city_id) -> dict:
    b = an_apartment_building(conn, city_id)
    return make_appeal(
        conn, city_id, "roof_leak", b["lon"], b["lat"], channel="phone_109", located_by="click"
    )


def upload(client, reg, data, headers, name="IMG_0001.jpg", kind="before", ctype="image/jpeg"):
    return client.post(
        f"/api/v1/appeals/{reg}/photos",
        files={"photo": (name, data, ctype)},
        data={"kind": kind},
        headers=headers,
    )


def test_a_staff_photo_is_stored_by_hash_without_metadata_and_shown(client, conn, appeal, settings):
    reg = appeal["reg_number"]
    r = upload(client, reg, jpeg_with_exif(), staff(conn, "operator"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] and body["approved"]  # staff's own photo: public at once
    assert body["gps"] == {"lon": LON, "lat": LAT}  # offered as the location ...
    assert (body["width"], body["height"]) == (800, 1200)
    # ... never kept: the row has no place, the files no EXIF
    columns = conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'appeal_photos'"
        )
    ).scalars()
    assert not {c for c in columns if "gps" in c or "lon" in c or "lat" in c}
    page = client.get(body["page_url"])  # the public, no credentials
    thumb = client.get(body["thumb_url"])
    assert page.status_code == 200 and page.headers["content-type"] == "image/jpeg"
    assert thumb.status_code == 200
    assert_no_metadata(page.content)
    assert_no_metadata(thumb.content)
    assert Image.open(io.BytesIO(thumb.content)).size == (213, 320)
    kept = {p.name for p in stored_files(settings)}
    assert kept == {
        hashlib.sha256(page.content).hexdigest() + ".jpg",
        hashlib.sha256(thumb.content).hexdigest() + ".jpg",
    }
    # the same photo again is the same photo
    again = upload(client, reg, jpeg_with_exif(), staff(conn, "operator"))
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert len(stored_files(settings)) == 2
    assert client.get(f"/public/track/{reg}").json()["media"] == [body["page_url"]]


def test_a_residents_photo_is_public_only_once_staff_approved_it(client, conn, city_id, settings):
    b = an_apartment_building(conn, city_id, offset=41)
    key = channel_key(conn, "open311")
    r = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "roof_leak", "lat": b["lat"], "long": b["lon"]},
        files={"media": ("roof.heic", jpeg_with_exif(), "image/heic")},  # the name lies
    )
    assert r.status_code == 201, r.text
    reg = r.json()[0]["service_request_id"]
    assert client.get(f"/api/v1/appeals/{reg}/photos").json() == []  # the public: none yet
    op = staff(conn, "operator")
    (photo,) = client.get(f"/api/v1/appeals/{reg}/photos", headers=op).json()
    assert not photo["approved"]
    assert client.get(photo["page_url"]).status_code == 404
    assert client.get(photo["thumb_url"]).status_code == 404
    assert client.get(photo["page_url"], headers=op).status_code == 200  # staff see it
    got = client.get("/open311/v2/requests/" + reg + ".json").json()[0]
    assert got["media_url"] is None
    assert client.get(f"/public/track/{reg}").json()["media"] == []
    # a planner does not approve; an operator does
    path = f"/api/v1/appeals/{reg}/photos/{photo['id']}"
    assert (
        client.patch(path, json={"approved": True}, headers=staff(conn, "planner")).status_code
        == 403
    )
    assert client.patch(path, json={"approved": True}).status_code == 401
    ok = client.patch(path, json={"approved": True}, headers=op)
    assert ok.status_code == 200 and ok.json()["approved"]
    page = client.get(photo["page_url"])
    assert page.status_code == 200
    assert_no_metadata(page.content)
    got = client.get("/open311/v2/requests/" + reg + ".json").json()[0]
    assert got["media_url"].endswith(photo["page_url"]) and got["media_url"].startswith("http")


def count_photos(conn) -> int:
    return conn.execute(text("SELECT count(*) FROM appeal_photos")).scalar_one()


def test_bad_uploads_are_refused_with_a_clear_4xx_and_nothing_is_stored(
    client, conn, appeal, settings
):
    reg, op = appeal["reg_number"], staff(conn, "operator")
    r = upload(client, reg, b"MZ\x90\x00 this is a program" * 50, op, name="photo.jpg")
    assert r.status_code == 415 and "not a photo" in r.json()["detail"]
    r = upload(client, reg, bomb(), op, name="bomb.png", ctype="image/png")
    assert r.status_code == 422 and "decompression bomb" in r.json()["detail"]
    big = b"\xff\xd8\xff\xe0" + b"\0" * (50 * 1024 * 1024)  # 50 MB
    r = upload(client, reg, big, op)
    assert r.status_code == 413 and "at most 10485760 bytes (10 MB)" in r.json()["detail"], r.text
    r = upload(client, reg, jpeg_with_exif(), op, kind="sideways")
    assert r.status_code == 422
    r = upload(client, reg, jpeg_with_exif(), staff(conn, "planner"), kind="after")
    assert r.status_code == 403
    assert upload(client, reg, jpeg_with_exif(), {}).status_code == 401  # the public adds none
    assert upload(client, "PET-1999-000001", jpeg_with_exif(), op).status_code == 404
    assert count_photos(conn) == 0
    assert stored_files(settings) == []


def test_open311_media_that_is_not_a_photo_is_refused_in_the_specs_format(
    client, conn, city_id, settings
):
    b = an_apartment_building(conn, city_id, offset=42)
    key = channel_key(conn, "open311")
    before = conn.execute(text("SELECT count(*) FROM appeals")).scalar_one()
    form = {"api_key": key, "service_code": "roof_leak", "lat": b["lat"], "long": b["lon"]}
    for data, status, says in (
        (b"<html>not a photo</html>", 415, "not a photo"),
        (bomb(), 400, "decompression bomb"),
    ):
        r = client.post(
            "/open311/v2/requests.json", data=form, files={"media": ("a.jpg", data, "image/jpeg")}
        )
        assert r.status_code == status, r.text
        assert says in r.json()[0]["description"]
    r = client.post(
        "/open311/v2/requests.json",
        data=form,
        files={"media": ("a.jpg", b"\xff" * (11 * 1024 * 1024), "image/jpeg")},
    )
    assert r.status_code == 413 and "10 MB" in r.json()[0]["description"]
    assert conn.execute(text("SELECT count(*) FROM appeals")).scalar_one() == before
    assert count_photos(conn) == 0 and stored_files(settings) == []


def test_an_executor_adds_photos_of_the_work_on_its_own_appeals_only(client, conn, appeal):
    org = appeal["organisation_id"]
    mine = staff(conn, "executor", organisation_id=org)
    other_org = conn.execute(
        text("SELECT id FROM organisations WHERE city_id = :c AND id <> :o LIMIT 1"),
        {"c": appeal["city_id"], "o": org},
    ).scalar_one()
    theirs = staff(conn, "executor", organisation_id=other_org)
    reg = appeal["reg_number"]
    done = upload(client, reg, jpeg_with_exif(orientation=1), mine, kind="after")
    assert done.status_code == 201 and done.json()["kind"] == "after"
    assert upload(client, reg, jpeg_with_exif(), theirs, kind="after").status_code in (403, 404)


def test_the_gps_of_a_photo_is_offered_and_nothing_is_kept(client, conn, settings):
    r = client.post(
        "/api/v1/photos/gps", files={"photo": ("p.jpg", jpeg_with_exif(), "image/jpeg")}
    )
    assert r.status_code == 200 and r.json() == {"gps": {"lon": LON, "lat": LAT}}
    plain = io.BytesIO()
    Image.new("RGB", (50, 50)).save(plain, "PNG")
    r = client.post("/api/v1/photos/gps", files={"photo": ("p.png", plain.getvalue(), "image/png")})
    assert r.json() == {"gps": None}
    assert count_photos(conn) == 0 and stored_files(settings) == []
