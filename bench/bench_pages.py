"""Issue #4: the bytes the operator console transfers on its first load, with 2.3M appeals in
the database, measured in Debian's headless Chromium (every response the page asks for,
summed as received over the wire), beside the public queue and the planner dashboard."""

from __future__ import annotations

import threading
import time

import uvicorn
from sqlalchemy import create_engine, text

from bench.harness import record
from geo.infra.settings import Settings
from web.browser import CHROMIUM, CHROMIUM_ARGS

FULL, QUICK = 2_300_000, 200_000


def _serve(url: str, service_url: str):
    from api.app import create_app
    from geo.infra.localdb import free_port

    settings = Settings(
        database_url=service_url,
        admin_database_url=url,
        environment="test",
        secret_key="b" * 40,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def run(ctx) -> list[dict]:
    from playwright.sync_api import sync_playwright

    n = QUICK if ctx.quick else FULL
    url = ctx.city_with_appeals(n)
    engine = create_engine(url)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM appeals")).scalar_one()
    engine.dispose()
    server, thread, base = _serve(url, ctx.as_service(url))
    out = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for page_path, goal in (("/operator", 1.5), ("/queue", None), ("/planner", None)):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                sizes: list[int] = []
                foreign: list[str] = []

                def on_finished(req, sizes=sizes, foreign=foreign):
                    if not req.url.startswith(base):
                        foreign.append(req.url)
                    s = req.sizes()
                    sizes.append(s["responseBodySize"] + s["responseHeadersSize"])

                page.on("requestfinished", on_finished)
                t0 = time.perf_counter()
                try:
                    page.goto(base + page_path, wait_until="networkidle", timeout=120_000)
                except Exception as exc:  # a page too slow to load is a result, not a crash
                    out.append(
                        record(
                            f"page {page_path}: load failed",
                            1,
                            "error",
                            ctx.command,
                            detail=str(exc).splitlines()[0],
                        )
                    )
                    context.close()
                    continue
                load_s = time.perf_counter() - t0
                page.wait_for_timeout(1500)  # tiles requested after the first idle
                mb = sum(sizes) / 1e6
                out.append(
                    record(
                        f"page {page_path}: time to network idle ({total:,} appeals)",
                        load_s,
                        "s",
                        ctx.command,
                    )
                )
                out.append(
                    record(
                        f"page {page_path}: bytes on first load ({total:,} appeals)",
                        mb,
                        "MB",
                        ctx.command,
                        f"<= {goal} MB" if goal else None,
                        (mb <= goal) if goal else None,
                        detail=f"{len(sizes)} requests, {len(foreign)} to another host",
                    )
                )
                context.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return out
