"""tiles: appeal counts per grid cell kept by triggers, and a tile-ordered index of appeals

The appeals map layer is aggregated at low zoom: a tile shows counts per grid cell and every
appeal in it is counted. Reading two million appeals for one tile is too slow, so
``appeal_cells`` keeps the counts per WebMercatorQuad cell of level 20 (38 Mercator metres,
about 22 m on the ground at 55° N), and a tile adds up the cells it covers; the same counts
per cell of level 16 (611 m) serve the lowest zooms, where a tile covers the whole city.

A cell is numbered by ``appeal_cell(geom)``: the Z-order (Morton) key of its column and row,
so the cells under any tile of zoom <= 20 form one contiguous range of keys. The same key
orders ``ix_appeals_cell``, a B-tree over ``(city_id, appeal_cell(geom))`` that includes what
a points tile needs: a tile of points is one index range, read without touching the table
(an index-only scan) instead of thousands of scattered table pages.

Three grouping sets are kept per cell, told apart by sentinels: all appeals
(``category_code = ''`` and ``month = '-infinity'``), per category (``month = '-infinity'``)
and per UTC month of ``created_at`` (``category_code = ''``). Counts are split by status, one
column per status; ``sx``/``sy`` sum the Mercator coordinates so that a tile can place its
marker at the appeals' weighted centre rather than the middle of the cell.

Statement-level triggers with transition tables keep the table current: one aggregated upsert
per statement, so an API insert costs a few rows and a ``COPY`` of millions one GROUP BY.
``refresh_appeal_cells(city)`` recounts a city (for loads that bypass triggers).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# frozen here on purpose: a migration must not change when the models do
STATES = (
    "registered",
    "assigned",
    "in_progress",
    "resolved",
    "closed",
    "rejected",
    "deferred",
    "duplicate",
    "reopened",
)
OPEN_STATES = ("registered", "assigned", "in_progress", "reopened")  # may become overdue
TILE_COLUMNS = ("id", "status", "category_code", "created_at", "deadline_at", "geom")
HALF = 20037508.342789244  # half the side of the WebMercatorQuad square, metres
LEVEL = 20
COARSE = 16  # a second, coarser level of counts: low-zoom tiles read a few hundred rows
CELL = 2 * HALF / 2**LEVEL
# Morton "spread": move bit i of a 20-bit number to bit 2i
SPREAD = (
    (16, 0x0000FFFF0000FFFF),
    (8, 0x00FF00FF00FF00FF),
    (4, 0x0F0F0F0F0F0F0F0F),
    (2, 0x3333333333333333),
    (1, 0x5555555555555555),
)


def _cell_function(pg: str) -> str:
    """``appeal_cell(geometry)``; PostGIS names are schema-qualified because an index uses
    the function, and a restore evaluates it with an empty search_path."""
    steps = "\n".join(f"  {v} := ({v} | ({v} << {s})) & {m};" for v in "xy" for s, m in SPREAD)
    top = 2**LEVEL - 1
    return f"""
CREATE FUNCTION appeal_cell(g {pg}.geometry) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $f$
DECLARE
  p {pg}.geometry := {pg}.ST_Transform(g, 3857);
  x bigint := least(greatest(floor(({pg}.ST_X(p) + {HALF!r}) / {CELL!r}), 0), {top});
  y bigint := least(greatest(floor(({HALF!r} - {pg}.ST_Y(p)) / {CELL!r}), 0), {top});
BEGIN
{steps}
  RETURN x | (y << 1);
END
$f$;

COMMENT ON FUNCTION appeal_cell({pg}.geometry) IS
  'Z-order key of the WebMercatorQuad level-{LEVEL} cell holding a WGS 84 point: the cells '
  'under a tile (z, x, y) are the keys [k << 2(20 - z), (k + 1) << 2(20 - z)), where k '
  'interleaves the bits of x (even) and y (odd).';
