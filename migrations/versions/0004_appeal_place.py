"""appeal place: metric coordinates and the yard of each appeal, kept by a trigger

Planner queries read millions of appeals: projecting each point to the city's metric CRS and
finding its yard per query costs seconds. ``x_m``/``y_m`` (the point in the city's
``metric_srid``) and ``yard_id`` (the yard the appeal concerns: its object's yard, or the yard
containing the point) are computed once, when the appeal is written. A row trigger fills
them when a writer leaves ``x_m`` NULL (the API); bulk loaders compute them themselves
(vectorised) and the trigger's WHEN clause then costs nothing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PLACE_FN = """
CREATE FUNCTION qala_appeal_place() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p geometry;
BEGIN
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
    (SELECT y.id FROM yards y WHERE y.city_id = NEW.city_id AND ST_Intersects(y.geom, NEW.geom)
     ORDER BY y.id LIMIT 1));
  RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.add_column("appeals", sa.Column("x_m", sa.Float(precision=53), nullable=True))
    op.add_column("appeals", sa.Column("y_m", sa.Float(precision=53), nullable=True))
    op.add_column("appeals", sa.Column("yard_id", sa.BigInteger(), nullable=True))
    op.execute(PLACE_FN)
    op.execute(
        "CREATE TRIGGER appeal_place_insert BEFORE INSERT ON appeals FOR EACH ROW "
        "WHEN (NEW.x_m IS NULL) EXECUTE FUNCTION qala_appeal_place()"
    )
    op.execute(
        "CREATE TRIGGER appeal_place_update BEFORE UPDATE OF geom, object_kind, "
        "object_id, city_id ON appeals FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM "
        "OLD.geom OR NEW.object_id IS DISTINCT FROM OLD.object_id OR NEW.object_kind "
        "IS DISTINCT FROM OLD.object_kind OR NEW.city_id <> OLD.city_id) "
        "EXECUTE FUNCTION qala_appeal_place()"
    )
    # existing rows: fire the update trigger's function by hand, set-based
    op.execute("""
        UPDATE appeals a SET x_m = ST_X(ST_Transform(a.geom, c.metric_srid)),
                             y_m = ST_Y(ST_Transform(a.geom, c.metric_srid))
        FROM cities c WHERE c.id = a.city_id AND a.x_m IS NULL""")
    op.execute("""
        UPDATE appeals a SET yard_id = coalesce(
          CASE a.object_kind WHEN 'yard' THEN a.object_id
            WHEN 'building' THEN (SELECT min(yb.yard_id) FROM yard_buildings yb
                                  WHERE yb.city_id = a.city_id AND yb.building_id = a.object_id)
            WHEN 'well' THEN (SELECT w.yard_id FROM wells w
                              WHERE w.city_id = a.city_id AND w.id = a.object_id) END,
          (SELECT y.id FROM yards y WHERE y.city_id = a.city_id
             AND ST_Intersects(y.geom, a.geom) ORDER BY y.id LIMIT 1))
        WHERE a.yard_id IS NULL""")
    op.create_index(
        "ix_appeals_category_time",
        "appeals",
        ["city_id", "category_code", "created_at"],
        postgresql_include=["yard_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_appeals_category_time", table_name="appeals")
    op.execute("DROP TRIGGER IF EXISTS appeal_place_update ON appeals")
    op.execute("DROP TRIGGER IF EXISTS appeal_place_insert ON appeals")
    op.execute("DROP FUNCTION IF EXISTS qala_appeal_place()")
    op.drop_column("appeals", "yard_id")
    op.drop_column("appeals", "y_m")
    op.drop_column("appeals", "x_m")
