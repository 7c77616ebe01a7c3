"""resident_codes keyed by city first, like every table distributed by city

``docs/distribution.md`` (checked by ``tests/test_distribution.py``): a table distributed by
``city_id`` needs ``city_id`` in its primary key and every unique constraint. Of the tables
with a ``city_id``, only ``resident_codes`` (migration 0018) had a primary key without it;
it becomes ``(city_id, id)``. ``id`` is an identity column, so its values stay unique; the
outbox worker joins a sign-in message to its code through both columns.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("pk_resident_codes", "resident_codes", type_="primary")
    op.create_primary_key("pk_resident_codes", "resident_codes", ["city_id", "id"])


def downgrade() -> None:
    op.drop_constraint("pk_resident_codes", "resident_codes", type_="primary")
    op.create_primary_key("pk_resident_codes", "resident_codes", ["id"])
