"""A resident reports on a phone (390×844) in headless Chromium, against a real server and a
committed database: the device's location (a granted geolocation override through CDP),
the category, the "is it one of these?" list, a JPEG carrying GPS EXIF whose place the page
offers, the number, body and deadline; the served photo and thumbnail read back without
EXIF; the e-mail received by a real SMTP server (aiosmtpd) once the outbox worker ran. And
the refusals a resident meets on the page: a file that is not a photo, a 50 MB file, a
decompression bomb, a flood from one contact — each in the page's language, nothing stored.
"""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import ExifTags, Image
from sqlalchemy import text

from geo.appeals.actors import Actor
from geo.appeals.intake import NewAppeal, create_appeal
from geo.infra.db import make_engine
from geo.infra.settings import Settings
from geo.notify.worker import Worker
from tests.test_browser import OPERATOR, PASSWORD, Recorder, a_building, shot
from tests.test_outbox import Smtp
from tests.test_photos import bomb, segments
from web import i18n

pytestmark = pytest.mark.browser

SECRET = "browser-report-secret-key-of-at-least-32-bytes"
PHONE = {"width": 390, "height": 844}
CONTACT_LIMIT = 2


@pytest.fixture(scope="module")
def smtp():
    server = Smtp()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(live_db, as_service, smtp, tmp_path_factory) -> Settings:
    return Settings(
        database_url=as_service(live_db),
        admin_database_url=live_db,
        environment="test",
        secret_key=SECRET,
        data_dir=tmp_path_factory.mktemp("report-data"),
        smtp_port=smtp.port,
        smtp_timeout_s=5.0,
        report_per_contact=CONTACT_LIMIT,
    )


@pytest.fixture(scope="module")
def server_settings(settings) -> Settings:
    """The server (``tests/browser_fixtures.py``) serves this file's settings."""
    return settings


def phone_page(browser, server, where: dict | None = None):
    """A phone-sized page; with ``where``, the device's location granted and set through
    CDP (Browser.grantPermissions, Emulation.setGeolocationOverride)."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="ru-RU"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    if where is not None:
        cdp = context.new_cdp_session(page)
        target = cdp.send("Target.getTargetInfo")["targetInfo"]
        cdp.send(
            "Browser.grantPermissions",
            {
                "origin": server,
                "permissions": ["geolocation"],
                "browserContextId": target["browserContextId"],
            },
        )
        cdp.send(
            "Emulation.setGeolocationOverride",
            {"latitude": where["lat"], "longitude": where["lon"], "accuracy": 5},
        )
    page.recorder = Recorder(page, server)
    return context, page


def dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    return float(d), float(m), round((value - d - m / 60) * 3600, 4)


def jpeg_taken_at(lon: float, lat: float) -> bytes:
    """A phone's JPEG: camera, orientation and the GPS position of where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "Secret Model 7"
    exif[ExifTags.Base.Orientation] = 1
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: dms(lat),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: dms(lon),
    }
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (150, 90, 40)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def no_exif(data: bytes) -> None:
    assert 0xE1 not in segments(data), "an APP1 (EXIF/XMP) segment is served"
    assert b"Exif" not in data and b"TestCam" not in data and b"Secret Model" not in data
    assert not Image.open(io.BytesIO(data)).getexif()


def counts(db) -> tuple[int, int]:
    with db.connect() as c:
        return c.execute(
            text("SELECT (SELECT count(*) FROM appeals), (SELECT count(*) FROM appeal_photos)")
        ).one()


