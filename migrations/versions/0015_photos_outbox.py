"""photos of appeals and word back to applicants (an outbox)

Photos (``appeal_photos``): a photo of an appeal, sent by a resident (Open311's ``media`` or
``media_url``) or by staff (``before`` the work, or ``after`` it: the executor's). The files
themselves are kept by content hash in a store (``geo.media.store``): the page copy and the
thumbnail, re-encoded without metadata; the row holds their keys and sizes, who added it and
whether staff ``approved`` it for the public (residents' photos wait for it). The public sees
approved photos only; staff and channels of the city see all (an executor: of its
organisation's appeals).

Word back (``outbox_messages``): every public change of an appeal (registered, assigned, in
progress, resolved, deferred, closed, reopened) queues one message to the applicant, by the
trigger ``qala_queue_word_back`` on ``appeal_events`` — in the same transaction as the event,
so a change and its message are saved together or not at all. Only when the applicant left
an e-mail (else a phone: an SMS) and has not unsubscribed. The row keeps the address and the
language; a worker (``geo.notify.worker``, connected as the owner: it works across cities)
renders and sends it. The service reads the outbox (staff who read contacts) and writes
nothing to it; unsubscribing goes through ``qala_unsubscribe`` (SECURITY DEFINER), called
after the API checked the link's signature.

``appeal_contacts`` gets the applicant's language (``lang``: from the transaction's
``qala.lang`` when the contact is written, else ``ru``) and ``unsubscribed_at``.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"
PATH = "SET search_path = pg_catalog, public, pg_temp"
# frozen copies (a migration must not change when the code does)
WORD_BACK_STATES = (
    "registered",
    "assigned",
    "in_progress",
    "resolved",
    "deferred",
    "closed",
    "reopened",
)
CITY = "city_id = (SELECT qala_scope_city())"
WRITER = "(SELECT qala_scope_role()) <> 'public'"
STAFF = (
    "(SELECT qala_scope_role()) IN ('operator', 'inspector', 'executor', 'controller', "
    "'planner', 'admin')"
)
CONTACT_ROLES = (
    "(SELECT qala_scope_role()) IN ('operator', 'inspector', 'controller', 'admin', 'executor')"
)


def _of_visible_appeal(table: str) -> str:
    return (
        "((SELECT qala_scope_role()) <> 'executor' OR EXISTS (SELECT 1 FROM appeals a "
        f"WHERE a.city_id = {table}.city_id AND a.id = {table}.appeal_id))"
    )


# the public sees approved photos; staff and channels (which add them) all of the city
PHOTO_SEEN = f"{CITY} AND (approved OR {WRITER}) AND {_of_visible_appeal('appeal_photos')}"
PHOTO_ADD = f"{CITY} AND {WRITER} AND {_of_visible_appeal('appeal_photos')}"
PHOTO_APPROVE = f"{CITY} AND {STAFF} AND {_of_visible_appeal('appeal_photos')}"
OUTBOX_SEEN = f"{CITY} AND {CONTACT_ROLES} AND {_of_visible_appeal('outbox_messages')}"

LANG_DEFAULT = (
    "CASE WHEN current_setting('qala.lang', true) IN ('kk', 'en') "
    "THEN current_setting('qala.lang', true) ELSE 'ru' END"
)

QUEUE = f"""
CREATE FUNCTION qala_queue_word_back() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
DECLARE
  c record;
BEGIN
  -- a public change of state only (a call back or a re-routing keeps the state: no word)
  IF NEW.to_status NOT IN {WORD_BACK_STATES!r}
     OR NEW.from_status IS NOT DISTINCT FROM NEW.to_status THEN
    RETURN NULL;
  END IF;
  SELECT k.email, k.phone, k.lang, k.unsubscribed_at INTO c FROM public.appeal_contacts k
  WHERE k.city_id = NEW.city_id AND k.appeal_id = NEW.appeal_id;
  IF NOT FOUND OR c.unsubscribed_at IS NOT NULL THEN
    RETURN NULL;
  END IF;
  IF coalesce(c.email, '') ~ '^[^@[:space:]]+@[^@[:space:]]+$' THEN
    INSERT INTO public.outbox_messages (city_id, appeal_id, event_id, channel, address, lang,
                                        status)
    VALUES (NEW.city_id, NEW.appeal_id, NEW.id, 'email', c.email, c.lang, NEW.to_status)
    ON CONFLICT DO NOTHING;
  ELSIF coalesce(c.phone, '') ~ '[0-9]' THEN
    INSERT INTO public.outbox_messages (city_id, appeal_id, event_id, channel, address, lang,
                                        status)
    VALUES (NEW.city_id, NEW.appeal_id, NEW.id, 'sms', c.phone, c.lang, NEW.to_status)
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$f$;

CREATE TRIGGER appeal_events_word_back AFTER INSERT ON appeal_events
FOR EACH ROW EXECUTE FUNCTION qala_queue_word_back();

