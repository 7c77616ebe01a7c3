"""Photos by link (Open311's media_url): fetched without reaching inside, then cleaned.

A real HTTP server on the loopback serves the photos. By default loopback, private and
link-local addresses are refused after resolving the name; the tests that fetch from it
allow 127.0.0.1/32 (``QALA_MEDIA_FETCH_ALLOW``), and even then a redirect elsewhere inside
is refused.
"""

from __future__ import annotations

import http.server
import threading

import pytest
from sqlalchemy import text

from geo.infra.errors import TooLarge
from geo.media.fetch import FetchRefused, fetch, parse_allow
from tests.factories import an_apartment_building, channel_key, staff
from tests.test_photos import assert_no_metadata, jpeg_with_exif

LOOPBACK = parse_allow("127.0.0.1/32")
MB = 1024 * 1024


class Photos(http.server.BaseHTTPRequestHandler):
    photo = jpeg_with_exif()
    release = threading.Event()  # the slow answer waits for it (set when the test ends)

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/photo.jpg":
            self._send(200, self.photo)
        elif self.path == "/big":
            self._send(200, b"\xff" * (2 * MB))
        elif self.path == "/big-unannounced":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\xff" * (2 * MB))
        elif self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/to/") :])
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/slow":
            self.release.wait(30)
        else:
            self._send(404, b"no")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Photos)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    Photos.release.set()
    srv.shutdown()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1/photo.jpg", "127.0.0.1"),
        ("http://localhost/photo.jpg", "loopback"),
        ("http://[::1]/photo.jpg", "::1"),
        ("http://[::ffff:127.0.0.1]/photo.jpg", "::ffff:127.0.0.1"),
        ("http://0.0.0.0/photo.jpg", "0.0.0.0"),
        ("http://10.1.2.3/photo.jpg", "10.1.2.3"),
        ("http://192.168.0.10/photo.jpg", "private"),
        ("http://172.16.5.5/photo.jpg", "private"),
        ("http://100.64.0.1/photo.jpg", "100.64.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/photo.jpg", "link-local"),
        ("http://2130706433/photo.jpg", "127.0.0.1"),  # 127.0.0.1 as one number
        ("ftp://example.org/photo.jpg", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.org/", "http:// or https://"),
        ("http://no-such-host.invalid/photo.jpg", "could not be resolved"),
    ],
)
def test_links_inside_or_not_http_are_refused(url, says):
    with pytest.raises(FetchRefused, match=says.replace("[", r"\[").replace(".", r"\.")):
        fetch(url, max_bytes=MB)


def test_a_photo_on_an_allowed_server_is_fetched(server):
    assert fetch(server + "/photo.jpg", max_bytes=MB, allow=LOOPBACK) == Photos.photo
    assert fetch(server + "/to//photo.jpg", max_bytes=MB, allow=LOOPBACK) == Photos.photo


def test_a_redirect_inside_is_refused_even_from_an_allowed_server(server):
    with pytest.raises(FetchRefused, match="169.254.169.254"):
        fetch(server + "/to/http://169.254.169.254/latest/", max_bytes=MB, allow=LOOPBACK)
    with pytest.raises(FetchRefused, match="10.0.0.7"):
        fetch(server + "/to/http://10.0.0.7/", max_bytes=MB, allow=LOOPBACK)
    with pytest.raises(FetchRefused, match="http:// or https://"):
        fetch(server + "/to/file:///etc/passwd", max_bytes=MB, allow=LOOPBACK)
    with pytest.raises(FetchRefused, match="redirects"):
        fetch(server + "/loop", max_bytes=MB, allow=LOOPBACK)


def test_size_and_time_limits(server):
    with pytest.raises(TooLarge, match="at most 1048576"):
        fetch(server + "/big", max_bytes=MB, allow=LOOPBACK)  # by its Content-Length
    with pytest.raises(TooLarge, match="larger than 1048576"):
        fetch(server + "/big-unannounced", max_bytes=MB, allow=LOOPBACK)  # while reading
    with pytest.raises(FetchRefused, match="TimeoutError|within"):
        fetch(server + "/slow", max_bytes=MB, timeout=0.5, allow=LOOPBACK)
    with pytest.raises(FetchRefused, match="404"):
        fetch(server + "/missing", max_bytes=MB, allow=LOOPBACK)


# --- through Open311 ---------------------------------------------------------------------------


@pytest.fixture
def settings(settings):
    """The service trusting the loopback for media links (only the tests' server is there)."""
    return settings.model_copy(update={"media_fetch_allow": "127.0.0.1/32"})


def post(client, conn, city_id, offset, **form):
    b = an_apartment_building(conn, city_id, offset=offset)
    return client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": channel_key(conn, "open311"),
            "service_code": "roof_leak",
            "lat": b["lat"],
            "long": b["lon"],
            **form,
        },
    )


def test_an_open311_media_url_is_fetched_cleaned_and_shown_once_approved(
    client, conn, city_id, server
):
    r = post(client, conn, city_id, 43, media_url=server + "/photo.jpg")
    assert r.status_code == 201, r.text
    reg = r.json()[0]["service_request_id"]
    op = staff(conn, "operator")
    (photo,) = client.get(f"/api/v1/appeals/{reg}/photos", headers=op).json()
    assert (photo["width"], photo["height"]) == (800, 1200)  # turned upright
    assert client.get(f"/open311/v2/requests/{reg}.json").json()[0]["media_url"] is None
    path = f"/api/v1/appeals/{reg}/photos/{photo['id']}"
    assert client.patch(path, json={"approved": True}, headers=op).status_code == 200
    shown = client.get(f"/open311/v2/requests/{reg}.json").json()[0]["media_url"]
    assert shown.endswith(photo["page_url"])  # ours, cleaned; never the caller's link
    assert_no_metadata(client.get(photo["page_url"]).content)
    assert client.get(f"/public/track/{reg}").json()["media"] == [photo["page_url"]]


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", 400, "link-local"),
        ("http://10.0.0.1/photo.jpg", 400, "private"),
        ("{server}/to/http://192.168.1.1/", 400, "192.168.1.1"),
        ("{server}/missing", 400, "404"),
        ("{server}/big-unannounced", 413, "larger than"),
    ],
)
def test_an_open311_media_url_that_cannot_be_fetched_saves_nothing(
    client, conn, city_id, server, path, status, says
):
    before = conn.execute(text("SELECT count(*) FROM appeals")).scalar_one()
    settings = client.app.state.settings
    client.app.state.settings = settings.model_copy(update={"photo_max_bytes": MB})
    try:
        r = post(client, conn, city_id, 44, media_url=path.format(server=server))
    finally:
        client.app.state.settings = settings
    assert r.status_code == status, r.text
    assert says in r.json()[0]["description"]
    assert conn.execute(text("SELECT count(*) FROM appeals")).scalar_one() == before
    assert conn.execute(text("SELECT count(*) FROM appeal_photos")).scalar_one() == 0
