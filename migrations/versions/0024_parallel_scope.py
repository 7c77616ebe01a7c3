"""Analyses in parallel under row-level security: ``qala_resident_appeals`` is parallel safe

Every read of ``appeals`` by the service role carries the appeals' row-security policies,
and one of them (``appeals_resident``, migration 0018) calls ``qala_resident_appeals()``.
Created without a parallel label it was PARALLEL UNSAFE, and one unsafe function anywhere in
a query keeps PostgreSQL from planning any of it in parallel: a planner's analysis over a
city's 2.3 million appeals (hot spots, emerging hot spots, the year's statistics) read them
in one process, 1.6 s where two workers beside the leader take 0.8 s.

The function only reads (``appeal_contacts``, the scope's settings) and calls
``qala_contact_key`` (immutable, parallel safe); the scope's settings are custom GUCs,
which PostgreSQL copies into every parallel worker. So it is PARALLEL SAFE by its own
rules. (The ``qala_scope_*`` functions the other policies call already are.)

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER FUNCTION qala_resident_appeals() PARALLEL SAFE")


def downgrade() -> None:
    op.execute("ALTER FUNCTION qala_resident_appeals() PARALLEL UNSAFE")
