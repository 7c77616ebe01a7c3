"""the resident's account: one-time sign-in codes, a session scoped to one contact, comments,
photos, confirming or disputing a fix, rating it

A resident signs in with the phone or e-mail they gave on their appeals, by a one-time
code sent there (no password). The scope of a resident's session is the public's of the
city plus the contact (``qala.contact``, the contact's key: :func:`qala_contact_key`), and
the database holds it to that contact:

* ``qala_contact_key(text)``: the one normalisation of a contact (an e-mail in lower case
  without spaces; a phone as its digits, ``8 7xx…`` and ``7xx…`` as ``77xx…``), used by the
  expression indexes on ``appeal_contacts`` and by every lookup below;
* ``qala_resident_appeals()`` (SECURITY DEFINER): the ids of the scope city's appeals whose
  applicant left the scope's contact; a **restrictive** policy on ``appeals``,
  ``appeal_events``, ``appeal_media``, ``appeal_photos``, ``appeal_notes`` and
  ``appeal_contacts`` lets a session with a contact see only those appeals' rows (evaluated
  once per statement, and only for such a session: the others pass on the first test);
* to the database a resident is the public (``qala.role = 'public'``): it writes nothing
  itself. Its comment (an ``appeal_notes`` row of kind ``resident``: staff and that resident
  read it, never the public), its photo (``appeal_photos``, not approved), its verdict on a
  fix (an event: ``confirmed`` keeps the state, ``disputed`` reopens it within the
  category's ``dispute_days``, 14 by default) and its rating (``appeal_ratings``, 1–5) go
  through SECURITY DEFINER functions that check the appeal is the contact's;
* ``resident_codes``: a code's HMAC (keyed with the service's secret: the database alone
  cannot tell the code), the random nonce the code is derived from, expiry, use. Row
  security on with no policy and no grant: only the functions touch it.
  ``qala_resident_code_request`` throttles per contact and per client, and queues the code
  in the outbox (``outbox_messages.kind = 'sign_in'``, ``code_id``: the worker derives the
  code from the nonce and the secret when it sends it, so no code is stored); only when the
  contact is on an appeal of the city, though the answer is the same either way.
  ``qala_resident_code_check`` counts wrong codes in ``login_failures`` (per contact and
  per client, as staff logins): after ``p_max`` wrong codes the contact is locked for the
  window.

``outbox_messages.event_id`` becomes nullable (a sign-in message tells no event).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen: migration 0011's group of the service's login role
PATH = "SET search_path = pg_catalog, public, pg_temp"
CITY = "city_id = (SELECT qala_scope_city())"
NO_CONTACT = "(SELECT qala_scope_contact()) IS NULL"
MINE = "= ANY (CAST((SELECT qala_resident_appeals()) AS bigint[]))"
OWN: dict[str, str] = {
    "appeals": f"{NO_CONTACT} OR id {MINE}",
    **{
        t: f"{NO_CONTACT} OR appeal_id {MINE}"
        for t in ("appeal_events", "appeal_media", "appeal_photos", "appeal_notes")
    },
    "appeal_contacts": f"{NO_CONTACT} OR appeal_id {MINE}",
}

FUNCTIONS = f"""
CREATE FUNCTION qala_contact_key(p text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE
    WHEN position('@' IN p) > 0 THEN nullif(lower(regexp_replace(p, '\\s', '', 'g')), '')
    ELSE (SELECT CASE WHEN length(d) = 11 AND left(d, 1) = '8' THEN '7' || substr(d, 2)
                      WHEN length(d) = 10 THEN '7' || d
                      WHEN length(d) BETWEEN 11 AND 15 THEN d END
          FROM (SELECT regexp_replace(p, '[^0-9]', '', 'g') AS d) x)
  END
$$;

CREATE FUNCTION qala_scope_contact() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('qala.contact', true), '') $$;

CREATE FUNCTION qala_resident_appeals() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- the scope city's appeals whose applicant left the scope's contact
  SELECT coalesce(array_agg(DISTINCT k.appeal_id), '{{}}') FROM public.appeal_contacts k
  WHERE k.city_id = public.qala_scope_city() AND public.qala_scope_contact() IS NOT NULL
    AND (public.qala_contact_key(k.email) = public.qala_scope_contact()
         OR public.qala_contact_key(k.phone) = public.qala_scope_contact())
$$;

CREATE FUNCTION qala_resident_code_request(
    p_city integer, p_contact text, p_hash text, p_nonce text, p_client text,
    p_ttl_s integer, p_window_s integer, p_per_contact integer, p_per_client integer,
    p_max integer)
