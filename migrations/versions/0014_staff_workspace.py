"""staff workspace: notes kept apart (internal / public), appeal changes pushed by NOTIFY

* ``appeal_notes``: a note on an appeal by a staff member, ``internal`` (staff only) or
  ``public`` (the resident sees it on the tracker, without the author's name). Row-level
  security as the other appeal tables (migration 0011): the scope's city, an executor only
  its organisation's appeals; internal notes are read by staff only, public ones by anyone
  who sees the appeal; the public and channels write none. The service inserts and reads;
  triggers refuse UPDATE, DELETE and TRUNCATE (notes are a log, like ``appeal_events``).
* ``qala_appeal_notify()``: after every statement that inserts into ``appeal_events`` or
  ``appeal_notes``, one ``NOTIFY qala_appeals`` per appeal touched (a JSON payload: city,
  appeal id, registration number, status, organisation and the previous organisation, what
  changed; the previous organisation is that of the appeal's latest earlier event naming
  one) for the staff pages' live updates (``api/stream.py``: LISTEN, then Server-Sent
  Events). A statement writing more than 50 rows (a bulk load) sends one ``bulk``
  notification for its city instead, so an import does not flood the queue. Statement-level
  triggers with transition tables: one call per statement, also for COPY.
* ``qala_appeal_exists(city, number)`` (SECURITY DEFINER): whether a number is an appeal of
  the city, which the public tracker tells anyone; an executor's page then says "another
  organisation's appeal" (403) instead of "no such appeal" (404).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen: migration 0011's group of the service's login role
PATH = "SET search_path = pg_catalog, public, pg_temp"
CHANNEL = "qala_appeals"
BULK = 50

CITY = "city_id = (SELECT qala_scope_city())"
WRITER = "(SELECT qala_scope_role()) <> 'public'"
STAFF = (
    "(SELECT qala_scope_role()) IN ('operator', 'inspector', 'executor', 'controller', "
    "'planner', 'admin')"
)
OF_VISIBLE_APPEAL = (
    "((SELECT qala_scope_role()) <> 'executor' OR EXISTS (SELECT 1 FROM appeals a "
    "WHERE a.city_id = appeal_notes.city_id AND a.id = appeal_notes.appeal_id))"
)
READS = f"{CITY} AND (kind = 'public' OR {STAFF}) AND {OF_VISIBLE_APPEAL}"
WRITES = f"{CITY} AND {WRITER} AND {STAFF} AND {OF_VISIBLE_APPEAL}"

NOTIFY = f"""
CREATE FUNCTION qala_appeal_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
DECLARE
  n integer;
  r record;
BEGIN
  SELECT count(*) INTO n FROM new_rows;
  IF n > {BULK} THEN
    -- a bulk load: one word per city, the pages refetch
    FOR r IN SELECT DISTINCT city_id FROM new_rows LOOP
      PERFORM pg_notify('{CHANNEL}', json_build_object('city', r.city_id, 'kind', 'bulk')::text);
    END LOOP;
    RETURN NULL;
  END IF;
  FOR r IN
    SELECT DISTINCT ON (x.city_id, x.appeal_id) x.city_id, x.appeal_id, a.reg_number,
           a.status, a.organisation_id,
           (SELECT e.organisation_id FROM public.appeal_events e
            WHERE e.city_id = x.city_id AND e.appeal_id = x.appeal_id
              AND e.organisation_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM new_rows y WHERE y.id = e.id
                              AND y.city_id = e.city_id AND TG_TABLE_NAME = 'appeal_events')
            ORDER BY e.at DESC, e.id DESC LIMIT 1) AS previous_org
    FROM new_rows x
    JOIN public.appeals a ON a.city_id = x.city_id AND a.id = x.appeal_id
  LOOP
    PERFORM pg_notify('{CHANNEL}', json_build_object(
      'city', r.city_id, 'kind', CASE TG_TABLE_NAME WHEN 'appeal_notes' THEN 'note'
                                                    ELSE 'event' END,
      'appeal', r.appeal_id, 'reg', r.reg_number, 'status', r.status,
      'org', r.organisation_id, 'previous_org', r.previous_org)::text);
  END LOOP;
  RETURN NULL;
END
$f$;
"""

EXISTS = f"""
CREATE FUNCTION qala_appeal_exists(p_city integer, p_reg text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- whether a number is an appeal of the city (anyone may ask the public tracker): lets a
  -- staff page tell "another organisation's appeal" (403) from "no such number" (404)
  SELECT EXISTS (SELECT 1 FROM public.appeals a WHERE a.city_id = p_city AND a.reg_number = p_reg)
$$;
REVOKE EXECUTE ON FUNCTION qala_appeal_exists(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qala_appeal_exists(integer, text) TO {APP_GROUP};
"""

APPEND_ONLY = """
CREATE FUNCTION qala_notes_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'appeal_notes is append-only: % refused', TG_OP;
END
$f$;
"""


def upgrade() -> None:
    op.create_table(
        "appeal_notes",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("appeal_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("author_role", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('internal', 'public')", name=op.f("ck_appeal_notes_kind")),
        sa.CheckConstraint(
            "char_length(body) BETWEEN 1 AND 4000", name=op.f("ck_appeal_notes_body")
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "appeal_id"],
            ["appeals.city_id", "appeals.id"],
            name=op.f("fk_appeal_notes_city_id_appeal_id_appeals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_appeal_notes_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("city_id", "id", name=op.f("pk_appeal_notes")),
    )
    op.create_index(
        "ix_appeal_notes_appeal", "appeal_notes", ["city_id", "appeal_id", "at"], unique=False
    )
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER appeal_notes_append_only BEFORE UPDATE OR DELETE ON appeal_notes "
        "FOR EACH ROW EXECUTE FUNCTION qala_notes_append_only()"
    )
    op.execute(  # nor emptied whole (as the event log, migration 0013)
        "CREATE TRIGGER appeal_notes_no_truncate BEFORE TRUNCATE ON appeal_notes "
        "FOR EACH STATEMENT EXECUTE FUNCTION qala_notes_append_only()"
    )
    op.execute("ALTER TABLE appeal_notes ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY appeal_notes_read ON appeal_notes FOR SELECT USING ({READS})")
    op.execute(
        f"CREATE POLICY appeal_notes_insert ON appeal_notes FOR INSERT WITH CHECK ({WRITES})"
    )
    op.execute(f"GRANT SELECT, INSERT ON appeal_notes TO {APP_GROUP}")
    op.execute(NOTIFY)
    op.execute(EXISTS)
    for table in ("appeal_events", "appeal_notes"):
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION qala_appeal_notify()"
        )


def downgrade() -> None:
    for table in ("appeal_events", "appeal_notes"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS qala_appeal_notify()")
    op.execute("DROP FUNCTION IF EXISTS qala_appeal_exists(integer, text)")
    op.drop_table("appeal_notes")
    op.execute("DROP FUNCTION IF EXISTS qala_notes_append_only()")
