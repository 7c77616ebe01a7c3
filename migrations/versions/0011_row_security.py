"""row security: every city's rows visible and writable only in that city's scope

The API connects as a role that owns nothing (``qala_service`` on the local cluster, any role
in the group ``qala_app`` elsewhere) and writes the request's scope into each transaction
(``geo.staff.scope.apply_scope``: ``qala.city_id``, ``qala.role``, ``qala.org``,
``qala.user``). Here the database enforces it, so a query that forgets its ``city_id``
still sees only the caller's city:

* every table with a ``city_id`` has row-level security; its policies compare ``city_id``
  with the scope's city (read once per statement, as an InitPlan, so the ``city_id``-leading
  indexes are used). No scope: no row. Another city's rows are never visible (USING) nor
  writable (WITH CHECK);
* an executor sees only the appeals of its organisation, and only their events, contacts
  and media (the policies of those tables look the appeal up under the appeals' policy);
* applicants' contacts are read only by the roles that see them (operator, inspector,
  controller, admin, executor), staff accounts, their roles and API keys only by staff:
  never by the public or a channel, which may still write a contact with the appeal it
  registers;
* staff accounts (``users``) are seen by the staff of their home city and of every city
  where they have a role (``staff_roles``, the city's own rows); an account is changed by
  an admin of its home city (enable, disable, log out everywhere) or by itself (log out
  everywhere: ``qala.user``); roles (``staff_roles``) are given from the CLI only;
* the public writes nothing;
* the service's rights are DML on what it writes, SELECT elsewhere, no DELETE, no DDL;
  ``users.password_hash`` and ``api_keys.key_hash`` are not granted at all, nor is
  ``login_failures`` (no city: the user names typed and the clients' addresses; row
  security on, no policy).

Lookups that must cross cities before anyone is authenticated go through SECURITY DEFINER
functions owned by the admin, with a fixed ``search_path``, that return only what the check
needs:

* ``qala_login_user(username)``: the one active account of that name with its password
  hash, to verify the password in Python (Argon2 is not in PostgreSQL). It is the only way
  the service sees a hash, one named account at a time; the hash goes no further than
  ``geo.staff.auth.authenticate``;
* ``qala_api_key(hash)``: a key's id, city and channel, by its SHA-256 only;
* ``qala_token_account(user, city)``: what every staff request checks of its token (the
  account active, its token version, its role and organisation in the token's city);
* ``qala_account_roles(user)``: the cities an account works in and its role in each (login
  picks one; ``/auth/switch`` and ``/me`` read them across cities);
* ``qala_login_wait``, ``qala_login_failed``, ``qala_login_succeeded``: login throttling's
  reads and writes of ``login_failures``.

``cities`` and ``categories`` stay outside row security: a city's code, names and bounds
are public and say where a request goes before its scope exists.

Also:

* ``appeal_cards`` becomes ``security_invoker``: a view otherwise reads its tables with its
  owner's rights, past every policy;
* registration numbers come from ``qala_next_reg_number(city, year)`` (SECURITY DEFINER):
  the city's sequence of a new year is created by the owner, so the service needs no
  ``CREATE``. ``qala_create_appeal`` is patched in place (its current definition, whatever
  migration wrote it last) to call it;
* ``qala_create_appeal_as(<the same 20 arguments>, org, user)`` sets the scope from its own
  arguments, then registers: the API's write path, one statement in autocommit, stays one
  round trip. It refuses a city other than a scope already set in the transaction;
* the trigger functions that keep derived data (the appeal's place and cell, the tile
  counts in ``appeal_cells``) run as their owner, so the service needs no write right on
  ``appeal_cells`` and the yard lookup of the place trigger keeps its spatial index;
* ``geometry && geometry`` and pg_trgm's ``%``, ``<%``, ``%>`` are marked ``LEAKPROOF``
  (needs a superuser; a warning otherwise). Under row security the planner may use a
  condition as an index condition ahead of the policy only if it cannot leak what it sees;
  neither extension marks these so, and without it no spatial lookup of the service
  (snapping a point, repeat candidates, a bounding box) could use a GiST index, nor the
  address search its trigram index. Each compares its two arguments and raises no error
  that depends on their values (``&&`` answers mixed SRIDs and empty geometries with true or
  false): nothing about a row it is evaluated on escapes but its answer. ``ALTER EXTENSION
  ... UPDATE`` may reset the mark: ``LEAKPROOF_SQL`` here sets it again.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen here: the role the service's login role belongs to
PATH = "SET search_path = pg_catalog, public, pg_temp"  # for SECURITY DEFINER functions

SCOPE_FUNCTIONS = """
CREATE FUNCTION qala_scope_city() RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('qala.city_id', true), '')::smallint $$;

