"""The browser tests' shared fixtures, a pytest plugin loaded by ``tests/conftest.py``.

A committed database (``live_db``, a copy of the test template with one operator) and an
engine on it (``db``); a uvicorn server on a free 127.0.0.1 port in a background thread
(``server``, built from ``server_settings``); Debian's Chromium driven with Playwright, no
browser download (``browser``). A test file overrides ``live_db`` with its own users and
data, or ``server_settings`` with its own settings (an SMTP server, a data folder, limits);
``running`` serves settings of its own on a port of its choosing.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from geo.infra.settings import Settings
from web.browser import CHROMIUM, CHROMIUM_ARGS

SECRET = "browser-test-secret-key-of-at-least-32-bytes"
OPERATOR, PASSWORD = "operator-browser", "operator-password"


@pytest.fixture(scope="module")
def live_db(make_database, template_url) -> str:
    """A committed database (a copy of the test template: the demo city and its appeals)
    and one operator; the admin's URL."""
    from geo.staff.auth import add_user

    url = make_database(template=template_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        add_user(conn, "PET", OPERATOR, PASSWORD, "operator")
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def db(live_db):
    engine = create_engine(live_db)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def server_settings(live_db, as_service) -> Settings:
    return Settings(
        database_url=as_service(live_db),
        admin_database_url=live_db,
        environment="test",
        secret_key=SECRET,
    )


@contextmanager
def running(settings: Settings, port: int) -> Iterator[None]:
    """The service of ``settings`` on 127.0.0.1:``port`` until the block ends."""
    import uvicorn

    from api.app import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(server_settings) -> Iterator[str]:
    from geo.infra.localdb import free_port

    port = free_port()
    with running(server_settings, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser():
    # the Chromium on PATH (Debian's is /usr/bin/chromium); a missing one fails, never skips
    found = shutil.which(Path(CHROMIUM).name)
    if found is None:
        pytest.fail(
            f"Chromium is missing (no {Path(CHROMIUM).name!r} on PATH): install it with "
            "`make os-deps` (as root: apt-get install -y chromium chromium-driver)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=found, args=CHROMIUM_ARGS)
        yield b
        b.close()
