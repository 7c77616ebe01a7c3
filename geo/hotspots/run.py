"""Hot spots of appeals from the database: filters, projection, Gi*, and the cells as GeoJSON.

The appeals are read once (filtered in SQL: category or group, time window, district,
status; placeholder geocodes left out), projected to the city's metric CRS (or any metric
SRID asked for) by PostGIS, and handed to :mod:`geo.hotspots.gistar` / :mod:`geo.hotspots.emerging`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
from pyproj import Transformer
from sqlalchemy import Connection, text

from geo.hotspots import budget, emerging, gistar, ohsa, permutation
from geo.infra.db import hash_grouped
from geo.infra.errors import InvalidInput

MIN_CELLS = 30  # fewer cells than this make no neighbourhoods to compare
MAX_CELLS = 250_000  # a grid larger than this is refused: choose larger cells
MAX_BINS = 15_000_000  # time steps x cells of an emerging hot spot cube
# Mann-Kendall compares every pair of steps of every cell: its work grows with the square of
# the steps, so the steps are capped too (five years of weeks, twenty-one of months)
MAX_STEPS = 260
# ... and so are the pairs of steps it compares over all cells (a few seconds of numpy)
MAX_TREND_PAIRS = 300_000_000
#: Which cells each study area takes, and why, as the result states it.
STUDY_AREA_RULES = {
    "incidents": (
        "cells holding at least one appeal (ArcGIS's rule without bounding polygons): an "
        "empty cell may be empty because nobody lives there, and zeros from such cells "
        "would make every populated cell look hot and themselves cold"
    ),
    "city": (
        "cells holding appeals and every cell touching one of the city's buildings or yards "
        "(empty cells where appeals could have come from), never the bare bounding box"
    ),
}
#: cells x steps x (neighbours + steps) an analysis may do (:mod:`geo.hotspots.budget`);
#: the service's is ``QALA_ANALYSIS_MAX_WORK``
MAX_WORK = 1e9
CLASS_LABELS = {
    3: "hot_99",
    2: "hot_95",
    1: "hot_90",
    0: "not_significant",
    -1: "cold_90",
    -2: "cold_95",
    -3: "cold_99",
}


@dataclass
class HotspotQuery:
    """Which appeals, and the parameters (None: chosen from the data, as ArcGIS's OHSA)."""

    category: str | None = None
    group: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    district_id: int | None = None
    status: str | None = None
    srid: int | None = None  # metric CRS; default the city's
    cell_size: float | None = None
    band: float | None = None
    fdr: bool = True
    include_placeholders: bool = False
    # "incidents" = only cells with at least one appeal (ArcGIS's rule without bounding
    # polygons); "city" = those and every cell touching one of the city's buildings or yards
    # (empty cells where appeals could have come from). Never the bare bounding box.
    study_area: str = "incidents"
    # p-values of Gi*: "permutation" (conditional randomisation), "normal" or "negbin"
    p_method: str = "permutation"
    permutations: int = permutation.PERMUTATIONS


def _filters(city_id: int, q: HotspotQuery, srid: int) -> tuple[str, dict]:
    """The WHERE clause and parameters of the query's filters (bound, never formatted)."""
    where = "a.city_id = :c"
    params: dict = {"c": city_id, "srid": srid}
    for cond, key, value in (
        ("a.category_code = :cat", "cat", q.category),
        (
            "a.category_code IN (SELECT code FROM categories WHERE group_code = :grp)",
            "grp",
            q.group,
        ),
        ("a.created_at >= :since", "since", q.since),
        ("a.created_at < :until", "until", q.until),
        ("a.district_id = :dist", "dist", q.district_id),
        ("a.status = :st", "st", q.status),
    ):
        if value is not None:
            where += f" AND {cond}"
            params[key] = value
    if not q.include_placeholders:
        where += " AND NOT a.placeholder_geocode"
    return where, params


def _xy(conn: Connection, city_id: int, srid: int) -> dict[str, str]:
    """SQL for the metric x, y of ``appeals a``: the stored ``x_m``/``y_m`` when ``srid`` is
    the city's own metric CRS (computed once on write), else a projection per row."""
    return _xy_sql(_own_srid(conn, city_id, srid))


def _xy_sql(own: bool) -> dict[str, str]:
    if own:
        return {"x": "a.x_m", "y": "a.y_m"}
    return {"x": "ST_X(ST_Transform(a.geom, :srid))", "y": "ST_Y(ST_Transform(a.geom, :srid))"}


def _own_srid(conn: Connection, city_id: int, srid: int) -> bool:
    own = conn.execute(
        text("SELECT metric_srid FROM cities WHERE id = :c"), {"c": city_id}
    ).scalar_one()
    return srid == own


def metric_srid(conn: Connection, city_id: int, srid: int | None) -> int:
    if srid is not None:
        unit = conn.execute(
            text(
                "SELECT split_part(split_part(proj4text, '+units=', 2), ' ', 1) "
                "FROM spatial_ref_sys WHERE srid = :s"
            ),
            {"s": srid},
        ).scalar()
        if unit is None:
            raise InvalidInput(f"unknown SRID {srid}")
        if unit != "m":
            raise InvalidInput(f"SRID {srid} is not in metres: hot spots need a metric CRS")
        return srid
    return conn.execute(
        text("SELECT metric_srid FROM cities WHERE id = :c"), {"c": city_id}
    ).scalar_one()


def city_extent(conn: Connection, city_id: int, srid: int) -> budget.Extent:
    """The width and height (metres) of the city's bounds in the metric CRS ``srid``."""
    w, h = conn.execute(
        text(
            "SELECT ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g) "
            "FROM (SELECT ST_Transform(bounds, :srid) AS g FROM cities WHERE id = :c) b"
        ),
        {"srid": srid, "c": city_id},
    ).one()
    return budget.Extent(float(w or 0.0), float(h or 0.0))


def load_points(conn: Connection, city_id: int, q: HotspotQuery) -> tuple[np.ndarray, ...]:
    """Metric x, y and epoch seconds of every appeal the query selects."""
    srid = metric_srid(conn, city_id, q.srid)
    where, params = _filters(city_id, q, srid)
    xy = _xy(conn, city_id, srid)
    rows = conn.execute(
        text(f"""
        SELECT {xy["x"]}, {xy["y"]}, extract(epoch FROM a.created_at)
        FROM appeals a
        WHERE {where}"""),
        params,
    ).fetchall()
    if not rows:
        return np.empty(0), np.empty(0), np.empty(0)
    arr = _array(rows, float, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


CELLS_SQL = """
WITH places AS (
  SELECT ST_Transform(geom, :srid) AS g FROM buildings WHERE city_id = :c
  UNION ALL SELECT ST_Transform(geom, :srid) FROM yards WHERE city_id = :c),
cells AS (
  SELECT DISTINCT ix, iy FROM places,
    generate_series(floor(ST_XMin(g) / :s)::bigint, floor(ST_XMax(g) / :s)::bigint) ix,
    generate_series(floor(ST_YMin(g) / :s)::bigint, floor(ST_YMax(g) / :s)::bigint) iy
  WHERE ST_Intersects(g, ST_MakeEnvelope(ix * :s, iy * :s, (ix + 1) * :s, (iy + 1) * :s,
                                         :srid))),
counts AS ({counts})
SELECT ix, iy, {count} FROM {source}
"""
#: Appeals per cell of side ``:s``, projected per row or read from ``x_m``, ``y_m``.
COUNTS_SQL = """
  SELECT floor({x} / :s)::bigint AS ix, floor({y} / :s)::bigint AS iy, count(*) AS n
  FROM appeals a
  WHERE {where} GROUP BY 1, 2"""
#: The same for a side ``:k`` times :data:`FINE` metres in the city's own CRS: the 50 m cells
#: first, by the very expressions of the statistics of migration 0025, which tell PostgreSQL
#: how many there are, so that each parallel worker groups its share of the rows (otherwise
#: the leader alone groups every row: 0.85 s against 0.5 s at 2.3 million appeals); then
#: the 50 m cells added up into the analysis's, exactly: ``floor(floor(x / 50) / k)`` is
#: ``floor(x / (50 k))``, and a quotient of two integers is never rounded across one.
FINE_COUNTS_SQL = """
  SELECT floor(gx / :k)::bigint AS ix, floor(gy / :k)::bigint AS iy, sum(n)::bigint AS n
  FROM (SELECT floor(a.x_m / {fine}::double precision) AS gx,
               floor(a.y_m / {fine}::double precision) AS gy, count(*) AS n
        FROM appeals a
        WHERE {where} GROUP BY 1, 2) fine
  GROUP BY 1, 2"""
#: The side of the cells the appeals' statistics know (migration 0025's ``SIDE``).
FINE = 50


def counts_sql(
    conn: Connection, city_id: int, srid: int, cell_size: float, where: str
) -> tuple[str, dict]:
    """The query of the appeals ``where`` selects per cell of side ``cell_size``
    (``ix``, ``iy``, ``n``), and the parameters it adds to the filters' (``s``, and ``k``
    when it regroups the 50 m cells: a side of a whole number of them in the city's own CRS)."""
    own = _own_srid(conn, city_id, srid)
    k = cell_size / FINE
    if own and k == int(k) and k >= 1:
        return FINE_COUNTS_SQL.format(where=where, fine=FINE), {"s": cell_size, "k": int(k)}
    return COUNTS_SQL.format(where=where, **_xy_sql(own)), {"s": cell_size}


def _check_cell_count(conn: Connection, city_id: int, srid: int, cell_size: float) -> None:
    """Refuse cells so small that the city's bounding box holds more than MAX_CELLS."""
    n_cells = conn.execute(
        text(
            "SELECT ceil((ST_XMax(g) - ST_XMin(g)) / :s) * ceil((ST_YMax(g) - ST_YMin(g)) / :s) "
            "FROM (SELECT ST_Transform(bounds, :srid) AS g FROM cities WHERE id = :c) b"
        ),
        {"s": cell_size, "srid": srid, "c": city_id},
    ).scalar_one()
    if n_cells > MAX_CELLS:
        raise InvalidInput(
            f"{cell_size:g} m cells would make {int(n_cells):,} cells over this "
            f"city (at most {MAX_CELLS:,}): choose larger cells"
        )


def study_area_grid(
    conn: Connection, city_id: int, q: HotspotQuery, cell_size: float, with_counts: bool = True
) -> gistar.Grid:
    """Cells of ``cell_size`` (lines at multiples of it in the metric CRS) with their counts,
    aggregated by PostGIS. ``q.study_area == "incidents"``: the cells holding appeals;
    ``"city"``: those and every cell touching one of the city's buildings or yards, empty ones
    included (places appeals could come from; a bounding box's empty steppe, river or
    park would make the whole city "hot" and its own cells "cold"). Every selected appeal
    is counted in some cell either way."""
    if q.study_area not in STUDY_AREA_RULES:
        raise InvalidInput("study_area must be 'incidents' or 'city'")
    srid = metric_srid(conn, city_id, q.srid)
    where, params = _filters(city_id, q, srid)
    params["s"] = cell_size
    _check_cell_count(conn, city_id, srid, cell_size)
    if q.study_area == "city":
        source = (
            "(SELECT ix, iy FROM cells UNION SELECT ix, iy FROM counts) u "
            "LEFT JOIN counts USING (ix, iy)"
        )
        count = "coalesce(n, 0)" if with_counts else "0"
    else:
        source, count = "counts", "n"
    counts, more = counts_sql(conn, city_id, srid, cell_size, where)
    params.update(more)
    sql = CELLS_SQL.format(counts=counts, source=source, count=count)
    rows = hash_grouped(conn, sql, params)
    grid = _grid(_array(rows, np.int64, 3), cell_size)
    if grid.n_cells == 0 and q.study_area == "incidents":
        return grid  # no appeal matches: nothing to analyse (the caller says so)
    if grid.n_cells < MIN_CELLS:
        raise InvalidInput(
            f"{cell_size:g} m cells make only {grid.n_cells} cells here (at "
            f"least {MIN_CELLS} are needed): choose smaller cells"
        )
    return grid


def _array(rows, dtype, width: int) -> np.ndarray:
    """Result rows as a ``(len(rows), width)`` array. The rows are made plain tuples first:
    numpy asks each SQLAlchemy ``Row`` for ``__array__`` and friends, and every miss raises
    and catches an exception inside SQLAlchemy (10 of the 19.6 s of a weekly emerging run
    over 181 000 space-time bins)."""
    return np.array([tuple(r) for r in rows], dtype=dtype).reshape(-1, width)


def _grid(arr: np.ndarray, cell_size: float) -> gistar.Grid:
    order = np.lexsort((arr[:, 0], arr[:, 1]))
    arr = arr[order]
    ix, iy, counts = arr[:, 0], arr[:, 1], arr[:, 2]
    return gistar.Grid(
        cx=(ix + 0.5) * cell_size,
        cy=(iy + 0.5) * cell_size,
        ix=ix,
        iy=iy,
        counts=counts,
        cell_size=float(cell_size),
        origin=(0.0, 0.0),
    )


def fixed_cell_hotspots(conn: Connection, city_id: int, q: HotspotQuery) -> dict | None:
    """Gi* on the study-area grid; the band from incremental spatial autocorrelation when
    not given. ``None`` when no appeal matches."""
    grid = study_area_grid(conn, city_id, q, q.cell_size)
    if grid.counts.sum() == 0:
        return None
    if grid.counts.sum() < gistar.MIN_POINTS:
        raise InvalidInput(
            f"only {int(grid.counts.sum())} appeals match: hot spot analysis "
            f"needs at least {gistar.MIN_POINTS}"
        )
    params: dict = {
        "cell_size": q.cell_size,
        "cell_size_rule": "given",
        "study_area": q.study_area,
        "study_area_rule": STUDY_AREA_RULES[q.study_area],
        "n_cells": grid.n_cells,
        "n_cells_empty": int((grid.counts == 0).sum()),
        "n_points": int(grid.counts.sum()),
        "n_points_used": int(grid.counts.sum()),
        "n_outliers_removed": 0,
        "n_invalid": 0,
        "fdr": q.fdr,
        "outlier_rule": "not applied to aggregated cells",
    }
    if q.band:
        band, params["band_rule"] = q.band, "given"
    else:
        choice = ohsa.default_band(
            grid.cx, grid.cy, grid.counts.astype(float), q.cell_size, ix=grid.ix, iy=grid.iy
        )
        band, params["band_rule"] = choice.band, choice.rule
    params["band"] = band
    W = gistar.grid_weights(grid, band)
    z, p, stated = _gi_star_p(grid.counts.astype(float), W, q)
    params.update(stated)
    classes = gistar.classify(z, p, fdr=q.fdr)
    return {
        "grid": grid,
        "z": z,
        "p": p,
        "classes": classes,
        "n_neighbors": np.asarray(W.sum(axis=1)).ravel().astype(int),
        "params": params,
    }


def _gi_star_p(values: np.ndarray, W, q: HotspotQuery) -> tuple[np.ndarray, np.ndarray, dict]:
    """Gi* z and the query's p-values, with what the result states about them."""
    try:
        return gistar.gi_star_p(values, W, q.p_method, q.permutations)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _empty(q: HotspotQuery, srid: int, note: str, summary: dict[str, int]) -> dict:
    """The answer of a run with nothing to analyse: no cells, and why."""
    return {
        "params": {"srid": srid, "query": {k: _plain(v) for k, v in asdict(q).items()}},
        "cells": [],
        "summary": summary,
        "note": note,
    }


def _no_appeals(q: HotspotQuery) -> str:
    window = ""
    if q.since or q.until:
        window = " in this period"
    return f"no appeals match{window}: there is nothing to analyse"


def run_hotspots(
    conn: Connection, city_id: int, q: HotspotQuery, max_work: float = MAX_WORK
) -> dict:
    """Gi* hot spots of the selected appeals: parameters used and one row per cell.

    The work is estimated before the appeals are read (:func:`geo.hotspots.budget.check_grid`,
    cells from the city's extent; with an automatic cell size, as soon as it is chosen)
    and refused above ``max_work``. No matching appeals: no cells, and a ``note`` saying so.
    """
    srid = metric_srid(conn, city_id, q.srid)
    nothing = {label: 0 for label in CLASS_LABELS.values()}
    extent = city_extent(conn, city_id, srid)
    if q.cell_size:  # fixed cells: aggregated in the database over the study area
        budget.check_grid(extent, q.cell_size, q.band, max_work)
        res = fixed_cell_hotspots(conn, city_id, q)
        if res is None:
            return _empty(q, srid, _no_appeals(q), nothing)
    else:  # everything chosen from the points, as ArcGIS's Optimized Hot Spot Analysis
        x, y, _ = load_points(conn, city_id, q)
        if x.size == 0:
            return _empty(q, srid, _no_appeals(q), nothing)
        if x.size < gistar.MIN_POINTS:
            raise InvalidInput(
                f"only {x.size} appeals match: hot spot analysis needs at least {gistar.MIN_POINTS}"
            )

        def within_budget(cell_size: float) -> None:
            # the band is chosen from the data here (a given band needs a given cell size)
            budget.check_grid(extent, cell_size, None, max_work, cell_given=False)

        try:
            r = gistar.hotspots(
                x,
                y,
                fdr=q.fdr,
                origin=(0.0, 0.0),
                # "incidents": the cells holding appeals; "city": also the empty cells near
                # appeals (the points' own rule, as ArcGIS's Optimized Hot Spot Analysis)
                mask_distance=0.0 if q.study_area == "incidents" else "auto",
                p_method=q.p_method,
                permutations=q.permutations,
                check_cell=within_budget,
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        r.params["study_area"] = q.study_area
        r.params["study_area_rule"] = (
            STUDY_AREA_RULES["incidents"]
            if q.study_area == "incidents"
            else "cells holding appeals and the empty cells whose centre is within 2 cell "
            "sizes of one (cell size chosen from the points), never the bare bounding box"
        )
        r.params["n_cells_empty"] = int((r.grid.counts == 0).sum())
        res = {
            "grid": r.grid,
            "z": r.z,
            "p": r.p,
            "classes": r.classes,
            "n_neighbors": r.n_neighbors,
            "params": r.params,
        }
    cells = _cells(
        res["grid"],
        srid,
        z=res["z"],
        p=res["p"],
        classes=res["classes"],
        n_neighbors=res["n_neighbors"],
    )
    params = {k: _plain(v) for k, v in res["params"].items()}
    params["srid"] = srid
    params["query"] = {k: _plain(v) for k, v in asdict(q).items()}
    return {
        "params": params,
        "cells": cells,
        "summary": {label: int((res["classes"] == k).sum()) for k, label in CLASS_LABELS.items()},
    }


def time_steps(
    conn: Connection, city_id: int, q: HotspotQuery, step: str
) -> tuple[float, int] | None:
    """The start (epoch seconds) and number of the time steps of an emerging run: calendar
    weeks (from Monday) or months, from ``since`` or the first appeal to ``until`` or the
    last; ``None`` when there is no appeal to analyse (none in the city, or none after
    ``since``). Two index
    look-ups (min and max of ``created_at``)."""
    t_min, t_max = conn.execute(
        text(
            "SELECT extract(epoch FROM date_trunc(:unit, coalesce(CAST(:since AS timestamptz), "
            "  min(created_at)))), extract(epoch FROM coalesce(CAST(:until AS timestamptz), "
            "  max(created_at))) FROM appeals WHERE city_id = :c"
        ),
        {"unit": step, "since": q.since, "until": q.until, "c": city_id},
    ).one()
    if t_min is None or t_max is None:
        return None
    if float(t_max) < float(t_min):
        if q.until is not None:
            raise InvalidInput("until is before since: the window holds no time step")
        return None  # no appeal since ``since``
    span = 7 * 86400 if step == "week" else 30.4375 * 86400
    n_steps = int((float(t_max) - float(t_min)) // span) + 1
    if n_steps < 10:
        raise InvalidInput(f"{n_steps} time steps: emerging hot spots need at least 10")
    if n_steps > MAX_STEPS:
        raise InvalidInput(
            f"{n_steps} time steps ({step}s): at most {MAX_STEPS}; "
            "choose months or a shorter window (since, until)"
        )
    return float(t_min), n_steps


def precheck_hotspots(conn: Connection, city_id: int, q: HotspotQuery, max_work: float) -> None:
    """:func:`run_hotspots`'s refusals that need no appeal read: an unknown or non-metric
    SRID, and with a given cell size the work (:func:`geo.hotspots.budget.check_grid`)."""
    srid = metric_srid(conn, city_id, q.srid)
    if q.cell_size:  # (without a cell size the band is chosen, a given one is not used)
        extent = city_extent(conn, city_id, srid)
        budget.check_band(extent, q.band)
        budget.check_grid(extent, q.cell_size, q.band, max_work)


def precheck_emerging(
    conn: Connection, city_id: int, q: HotspotQuery, step: str, max_work: float
) -> None:
    """:func:`run_emerging`'s refusals that need no appeal read: the step, the SRID, the
    number of time steps, and with a given cell size the work."""
    if step not in ("week", "month"):
        raise InvalidInput("step must be 'week' or 'month'")
    srid = metric_srid(conn, city_id, q.srid)
    extent = city_extent(conn, city_id, srid)
    budget.check_band(extent, q.band)  # whatever the cell size: needs only the extent
    window = time_steps(conn, city_id, q, step)
    if window is not None and q.cell_size:
        budget.check_grid(
            extent, q.cell_size, q.band, max_work, steps=window[1], weekly=step == "week"
        )


STEPS_SQL = """
SELECT floor({x} / :s)::bigint AS ix, floor({y} / :s)::bigint AS iy,
       floor((extract(epoch FROM a.created_at) - :t0) / :span)::int AS step, count(*)
FROM appeals a
WHERE {where} GROUP BY 1, 2, 3
"""


def run_emerging(
    conn: Connection,
    city_id: int,
    q: HotspotQuery,
    step: str = "week",
    steps: int | None = None,
    max_work: float = MAX_WORK,
) -> dict:
    """Emerging hot spots: space-time Gi* per week or month and Mann–Kendall per cell.

    The cube (time step × cell) is counted by PostGIS over the study-area grid of
    :func:`study_area_grid`; without a cell size, it is chosen from the points first. The
    work (cells × steps × (neighbours + steps), :mod:`geo.hotspots.budget`) is estimated
    from the city's extent and the time span before the appeals are read (with an automatic
    cell size, as soon as it is chosen) and refused above ``max_work``. No matching
    appeals: no cells, and a ``note`` saying so.
    """
    if step not in ("week", "month"):
        raise InvalidInput("step must be 'week' or 'month'")
    srid = metric_srid(conn, city_id, q.srid)
    where, params = _filters(city_id, q, srid)
    nothing = {c: 0 for c in emerging.CATEGORIES}
    span = 7 * 86400 if step == "week" else 30.4375 * 86400
    window = time_steps(conn, city_id, q, step)
    if window is None:
        return _empty(q, srid, _no_appeals(q), nothing)
    t_min, n_steps = window
    n_steps = steps or n_steps
    extent = city_extent(conn, city_id, srid)
    cell_size = q.cell_size
    chosen = "given"
    if cell_size:
        budget.check_grid(extent, cell_size, q.band, max_work, steps=n_steps, weekly=step == "week")
    else:
        x, y, _ = load_points(conn, city_id, q)
        if x.size == 0:
            return _empty(q, srid, _no_appeals(q), nothing)
        if x.size < gistar.MIN_POINTS:
            raise InvalidInput(
                f"only {x.size} appeals match: emerging hot spots need at least {gistar.MIN_POINTS}"
            )
        try:
            cell_size, chosen = ohsa.default_cell_size(x, y)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        budget.check_grid(
            extent,
            cell_size,
            q.band,
            max_work,
            steps=n_steps,
            cell_given=False,
            weekly=step == "week",
        )
    _check_cell_count(conn, city_id, srid, cell_size)
    if q.study_area == "city":
        grid = study_area_grid(conn, city_id, q, cell_size, with_counts=False)
    params.update({"s": cell_size, "t0": float(t_min), "span": span})
    sql = STEPS_SQL.format(where=where, **_xy(conn, city_id, srid))
    rows = _array(hash_grouped(conn, sql, params), np.int64, 4)
    if not len(rows):
        return _empty(q, srid, _no_appeals(q), nothing)
    if q.study_area != "city":
        cells = np.unique(rows[:, :2], axis=0)
        grid = _grid(np.c_[cells, np.zeros(len(cells), dtype=np.int64)], cell_size)
        if grid.n_cells < MIN_CELLS:
            raise InvalidInput(
                f"only {grid.n_cells} cells hold appeals (at least {MIN_CELLS} "
                "are needed): choose smaller cells"
            )
    if grid.n_cells * n_steps > MAX_BINS:
        raise InvalidInput(
            f"{n_steps} steps x {grid.n_cells:,} cells is more than "
            f"{MAX_BINS:,} bins: choose larger cells, months or a shorter window"
        )
    pairs = n_steps * (n_steps - 1) // 2 * grid.n_cells
    if pairs > MAX_TREND_PAIRS:
        raise InvalidInput(
            f"{n_steps} steps x {grid.n_cells:,} cells make {pairs:,} pairs of steps to compare "
            f"(at most {MAX_TREND_PAIRS:,}): choose larger cells, months or a shorter window"
        )
    cell = _cell_index(grid, rows[:, 0], rows[:, 1])
    ok = (cell >= 0) & (rows[:, 2] >= 0) & (rows[:, 2] < n_steps)
    cube = np.zeros((n_steps, grid.n_cells), dtype=np.int64)
    np.add.at(cube, (rows[ok, 2], cell[ok]), rows[ok, 3])
    band = (
        q.band
        or ohsa.default_band(
            grid.cx, grid.cy, cube.sum(axis=0).astype(float), cell_size, ix=grid.ix, iy=grid.iy
        ).band
    )
    W = gistar.grid_weights(grid, band)
    res = emerging.emerging_hotspots(cube, W, fdr=q.fdr)
    cells = _cells(
        grid,
        srid,
        category=res.categories,
        trend_z=res.trend_z,
        trend_p=res.trend_p,
        count=cube.sum(axis=0),
    )
    return {
        "params": {
            **{k: _plain(v) for k, v in res.params.items()},
            "cell_size": cell_size,
            "cell_size_rule": chosen,
            "band": band,
            "step": step,
            "steps": n_steps,
            "srid": srid,
            "study_area": q.study_area,
            "n_cells": grid.n_cells,
        },
        "summary": res.summary(),
        "cells": cells,
    }


def _cell_index(grid: gistar.Grid, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """The grid position of each (ix, iy), or -1 when the cell is not in the grid."""
    key = grid.ix.astype(np.int64) << 32 | (grid.iy.astype(np.int64) & 0xFFFFFFFF)
    order = np.argsort(key)
    sorted_key = key[order]
    want = ix.astype(np.int64) << 32 | (iy.astype(np.int64) & 0xFFFFFFFF)
    pos = np.clip(np.searchsorted(sorted_key, want), 0, max(len(key) - 1, 0))
    if not len(key):
        return np.full(len(want), -1, dtype=np.int64)
    return np.where(sorted_key[pos] == want, order[pos], -1)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _cells(grid: gistar.Grid, srid: int, **columns) -> list[dict]:
    to_wgs = Transformer.from_crs(srid, 4326, always_xy=True)
    h = grid.cell_size / 2
    lon, lat = to_wgs.transform(grid.cx, grid.cy)
    xs = np.stack([grid.cx - h, grid.cx + h, grid.cx + h, grid.cx - h, grid.cx - h], axis=1)
    ys = np.stack([grid.cy - h, grid.cy - h, grid.cy + h, grid.cy + h, grid.cy - h], axis=1)
    rlon, rlat = to_wgs.transform(xs, ys)
    out = []
    counts = columns.pop("count", grid.counts)
    for k in range(grid.n_cells):
        cell = {
            "cell": k,
            "ix": int(grid.ix[k]),
            "iy": int(grid.iy[k]),
            "count": int(counts[k]),
            "lon": float(lon[k]),
            "lat": float(lat[k]),
            "ring": [[float(a), float(b)] for a, b in zip(rlon[k], rlat[k], strict=True)],
        }
        for name, values in columns.items():
            v = values[k]
            cell[name] = v.item() if isinstance(v, np.generic) else v
        if "classes" in cell:
            cell["class"] = CLASS_LABELS[int(cell.pop("classes"))]
        out.append(cell)
    return out


def to_geojson(result: dict, only_significant: bool = False) -> dict:
    """The cells as a GeoJSON FeatureCollection (lon/lat polygons); a run with nothing to
    analyse keeps its ``note``."""
    feats = []
    for c in result["cells"]:
        if only_significant and c.get("class", c.get("category")) in (
            "not_significant",
            "no_pattern",
        ):
            continue
        props = {k: v for k, v in c.items() if k != "ring"}
        feats.append(
            {
                "type": "Feature",
                "id": c["cell"],
                "properties": props,
                "geometry": {"type": "Polygon", "coordinates": [c["ring"]]},
            }
        )
    collection = {"type": "FeatureCollection", "features": feats, "parameters": result["params"]}
    if "note" in result:  # nothing was analysed, and why
        collection["note"] = result["note"]
    return collection


def cell_rows(result: dict) -> list[dict]:
    """The cells as flat rows (no ring), for a CSV export."""
    return [{k: v for k, v in c.items() if k != "ring"} for c in result["cells"]]
