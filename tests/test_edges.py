"""The edges of every answer: body limits, security headers, the pages' CSP, the API docs.

The body limit is tested on a real uvicorn process (``api.process``): a 100 MB JSON body,
announced by its Content-Length or streamed without one, is refused with 413 before it is
read, and the process's peak memory (VmHWM) grows by less than 50 MB.
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from api import process
from api.app import create_app
from geo.infra.settings import Settings

SECRET = "edges-test-secret-key-of-at-least-32-bytes!!"
MB = 1024 * 1024
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


# --- the body limit, in a real server -----------------------------------------------------------


@pytest.fixture
def served(db_url, as_service, tmp_path) -> Iterator[tuple[str, int]]:
    """A fresh server per test (its peak memory is its own), as the service role."""
    log = tmp_path / "api.log"
    proc, base = process.start_qala(as_service(db_url), SECRET, log)
    try:
        yield base, proc.pid
    finally:
        process.stop(proc)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def send_body(base: str, path: str, size: int, announce: bool) -> tuple[int, str]:
    """POST ``size`` bytes of JSON over a raw socket (announced by Content-Length, or chunked
    without one) from a thread, while reading the answer; returns (status, body)."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    sock = socket.create_connection((host, port))
    framing = f"Content-Length: {size}" if announce else "Transfer-Encoding: chunked"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    ).encode()
    piece = b'{"description": "' + b"x" * (MB - 40) + b'", "pad": "'

    def write() -> None:
        try:
            sock.sendall(head)
            sent = 0
            while sent < size:
                chunk = piece[: size - sent]
                sock.sendall(chunk if announce else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if not announce:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading: what we want

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    answer = b""
    sock.settimeout(120)
    try:
        while data := sock.recv(65536):  # to the end: we asked for Connection: close
            answer += data
    except ConnectionResetError:
        pass  # after the answer, the server drops the body it did not read
    finally:
        sock.close()
        writer.join(timeout=60)
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1].decode(errors="replace")


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "streamed"])
def test_a_100_mb_body_is_refused_before_it_is_read(served, announce):
    base, pid = served
    httpx.get(base + "/health", timeout=30)  # warm
    before = peak_rss_mb(pid)
    status, body = send_body(base, "/api/v1/appeals", 100 * MB, announce)
    grown = peak_rss_mb(pid) - before
    assert grown < 50, f"the process grew by {grown:.0f} MB ({status}: {body[:200]})"
    assert status == 413, body
    assert "too large" in body and "1048576 bytes" in body
    assert httpx.get(base + "/health", timeout=30).status_code == 200  # and serves on


def test_open311_refuses_a_large_form_in_its_own_format(client):
    r = client.post(
        "/open311/v2/requests.xml",
        content=b"api_key=" + b"x" * (2 * MB),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/xml")
    assert "<code>413</code>" in r.text and "too large" in r.text


def test_a_body_within_the_limit_is_read(client):
    r = client.post("/api/v1/appeals", json={"category": "garbage", "lon": 69.1, "lat": 54.8})
    assert r.status_code == 401  # read, then refused for what it is, not for its size


# --- security headers on every answer -------------------------------------------------------------


@pytest.fixture
def boom(app):
    """The app with a route that fails (what a bug looks like)."""

    @app.get("/edges/boom", include_in_schema=False)
    def explode():
        raise RuntimeError("a bug")

    return app


@pytest.mark.parametrize(
    "path",
    [
        "/health",  # API
        "/",  # a page
        "/tiles/districts/10/705/330.pbf",  # a tile
        "/static/qala.js",  # our static file
        "/static/vendor/leaflet/leaflet.js",  # a vendored one
        "/open311/v2/services.xml",  # XML
        "/api/v1/appeals",  # 401
        "/public/track/PET-1999-000000",  # 404
        "/api/v1/search/address?q=",  # 422
        "/no/such/path",  # the router's 404
        "/docs",
        "/edges/boom",  # 500
    ],
)
def test_every_answer_carries_the_security_headers(boom, path):
    with TestClient(boom, raise_server_exceptions=False) as client:
        r = client.get(path)
    assert r.status_code != 0
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, (path, r.status_code, name)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "strict-transport-security" not in r.headers  # plain http


def test_api_answers_load_nothing(client):
    csp = client.get("/health").headers["content-security-policy"]
    assert csp.startswith("default-src 'none'")


def _app(settings, **changes) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=changes)))


def test_hsts_only_over_tls(app, settings):
    hsts = "strict-transport-security"
    with TestClient(app, base_url="https://testserver") as tls:
        assert "max-age=" in tls.get("/health").headers[hsts]
    with _app(settings, behind_tls=True) as behind:
        assert behind.get("/health").headers[hsts]
    # a proxy the service trusts says the client came over https
    with _app(settings, trusted_proxies="testclient") as proxied:
        r = proxied.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert r.headers[hsts]
        assert hsts not in proxied.get("/health").headers
    # anyone else saying so is not believed
    with _app(settings) as direct:
        assert hsts not in direct.get("/health", headers={"X-Forwarded-Proto": "https"}).headers


# --- the pages' Content-Security-Policy -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/operator", "/queue", "/track", "/planner"])
def test_a_page_runs_only_its_own_scripts(client, path):
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    scripts = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    nonce = re.search(r"'nonce-([^']+)'", scripts).group(1)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", r.text)
    executable = [a for a in inline if "application/json" not in a]
    assert executable or path == "/", "a map page has inline scripts (folium's)"
    for attrs in executable:
        assert f'nonce="{nonce}"' in attrs, attrs
    for attrs in re.findall(r"<style([^>]*)>", r.text):
        assert f'nonce="{nonce}"' in attrs, attrs
    assert "frame-ancestors 'none'" in csp
    assert client.get(path).headers["content-security-policy"] != csp  # a nonce per answer


# --- the API docs ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_load_everything_from_the_service(client, path):
    r = client.get(path)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
    assert urls
    for url in urls:
        assert url.startswith("/static/vendor/"), url
        assert client.get(url).status_code == 200, url
    assert "cdn" not in r.text.lower() and "fonts.googleapis" not in r.text
    assert "'unsafe-inline'" not in re.search(
        r"script-src ([^;]*)", r.headers["content-security-policy"]
    ).group(1)


def test_the_docs_can_be_closed(settings):
    with _app(settings, docs=False) as closed:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert closed.get(path).status_code == 404
        assert closed.get("/openapi.json").status_code == 200


def test_the_docs_are_closed_in_production_unless_asked_for():
    secret = secrets.token_urlsafe(48)
    assert not Settings(environment="production", secret_key=secret).docs_enabled
    assert Settings(environment="production", secret_key=secret, docs=True).docs_enabled
    assert Settings(environment="development").docs_enabled