def test_a_resident_reports_on_a_phone_with_a_geotagged_photo(browser, server, db, settings, smtp):
    here, there = a_building(db, 40), a_building(db, 41)
    with db.begin() as c:  # an open appeal of the category where the photo was taken
        city = c.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()
        earlier, _ = create_appeal(
            c,
            city,
            NewAppeal(
                category="roof_leak",
                lon=there["lon"],
                lat=there["lat"],
                applicant_name="Ержан Сейітов",
                applicant_phone="+77019990000",
            ),
            Actor(name="operator-test", role="operator"),
        )
    context, page = phone_page(browser, server, where=here)
    try:
        page.goto(server + "/report")
        page.wait_for_selector(".folium-map.leaflet-container")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # the device's location
        page.click("#report-locate")
        page.wait_for_function("() => document.getElementById('report-lon').value !== ''")
        assert abs(float(page.input_value("#report-lon")) - here["lon"]) < 1e-5
        assert page.input_value("#report-located-by") == "gps"
        # the category from the plain list; what a report here would get
        page.select_option("#report-category", "roof_leak")
        page.wait_for_selector("#report-would-get")
        # the photo says it was taken at the other building: the page offers that place
        photo = jpeg_taken_at(there["lon"], there["lat"])
        page.set_input_files(
            "#report-photos",
            files=[{"name": "roof.jpg", "mimeType": "image/jpeg", "buffer": photo}],
        )
        page.wait_for_selector("#report-gps:not([hidden])")
        assert "roof.jpg" in page.inner_text("#report-gps-text")
        page.click("#report-gps-use")
        page.wait_for_function(
            "([x]) => Math.abs(Number(document.getElementById('report-lon').value) - x) < 1e-4",
            arg=[there["lon"]],
        )
        # "is it one of these?": the open appeal there, with a way to follow it, no names
        page.wait_for_selector("#report-similar-list")
        similar = page.inner_text("#report-similar")
        assert earlier["reg_number"] in similar and "Ержан" not in similar
        follow = page.get_attribute("#report-similar-list a.follow", "href")
        assert follow.startswith(f"/track?reg={earlier['reg_number']}")
        page.fill("#report-description", "Течёт крыша над подъездом")
        page.fill("#report-email", "resident@example.kz")
        shot(page, "report_phone_form", full=True)
        page.click("#report-send")
        page.wait_for_selector("#report-number")
        reg = page.inner_text("#report-number").strip()
        assert reg.startswith("PET-") and reg != earlier["reg_number"]
        assert page.inner_text("#report-organisation").strip() not in ("", "—")
        assert page.inner_text("#report-deadline").strip() not in ("", "—")
        shot(page, "report_phone_done", full=True)
        page.recorder.check()
    finally:
        context.close()

    with db.connect() as c:
        row = c.execute(
            text("""
            SELECT a.channel, a.located_by, ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat,
                   a.deadline_at - a.created_at AS due, o.name_ru,
                   (SELECT deadline_hours FROM categories WHERE code = a.category_code) AS hours
            FROM appeals a LEFT JOIN organisations o
              ON o.city_id = a.city_id AND o.id = a.organisation_id
            WHERE a.reg_number = :r"""),
            {"r": reg},
        ).one()
    assert row.channel == "website" and row.located_by == "gps"
    assert abs(row.lon - there["lon"]) < 1e-4 and abs(row.lat - there["lat"]) < 1e-4
    assert row.due.total_seconds() == row.hours * 3600

    # the served photo and thumbnail (staff see a resident's photo before approving it)
    token = httpx.post(
        server + "/api/v1/auth/token", data={"username": OPERATOR, "password": PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{server}/api/v1/appeals/{reg}/photos", headers=auth).json()
    assert len(listed) == 1
    for url in (listed[0]["page_url"], listed[0]["thumb_url"]):
        served = httpx.get(server + url, headers=auth)
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        no_exif(served.content)

    # the word back: the outbox worker sends the "registered" e-mail to the SMTP server
    worker = Worker(make_engine(settings, admin=True), settings)
    try:
        done = worker.work_once()
    finally:
        worker.close()
    mails = [m for m in smtp.inbox.messages if m["To"] == "resident@example.kz"]
    assert done.sent >= 1 and len(mails) == 1
    assert reg in mails[0].get_content()


@pytest.mark.parametrize("lang", ["ru", "kk", "en"])
def test_the_photo_button_speaks_the_pages_language(browser, server, lang):
    """Our own button and the chosen names in the page's language (the browser's control
    would say "No file chosen" in the browser's); the input itself hidden but focusable."""
    context, page = phone_page(browser, server)
    page.goto(f"{server}/report?lang={lang}")
    words = i18n.labels(lang)
    assert page.inner_text("#report-photos-button") == words["choose_photos"]
    assert page.inner_text("#report-photos-names") == words["no_photos_chosen"]
    assert page.locator("#report-photos").bounding_box()["width"] <= 1
    page.focus("#report-photos")
    assert page.evaluate("() => document.activeElement.id") == "report-photos"
    jpeg = jpeg_taken_at(30.3, 59.9)
    page.set_input_files(
        "#report-photos",
        files=[
            {"name": "pothole.jpg", "mimeType": "image/jpeg", "buffer": jpeg},
            {"name": "yard.jpg", "mimeType": "image/jpeg", "buffer": jpeg},
        ],
    )
    chosen = words["photos_chosen"].replace("{names}", "pothole.jpg, yard.jpg")
    assert page.inner_text("#report-photos-names") == chosen
    shot(page, f"report-photo-button-{lang}")
    context.close()


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("notes.jpg", lambda: b"MZ\x90\x00 this is a program" * 50, "report_not_image"),
        (
            "huge.jpg",
            lambda: b"\xff\xd8\xff\xe0" + b"\0" * (50 * 1024 * 1024),
            "report_photo_too_big",
        ),
        ("bomb.png", bomb, "report_photo_unusable"),
    ],
)
def test_a_bad_file_is_refused_on_the_page_and_nothing_is_stored(
    browser, server, db, tmp_path, name, make, words
):
    place = a_building(db, 60)
    before = counts(db)
    context, page = phone_page(browser, server)
    try:
        page.goto(server + "/report?lang=en")
        page.wait_for_selector(".folium-map.leaflet-container")
        page.fill("#report-search", place["address_ru"])
        page.click("#report-find")
        page.click("#report-hits button >> nth=0")
        page.select_option("#report-category", "roof_leak")
        chosen = tmp_path / name  # a file on disk: Playwright hands buffers only up to 50 MB
        chosen.write_bytes(make())
        page.set_input_files("#report-photos", files=[str(chosen)])
        page.fill("#report-phone", "+7 701 222 33 44")
        page.click("#report-send")
        page.wait_for_selector("#report-errors:not([hidden])")
        said = page.inner_text("#report-error-list")
        english = i18n.labels("en")[words]
        assert english.split("“")[0] in said and name in said
        assert page.is_visible("#report-form") and not page.is_visible("#report-result")
    finally:
        context.close()
    assert counts(db) == before


def test_a_flood_from_one_contact_is_refused_in_the_pages_language(browser, server, db):
    place = a_building(db, 70)
    said = ""
    for attempt in range(CONTACT_LIMIT + 1):
        context, page = phone_page(browser, server)
        try:
            page.goto(server + "/report?lang=kk")
            page.wait_for_selector(".folium-map.leaflet-container")
            page.fill("#report-search", place["address_ru"])
            page.click("#report-find")
            page.click("#report-hits button >> nth=0")
            page.select_option("#report-category", "entrance_cleaning")
            page.fill("#report-email", "Flood@Example.kz")
            page.click("#report-send")
            page.wait_for_selector("#report-number, #report-errors:not([hidden])")
            if attempt < CONTACT_LIMIT:
                assert page.is_visible("#report-number")
            else:
                said = page.inner_text("#report-error-list")
        finally:
            context.close()
    assert said.startswith("Бұл мекенжайдан немесе байланыстан өтініш тым көп")
