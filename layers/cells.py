"""Appeals counted per grid cell: the low-zoom face of the appeals layers.

``appeal_cells`` (migration 0003) holds, per WebMercatorQuad cell of level 20, the number of
appeals by status, for all appeals, per category and per UTC month; statement-level triggers
on ``appeals`` keep it current (a ``COPY`` included). Cells are numbered by their Z-order key
(``appeal_cell(geom)`` in SQL, kept per appeal in ``appeals.cell`` since migration 0006;
:func:`cell_key` here), so the cells under a tile are one range
of keys, and a tile showing ``2**k`` cells per side groups them by ``key >> 2(20 - z - k)``.
The same counts per cell of level 16 serve tiles whose grid is no finer (zoom <= 11 with a
32-cell grid): a tile covering the whole city then adds a few hundred rows, not thousands.

What the table cannot answer exactly is counted from the appeals themselves, in the same
cells: the overdue flag (it changes with the clock), a category together with a time window,
an executor's own organisation, and the ends of a time window that are not whole months.
Either way every appeal in the tile is counted once; nothing is sampled or dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals.states import STATES
from geo.infra.cells import HALF, LEVEL, cell_key, spread
from layers.filters import Selection
from layers.registry import Layer

COARSE = 16  # appeal_cells also keeps this level, read by tiles whose grid is no finer
NO_CATEGORY = ""  # sentinels of the grouping sets in appeal_cells
ALL_TIME = "-infinity"


def refresh_appeal_cells(conn: Connection, city_id: int) -> int:
    """Recount ``appeal_cells`` of one city from ``appeals``; returns the rows kept.

    The triggers of migration 0003 keep the counts current through every ``INSERT``,
    ``UPDATE``, ``DELETE``, ``TRUNCATE`` and ``COPY``. Call this after a load that bypassed
    triggers (``session_replication_role = replica``, ``pg_restore --disable-triggers``)
    or to repair the table. Writers to ``appeals`` wait while it runs; readers do not.

    Parameters
    ----------
    conn : a connection in the caller's transaction.
    city_id : the city to recount.

    Returns
    -------
    int
        The number of rows of ``appeal_cells`` now held for the city.
    """
    return conn.execute(text("SELECT refresh_appeal_cells(:c)"), {"c": city_id}).scalar_one()


@dataclass(frozen=True)
class Grid:
    """A tile as a range of cell keys, and the grid it shows its counts on.

    The level-20 cells under the tile ``z/x/y`` are the keys ``[k0, k1]``; shifting a key
    right by ``shift2`` bits gives the tile-grid cell it is counted in (``2**grid_bits``
    per side). ``level`` is the level of ``appeal_cells`` rows the tile reads: the coarse
    one when its grid is no finer, with the same range and shift expressed at that level
    (``ck0``, ``ck1``, ``cshift2``).
    """

    z: int
    x: int
    y: int
    k0: int
    k1: int
    shift2: int
    level: int

    @classmethod
    def of(cls, z: int, x: int, y: int, grid_bits: int) -> Grid:
        span = LEVEL - z
        if span < 0:
            raise ValueError(f"zoom {z} is deeper than the level-{LEVEL} cells")
        k0 = cell_key(x, y) << (2 * span)
        level = COARSE if z + grid_bits <= COARSE else LEVEL
        return cls(z, x, y, k0, k0 + (1 << (2 * span)) - 1, 2 * max(span - grid_bits, 0), level)

    def ring(self, width: int) -> list[int]:
        """The keys of the level-20 cells in a band ``width`` cells wide around the tile."""
        n = 1 << (LEVEL - self.z)
        x0, y0, top = self.x * n, self.y * n, (1 << LEVEL) - 1
        keys = []
        for cy in range(max(y0 - width, 0), min(y0 + n + width, top + 1)):
            inside_row = y0 <= cy < y0 + n
            for cx in range(max(x0 - width, 0), min(x0 + n + width, top + 1)):
                if inside_row and x0 <= cx < x0 + n:
                    continue
                keys.append(cell_key(cx, cy))
        return keys

    @property
    def params(self) -> dict:
        up = 2 * (LEVEL - self.level)
        return {
            "z": self.z,
            "x": self.x,
            "y": self.y,
            "k0": self.k0,
            "k1": self.k1,
            "shift2": self.shift2,
            "level": self.level,
            "ck0": self.k0 >> up,
            "ck1": self.k1 >> up,
            "cshift2": self.shift2 - up,
        }


def _month_floor(t: dt.datetime) -> dt.date:
    u = t.astimezone(dt.UTC)
    return dt.date(u.year, u.month, 1)


def _month_after(d: dt.date) -> dt.date:
    return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _month_start(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(), dt.UTC)


@dataclass
class Plan:
    """Where the counts of a tile come from: table rows and/or live rows of the appeals.

    ``table`` is a condition on ``appeal_cells`` (or ``None``), ``live`` a condition on the
    layer's source rows (or ``None``); ``params`` holds the bound values of both.
    """

    table: str | None
    live: str | None
    params: dict


def plan(sel: Selection) -> Plan:
    """Decide which counts come from ``appeal_cells`` and which from the appeals."""
    f_since, f_until = sel.time_filters
    time_names = tuple(f.name for f in (f_since, f_until) if f)
    conds, params = sel.conditions(skip=time_names)  # the window is cut up below
    since, until = sel.window
    exact = sel.scope is None and set(sel.values) <= {"status", "category", *time_names}
    by_category = "category" in sel.values
    timed = since is not None or until is not None
    at = f"src.{(f_since or f_until).column}" if timed else ""
    window = [*([f"{at} >= :since"] if since else []), *([f"{at} < :until"] if until else [])]
    live_all = Plan(
        None, " AND ".join(conds + window) or "true", {**params, "since": since, "until": until}
    )
    if not exact or (by_category and timed):
        return live_all
    if by_category:
        return Plan("category_code = ANY(:f_category) AND month = '-infinity'", None, params)
    if not timed:
        return Plan("category_code = '' AND month = '-infinity'", None, params)
    # whole UTC months from the table, the ragged ends of the window from the appeals
    first = _month_floor(since) if since else None
    if first and _month_start(first) < since:
        first = _month_after(first)
    last = _month_floor(until) if until else None  # the months before `last` are whole
    if first and last and first >= last:
        return live_all
    table = ["category_code = ''", "month > '-infinity'"]
    edges: list[str] = []
    p = dict(params)
    if first:
        table.append("month >= :m_first")
        p["m_first"] = first
        if since < _month_start(first):
            edges.append(f"({at} >= :since AND {at} < :m_first_at)")
            p.update(since=since, m_first_at=_month_start(first))
    if last:
        table.append("month < :m_last")
        p["m_last"] = last
        if _month_start(last) < until:
            edges.append(f"({at} >= :m_last_at AND {at} < :until)")
            p.update(m_last_at=_month_start(last), until=until)
    live = " AND ".join([*conds, f"({' OR '.join(edges)})"]) if edges else None
    return Plan(" AND ".join(table), live, p)


def _states(sel: Selection) -> tuple[str, ...]:
    wanted = sel.values.get("status")
    return tuple(s for s in STATES if not wanted or s in wanted)


def _cells_cte(layer: Layer, sel: Selection) -> tuple[str, dict]:
    """``WITH g AS (...)``: the tile's cells, with the sums of x, y and counts by status."""
    p = plan(sel)
    n_cols = ", ".join(f"n_{s}" for s in STATES)
    parts = []
    if p.table:
        parts.append(f"""
            SELECT cell >> :cshift2 AS g, sx, sy, {n_cols}
            FROM appeal_cells
            WHERE city_id = :city AND level = :level AND {p.table}
              AND cell BETWEEN :ck0 AND :ck1""")
    if p.live:
        flags = ", ".join(f"(src.status = '{s}')::integer AS n_{s}" for s in STATES)
        parts.append(f"""
            SELECT src.cell >> :shift2 AS g, ST_X(m) AS sx, ST_Y(m) AS sy,
                   {flags}
            FROM ({layer.source_sql}) AS src, LATERAL ST_Transform(src.geom, 3857) AS m
            WHERE src.cell BETWEEN :k0 AND :k1 AND {p.live}""")
    n_all = " + ".join(f"n_{s}" for s in STATES)
    per_state = ", ".join(f"sum(n_{s})::integer AS {s}" for s in STATES)
    return (
        f"""
    WITH g AS (
      SELECT g, sum({n_all})::integer AS n, sum(sx) AS sx, sum(sy) AS sy, {per_state}
      FROM ({" UNION ALL ".join(parts)}) AS parts
      GROUP BY g)""",
        p.params,
    )