CREATE FUNCTION qala_scope_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('qala.role', true), '') $$;

CREATE FUNCTION qala_scope_org() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('qala.org', true), '')::bigint $$;

CREATE FUNCTION qala_scope_user() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('qala.user', true), '')::bigint $$;
"""
SCOPE_FUNCTION_NAMES = "qala_scope_city(), qala_scope_role(), qala_scope_org(), qala_scope_user()"

# the parts of every policy; (SELECT ...) makes each an InitPlan evaluated once per statement
CITY = "city_id = (SELECT qala_scope_city())"
WRITER = "(SELECT qala_scope_role()) <> 'public'"  # no role (NULL) writes nothing either
OWN_APPEAL = (
    "((SELECT qala_scope_role()) <> 'executor' OR organisation_id = (SELECT qala_scope_org()))"
)
CONTACT_ROLES = (
    "(SELECT qala_scope_role()) IN ('operator', 'inspector', 'controller', 'admin', 'executor')"
)
STAFF = (
    "(SELECT qala_scope_role()) IN ('operator', 'inspector', 'executor', 'controller', "
    "'planner', 'admin')"
)
ADMIN = "(SELECT qala_scope_role()) = 'admin'"
# an account: of the scope's city (its home), or working in it (a role there: staff_roles,
# read under its own policy)
ACCOUNT_HERE = (
    "(city_id = (SELECT qala_scope_city()) OR EXISTS (SELECT 1 FROM staff_roles r "
    "WHERE r.city_id = (SELECT qala_scope_city()) AND r.user_id = users.id))"
)
# changed by an admin of its home city, or by the account itself (log out everywhere)
ACCOUNT_CHANGE = f"(({CITY} AND {ADMIN}) OR (id = (SELECT qala_scope_user()) AND {STAFF}))"


def _of_visible_appeal(table: str) -> str:
    """A row of an appeal the scope sees: an executor looks the appeal up, under the
    appeals' own policy (its organisation's appeals only)."""
    return (
        "((SELECT qala_scope_role()) <> 'executor' OR EXISTS (SELECT 1 FROM appeals a "
        f"WHERE a.city_id = {table}.city_id AND a.id = {table}.appeal_id))"
    )


MAP_TABLES = (
    "organisations",
    "districts",
    "streets",
    "buildings",
    "yards",
    "yard_buildings",
    "wells",
    "object_repeats",
    "appeal_cells",
)

# table -> (who reads, who writes); writes are also limited to the scope's city
POLICIES: dict[str, tuple[str, str]] = {
    **{t: (CITY, f"{CITY} AND {WRITER}") for t in MAP_TABLES},
    "appeals": (f"{CITY} AND {OWN_APPEAL}", f"{CITY} AND {WRITER} AND {OWN_APPEAL}"),
    "appeal_events": (
        f"{CITY} AND {_of_visible_appeal('appeal_events')}",
        f"{CITY} AND {WRITER} AND {_of_visible_appeal('appeal_events')}",
    ),
    "appeal_media": (
        f"{CITY} AND {_of_visible_appeal('appeal_media')}",
        f"{CITY} AND {WRITER} AND {_of_visible_appeal('appeal_media')}",
    ),
    "appeal_contacts": (
        f"{CITY} AND {CONTACT_ROLES} AND {_of_visible_appeal('appeal_contacts')}",
        f"{CITY} AND {WRITER} AND {_of_visible_appeal('appeal_contacts')}",
    ),
    "users": (f"{ACCOUNT_HERE} AND {STAFF}", ACCOUNT_CHANGE),
    "staff_roles": (f"{CITY} AND {STAFF}", f"{CITY} AND {ADMIN}"),
    "api_keys": (f"{CITY} AND {STAFF}", f"{CITY} AND {ADMIN}"),
}
# no city: only the login functions below touch it (row security on, no policy, no grant)
LOCKED_TABLES = ("login_failures",)

GRANTS = f"""
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {APP_GROUP};
GRANT SELECT ON cities, categories, organisations, districts, streets, buildings, yards,
    yard_buildings, wells, appeals, appeal_events, appeal_media, appeal_contacts,
    object_repeats, appeal_cells, appeal_cards TO {APP_GROUP};
