"""appeal cell column: the level-20 cell key of each appeal kept in the row

Migration 0003 numbered an appeal's WebMercatorQuad level-20 cell by ``appeal_cell(geom)``
wherever it was needed: in the two tile-ordered indexes (``ix_appeals_cell``,
``ix_appeals_open_cell``), in every count of ``appeal_cells`` and in every tile query. The
function costs about 1.4 µs a call (a transform and a PL/pgSQL body): on a first load of
2.3 million appeals, building the two indexes and counting the cells called it 7 million
times, a third of the import.

Here the key becomes a column, ``appeals.cell``, computed once when the appeal is written:

* by the place trigger of migration 0004 (``qala_appeal_place``) for writers that leave it
  NULL (the API, ``qala_create_appeal``), and again whenever the point moves;
* by bulk loaders themselves, vectorised (``geo.cells.cell_keys``: the same PROJ transform
  as PostGIS, so the same key to the bit).

The two indexes are now plain B-trees over ``(city_id, cell)``, the counts and the tiles read
the column, and ``appeal_cell()`` stays as the one SQL definition of the key (the trigger
calls it; tests compare it with the vectorised one).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _revision(filename: str):
    """An earlier migration's module, to reuse its frozen SQL (its file never changes)."""
    spec = importlib.util.spec_from_file_location(
        f"qala_migration_{filename[:4]}", Path(__file__).parent / filename
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tiles = _revision("0003_tiles.py")
_place = _revision("0004_appeal_place.py")

PLACE_FN = """
CREATE OR REPLACE FUNCTION qala_appeal_place() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p geometry;
BEGIN
  IF TG_OP = 'UPDATE' OR NEW.x_m IS NULL THEN
    p := ST_Transform(NEW.geom, (SELECT metric_srid FROM cities WHERE id = NEW.city_id));
    NEW.x_m := ST_X(p);
    NEW.y_m := ST_Y(p);
    NEW.yard_id := coalesce(
      CASE NEW.object_kind
        WHEN 'yard' THEN NEW.object_id
        WHEN 'building' THEN (SELECT min(yb.yard_id) FROM yard_buildings yb
                              WHERE yb.city_id = NEW.city_id AND yb.building_id = NEW.object_id)
        WHEN 'well' THEN (SELECT w.yard_id FROM wells w
                          WHERE w.city_id = NEW.city_id AND w.id = NEW.object_id)
      END,
      (SELECT y.id FROM yards y WHERE y.city_id = NEW.city_id
         AND ST_Intersects(y.geom, NEW.geom) ORDER BY y.id LIMIT 1));
  END IF;
  IF TG_OP = 'UPDATE' OR NEW.cell IS NULL THEN
    NEW.cell := appeal_cell(NEW.geom);
  END IF;
  RETURN NEW;
END $$;
"""

# the delta of migration 0003 with the key read from the rows instead of computed
DELTA_SQL = _tiles.DELTA_SQL.replace(
    "LATERAL (SELECT appeal_cell(s.geom) AS key) AS k,", "LATERAL (SELECT s.cell AS key) AS k,"
)
COLS = "city_id, category_code, status, created_at, geom, cell"
CHANGED = (
    "(o.status, o.category_code, o.created_at, o.geom, o.cell, o.city_id) IS DISTINCT FROM "
    "(n.status, n.category_code, n.created_at, n.geom, n.cell, n.city_id)"
)


def _functions() -> str:
    """Migration 0003's trigger functions and refresh, reading ``cell``."""
    pairs = _tiles.PAIRS

    def delta(source: str) -> str:
        return DELTA_SQL.replace("%s", source).strip()

    on_update = (
        f"SELECT n.city_id, n.category_code, n.status, n.created_at, n.geom, n.cell, 1 AS w "
        f"{pairs} WHERE {CHANGED} UNION ALL "
        f"SELECT o.city_id, o.category_code, o.status, o.created_at, o.geom, o.cell, -1 AS w "
        f"{pairs} WHERE {CHANGED}"
    )
    return f"""
CREATE OR REPLACE FUNCTION appeal_cells_on_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  {delta(f"SELECT {COLS}, 1 AS w FROM new_rows")};
  RETURN NULL;
END
$f$;

CREATE OR REPLACE FUNCTION appeal_cells_on_update() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  -- only rows whose place, category, status or time changed move a count
  {delta(on_update)};
  DELETE FROM appeal_cells WHERE n = 0;
  RETURN NULL;
END
$f$;

CREATE OR REPLACE FUNCTION appeal_cells_on_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  {delta(f"SELECT {COLS}, -1 AS w FROM old_rows")};
  DELETE FROM appeal_cells WHERE n = 0;
  RETURN NULL;
END
$f$;

CREATE OR REPLACE FUNCTION refresh_appeal_cells(city integer) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE
  kept bigint;
BEGIN
  -- writers wait while the city is recounted, readers do not
  LOCK TABLE appeals IN SHARE MODE;
  DELETE FROM appeal_cells WHERE city_id = city;
  {delta(f"SELECT {COLS}, 1 AS w FROM appeals WHERE city_id = city")};
  SELECT count(*) INTO kept FROM appeal_cells WHERE city_id = city;
  RETURN kept;
END
$f$;
"""


def _indexes(key: str) -> str:
    include = ", ".join(_tiles.TILE_COLUMNS)
    open_states = ", ".join(f"'{s}'" for s in _tiles.OPEN_STATES)
    return f"""
CREATE INDEX ix_appeals_cell ON appeals (city_id, {key}) INCLUDE ({include});
CREATE INDEX ix_appeals_open_cell ON appeals (city_id, {key}) INCLUDE ({include})
  WHERE status IN ({open_states});
"""


INSERT_TRIGGER = """
CREATE TRIGGER appeal_place_insert BEFORE INSERT ON appeals FOR EACH ROW
  WHEN (NEW.x_m IS NULL OR NEW.cell IS NULL) EXECUTE FUNCTION qala_appeal_place()
"""


def upgrade() -> None:
    op.execute("ALTER TABLE appeals ADD COLUMN cell bigint")
    # no row moves: the cell triggers see every count unchanged
    op.execute("UPDATE appeals SET cell = appeal_cell(geom)")
    op.execute("ALTER TABLE appeals ALTER COLUMN cell SET NOT NULL")
    op.execute(PLACE_FN)
    op.execute("DROP TRIGGER appeal_place_insert ON appeals")
    op.execute(INSERT_TRIGGER)
    op.execute(_functions())
    op.execute("DROP INDEX ix_appeals_open_cell")
    op.execute("DROP INDEX ix_appeals_cell")
    op.execute(_indexes("cell"))


def downgrade() -> None:
    op.execute("DROP INDEX ix_appeals_open_cell")
    op.execute("DROP INDEX ix_appeals_cell")
    op.execute(_indexes("appeal_cell(geom)"))
    # 0003's functions and triggers back as 0003 created them
    op.execute(_tiles.DROP_FUNCTIONS)
    op.execute(_tiles.FUNCTIONS)
    op.execute("DROP TRIGGER appeal_place_insert ON appeals")
    op.execute(
        "CREATE TRIGGER appeal_place_insert BEFORE INSERT ON appeals FOR EACH ROW "
        "WHEN (NEW.x_m IS NULL) EXECUTE FUNCTION qala_appeal_place()"
    )
    op.execute(_place.PLACE_FN.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("ALTER TABLE appeals DROP COLUMN cell")
