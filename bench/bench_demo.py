"""Issue #2's first benchmark: generate the demo city and load it, from an empty database."""

from __future__ import annotations

import time

from sqlalchemy import create_engine

from bench.harness import record
from geo.demo import city as demo
from geo.demo.load import load_demo_city


def run(ctx) -> list[dict]:
    url = ctx.make_database()
    t0 = time.perf_counter()
    city = demo.generate_city(2026)
    t_gen = time.perf_counter() - t0
    engine = create_engine(url)
    t1 = time.perf_counter()
    with engine.begin() as conn:
        counts = load_demo_city(conn, seed=2026)
    t_load = time.perf_counter() - t1
    engine.dispose()
    objects = sum(v for k, v in counts.items() if k != "city_id")
    detail = (
        f"{len(city.buildings)} buildings, {len(city.yards)} yards, "
        f"{len(city.wells)} wells; {objects} objects written"
    )
    return [
        record("demo_city_generate_s", t_gen, "s", ctx.command, detail=detail),
        record(
            "demo_city_generate_and_load_s",
            t_gen + t_load,
            "s",
            ctx.command,
            goal="<= 60 s",
            met=t_gen + t_load <= 60,
            detail=detail,
        ),
    ]
