"""idempotency keys scoped per caller, with the request's hash

An ``Idempotency-Key`` used to be shared by everyone in a city and the request was not
compared: another channel's key, or the same key sent with another body, silently returned
the first appeal. Now a key belongs to its caller (``idempotency_caller``: ``key:<api key
id>``, ``user:<staff user id>``), and the hash of the request it was first used with is kept
(``idempotency_hash``, SHA-256 hex):

* the same key from another caller is another key (a new appeal);
* the same key, caller and request is the first appeal again (``created`` false);
* the same key and caller with another request is refused (``problem_kind`` ``key_reused``,
  HTTP 422), and nothing is written.

``qala_create_appeal`` takes the caller and the hash as two more arguments; it is still one
call. Keys kept before this revision get the caller of their appeal's first event (the
staff user or API key of that name where one matches, else ``role:name``) and no hash (a
re-sent request under such a key is not compared).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_SIGNATURE = (
    "qala_create_appeal(integer, text, double precision, double precision, text, text, text, "
    "text, bigint, text, text, text, text, boolean, text, text, text, text)"
)
NEW_SIGNATURE = OLD_SIGNATURE[:-1] + ", text, text)"

# who first used each key kept so far: its appeal's first event names the actor (a
# username is unique across cities, and since 0009 an account may work in several)
BACKFILL = """
UPDATE appeals a SET idempotency_caller = coalesce(
    (SELECT 'user:' || u.id FROM users u WHERE u.username = e.actor),
    (SELECT 'key:' || min(k.id) FROM api_keys k
     WHERE k.city_id = a.city_id AND 'channel:' || k.name = e.actor HAVING count(*) = 1),
    e.actor_role || ':' || e.actor)
FROM (SELECT DISTINCT ON (city_id, appeal_id) city_id, appeal_id, actor, actor_role
      FROM appeal_events ORDER BY city_id, appeal_id, at, id) e
WHERE a.idempotency_key IS NOT NULL AND e.city_id = a.city_id AND e.appeal_id = a.id
"""

CREATE = """
CREATE FUNCTION qala_create_appeal(
    p_city integer, p_category text, p_lon double precision, p_lat double precision,
    p_channel text, p_description text, p_located_by text,
    p_object_kind text, p_object_id bigint, p_address_text text,
    p_name text, p_phone text, p_email text, p_first_call_resolved boolean,
    p_idempotency_key text, p_repeat_of text, p_actor text, p_actor_role text,
    p_caller text, p_request_hash text,
    OUT created boolean, OUT card appeal_cards, OUT problem text, OUT problem_kind text)
LANGUAGE plpgsql AS $f$
#variable_conflict use_column
DECLARE
  g geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
  v_city_code text;
  v_inside boolean;
  v_hours integer;
  loc record;
  v_year integer;
  v_seq text;
  v_n bigint;
  v_reg text;
  v_repeat_of bigint;
  v_repeat_reg text;
  v_comment text;
  v_id bigint;
  v_hash text;
