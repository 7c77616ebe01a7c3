"""event log: TRUNCATE refused too

The event log of appeals is append-only (migration 0002): a row trigger refuses UPDATE and
DELETE. A row trigger does not see TRUNCATE, which empties the table without touching a row;
the service role has no TRUNCATE grant, but the owner (migrations, imports, a console) had
nothing stopping it. A statement trigger calls the same function for TRUNCATE.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TRIGGER appeal_events_no_truncate BEFORE TRUNCATE ON appeal_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION qala_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS appeal_events_no_truncate ON appeal_events")