GRANT INSERT, UPDATE ON appeals, object_repeats TO {APP_GROUP};
GRANT INSERT ON appeal_events, appeal_media, appeal_contacts TO {APP_GROUP};
GRANT UPDATE ON yards TO {APP_GROUP};
GRANT SELECT (id, city_id, username, full_name, active, token_version)
    ON users TO {APP_GROUP};
GRANT UPDATE (active, token_version) ON users TO {APP_GROUP};
GRANT SELECT ON staff_roles TO {APP_GROUP};
GRANT SELECT (id, city_id, name, channel, active) ON api_keys TO {APP_GROUP};
GRANT UPDATE (active) ON api_keys TO {APP_GROUP};
"""
GRANTED_TABLES = (
    "cities, categories, organisations, districts, streets, buildings, yards, yard_buildings, "
    "wells, appeals, appeal_events, appeal_media, appeal_contacts, object_repeats, "
    "appeal_cells, appeal_cards, users, staff_roles, api_keys"
)

PRE_AUTH = f"""
CREATE FUNCTION qala_login_user(p_username text)
RETURNS TABLE (id bigint, city_id smallint, username text, password_hash text,
               token_version integer)
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- before login nobody has a scope: the one account of that name, active, with its hash
  SELECT u.id, u.city_id, u.username::text, u.password_hash, u.token_version
  FROM public.users u WHERE u.username = p_username AND u.active
$$;

CREATE FUNCTION qala_api_key(p_hash text)
RETURNS TABLE (id bigint, city_id smallint, name text, channel text)
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- a channel's key, by its SHA-256 only: its id, city and channel, never other keys
  SELECT k.id, k.city_id, k.name, k.channel::text FROM public.api_keys k
  WHERE k.key_hash = p_hash AND k.active
$$;

CREATE FUNCTION qala_token_account(p_user bigint, p_city integer)
RETURNS TABLE (username text, active boolean, token_version integer, role text,
               organisation_id bigint, city_code text)
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- what a token's every request checks, before its scope exists: the account as it is
  -- now and its role in the token's city (NULL: none any more); no hash
  SELECT u.username::text, u.active, u.token_version, r.role::text, r.organisation_id,
         (SELECT c.code::text FROM public.cities c WHERE c.id = p_city)
  FROM public.users u
  LEFT JOIN public.staff_roles r ON r.city_id = p_city AND r.user_id = u.id
  WHERE u.id = p_user
$$;

CREATE FUNCTION qala_account_roles(p_user bigint)
RETURNS TABLE (city_id smallint, city text, role text, organisation_id bigint, home boolean)
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- the cities an account works in (across cities: login picks one, /auth/switch another),
  -- its home city first
  SELECT r.city_id, c.code::text, r.role::text, r.organisation_id, r.city_id = u.city_id
  FROM public.staff_roles r JOIN public.users u ON u.id = r.user_id
  JOIN public.cities c ON c.id = r.city_id
  WHERE r.user_id = p_user
  ORDER BY r.city_id <> u.city_id, r.city_id
$$;

CREATE FUNCTION qala_login_wait(p_account text, p_client text, p_window integer,
                                p_per_account integer, p_per_client integer)
RETURNS TABLE (account numeric, client numeric)
LANGUAGE sql STABLE SECURITY DEFINER {PATH} AS $$
  -- seconds until the n-th most recent failure in the window (n = the limit) leaves it, for
  -- the account and for the client; NULL: under the limit
  SELECT EXTRACT(EPOCH FROM (
           (SELECT f.at FROM public.login_failures f
            WHERE f.account = p_account AND f.at > now() - p_window * interval '1 s'
            ORDER BY f.at DESC OFFSET p_per_account - 1 LIMIT 1)
           + p_window * interval '1 s' - now())),
         EXTRACT(EPOCH FROM (
           (SELECT f.at FROM public.login_failures f
            WHERE f.client = p_client AND f.at > now() - p_window * interval '1 s'
            ORDER BY f.at DESC OFFSET p_per_client - 1 LIMIT 1)
           + p_window * interval '1 s' - now()))
$$;