BEGIN
  created := false;
  -- a caller that re-sends the same request under the same key gets the first appeal
  -- back; the same key with another request is refused (keys are the caller's own)
  IF p_idempotency_key IS NOT NULL THEN
    SELECT a.id, a.idempotency_hash INTO v_id, v_hash FROM appeals a
    WHERE a.city_id = p_city AND a.idempotency_caller = p_caller
      AND a.idempotency_key = p_idempotency_key;
    IF v_id IS NOT NULL THEN
      IF v_hash <> p_request_hash THEN  -- NULL: kept before 0010, nothing to compare
        problem := format('Idempotency-Key %L was already used with another request: '
                          'send a new key for a new appeal', p_idempotency_key);
        problem_kind := 'key_reused';
        RETURN;
      END IF;
      SELECT * INTO card FROM appeal_cards v WHERE v.city_id = p_city AND v.id = v_id;
      RETURN;
    END IF;
  END IF;

  SELECT c.code, ST_Covers(c.bounds, g) INTO v_city_code, v_inside
  FROM cities c WHERE c.id = p_city;
  IF NOT FOUND THEN
    problem := format('no city with id %s', p_city);
    problem_kind := 'not_found';
    RETURN;
  END IF;
  IF NOT v_inside THEN
    problem := format('the point (%s, %s) is outside the city',
                      round(p_lon::numeric, 6), round(p_lat::numeric, 6));
    problem_kind := 'invalid';
    RETURN;
  END IF;

  loc := qala_locate(p_city, p_category, p_lon, p_lat, p_object_kind, p_object_id);
  IF loc.problem IS NOT NULL THEN
    problem := loc.problem;
    problem_kind := loc.problem_kind;
    RETURN;
  END IF;

  IF coalesce(p_repeat_of, '') <> '' THEN  -- the operator chose the original
    SELECT coalesce(a.repeat_of_id, a.id) INTO v_repeat_of
    FROM appeals a WHERE a.city_id = p_city AND a.reg_number = p_repeat_of;
    IF v_repeat_of IS NULL THEN
      problem := format('repeat_of: no appeal %L', p_repeat_of);
      problem_kind := 'invalid';
      RETURN;
    END IF;
  ELSE
    SELECT r.root_id, r.reg_number INTO v_repeat_of, v_repeat_reg
    FROM qala_repeat_candidates(p_city, p_category, loc.object_kind,
                                coalesce(loc.object_id, -1), p_lon, p_lat) AS r
    LIMIT 1;
  END IF;

  -- the registration number: the city's sequence of the (UTC) year, made on first use
  v_year := extract(year FROM now() AT TIME ZONE 'UTC');
  v_seq := format('appeal_seq_%s_%s', p_city, v_year);
  v_n := nextval(to_regclass(v_seq));
  IF v_n IS NULL THEN
    BEGIN
      EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', v_seq);
    EXCEPTION WHEN unique_violation OR duplicate_table THEN
      NULL;  -- another transaction created it at the same moment
    END;
    v_n := nextval(v_seq::regclass);
  END IF;
  v_reg := format('%s-%s-%s', v_city_code, v_year, lpad(v_n::text, greatest(6, length(v_n::text)), '0'));

  v_hours := loc.deadline_hours;
  v_comment := format('routed to %s (%s)', coalesce(loc.organisation_name, '—'), loc.routed_by)
               || CASE WHEN v_repeat_reg IS NOT NULL THEN '; repeat of ' || v_repeat_reg ELSE '' END;

  INSERT INTO appeals AS a (city_id, reg_number, channel, category_code, description,
      located_by, object_kind, object_id, address_text, district_id, organisation_id,
      status, deadline_at, resolved_at, repeat_of_id, first_call_resolved,
      idempotency_key, idempotency_caller, idempotency_hash, source_type, geom)
  VALUES (p_city, v_reg, p_channel, p_category, coalesce(p_description, ''), p_located_by,
      loc.object_kind, loc.object_id, coalesce(nullif(p_address_text, ''), loc.object_label),
      loc.district_id, loc.organisation_id,
      CASE WHEN p_first_call_resolved THEN 'resolved' ELSE 'registered' END,
      now() + make_interval(hours => v_hours),
      CASE WHEN p_first_call_resolved THEN now() END, v_repeat_of, p_first_call_resolved,
      p_idempotency_key, CASE WHEN p_idempotency_key IS NOT NULL THEN p_caller END,
      CASE WHEN p_idempotency_key IS NOT NULL THEN p_request_hash END, 'api', g)
  ON CONFLICT (city_id, idempotency_caller, idempotency_key) WHERE idempotency_key IS NOT NULL
  DO NOTHING
  RETURNING a.id INTO v_id;
  IF v_id IS NULL THEN  -- the same key of the same caller arrived concurrently and won
    SELECT a.id, a.idempotency_hash INTO v_id, v_hash FROM appeals a
    WHERE a.city_id = p_city AND a.idempotency_caller = p_caller
      AND a.idempotency_key = p_idempotency_key;
    IF v_hash <> p_request_hash THEN
      problem := format('Idempotency-Key %L was already used with another request: '
                        'send a new key for a new appeal', p_idempotency_key);
      problem_kind := 'key_reused';
      RETURN;
    END IF;
    SELECT * INTO card FROM appeal_cards v WHERE v.city_id = p_city AND v.id = v_id;
    RETURN;
  END IF;

  IF coalesce(p_name, '') <> '' OR coalesce(p_phone, '') <> '' OR coalesce(p_email, '') <> ''
  THEN
    INSERT INTO appeal_contacts (city_id, appeal_id, name, phone, email)
    VALUES (p_city, v_id, p_name, p_phone, p_email);
  END IF;
  INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                             organisation_id, comment)
  VALUES (p_city, v_id, p_actor, p_actor_role, NULL, 'registered', loc.organisation_id,
          v_comment);
  IF p_first_call_resolved THEN
    INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                               organisation_id, comment)
    VALUES (p_city, v_id, p_actor, p_actor_role, 'registered', 'resolved',
            loc.organisation_id, 'resolved on the first call');
  END IF;
  IF loc.object_kind <> 'none' AND loc.object_id IS NOT NULL THEN
    INSERT INTO object_repeats AS r (city_id, object_kind, object_id, appeals, repeats)
    VALUES (p_city, loc.object_kind, loc.object_id, 1,
            CASE WHEN v_repeat_of IS NOT NULL THEN 1 ELSE 0 END)
    ON CONFLICT (city_id, object_kind, object_id) DO UPDATE
    SET appeals = r.appeals + 1, repeats = r.repeats + EXCLUDED.repeats;
  END IF;
  created := true;
  SELECT * INTO card FROM appeal_cards v WHERE v.city_id = p_city AND v.id = v_id;
END
$f$;
"""


def upgrade() -> None:
    op.add_column("appeals", sa.Column("idempotency_caller", sa.Text(), nullable=True))
    op.add_column("appeals", sa.Column("idempotency_hash", sa.String(64), nullable=True))
    op.execute(BACKFILL)
    op.execute(
        "UPDATE appeals SET idempotency_caller = 'unknown' "
        "WHERE idempotency_key IS NOT NULL AND idempotency_caller IS NULL"
    )
    op.drop_index("ix_appeals_idempotency", table_name="appeals")
    op.create_index(
        "ix_appeals_idempotency",
        "appeals",
        ["city_id", "idempotency_caller", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
    op.execute(CREATE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {NEW_SIGNATURE}")
    # 0005's function, as it was (a key is then shared by every caller of the city again)
    op.execute(importlib.import_module("migrations.versions.0005_appeal_functions").CREATE)
    op.drop_index("ix_appeals_idempotency", table_name="appeals")
    op.create_index(
        "ix_appeals_idempotency",
        "appeals",
        ["city_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_column("appeals", "idempotency_hash")
    op.drop_column("appeals", "idempotency_caller")
