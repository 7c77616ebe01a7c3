"""The work an analysis will do, estimated from its parameters before it starts.

A hot spot run builds the weights of every cell with every cell offset within the band
(:func:`geo.hotspots.gistar.grid_weights` walks all ``pi (band / cell)^2`` offsets of each
cell, whether a cell lies there or not), and an emerging hot spot run does that for each
time step and then compares every pair of steps of every cell (Mann–Kendall). So the work
grows as

    cells x steps x (neighbours + steps)

with ``cells`` from the city's extent and the cell size, ``neighbours`` the offsets within
the band and ``steps`` the time steps (1 for a plain Gi* run). A density clustering compares
each appeal with those within ``eps``: ``points x points within eps`` (appeals spread evenly
over the city's extent). An estimate above the limit is refused with a message that names
the parameters to change and the largest (or smallest) value of each that would pass,
before any appeal is read.

Everything here is arithmetic: no database, no numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geo.hotspots import ohsa
from geo.infra.errors import InvalidInput

#: the bands incremental spatial autocorrelation tries reach this many cells
#: (:func:`geo.hotspots.ohsa.default_band`: 1.5 ... N_BANDS + 0.5 cells)
ISA_REACH = ohsa.N_BANDS + 0.5


class TooMuchWork(InvalidInput):
    """The analysis would do more work than allowed (HTTP 422). ``change`` maps each
    parameter that can bring it under the limit to the value that would (largest band,
    smallest cell size …)."""

    def __init__(self, message: str, change: dict[str, float] | None = None):
        super().__init__(message, change or {})
        self.change = change or {}

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Extent:
    """The width and height, in metres, of the area an analysis covers (the city's bounds
    in its metric CRS)."""

    width: float
    height: float

    @property
    def area(self) -> float:
        return self.width * self.height

    def cells(self, cell_size: float) -> int:
        """Cells of ``cell_size`` that cover the extent (an upper bound of any grid)."""
        return max(1, math.ceil(self.width / cell_size)) * max(
            1, math.ceil(self.height / cell_size)
        )


@dataclass(frozen=True)
class Work:
    """An analysis's estimated work and what it is made of."""

    cells: int
    neighbours: int  # cell offsets within the band (the cell itself included)
    steps: int = 1
    units: float = 0.0

    def describe(self) -> str:
        parts = f"{self.cells:,} cells x {self.neighbours:,} neighbours within the band"
        if self.steps > 1:
            parts = (
                f"{self.cells:,} cells x {self.steps} steps x ({self.neighbours:,} neighbours "
                f"within the band + {self.steps} steps compared)"
            )
        return parts


def neighbours(cell_size: float, band: float) -> int:
    """Cell offsets within ``band`` of a cell (itself included): about ``pi (band/cell)^2``.

    Examples
    --------
    >>> neighbours(100.0, 150.0)  # the cell and its 8 queen neighbours
    9
    """
    reach = int(math.floor(band / cell_size * (1 + 1e-9)))
    r2 = (band / cell_size) ** 2 * (1 + 1e-9) ** 2
    return sum(2 * math.isqrt(max(0, int(r2 - dy * dy))) + 1 for dy in range(-reach, reach + 1))


def grid_work(cells: int, cell_size: float, band: float | None, steps: int = 1) -> Work:
    """The work of a Gi* (``steps == 1``) or emerging (``steps > 1``) run.

    ``band=None``: chosen by incremental spatial autocorrelation, which looks up to
    :data:`ISA_REACH` cells away.

    Examples
    --------
    >>> w = grid_work(10_000, 100.0, 150.0)
    >>> w.units, w.neighbours
    (90000.0, 9)
    """
    nb = neighbours(cell_size, band if band else ISA_REACH * cell_size)
    trend = steps if steps > 1 else 0
    return Work(cells, nb, steps, float(cells) * steps * (nb + trend))


def _smallest(passes, low: float, high: float) -> float | None:
    """The smallest x in [low, high] with passes(x) (monotone), rounded up to 2 digits."""
    if not passes(high):
        return None
    for _ in range(60):
        mid = (low + high) / 2
        if passes(mid):
            high = mid
        else:
            low = mid
    nice = ohsa._nice_ceil(high)
    return nice if passes(nice) else high


def check_band(extent: Extent, band: float | None) -> None:
    """Refuse a band wider than the whole area (its extent's diagonal), before anything else.

    Within such a band every cell is every other cell's neighbour: each local sum is the
    global sum, every z is 0, and the analysis finds nothing whatever the data. It needs
    only the extent, so it is refused at once, whatever the cell size (also one that would
    be chosen from the appeals).

    Examples
    --------
    >>> check_band(Extent(6_800, 6_000), 20_000)
    Traceback (most recent call last):
    ...
    geo.hotspots.budget.TooMuchWork: band 20,000 m is wider than the whole city (the \
diagonal of its extent is 9,069 m): every cell would be every cell's neighbour and the \
analysis would find nothing; choose band <= 9,000 m
    """
    reach = math.hypot(extent.width, extent.height)
    if band is None or reach <= 0 or band <= reach:
        return
    best = math.floor(reach / 100) * 100 if reach >= 1000 else math.floor(reach)
    raise TooMuchWork(
        f"band {band:,.0f} m is wider than the whole city (the diagonal of its extent is "
        f"{reach:,.0f} m): every cell would be every cell's neighbour and the analysis "
        f"would find nothing; choose band <= {best:,} m",
        {"band": float(best)},
    )