"""


_status_cols = ", ".join(f"n_{s}" for s in STATES)
_status_sums = ",\n       ".join(
    f"coalesce(sum(w) FILTER (WHERE status = '{s}'), 0)" for s in STATES
)
_status_changed = " OR ".join(f"sum(w) FILTER (WHERE status = '{s}') <> 0" for s in STATES)
_status_add = ",\n    ".join(f"n_{s} = c.n_{s} + EXCLUDED.n_{s}" for s in STATES)

# One statement template for the triggers and the refresh, so that they all count alike.
# %s is a query yielding (city_id, category_code, status, created_at, geom, w), w = +1 / -1.
DELTA_SQL = f"""
INSERT INTO appeal_cells AS c (city_id, level, category_code, month, cell, n, sx, sy,
                               {_status_cols})
SELECT city_id, level, coalesce(category_code, ''), coalesce(month, DATE '-infinity'), cell,
       sum(w), sum(w * mx), sum(w * my),
       {_status_sums}
FROM (SELECT s.city_id, s.category_code, s.status, s.w,
             date_trunc('month', s.created_at AT TIME ZONE 'UTC')::date AS month,
             lv.level, lv.cell, ST_X(p) AS mx, ST_Y(p) AS my
      FROM (%s) AS s, LATERAL ST_Transform(s.geom, 3857) AS p,
           LATERAL (SELECT appeal_cell(s.geom) AS key) AS k,
           LATERAL (VALUES ({LEVEL}, k.key), ({COARSE}, k.key >> {2 * (LEVEL - COARSE)}))
             AS lv (level, cell)) AS r
GROUP BY GROUPING SETS ((city_id, level, cell), (city_id, level, cell, category_code),
                        (city_id, level, cell, month))
HAVING sum(w) <> 0 OR {_status_changed} OR sum(w * mx) <> 0 OR sum(w * my) <> 0
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (city_id, level, category_code, month, cell) DO UPDATE SET
    n = c.n + EXCLUDED.n, sx = c.sx + EXCLUDED.sx, sy = c.sy + EXCLUDED.sy,
    {_status_add}
"""

COLS = "city_id, category_code, status, created_at, geom"
CHANGED = (
    "(o.status, o.category_code, o.created_at, o.geom, o.city_id) IS DISTINCT FROM "
    "(n.status, n.category_code, n.created_at, n.geom, n.city_id)"
)
PAIRS = "FROM old_rows o JOIN new_rows n ON n.city_id = o.city_id AND n.id = o.id"


def _delta(source: str) -> str:
    """The upsert for one source of weighted rows (static SQL: PL/pgSQL keeps its plan)."""
    return DELTA_SQL.replace("%s", source).strip()


_ON_UPDATE = (
    f"SELECT n.city_id, n.category_code, n.status, n.created_at, n.geom, 1 AS w {PAIRS} "
    f"WHERE {CHANGED} UNION ALL "
    f"SELECT o.city_id, o.category_code, o.status, o.created_at, o.geom, -1 AS w {PAIRS} "
    f"WHERE {CHANGED}"
)

FUNCTIONS = f"""
CREATE FUNCTION appeal_cells_on_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  {_delta(f"SELECT {COLS}, 1 AS w FROM new_rows")};
  RETURN NULL;
END
$f$;

CREATE FUNCTION appeal_cells_on_update() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  -- only rows whose place, category, status or time changed move a count
  {_delta(_ON_UPDATE)};
  DELETE FROM appeal_cells WHERE n = 0;
  RETURN NULL;
END
$f$;

CREATE FUNCTION appeal_cells_on_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  {_delta(f"SELECT {COLS}, -1 AS w FROM old_rows")};
  DELETE FROM appeal_cells WHERE n = 0;
  RETURN NULL;
END
$f$;

CREATE FUNCTION appeal_cells_clear() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  DELETE FROM appeal_cells;
  RETURN NULL;
END
$f$;

