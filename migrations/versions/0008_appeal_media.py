"""appeal media: photos and videos of an appeal, by URL (Open311's media_url)

Residents send a photo with an appeal (the city apps and Open311 clients pass it as a
``media_url``). The service keeps the link, not the file, in a table of its own: an appeal
may get several (the first is the one Open311 shows), and a link is public like the
appeal's place and category, unlike the applicant's contacts.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MEDIA_URL_MAX = 2048  # frozen here: a migration must not change when the models do


def upgrade() -> None:
    op.create_table(
        "appeal_media",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("appeal_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            f"char_length(url) <= {MEDIA_URL_MAX}", name=op.f("ck_appeal_media_url_length")
        ),
        sa.CheckConstraint("url ~ '^https?://'", name=op.f("ck_appeal_media_url_scheme")),
        sa.ForeignKeyConstraint(
            ["city_id", "appeal_id"],
            ["appeals.city_id", "appeals.id"],
            name=op.f("fk_appeal_media_city_id_appeal_id_appeals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_appeal_media_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("city_id", "id", name=op.f("pk_appeal_media")),
    )
    op.create_index("ix_appeal_media_appeal", "appeal_media", ["city_id", "appeal_id"])


def downgrade() -> None:
    op.drop_index("ix_appeal_media_appeal", table_name="appeal_media")
    op.drop_table("appeal_media")