def check_grid(
    extent: Extent,
    cell_size: float,
    band: float | None,
    limit: float,
    steps: int = 1,
    cell_given: bool = True,
    setting: str = "QALA_ANALYSIS_MAX_WORK",
    weekly: bool = False,
) -> Work:
    """Refuse a grid analysis whose work exceeds ``limit``; return its estimate otherwise.

    ``weekly``: the steps are weeks (months are a way to fewer steps).

    Raises
    ------
    TooMuchWork
        With the largest band, the smallest cell size and (``steps > 1``) the most time
        steps that would pass, each alone.

    Examples
    --------
    >>> check_grid(Extent(10_000, 10_000), 100.0, 20_000, limit=1e9)
    Traceback (most recent call last):
    ...
    geo.hotspots.budget.TooMuchWork: this analysis would do about 1.3e+09 units of work \
(10,000 cells x 125,629 neighbours within the band), more than the limit of 1e+09 \
(QALA_ANALYSIS_MAX_WORK): choose band <= 17,800 m, or cell_size >= 110 m
    """
    cells = extent.cells(cell_size)
    work = grid_work(cells, cell_size, band, steps)
    if work.units <= limit:
        return work
    change: dict[str, float] = {}
    advice = []
    if band:
        per_cell = limit / (cells * steps) - (steps if steps > 1 else 0)
        if per_cell >= 1:
            # the largest band whose offsets fit, found on the same count as the estimate
            lo, hi = cell_size * 0.0, band
            for _ in range(60):
                mid = (lo + hi) / 2
                if neighbours(cell_size, mid) <= per_cell:
                    lo = mid
                else:
                    hi = mid
            best = math.floor(lo / 100) * 100 if lo >= 1000 else math.floor(lo)
            if best >= 5 and neighbours(cell_size, best) <= per_cell:
                change["band"] = float(best)
                advice.append(f"band <= {best:,.0f} m")

    def passes(size: float) -> bool:
        return grid_work(extent.cells(size), size, band, steps).units <= limit

    smallest = _smallest(passes, cell_size, max(extent.width, extent.height, cell_size) * 4)
    if smallest is not None and smallest <= 10_000:
        change["cell_size"] = smallest
        advice.append(f"cell_size >= {smallest:,.0f} m")
    if steps > 1:
        most = steps
        while most > 1 and grid_work(cells, cell_size, band, most).units > limit:
            most = max(1, int(most * 0.9))
        if most >= 10:
            change["steps"] = float(most)
            monthly = "; or step=month" if weekly else ""
            advice.append(f"at most {most} time steps (a shorter window: since, until{monthly})")
    why = "" if cell_given else f" (the cell size chosen from the data is {cell_size:g} m)"
    raise TooMuchWork(
        f"this analysis would do about {work.units:.2g} units of work ({work.describe()})"
        f"{why}, more than the limit of {limit:.3g} ({setting}): choose "
        + (", or ".join(advice) if advice else "a smaller area or fewer appeals"),
        change,
    )


def cluster_work(points: int, eps: float, extent: Extent) -> float:
    """Pairs a density clustering compares: each point with those within ``eps``, the points
    spread evenly over ``extent``.

    Examples
    --------
    >>> round(cluster_work(1000, 100.0, Extent(1000.0, 1000.0)))
    31416
    """
    share = min(1.0, math.pi * eps * eps / max(extent.area, 1.0))
    return float(points) * max(1.0, points * share)


def check_clusters(
    points: int,
    eps: float,
    extent: Extent,
    limit: float,
    setting: str = "QALA_ANALYSIS_MAX_WORK",
) -> float:
    """Refuse a clustering whose work exceeds ``limit`` (naming the largest ``eps_m``).

    Examples
    --------
    >>> round(check_clusters(1000, 100.0, Extent(1000.0, 1000.0), limit=1e6))
    31416
    """
    work = cluster_work(points, eps, extent)
    if work <= limit:
        return work
    largest = math.sqrt(limit / points / points * extent.area / math.pi) if points else eps
    change = {"eps_m": float(math.floor(largest))} if largest >= 1 else {}
    advice = f"eps_m <= {math.floor(largest):,} m, or " if change else ""
    raise TooMuchWork(
        f"this clustering would compare about {work:.2g} pairs of appeals ({points:,} appeals, "
        f"each with those within {eps:g} m), more than the limit of {limit:.3g} ({setting}): "
        f"choose {advice}a shorter window (since, until) or one category",
        change,
    )
