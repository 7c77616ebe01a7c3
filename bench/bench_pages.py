"""Issue #4: the bytes the operator console transfers on its first load, with 2.3M appeals in
the database, measured in Debian's headless Chromium (every response the page asks for,
summed as received over the wire), beside the public queue and the planner dashboard.

Issue #14: the planner "settled" (its default view drawn: the first layer's tiles and its
legend) within 2 s: the time from navigation to the moment the page marks itself drawn
(``<html data-ready>``, ``data-ready-ms``: ``performance.now()`` then), besides the time to
network idle. The server runs as deployed (the planner's default view computed when it
starts, ``QALA_PLANNER_WARM``)."""

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
        planner_warm=True,  # as deployed (off by default in the test environment)
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


def _settled(page, page_path: str, goal: float, total: int, command: str) -> dict:
    """The time from navigation until the page marked its first view drawn."""
    name = f"page {page_path}: time to settled, first view drawn ({total:,} appeals)"
    try:
        page.wait_for_function(
            "() => document.documentElement.dataset.ready === 'true'", timeout=120_000
        )
    except Exception as exc:  # never drawn: a result, not a crash
        return record(name, 1, "error", command, detail=str(exc).splitlines()[0])
    ms = float(page.evaluate("() => document.documentElement.dataset.readyMs"))
    s = ms / 1000
    return record(name, s, "s", command, f"<= {goal:g} s", s <= goal)


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
            # (page, goal of the bytes in MB, goal of "settled" in s: pages that mark it)
            for page_path, goal, settle_goal in (
                ("/operator", 1.5, None),
                ("/queue", None, None),
                ("/planner", None, 2.0),
            ):
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
                if settle_goal is not None:
                    out.append(_settled(page, page_path, settle_goal, total, ctx.command))
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
