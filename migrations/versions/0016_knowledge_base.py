"""knowledge base of the operators: per city, category and language, what to ask the caller
and what to tell them

* ``kb_articles``: one article per (city, category, language): ``ask`` (what the operator
  asks the caller), ``tell`` (what the operator tells them: the deadline, who is responsible,
  what happens next), ``published`` (a draft is seen by the city's admins only), ``version``
  (raised by every edit; an edit sent with an older one is refused: two admins editing at
  once, one wins), who changed it last and when. Searched by words with pg_trgm (a GIN
  index over the article's text): Russian and Kazakh words, typos too.
* Row-level security (as migrations 0011, 0014, 0015): the scope's city only; a published
  article is read by anyone of the city (the public too: what a resident is told is no
  secret), a draft by its admins only; only admins write. The service (``qala_app``) reads
  and writes through these policies.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen: migration 0011's group of the service's login role
CITY = "city_id = (SELECT qala_scope_city())"
ADMIN = "(SELECT qala_scope_role()) = 'admin'"
READS = f"{CITY} AND (published OR {ADMIN})"
WRITES = f"{CITY} AND {ADMIN}"
SEARCH_TEXT = "(coalesce(ask, '') || ' ' || coalesce(tell, ''))"


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("category_code", sa.String(length=32), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("ask", sa.Text(), nullable=False),
        sa.Column("tell", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.CheckConstraint("lang IN ('ru', 'kk', 'en')", name=op.f("ck_kb_articles_lang")),
        sa.CheckConstraint(
            "char_length(ask) BETWEEN 1 AND 8000 AND char_length(tell) BETWEEN 1 AND 8000",
            name=op.f("ck_kb_articles_text"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_kb_articles_version")),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_kb_articles_city_id_cities")
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["categories.code"],
            name=op.f("fk_kb_articles_category_code_categories"),
        ),
        sa.PrimaryKeyConstraint("city_id", "id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint(
            "city_id",
            "category_code",
            "lang",
            name=op.f("uq_kb_articles_city_id_category_code_lang"),
        ),
    )
    op.execute(
        f"CREATE INDEX ix_kb_articles_search ON kb_articles USING gin ({SEARCH_TEXT} gin_trgm_ops)"
    )
    op.execute("ALTER TABLE kb_articles ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY kb_articles_read ON kb_articles FOR SELECT USING ({READS})")
    op.execute(f"CREATE POLICY kb_articles_insert ON kb_articles FOR INSERT WITH CHECK ({WRITES})")
    op.execute(
        f"CREATE POLICY kb_articles_update ON kb_articles FOR UPDATE USING ({WRITES}) "
        f"WITH CHECK ({WRITES})"
    )
    op.execute(f"CREATE POLICY kb_articles_delete ON kb_articles FOR DELETE USING ({WRITES})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON kb_articles TO {APP_GROUP}")


def downgrade() -> None:
    op.drop_table("kb_articles")
