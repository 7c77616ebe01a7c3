"""Issue #13: the bytes the resident's ``/report`` page transfers on its first load on a
phone (390×844, a mobile Chromium context with an empty cache), measured in Debian's
headless Chromium as ``bench_pages`` does: every response the page asks for, summed as
received over the wire, until the network is idle and the map's late requests are in.
The demo city with its 3,000 appeals (the page shows none of them until asked)."""

from __future__ import annotations

import time

from sqlalchemy import create_engine

from bench.bench_pages import _serve
from bench.harness import record
from geo.demo.load import load_demo_city
from web.browser import CHROMIUM, CHROMIUM_ARGS

GOAL_MB = 1.0
RUNS = 3


def run(ctx) -> list[dict]:
    from playwright.sync_api import sync_playwright

    url = ctx.make_database()
    engine = create_engine(url)
    with engine.begin() as conn:
        load_demo_city(conn, seed=2026)
    engine.dispose()
    server, thread, base = _serve(url, ctx.as_service(url))
    sizes_mb: list[float] = []
    counts: list[int] = []
    foreign: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(RUNS):
                context = browser.new_context(
                    viewport={"width": 390, "height": 844},
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                )
                page = context.new_page()
                sizes: list[int] = []

                def on_finished(req, sizes=sizes):
                    if not req.url.startswith(base):
                        foreign.append(req.url)
                    s = req.sizes()
                    sizes.append(s["responseBodySize"] + s["responseHeadersSize"])

                page.on("requestfinished", on_finished)
                page.goto(base + "/report", wait_until="networkidle", timeout=120_000)
                page.wait_for_timeout(1500)  # tiles requested after the first idle
                sizes_mb.append(sum(sizes) / 1e6)
                counts.append(len(sizes))
                context.close()
                time.sleep(0.2)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    worst = max(sizes_mb)
    rec = record(
        "page /report on a phone (390x844): bytes on first load",
        worst,
        "MB",
        ctx.command,
        f"<= {GOAL_MB} MB",
        worst <= GOAL_MB,
        detail=f"largest of {RUNS} loads with an empty cache "
        f"({', '.join(f'{m:.3f}' for m in sizes_mb)} MB; {max(counts)} requests, "
        f"{len(foreign)} to another host)",
    )
    rec["runs"] = RUNS
    return [rec]