CREATE FUNCTION qala_unsubscribe(p_city integer, p_message bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  m record;
BEGIN
  -- called by the API after it checked the link's signature (it names one message): the
  -- applicant of that appeal gets no more messages, and what waits for them is not sent
  SELECT o.appeal_id, o.address INTO m FROM public.outbox_messages o
  WHERE o.city_id = p_city AND o.id = p_message;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  UPDATE public.appeal_contacts SET unsubscribed_at = coalesce(unsubscribed_at, now())
  WHERE city_id = p_city AND appeal_id = m.appeal_id
    AND (lower(email) = lower(m.address) OR phone = m.address);
  UPDATE public.outbox_messages SET state = 'cancelled', last_error = 'unsubscribed'
  WHERE city_id = p_city AND appeal_id = m.appeal_id AND address = m.address
    AND state = 'pending';
  RETURN (SELECT a.reg_number FROM public.appeals a
          WHERE a.city_id = p_city AND a.id = m.appeal_id);
END
$f$;
"""


def upgrade() -> None:
    op.add_column(
        "appeal_contacts",
        sa.Column("lang", sa.String(2), server_default=sa.text(LANG_DEFAULT), nullable=False),
    )
    op.add_column("appeal_contacts", sa.Column("unsubscribed_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        op.f("ck_appeal_contacts_lang"), "appeal_contacts", "lang IN ('ru', 'kk', 'en')"
    )
    op.create_table(
        "appeal_photos",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("appeal_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(6), server_default="before", nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("page_key", sa.String(64), nullable=False),
        sa.Column("page_width", sa.Integer(), nullable=False),
        sa.Column("page_height", sa.Integer(), nullable=False),
        sa.Column("page_bytes", sa.Integer(), nullable=False),
        sa.Column("thumb_key", sa.String(64), nullable=False),
        sa.Column("thumb_width", sa.Integer(), nullable=False),
        sa.Column("thumb_height", sa.Integer(), nullable=False),
        sa.Column("thumb_bytes", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.Text(), nullable=False),
        sa.Column("added_role", sa.String(12)),
        sa.Column("approved", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("kind IN ('before', 'after')", name=op.f("ck_appeal_photos_kind")),
        sa.ForeignKeyConstraint(
            ["city_id", "appeal_id"],
            ["appeals.city_id", "appeals.id"],
            name=op.f("fk_appeal_photos_city_id_appeal_id_appeals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_appeal_photos_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("city_id", "id", name=op.f("pk_appeal_photos")),
        sa.UniqueConstraint(
            "city_id",
            "appeal_id",
            "source_hash",
            name=op.f("uq_appeal_photos_city_id_appeal_id_source_hash"),
        ),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("appeal_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(5), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("state", sa.String(10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_outbox_messages_channel")),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'failed', 'cancelled')",
            name=op.f("ck_outbox_messages_state"),
        ),
        sa.ForeignKeyConstraint(
            ["city_id", "appeal_id"],
            ["appeals.city_id", "appeals.id"],
            name=op.f("fk_outbox_messages_city_id_appeal_id_appeals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_outbox_messages_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("city_id", "id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint(
            "city_id",
            "event_id",
            "channel",
            name=op.f("uq_outbox_messages_city_id_event_id_channel"),
        ),
    )
    op.create_index(
        "ix_outbox_messages_due",
        "outbox_messages",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index("ix_outbox_messages_appeal", "outbox_messages", ["city_id", "appeal_id"])
    for table, reads in (("appeal_photos", PHOTO_SEEN), ("outbox_messages", OUTBOX_SEEN)):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT USING ({reads})")
    op.execute(
        f"CREATE POLICY appeal_photos_insert ON appeal_photos FOR INSERT WITH CHECK ({PHOTO_ADD})"
    )
    op.execute(
        f"CREATE POLICY appeal_photos_update ON appeal_photos FOR UPDATE USING ({PHOTO_APPROVE}) "
        f"WITH CHECK ({PHOTO_APPROVE})"
    )
    op.execute(f"GRANT SELECT, INSERT ON appeal_photos TO {APP_GROUP}")
    op.execute(f"GRANT UPDATE (approved) ON appeal_photos TO {APP_GROUP}")
    op.execute(f"GRANT SELECT ON outbox_messages TO {APP_GROUP}")
    op.execute(QUEUE)
    op.execute("REVOKE EXECUTE ON FUNCTION qala_unsubscribe(integer, bigint) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION qala_unsubscribe(integer, bigint) TO {APP_GROUP}")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS appeal_events_word_back ON appeal_events")
    op.execute("DROP FUNCTION IF EXISTS qala_queue_word_back()")
    op.execute("DROP FUNCTION IF EXISTS qala_unsubscribe(integer, bigint)")
    op.drop_table("outbox_messages")
    op.drop_table("appeal_photos")
    op.drop_constraint("ck_appeal_contacts_lang", "appeal_contacts")
    op.drop_column("appeal_contacts", "unsubscribed_at")
    op.drop_column("appeal_contacts", "lang")