def cells_tile_sql(layer: Layer, sel: Selection, grid: Grid) -> tuple[str, dict]:
    """The query returning ``(mvt bytes, appeals counted)`` for an aggregated tile.

    Each feature is a point at the weighted centre of its cell's appeals, with ``count``
    and one property per status present (``registered``, ``closed`` ...); the feature id
    is the grid cell's Z-order key.
    """
    cte, params = _cells_cte(layer, sel)
    states = _states(sel)
    count = " + ".join(f"g.{s}" for s in states)
    props = ", ".join(f"nullif(g.{s}, 0) AS {s}" for s in states)
    sql = f"""{cte}
    SELECT ST_AsMVT(t, :layer, 4096, 'geom', 'cell'), coalesce(sum(t.count), 0)::bigint
    FROM (
      SELECT g.g AS cell, {count} AS count, {props},
             ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(g.sx / g.n, g.sy / g.n), 3857),
                          ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
      FROM g WHERE g.n > 0 AND {count} > 0) AS t"""
    return sql, {**grid.params, **params, "layer": layer.name}


def count_sql(layer: Layer, sel: Selection, grid: Grid) -> tuple[str, dict]:
    """The query counting a tile's appeals as its cells would (to check a points budget)."""
    cte, params = _cells_cte(layer, sel)
    count = " + ".join(f"g.{s}" for s in _states(sel))
    return f"{cte} SELECT coalesce(sum({count}), 0)::bigint FROM g", {**grid.params, **params}


__all__ = [
    "HALF",
    "LEVEL",
    "Grid",
    "Plan",
    "cell_key",
    "cells_tile_sql",
    "count_sql",
    "plan",
    "refresh_appeal_cells",
    "spread",
]