CREATE FUNCTION qala_login_failed(p_account text, p_client text, p_window integer)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER {PATH} AS $$
  -- a failure counted; those older than the window pruned
  INSERT INTO public.login_failures (account, client) VALUES (p_account, p_client);
  DELETE FROM public.login_failures WHERE at < now() - p_window * interval '1 s';
$$;

CREATE FUNCTION qala_login_succeeded(p_account text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER {PATH} AS $$
  DELETE FROM public.login_failures WHERE account = p_account;
$$;

CREATE FUNCTION qala_next_reg_number(p_city integer, p_year integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PATH} AS $f$
DECLARE
  v_seq text := format('appeal_seq_%s_%s', p_city, p_year);
  v_n bigint;
BEGIN
  IF qala_scope_city() IS NOT NULL AND qala_scope_city() <> p_city THEN
    RAISE EXCEPTION 'registration numbers of city % are outside the scope (city %)',
      p_city, qala_scope_city() USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- the city's sequence of the (UTC) year, made on first use, by the owner
  v_n := nextval(to_regclass(format('public.%I', v_seq)));
  IF v_n IS NULL THEN
    BEGIN
      EXECUTE format('CREATE SEQUENCE IF NOT EXISTS public.%I', v_seq);
    EXCEPTION WHEN unique_violation OR duplicate_table THEN
      NULL;  -- another transaction created it at the same moment
    END;
    v_n := nextval(format('public.%I', v_seq)::regclass);
  END IF;
  RETURN v_n;
END
$f$;
"""
PRE_AUTH_FUNCTIONS = (
    "qala_login_user(text)",
    "qala_api_key(text)",
    "qala_token_account(bigint, integer)",
    "qala_account_roles(bigint)",
    "qala_login_wait(text, text, integer, integer, integer)",
    "qala_login_failed(text, text, integer)",
    "qala_login_succeeded(text)",
    "qala_next_reg_number(integer, integer)",
)

CREATE_SIGNATURE = (
    "qala_create_appeal(integer, text, double precision, double precision, text, text, text, "
    "text, bigint, text, text, text, text, boolean, text, text, text, text, text, text)"
)
# the numbering block of qala_create_appeal (written by 0005, kept as it was by 0010), and
# what replaces it
NUMBERING_OLD = """  v_n := nextval(to_regclass(v_seq));
  IF v_n IS NULL THEN
    BEGIN
      EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', v_seq);
    EXCEPTION WHEN unique_violation OR duplicate_table THEN
      NULL;  -- another transaction created it at the same moment
    END;
    v_n := nextval(v_seq::regclass);
  END IF;"""
NUMBERING_NEW = "  v_n := qala_next_reg_number(p_city, v_year);  -- the owner makes a new sequence"

CREATE_AS = """
CREATE FUNCTION qala_create_appeal_as(
    p_city integer, p_category text, p_lon double precision, p_lat double precision,
    p_channel text, p_description text, p_located_by text,
    p_object_kind text, p_object_id bigint, p_address_text text,
    p_name text, p_phone text, p_email text, p_first_call_resolved boolean,
    p_idempotency_key text, p_repeat_of text, p_actor text, p_actor_role text,
    p_caller text, p_request_hash text, p_org text DEFAULT NULL, p_user text DEFAULT NULL,
    OUT created boolean, OUT card appeal_cards, OUT problem text, OUT problem_kind text)
LANGUAGE plpgsql AS $f$
DECLARE
  r record;
BEGIN
  -- one statement in autocommit is its own transaction: the scope is set here, from the
  -- caller's city and role, for the rest of it; never to another city than one already set
  IF qala_scope_city() IS NOT NULL AND qala_scope_city() <> p_city THEN
    RAISE EXCEPTION 'city % is outside the scope of this transaction (city %)',
      p_city, qala_scope_city() USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM set_config('qala.city_id', p_city::text, true),
          set_config('qala.role', coalesce(p_actor_role, ''), true),
          set_config('qala.org', coalesce(p_org, ''), true),
          set_config('qala.user', coalesce(p_user, ''), true);
  SELECT * INTO r FROM qala_create_appeal(
      p_city, p_category, p_lon, p_lat, p_channel, p_description, p_located_by,
      p_object_kind, p_object_id, p_address_text, p_name, p_phone, p_email,
      p_first_call_resolved, p_idempotency_key, p_repeat_of, p_actor, p_actor_role,
      p_caller, p_request_hash) AS f;
  created := r.created;
  card := r.card;
  problem := r.problem;
  problem_kind := r.problem_kind;
END
$f$;
"""
CREATE_AS_SIGNATURE = (
    "qala_create_appeal_as(integer, text, double precision, double precision, text, text, "
    "text, text, bigint, text, text, text, text, boolean, text, text, text, text, text, text, "
    "text, text)"
)

# trigger functions keeping derived data: run as the owner (see the docstring)
OWNER_TRIGGERS = (
    "qala_appeal_place()",
    "appeal_cells_on_insert()",
    "appeal_cells_on_update()",
    "appeal_cells_on_delete()",
)

# operators the service's index lookups depend on: PostGIS's bounding-box overlap (&&) and
# pg_trgm's similarity operators (%, <%, %>: the address search's GIN index); each compares
# its two arguments and raises no error that depends on their values
LEAKPROOF_FUNCTIONS = (
    "geometry_overlaps(geometry, geometry)",
    "similarity_op(text, text)",
    "word_similarity_op(text, text)",
    "word_similarity_commutator_op(text, text)",
)
LEAKPROOF_SQL = f"""
DO $$
DECLARE
  fn text;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE WARNING 'not a superuser: the operators && (PostGIS) and %%, <%%, %%> (pg_trgm) '
      'are not LEAKPROOF, so the service''s spatial and address lookups cannot use their '
      'indexes under row security; a superuser can run ALTER FUNCTION ... LEAKPROOF for: %',
      '{", ".join(LEAKPROOF_FUNCTIONS)}';
    RETURN;
  END IF;
  FOREACH fn IN ARRAY ARRAY{list(LEAKPROOF_FUNCTIONS)!r} LOOP
    IF to_regprocedure(fn) IS NOT NULL THEN
      EXECUTE format('ALTER FUNCTION %s LEAKPROOF', fn);
    END IF;
  END LOOP;
END $$;
"""


def _create_appeal_source() -> str:
    bind = op.get_bind()
    return bind.execute(
        sa.text(f"SELECT pg_get_functiondef('{CREATE_SIGNATURE}'::regprocedure)")
    ).scalar_one()


def _patch_create_appeal(old: str, new: str) -> None:
    source = _create_appeal_source()
    if old not in source:
        raise RuntimeError(
            "migration 0011: qala_create_appeal's numbering block was not found; a later "
            "migration changed it: update NUMBERING_OLD/NUMBERING_NEW in 0011"
        )
    op.execute(source.replace(old, new))  # as 0005 executed it: the same characters


def upgrade() -> None:
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_GROUP}') "
        f"THEN CREATE ROLE {APP_GROUP} NOLOGIN; END IF; END $$"
    )
    op.execute(SCOPE_FUNCTIONS)
    for table, (reads, writes) in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT USING ({reads})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({writes})")
        op.execute(
            f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({writes}) "
            f"WITH CHECK ({writes})"
        )
        op.execute(f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({writes})")
    for table in LOCKED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
    op.execute("ALTER VIEW appeal_cards SET (security_invoker = true)")
    op.execute(GRANTS)
    op.execute(PRE_AUTH)
    for fn in PRE_AUTH_FUNCTIONS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_GROUP}")
    _patch_create_appeal(NUMBERING_OLD, NUMBERING_NEW)
    op.execute(CREATE_AS)
    for fn in OWNER_TRIGGERS:
        op.execute(f"ALTER FUNCTION {fn} SECURITY DEFINER {PATH}")
    op.execute(LEAKPROOF_SQL)


def downgrade() -> None:
    op.execute(LEAKPROOF_SQL.replace("%s LEAKPROOF'", "%s NOT LEAKPROOF'"))
    for fn in OWNER_TRIGGERS:
        op.execute(f"ALTER FUNCTION {fn} SECURITY INVOKER RESET search_path")
    op.execute(f"DROP FUNCTION IF EXISTS {CREATE_AS_SIGNATURE}")
    _patch_create_appeal(NUMBERING_NEW, NUMBERING_OLD)
    for fn in PRE_AUTH_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute(f"REVOKE ALL ON {GRANTED_TABLES} FROM {APP_GROUP}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_GROUP}")
    op.execute("ALTER VIEW appeal_cards RESET (security_invoker)")
    for table in POLICIES:
        for kind in ("read", "insert", "update", "delete"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{kind} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in LOCKED_TABLES:
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"DROP FUNCTION IF EXISTS {SCOPE_FUNCTION_NAMES}")
