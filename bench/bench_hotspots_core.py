"""Benchmark of the hot spot statistics core (geo.hotspots: gistar, ohsa, emerging).

Run:  .venv/bin/python bench/bench_hotspots_core.py

Synthetic city: 200 000 incident points over a 41 x 41 km square (UTM-like metres),
uniform background plus Gaussian clusters; 250 m cells -> 164 x 164 = 26 896 cells.
Timings are the best of three runs.  Printed to stdout: a JSON list of
``{name, value, unit, goal, met, command}`` objects.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.hotspots.emerging import emerging_hotspots, space_time_counts  # noqa: E402
from geo.hotspots.gistar import (  # noqa: E402
    distance_band_weights,
    gi_star,
    grid_counts,
    grid_weights,
    hotspots,
)

COMMAND = ".venv/bin/python bench/bench_hotspots_core.py"
CELL = 250.0
SIDE = 164 * CELL  # 41 km
X0, Y0 = 620_000.0, 4_770_000.0  # somewhere in UTM zone 43N
N_POINTS = 200_000
N_WEEKS = 52


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def synthetic_points(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points and a week index per point; some clusters grow over the year."""
    n_bg = N_POINTS // 2
    x = [rng.uniform(0, SIDE, n_bg)]
    y = [rng.uniform(0, SIDE, n_bg)]
    week = [rng.integers(0, N_WEEKS, n_bg)]
    n_clusters = 40
    per = (N_POINTS - n_bg) // n_clusters
    for k in range(n_clusters):
        cx, cy = rng.uniform(2_000, SIDE - 2_000, 2)
        sd = rng.uniform(150, 900)
        x.append(rng.normal(cx, sd, per))
        y.append(rng.normal(cy, sd, per))
        if k % 4 == 0:  # growing cluster: later weeks more likely
            week.append(np.minimum((N_WEEKS * np.sqrt(rng.uniform(size=per))).astype(int), 51))
        else:
            week.append(rng.integers(0, N_WEEKS, per))
    xs = np.clip(np.concatenate(x), 0, SIDE - 1e-6) + X0
    ys = np.clip(np.concatenate(y), 0, SIDE - 1e-6) + Y0
    return xs, ys, np.concatenate(week)


def metric(name: str, value: float, unit: str, goal: str | None, met: bool | None) -> dict:
    return {
        "name": name,
        "value": round(float(value), 6) if unit != "abs" else float(value),
        "unit": unit,
        "goal": goal,
        "met": met,
        "command": COMMAND,
    }


def run(ctx) -> list[dict]:
    """The harness entry (``python -m bench.run --only hotspots_core``)."""
    global COMMAND
    COMMAND = ctx.command
    return measure()


def main() -> None:
    print(json.dumps(measure(), indent=2))


def measure() -> list[dict]:
    import esda
    from libpysal.graph import Graph

    rng = np.random.default_rng(2024)
    x, y, week = synthetic_points(rng)
    extent = (X0, Y0, X0 + SIDE - 1e-6, Y0 + SIDE - 1e-6)
    out: list[dict] = []

    # 1. Gi* core on the full grid: counts -> weights -> z, p (2.5-cell band, 21 neighbours)
    grid = grid_counts(x, y, CELL, origin=(X0, Y0), extent=extent)
    band = 2.5 * CELL

    def core() -> tuple[np.ndarray, np.ndarray]:
        g = grid_counts(x, y, CELL, origin=(X0, Y0), extent=extent)
        W = grid_weights(g, band)
        return gi_star(g.counts, W)

    t_core, (z, _) = best_of(core)
    out.append(metric(f"gi_star_core_{grid.n_cells}_cells_s", t_core, "s", "<= 2", t_core <= 2))

    # 2. esda on the same cells and weights (analytic z only: permutations=0)
    W = distance_band_weights(grid.cx, grid.cy, band)  # the k-d tree build, as a cross-check
    assert (grid_weights(grid, band) != W).nnz == 0
    graph = Graph.from_sparse(W)
    counts = grid.counts.astype(float)
    t_esda, lg = best_of(
        lambda: esda.G_Local(counts, graph, transform="B", star=True, permutations=0)
    )
    t_ours, (z2, _) = best_of(lambda: gi_star(counts, W))
    diff = float(np.abs(z2 - lg.Zs).max())
    out.append(metric("gi_star_z_only_s", t_ours, "s", None, None))
    out.append(metric("esda_G_Local_z_only_same_weights_s", t_esda, "s", None, None))
    out.append(metric("gi_star_vs_esda_max_abs_z_diff", diff, "abs", "<= 1e-9", diff <= 1e-9))
    assert np.array_equal(z, z2)

    # 3. hotspots() end to end: outliers, cell size, ISA band, weights, Gi*, negbin p, FDR
    t_auto, res = best_of(lambda: hotspots(x, y))
    out.append(
        metric(
            f"hotspots_auto_end_to_end_{res.params['n_cells']}_cells_s",
            t_auto,
            "s",
            "<= 2",
            t_auto <= 2,
        )
    )
    t_fixed, res250 = best_of(lambda: hotspots(x, y, cell_size=CELL, origin=(X0, Y0)))
    out.append(
        metric(
            f"hotspots_250m_auto_band_end_to_end_{res250.params['n_cells']}_cells_s",
            t_fixed,
            "s",
            "<= 2",
            t_fixed <= 2,
        )
    )

    # 4. emerging hot spots, 52 weeks x ~27k cells
    cube = space_time_counts(grid.point_cell, week, N_WEEKS, grid.n_cells)

    def emerging() -> Any:
        W = grid_weights(grid, band)
        return emerging_hotspots(cube, W)

    t_em, em = best_of(emerging)
    out.append(
        metric(
            f"emerging_{N_WEEKS}x{grid.n_cells}_s",
            t_em,
            "s",
            "<= 5",
            t_em <= 5,
        )
    )
    summary = {k: v for k, v in em.summary().items() if v}
    print(
        json.dumps({"hotspots_auto_params": res.params, "emerging_summary": summary}, default=str),
        file=sys.stderr,
    )
    return out


if __name__ == "__main__":
    main()
