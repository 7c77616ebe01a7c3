"""Hot spot counts grouped in parallel: statistics of the appeals' 50 m cells; x_m, y_m kept

A hot spot analysis counts a city's appeals per square cell of its metric CRS. PostgreSQL
ran it with two parallel workers reading the table, but the leader alone grouped the 2.3
million rows they passed up (0.85 s, where the scan alone takes 0.3 s): the planner has no
idea how many cells ``floor(x_m / s)`` makes, so it takes one group per row, and a partial
grouping in the workers then looks like no saving. Given how many groups there are, it
groups in each worker and passes up a few thousand rows (0.5 s).

Here PostgreSQL learns how many 50 m cells the appeals fill: extended statistics on
``floor(x_m / 50)``, ``floor(y_m / 50)`` (gathered by ``ANALYZE`` and autovacuum). The
hot spot count groups by exactly these expressions first, then adds the 50 m cells up into
the analysis's cells when their side is a multiple of 50 m (an exact regrouping:
``floor(floor(x / 50) / k) = floor(x / (50 k))``), see ``geo.hotspots.run``.

The metric coordinates ``x_m``, ``y_m`` are written with every appeal (migration 0004's place
trigger on insert and on a move, or by the bulk loaders, which give them) and were never
NULL in practice; they become NOT NULL, so that a count may read them alone without a
fallback that the statistics could not match.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

#: the statistics' name, and the cell side its expressions divide by (geo.hotspots.run reads it)
STATISTICS = "appeals_metric_50m"
SIDE = 50


def upgrade() -> None:
    # rows a loader wrote without the trigger and without coordinates (none known): filled as
    # the place trigger fills them
    op.execute(
        """
        UPDATE appeals a SET x_m = ST_X(p.g), y_m = ST_Y(p.g)
        FROM (SELECT b.id, b.city_id, ST_Transform(b.geom, c.metric_srid) AS g
              FROM appeals b JOIN cities c ON c.id = b.city_id
              WHERE b.x_m IS NULL OR b.y_m IS NULL) p
        WHERE a.city_id = p.city_id AND a.id = p.id
        """
    )
    op.execute("ALTER TABLE appeals ALTER COLUMN x_m SET NOT NULL, ALTER COLUMN y_m SET NOT NULL")
    op.execute(
        f"CREATE STATISTICS {STATISTICS} (ndistinct) "
        f"ON (floor(x_m / {SIDE}::double precision)), (floor(y_m / {SIDE}::double precision)) "
        "FROM appeals"
    )


def downgrade() -> None:
    op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    op.execute("ALTER TABLE appeals ALTER COLUMN x_m DROP NOT NULL, ALTER COLUMN y_m DROP NOT NULL")
