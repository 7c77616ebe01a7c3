"""Operations: the service may read the schema's revision, and a backup restores.

* ``/ready`` compares the database's revision with the code's: the service role may read
  ``alembic_version``.
* ``appeal_place_update`` (0004) compared geometries with ``IS DISTINCT FROM``, which needs
  PostGIS's ``=`` operator by name: ``pg_restore`` recreates triggers with an empty
  ``search_path`` and refused it ("operator is not unique: public.geometry =
  public.geometry"), so no backup of the database could be restored. The trigger now
  compares the geometries' binary forms (the cast to ``bytea`` is found by type, whatever
  the ``search_path``): a changed point, SRID or vertex fires it, as before.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen here, as in 0011

TRIGGER = (
    "CREATE TRIGGER appeal_place_update BEFORE UPDATE OF geom, object_kind, "
    "object_id, city_id ON appeals FOR EACH ROW WHEN ({geom} OR NEW.object_id IS DISTINCT "
    "FROM OLD.object_id OR NEW.object_kind IS DISTINCT FROM OLD.object_kind OR "
    "NEW.city_id <> OLD.city_id) EXECUTE FUNCTION qala_appeal_place()"
)
BY_BYTES = "NEW.geom::bytea IS DISTINCT FROM OLD.geom::bytea"
BY_OPERATOR = "NEW.geom IS DISTINCT FROM OLD.geom"


def upgrade() -> None:
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_GROUP}")
    op.execute("DROP TRIGGER appeal_place_update ON appeals")
    op.execute(TRIGGER.format(geom=BY_BYTES))


def downgrade() -> None:
    op.execute("DROP TRIGGER appeal_place_update ON appeals")
    op.execute(TRIGGER.format(geom=BY_OPERATOR))
    op.execute(f"REVOKE SELECT ON alembic_version FROM {APP_GROUP}")