CREATE FUNCTION refresh_appeal_cells(city integer) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
  kept bigint;
BEGIN
  -- writers wait while the city is recounted, readers do not
  LOCK TABLE appeals IN SHARE MODE;
  DELETE FROM appeal_cells WHERE city_id = city;
  {_delta(f"SELECT {COLS}, 1 AS w FROM appeals WHERE city_id = city")};
  SELECT count(*) INTO kept FROM appeal_cells WHERE city_id = city;
  RETURN kept;
END
$f$;

COMMENT ON FUNCTION refresh_appeal_cells(integer) IS
  'Recount appeal_cells of a city from appeals (after a load that bypassed the triggers).';

CREATE TRIGGER appeal_cells_insert AFTER INSERT ON appeals
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION appeal_cells_on_insert();
CREATE TRIGGER appeal_cells_update AFTER UPDATE ON appeals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION appeal_cells_on_update();
CREATE TRIGGER appeal_cells_delete AFTER DELETE ON appeals
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION appeal_cells_on_delete();
CREATE TRIGGER appeal_cells_truncate AFTER TRUNCATE ON appeals
  FOR EACH STATEMENT EXECUTE FUNCTION appeal_cells_clear();
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS appeal_cells_truncate ON appeals;
DROP TRIGGER IF EXISTS appeal_cells_delete ON appeals;
DROP TRIGGER IF EXISTS appeal_cells_update ON appeals;
DROP TRIGGER IF EXISTS appeal_cells_insert ON appeals;
DROP FUNCTION IF EXISTS refresh_appeal_cells(integer);
DROP FUNCTION IF EXISTS appeal_cells_clear();
DROP FUNCTION IF EXISTS appeal_cells_on_delete();
DROP FUNCTION IF EXISTS appeal_cells_on_update();
DROP FUNCTION IF EXISTS appeal_cells_on_insert();
"""


def upgrade() -> None:
    pg = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'postgis'"
            )
        )
        .scalar_one()
    )
    op.execute(_cell_function(pg))
    op.create_table(
        "appeal_cells",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("category_code", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sx", sa.Float(precision=53), server_default="0", nullable=False),
        sa.Column("sy", sa.Float(precision=53), server_default="0", nullable=False),
        *[sa.Column(f"n_{s}", sa.Integer(), server_default="0", nullable=False) for s in STATES],
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_appeal_cells_city_id_cities")
        ),
        sa.PrimaryKeyConstraint(
            "city_id", "level", "category_code", "month", "cell", name=op.f("pk_appeal_cells")
        ),
    )
    # No CHECK (n >= 0): an upsert's proposed row carries the negative delta and is checked
    # before it turns into an update. Rows that fall to zero are deleted right after each
    # statement; this index finds them at once.
    op.create_index(
        "ix_appeal_cells_empty", "appeal_cells", ["city_id"], postgresql_where=sa.text("n = 0")
    )
    include = ", ".join(TILE_COLUMNS)
    open_states = ", ".join(f"'{s}'" for s in OPEN_STATES)
    op.execute(
        f"CREATE INDEX ix_appeals_cell ON appeals (city_id, appeal_cell(geom)) INCLUDE ({include})"
    )
    op.execute(
        f"CREATE INDEX ix_appeals_open_cell ON appeals (city_id, appeal_cell(geom)) "
        f"INCLUDE ({include}) WHERE status IN ({open_states})"
    )
    op.execute(FUNCTIONS)
    op.execute("SELECT refresh_appeal_cells(id) FROM cities ORDER BY id")


def downgrade() -> None:
    op.execute(DROP_FUNCTIONS)
    op.drop_index("ix_appeals_open_cell", table_name="appeals")
    op.drop_index("ix_appeals_cell", table_name="appeals")
    op.drop_index("ix_appeal_cells_empty", table_name="appeal_cells")
    op.drop_table("appeal_cells")
    op.execute("DROP FUNCTION IF EXISTS appeal_cell")
