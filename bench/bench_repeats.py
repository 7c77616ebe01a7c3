"""Issue #14's benchmarks on the demo city with 2.3M generated appeals: bulk repeat linking
by the live rule (``geo.appeals.bulk.link_repeats``) over every appeal of the city, and a hot
spot run with 999 permutations (and the refining rounds) end to end.

The linking is timed on the shared database inside a transaction that first unlinks every
appeal and is rolled back after: the database is left as it was."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bench.harness import planner_scope, record
from geo.appeals.bulk import link_repeats
from geo.hotspots.run import HotspotQuery, run_hotspots

FULL = 2_300_000
QUICK = 200_000
CAP_S = 300  # seconds a linking statement may run


def run(ctx) -> list[dict]:
    n = QUICK if ctx.quick else FULL
    url = ctx.city_with_appeals(n)
    out = []
    # the hot spots as the service reads: its role, under row-level security, in a
    # planner's scope; the linking as a bulk load runs it: the owner's role
    service = create_engine(ctx.as_service(url))
    with service.connect() as conn, conn.begin():
        cid = planner_scope(conn)
        total = conn.execute(text("SELECT count(*) FROM appeals")).scalar_one()
        q = HotspotQuery(cell_size=250, band=750)
        t0 = time.perf_counter()
        res = run_hotspots(conn, cid, q)
        t_hot = time.perf_counter() - t0
        p = res["params"]
        out.append(
            record(
                f"hotspots_250m_999_permutations_{total}_appeals_s",
                t_hot,
                "s",
                ctx.command,
                "<= 3 s",
                t_hot <= 3,
                detail=(
                    f"{p['n_cells']} cells, band 750 m, {p['permutations']} permutations, "
                    f"{p['n_cells_refined']} cells refined up to {p['permutations_max']:,}"
                ),
            )
        )
    service.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        tx = conn.begin()
        conn.execute(text("UPDATE appeals SET repeat_of_id = NULL WHERE city_id = :c"), {"c": cid})
        # the radius rule's work grows with the candidates per appeal (~100 here): bounded,
        # so that a run that cannot meet the goal ends and says so
        conn.execute(text(f"SET LOCAL statement_timeout = '{CAP_S}s'"))
        t0 = time.perf_counter()
        try:
            linked = link_repeats(conn, cid)
            detail = f"{linked:,} appeals linked by the live rule (same object or radius)"
        except OperationalError:
            detail = f"cancelled after {CAP_S} s (statement_timeout): not finished"
        t_link = time.perf_counter() - t0
        tx.rollback()
        out.append(
            record(
                f"bulk_repeat_linking_{total}_appeals_s",
                t_link,
                "s",
                ctx.command,
                "<= 60 s",
                t_link <= 60 and "cancelled" not in detail,
                detail=detail,
            )
        )
    engine.dispose()
    return out