RETURNS TABLE (outcome text, wait_s integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  v_key text := qala_contact_key(p_contact);
  v_account text;
  v_at timestamptz;
  v_code bigint;
  c record;
  v_found boolean;
  v_window interval := p_window_s * interval '1 s';
BEGIN
  IF v_key IS NULL THEN
    RETURN QUERY SELECT 'invalid'::text, NULL::integer;
    RETURN;
  END IF;
  v_account := 'code:' || p_city || ':' || md5(v_key);
  PERFORM pg_advisory_xact_lock(hashtext(v_account));
  -- locked: the p_max-th most recent wrong code is still in the window
  SELECT f.at INTO v_at FROM login_failures f
  WHERE f.account = v_account AND f.at > now() - v_window
  ORDER BY f.at DESC OFFSET p_max - 1 LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT 'locked'::text,
      greatest(1, ceil(EXTRACT(EPOCH FROM (v_at + v_window - now())))::integer);
    RETURN;
  END IF;
  -- codes asked for this contact, and from this client (any contact, any city)
  SELECT r.created_at INTO v_at FROM resident_codes r
  WHERE r.city_id = p_city AND r.contact_key = v_key AND r.created_at > now() - v_window
  ORDER BY r.created_at DESC OFFSET p_per_contact - 1 LIMIT 1;
  IF NOT FOUND THEN
    SELECT r.created_at INTO v_at FROM resident_codes r
    WHERE r.client = p_client AND r.created_at > now() - v_window
    ORDER BY r.created_at DESC OFFSET p_per_client - 1 LIMIT 1;
  END IF;
  IF FOUND THEN
    RETURN QUERY SELECT 'throttled'::text,
      greatest(1, ceil(EXTRACT(EPOCH FROM (v_at + v_window - now())))::integer);
    RETURN;
  END IF;
  SELECT k.appeal_id, k.email, k.phone, k.lang INTO c FROM appeal_contacts k
  WHERE k.city_id = p_city
    AND (qala_contact_key(k.email) = v_key OR qala_contact_key(k.phone) = v_key)
  ORDER BY k.appeal_id DESC LIMIT 1;
  v_found := FOUND;
  -- an earlier code of the contact stops working when a new one is asked for
  UPDATE resident_codes SET used_at = now()
  WHERE city_id = p_city AND contact_key = v_key AND used_at IS NULL;
  INSERT INTO resident_codes (city_id, contact_key, code_hash, nonce, client, expires_at)
  VALUES (p_city, v_key, p_hash, p_nonce, left(p_client, 64),
          now() + p_ttl_s * interval '1 s')
  RETURNING id INTO v_code;
  DELETE FROM resident_codes WHERE created_at < now() - interval '2 days';
  IF v_found THEN
    INSERT INTO outbox_messages (city_id, appeal_id, event_id, channel, address, lang, status,
                                 kind, code_id)
    VALUES (p_city, c.appeal_id, NULL,
            CASE WHEN position('@' IN v_key) > 0 THEN 'email' ELSE 'sms' END,
            CASE WHEN position('@' IN v_key) > 0 THEN c.email ELSE c.phone END,
            c.lang, 'sign_in', 'sign_in', v_code);
  END IF;
  -- the same answer whether the contact is known or not: nobody learns whose it is
  RETURN QUERY SELECT 'sent'::text, NULL::integer;
END
$f$;

CREATE FUNCTION qala_resident_code_check(
    p_city integer, p_contact text, p_hash text, p_client text, p_window_s integer,
    p_max integer, p_per_client integer)
RETURNS TABLE (outcome text, wait_s integer, attempts_left integer, contact text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  v_key text := qala_contact_key(p_contact);
  v_account text;
  v_at timestamptz;
  v_n integer;
  r record;
  v_window interval := p_window_s * interval '1 s';
BEGIN
  IF v_key IS NULL THEN
    RETURN QUERY SELECT 'invalid'::text, NULL::integer, NULL::integer, NULL::text;
    RETURN;
  END IF;
  v_account := 'code:' || p_city || ':' || md5(v_key);
  PERFORM pg_advisory_xact_lock(hashtext(v_account));
  SELECT f.at INTO v_at FROM login_failures f
  WHERE f.account = v_account AND f.at > now() - v_window
  ORDER BY f.at DESC OFFSET p_max - 1 LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT 'locked'::text,
      greatest(1, ceil(EXTRACT(EPOCH FROM (v_at + v_window - now())))::integer), 0, NULL::text;
    RETURN;
  END IF;
  SELECT f.at INTO v_at FROM login_failures f
  WHERE f.client = left(p_client, 64) AND f.at > now() - v_window
  ORDER BY f.at DESC OFFSET p_per_client - 1 LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT 'throttled'::text,
      greatest(1, ceil(EXTRACT(EPOCH FROM (v_at + v_window - now())))::integer), NULL::integer,
      NULL::text;
    RETURN;
  END IF;
  SELECT x.id, x.code_hash INTO r FROM resident_codes x
  WHERE x.city_id = p_city AND x.contact_key = v_key AND x.used_at IS NULL
    AND x.expires_at > now()
  ORDER BY x.id DESC LIMIT 1 FOR UPDATE;
  IF FOUND AND r.code_hash = p_hash THEN
    UPDATE resident_codes SET used_at = now() WHERE id = r.id;  -- once only
    DELETE FROM login_failures WHERE account = v_account;
    RETURN QUERY SELECT 'ok'::text, NULL::integer, NULL::integer, v_key;
    RETURN;
  END IF;
  INSERT INTO login_failures (account, client) VALUES (v_account, left(p_client, 64));
  SELECT count(*) INTO v_n FROM login_failures f
  WHERE f.account = v_account AND f.at > now() - v_window;
  IF v_n >= p_max THEN
    UPDATE resident_codes SET used_at = now()
    WHERE city_id = p_city AND contact_key = v_key AND used_at IS NULL;
    RETURN QUERY SELECT 'locked'::text, p_window_s, 0, NULL::text;
  ELSIF r.id IS NULL THEN
    RETURN QUERY SELECT 'expired'::text, NULL::integer, p_max - v_n, NULL::text;
  ELSE
    RETURN QUERY SELECT 'wrong'::text, NULL::integer, p_max - v_n, NULL::text;
  END IF;
END
$f$;

CREATE FUNCTION qala_resident_appeal(p_city integer, p_reg text, p_lock boolean)
RETURNS TABLE (id bigint, status text, organisation_id bigint, resolved_at timestamptz,
               dispute_days integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
BEGIN
  -- the scope's own appeal (its contact's), or nothing; only in the scope's city
  IF qala_scope_contact() IS NULL OR qala_scope_city() IS DISTINCT FROM p_city THEN
    RAISE EXCEPTION 'not a resident''s session of city %', p_city
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_lock THEN
    RETURN QUERY SELECT a.id, a.status::text, a.organisation_id,
      coalesce(a.resolved_at, a.closed_at), c.dispute_days::integer
    FROM appeals a JOIN categories c ON c.code = a.category_code
    WHERE a.city_id = p_city AND a.reg_number = p_reg AND a.id = ANY (qala_resident_appeals())
    FOR UPDATE OF a;
  ELSE
    RETURN QUERY SELECT a.id, a.status::text, a.organisation_id,
      coalesce(a.resolved_at, a.closed_at), c.dispute_days::integer
    FROM appeals a JOIN categories c ON c.code = a.category_code
    WHERE a.city_id = p_city AND a.reg_number = p_reg AND a.id = ANY (qala_resident_appeals());
  END IF;
END
$f$;

CREATE FUNCTION qala_resident_respond(p_city integer, p_reg text, p_verdict text,
                                      p_comment text)
RETURNS TABLE (outcome text, status text, until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  a record;
  v_until timestamptz;
BEGIN
  IF p_verdict NOT IN ('confirmed', 'disputed') THEN
    RAISE EXCEPTION 'unknown verdict %', p_verdict USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO a FROM qala_resident_appeal(p_city, p_reg, true);
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::timestamptz;
    RETURN;
  END IF;
  IF a.status NOT IN ('resolved', 'closed') THEN
    RETURN QUERY SELECT 'not_resolved'::text, a.status, NULL::timestamptz;
    RETURN;
  END IF;
  v_until := coalesce(a.resolved_at, now()) + a.dispute_days * interval '1 day';
  IF p_verdict = 'confirmed' THEN
    INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                               organisation_id, comment)
    VALUES (p_city, a.id, 'resident', 'resident', a.status, a.status, a.organisation_id,
            'the applicant confirmed the fix' || coalesce(': ' || nullif(p_comment, ''), ''));
    RETURN QUERY SELECT 'ok'::text, a.status, v_until;
    RETURN;
  END IF;
  IF now() > v_until THEN
    RETURN QUERY SELECT 'window_closed'::text, a.status, v_until;
    RETURN;
  END IF;
  UPDATE appeals SET status = 'reopened', resolved_at = NULL, closed_at = NULL
  WHERE city_id = p_city AND id = a.id;
  INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                             organisation_id, comment)
  VALUES (p_city, a.id, 'resident', 'resident', a.status, 'reopened', a.organisation_id,
          'the applicant disputed the fix' || coalesce(': ' || nullif(p_comment, ''), ''));
  RETURN QUERY SELECT 'ok'::text, 'reopened'::text, v_until;
END
$f$;

CREATE FUNCTION qala_resident_note(p_city integer, p_reg text, p_body text)
RETURNS TABLE (id bigint, at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  a record;
BEGIN
  SELECT * INTO a FROM qala_resident_appeal(p_city, p_reg, false);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY INSERT INTO appeal_notes AS n (city_id, appeal_id, author, author_role, kind, body)
  VALUES (p_city, a.id, 'resident', 'resident', 'resident', p_body) RETURNING n.id, n.at;
END
$f$;

CREATE FUNCTION qala_resident_rate(p_city integer, p_reg text, p_rating integer)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  a record;
BEGIN
  SELECT * INTO a FROM qala_resident_appeal(p_city, p_reg, false);
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::text;
    RETURN;
  END IF;
  IF a.status NOT IN ('resolved', 'closed') THEN
    RETURN QUERY SELECT 'not_resolved'::text, a.status;
    RETURN;
  END IF;
  INSERT INTO appeal_ratings (city_id, appeal_id, rating, organisation_id)
  VALUES (p_city, a.id, p_rating, a.organisation_id)
  ON CONFLICT (city_id, appeal_id) DO UPDATE
    SET rating = EXCLUDED.rating, organisation_id = EXCLUDED.organisation_id, rated_at = now();
  RETURN QUERY SELECT 'ok'::text, a.status;
END
$f$;

CREATE FUNCTION qala_resident_photo(
    p_city integer, p_reg text, p_hash text, p_width integer, p_height integer,
    p_page_key text, p_page_width integer, p_page_height integer, p_page_bytes integer,
    p_thumb_key text, p_thumb_width integer, p_thumb_height integer, p_thumb_bytes integer)
RETURNS TABLE (id bigint, created boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  a record;
  v_id bigint;
BEGIN
  SELECT * INTO a FROM qala_resident_appeal(p_city, p_reg, false);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- a resident's photo waits for staff to approve it for the public
  INSERT INTO appeal_photos (city_id, appeal_id, kind, source_hash, width, height,
    page_key, page_width, page_height, page_bytes,
    thumb_key, thumb_width, thumb_height, thumb_bytes, added_by, added_role, approved)
  VALUES (p_city, a.id, 'before', p_hash, p_width, p_height, p_page_key, p_page_width,
          p_page_height, p_page_bytes, p_thumb_key, p_thumb_width, p_thumb_height,
          p_thumb_bytes, 'resident', 'resident', false)
  ON CONFLICT (city_id, appeal_id, source_hash) DO NOTHING
  RETURNING appeal_photos.id INTO v_id;
  IF v_id IS NOT NULL THEN
    RETURN QUERY SELECT v_id, true;
  ELSE
    RETURN QUERY SELECT p.id, false FROM appeal_photos p
    WHERE p.city_id = p_city AND p.appeal_id = a.id AND p.source_hash = p_hash;
  END IF;
END
$f$;
"""
RESIDENT_FUNCTIONS = (
    "qala_resident_appeals()",
    "qala_resident_code_request(integer, text, text, text, text, integer, integer, integer, "
    "integer, integer)",
    "qala_resident_code_check(integer, text, text, text, integer, integer, integer)",
    "qala_resident_appeal(integer, text, boolean)",
    "qala_resident_respond(integer, text, text, text)",
    "qala_resident_note(integer, text, text)",
    "qala_resident_rate(integer, text, integer)",
    "qala_resident_photo(integer, text, text, integer, integer, text, integer, integer, "
    "integer, text, integer, integer, integer)",
)


def upgrade() -> None:
    op.add_column(
        "categories",
        sa.Column("dispute_days", sa.SmallInteger(), server_default="14", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_categories_dispute_days"), "categories", "dispute_days BETWEEN 1 AND 365"
    )
    op.drop_constraint("ck_appeal_notes_kind", "appeal_notes")
    op.create_check_constraint(
        op.f("ck_appeal_notes_kind"), "appeal_notes", "kind IN ('internal', 'public', 'resident')"
    )
    op.create_table(
        "resident_codes",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contact_key", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_resident_codes_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_codes")),
    )
    op.create_index(
        "ix_resident_codes_contact", "resident_codes", ["city_id", "contact_key", "created_at"]
    )
    op.create_index("ix_resident_codes_client", "resident_codes", ["client", "created_at"])
    op.create_table(
        "appeal_ratings",
        sa.Column("city_id", sa.SmallInteger(), nullable=False),
        sa.Column("appeal_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("organisation_id", sa.BigInteger()),
        sa.Column(
            "rated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_appeal_ratings_rating")),
        sa.ForeignKeyConstraint(
            ["city_id", "appeal_id"],
            ["appeals.city_id", "appeals.id"],
            name=op.f("fk_appeal_ratings_city_id_appeal_id_appeals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name=op.f("fk_appeal_ratings_city_id_cities")
        ),
        sa.PrimaryKeyConstraint("city_id", "appeal_id", name=op.f("pk_appeal_ratings")),
    )
    op.create_index("ix_appeal_ratings_org", "appeal_ratings", ["city_id", "organisation_id"])
    op.alter_column("outbox_messages", "event_id", nullable=True)
    op.add_column(
        "outbox_messages",
        sa.Column("kind", sa.String(9), server_default="word_back", nullable=False),
    )
    op.add_column("outbox_messages", sa.Column("code_id", sa.BigInteger()))
    op.create_check_constraint(
        op.f("ck_outbox_messages_kind"), "outbox_messages", "kind IN ('word_back', 'sign_in')"
    )
    op.execute(FUNCTIONS)
    # found by the contact: the definer functions above look contacts up by these
    op.execute(
        "CREATE INDEX ix_appeal_contacts_email_key ON appeal_contacts "
        "(city_id, qala_contact_key(email))"
    )
    op.execute(
        "CREATE INDEX ix_appeal_contacts_phone_key ON appeal_contacts "
        "(city_id, qala_contact_key(phone))"
    )
    for table, own in OWN.items():
        op.execute(
            f"CREATE POLICY {table}_resident ON {table} AS RESTRICTIVE FOR ALL USING ({own})"
        )
    # a resident reads its own comments (the restrictive policy: its own appeals only)
    op.execute(
        "CREATE POLICY appeal_notes_resident_read ON appeal_notes FOR SELECT USING "
        f"({CITY} AND kind = 'resident' AND (SELECT qala_scope_contact()) IS NOT NULL)"
    )
    # and the photos it added, before staff approve them
    op.execute(
        "CREATE POLICY appeal_photos_resident_read ON appeal_photos FOR SELECT USING "
        f"({CITY} AND added_role = 'resident' AND (SELECT qala_scope_contact()) IS NOT NULL)"
    )
    for table in ("resident_codes", "appeal_ratings"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    # ratings are read by the city's scope (the bodies' ratings); written by the function
    op.execute(f"CREATE POLICY appeal_ratings_read ON appeal_ratings FOR SELECT USING ({CITY})")
    op.execute(f"GRANT SELECT ON appeal_ratings TO {APP_GROUP}")
    for fn in RESIDENT_FUNCTIONS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_GROUP}")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS appeal_notes_resident_read ON appeal_notes")
    op.execute("DROP POLICY IF EXISTS appeal_photos_resident_read ON appeal_photos")
    for table in OWN:
        op.execute(f"DROP POLICY IF EXISTS {table}_resident ON {table}")
    op.execute("DROP INDEX IF EXISTS ix_appeal_contacts_email_key")
    op.execute("DROP INDEX IF EXISTS ix_appeal_contacts_phone_key")
    for fn in reversed(RESIDENT_FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP FUNCTION IF EXISTS qala_scope_contact()")
    op.execute("DROP FUNCTION IF EXISTS qala_contact_key(text)")
    op.drop_constraint("ck_outbox_messages_kind", "outbox_messages")
    op.drop_column("outbox_messages", "code_id")
    op.drop_column("outbox_messages", "kind")
    op.execute("DELETE FROM outbox_messages WHERE event_id IS NULL")
    op.alter_column("outbox_messages", "event_id", nullable=False)
    op.drop_table("appeal_ratings")
    op.drop_table("resident_codes")
    # notes are a log (never deleted): residents' comments stay, unchecked by the old rule
    op.drop_constraint("ck_appeal_notes_kind", "appeal_notes")
    op.execute(
        "ALTER TABLE appeal_notes ADD CONSTRAINT ck_appeal_notes_kind "
        "CHECK (kind IN ('internal', 'public')) NOT VALID"
    )
    op.drop_constraint("ck_categories_dispute_days", "categories")
    op.drop_column("categories", "dispute_days")
