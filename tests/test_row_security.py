"""Row-level security (migration 0011) in SQL, as the service role.

Each test runs in the rolled-back transaction of ``conn`` (the admin) and switches to the
service role with ``SET ROLE``: row security judges the current role, so what the service
may see and write is checked exactly, next to data the admin has just made. The scope is
what the API writes (``geo.staff.scope.apply_scope``).
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from geo.appeals.actors import Actor
from geo.staff.auth import add_api_key, authenticate
from geo.staff.scope import Scope, apply_scope
from tests.factories import (
    an_apartment_building,
    insert_appeal,
    make_appeal,
    make_city,
    make_user,
)

PERSON = {"applicant_name": "Айгерим Сапарова", "applicant_phone": "+7 701 555 12 34"}


@pytest.fixture
def service(conn, service_login):
    """``with service(scope):`` runs the block as the service role in ``scope`` (None: no
    scope at all), in the test's transaction."""
    role = service_login[0]

    @contextmanager
    def as_service(scope: Scope | None):
        if scope is None:
            conn.execute(
                text(
                    "SELECT set_config('qala.city_id', '', true), "
                    "set_config('qala.role', '', true), set_config('qala.org', '', true)"
                )
            )
        else:
            apply_scope(conn, scope)
        conn.execute(text(f"SET ROLE {role}"))
        try:
            yield conn
        finally:
            conn.execute(text("RESET ROLE"))

    return as_service


@contextmanager
def refused(c, error: type[Exception], match: str):
    """The block fails with ``error`` (``match`` in its message); the test's transaction
    goes on (a savepoint)."""
    with pytest.raises(error, match=match), c.begin_nested():
        yield


def scope(city: int, role: str = "operator", org: int | None = None) -> Scope:
    return Scope(city, Actor(name=f"{role}-t", role=role, organisation_id=org, user_id=1))


@pytest.fixture
def two_cities(conn, city_id):
    """City A (the demo city) with an appeal and its applicant's contacts; city B, empty
    but for one appeal of its own."""
    b = an_apartment_building(conn, city_id)
    appeal = make_appeal(conn, city_id, "roof_leak", b["lon"], b["lat"], **PERSON)
    other = make_city(conn, "RLB")
    insert_appeal(conn, other, 69.40, 54.95)
    return city_id, other, appeal


def count(c, sql: str, **params) -> int:
    return c.execute(text(sql), params).scalar_one()


def test_another_citys_scope_reads_and_changes_nothing_and_cannot_insert(conn, service, two_cities):
    a, b, appeal = two_cities
    # the policies themselves, also for commands the service is not granted (DELETE,
    # UPDATE of contacts): grant them inside this transaction only
    conn.execute(text("GRANT UPDATE, DELETE ON appeals, appeal_contacts TO qala_app"))
    with service(scope(b)) as c:
        assert count(c, "SELECT count(*) FROM appeals WHERE city_id = :a", a=a) == 0
        assert count(c, "SELECT count(*) FROM appeals") == 1  # its own only
        assert count(c, "SELECT count(*) FROM appeal_contacts WHERE city_id = :a", a=a) == 0
        assert count(c, "SELECT count(*) FROM appeal_cards WHERE city_id = :a", a=a) == 0
        assert count(c, "SELECT count(*) FROM buildings WHERE city_id = :a", a=a) == 0
        for sql in (
            "UPDATE appeals SET status = 'closed' WHERE city_id = :a",
            "DELETE FROM appeals WHERE city_id = :a",
            "UPDATE appeal_contacts SET phone = 'x' WHERE city_id = :a",
            "DELETE FROM appeal_contacts WHERE city_id = :a",
        ):
            assert c.execute(text(sql), {"a": a}).rowcount == 0, sql
    assert count(conn, "SELECT count(*) FROM appeals WHERE id = :i AND status = 'registered'",
                 i=appeal["id"]) == 1  # fmt: skip
    with service(scope(b)) as c, refused(c, ProgrammingError, "row-level security"):
        insert_appeal(c, a, 69.15, 54.87)
    with service(scope(b)) as c, refused(c, ProgrammingError, "row-level security"):
        c.execute(
            text("INSERT INTO appeal_contacts (city_id, appeal_id, name) VALUES (:a, :i, 'x')"),
            {"a": a, "i": appeal["id"]},
        )


def test_the_service_is_not_granted_delete_nor_ddl(conn, service, two_cities):
    a, b, _ = two_cities
    for sql in (
        "DELETE FROM appeals WHERE city_id = :a",
        "UPDATE appeal_contacts SET phone = 'x'",
        "CREATE TABLE stolen (x int)",
        "SELECT password_hash FROM users",
        "SELECT key_hash FROM api_keys",
        "TRUNCATE appeal_events",
    ):
        with service(scope(a)) as c, refused(c, ProgrammingError, "permission denied"):
            c.execute(text(sql), {"a": a})


def test_no_scope_no_rows(conn, service, two_cities):
    a, _, _ = two_cities
    assert count(conn, "SELECT count(*) FROM appeals") > 0
    with service(None) as c:
        for table in ("appeals", "appeal_events", "appeal_contacts", "buildings", "yards"):
            assert count(c, f"SELECT count(*) FROM {table}") == 0, table
    with service(None) as c, refused(c, ProgrammingError, "row-level security"):
        insert_appeal(c, a, 69.15, 54.87)


def test_an_executor_sees_only_its_organisations_appeals_events_and_contacts(
    conn, service, city_id
):
    mine = an_apartment_building(conn, city_id, offset=40)
    theirs = conn.execute(
        text("""
        SELECT b.id, ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
        FROM buildings b WHERE b.city_id = :c AND b.kind = 'apartment'
          AND b.housing_org_id IS DISTINCT FROM :o AND b.housing_org_id IS NOT NULL
        ORDER BY b.id LIMIT 1"""),
        {"c": city_id, "o": mine["housing_org_id"]},
    ).one()
    own = make_appeal(conn, city_id, "roof_leak", mine["lon"], mine["lat"], **PERSON)
    other = make_appeal(conn, city_id, "roof_leak", theirs.lon, theirs.lat, **PERSON)
    org = own["organisation_id"]
    assert org is not None and other["organisation_id"] not in (None, org)
    of_org = (
        "JOIN appeals a ON a.city_id = x.city_id AND a.id = x.appeal_id "
        "WHERE a.organisation_id = :o"
    )
    expected = {
        "appeals": count(conn, "SELECT count(*) FROM appeals WHERE organisation_id = :o", o=org),
        "appeal_events": count(conn, f"SELECT count(*) FROM appeal_events x {of_org}", o=org),
        "appeal_contacts": count(conn, f"SELECT count(*) FROM appeal_contacts x {of_org}", o=org),
    }
    with service(scope(city_id, "executor", org)) as c:
        orgs = c.execute(text("SELECT DISTINCT organisation_id FROM appeals")).scalars().all()
        assert orgs == [org]
        for table, n in expected.items():
            assert n > 0 and count(c, f"SELECT count(*) FROM {table}") == n, table
        ids = set(c.execute(text("SELECT appeal_id FROM appeal_contacts")).scalars())
        assert own["id"] in ids and other["id"] not in ids
        assert count(c, "SELECT count(*) FROM appeal_cards WHERE id = :i", i=other["id"]) == 0
        # nor can it change the other organisation's appeal
        done = c.execute(
            text("UPDATE appeals SET status = 'in_progress' WHERE id = :i"), {"i": other["id"]}
        )
        assert done.rowcount == 0


def test_the_public_and_channels_read_no_contacts_users_or_keys(conn, service, two_cities):
    a, _, _ = two_cities
    make_user(conn, "operator")
    add_api_key(conn, "PET", "bot", "telegram")
    with service(scope(a, "operator")) as c:
        assert count(c, "SELECT count(*) FROM appeal_contacts") > 0
        assert count(c, "SELECT count(id) FROM users") > 0
        assert count(c, "SELECT count(id) FROM api_keys") > 0
    for role in ("public", "channel"):
        with service(scope(a, role)) as c:
            assert count(c, "SELECT count(*) FROM appeal_contacts") == 0, role
            assert count(c, "SELECT count(id) FROM users") == 0, role
            assert count(c, "SELECT count(id) FROM api_keys") == 0, role
            assert count(c, "SELECT count(*) FROM appeals") > 0, role  # appeals are public


def test_the_public_writes_nothing(conn, service, two_cities):
    a, _, appeal = two_cities
    with service(scope(a, "public")) as c:
        done = c.execute(
            text("UPDATE appeals SET status = 'closed' WHERE id = :i"), {"i": appeal["id"]}
        )
        assert done.rowcount == 0
    with service(scope(a, "public")) as c, refused(c, ProgrammingError, "row-level"):
        insert_appeal(c, a, 69.15, 54.87)


CREATE_AS = text("""
SELECT f.created, f.problem, (f.card).reg_number, (f.card).city_id
FROM qala_create_appeal_as(:c, 'roof_leak', :x, :y, 'telegram', 'течёт крыша', 'click',
     NULL, NULL, NULL, 'Айгерим', '+7 701 555 12 34', NULL, false, NULL, NULL, 'bot',
     'channel', NULL, NULL, NULL, NULL) AS f""")


def test_a_channel_registers_with_contacts_it_then_cannot_read(conn, service, city_id):
    b = an_apartment_building(conn, city_id, offset=7)
    with service(None) as c:  # the API's write path: the function sets its own scope
        created, problem, reg, cid = c.execute(
            CREATE_AS, {"c": city_id, "x": b["lon"], "y": b["lat"]}
        ).one()
        assert (created, problem, cid) == (True, None, city_id) and reg.startswith("PET-")
        assert count(c, "SELECT count(*) FROM appeal_contacts") == 0  # as the channel
    with service(scope(city_id, "operator")) as c:
        found = c.execute(
            text(
                "SELECT ct.name FROM appeal_contacts ct JOIN appeals a ON a.city_id = ct.city_id"
                " AND a.id = ct.appeal_id WHERE a.reg_number = :r"
            ),
            {"r": reg},
        ).scalar_one()
        assert found == "Айгерим"


def test_the_write_path_refuses_a_city_outside_the_transactions_scope(conn, service, two_cities):
    a, b, _ = two_cities
    with service(scope(b, "operator")) as c, refused(c, DBAPIError, "outside the scope"):
        c.execute(CREATE_AS, {"c": a, "x": 69.15, "y": 54.87})


def test_logins_and_keys_are_found_across_cities_before_any_scope(conn, service):
    other = make_city(conn, "RLK")
    user = make_user(conn, "operator", city="RLK")
    key = add_api_key(conn, "RLK", "bot", "website")
    with service(None) as c:
        assert count(c, "SELECT count(id) FROM users") == 0  # nothing readable directly
        found = authenticate(c, user["username"], "secret-password")
        assert found is not None and found["city_id"] == other
        assert authenticate(c, user["username"], "wrong-password") is None
        from geo.staff.auth import actor_from_api_key

        actor, key_city, channel = actor_from_api_key(c, key)
        assert (key_city, channel, actor.role) == (other, "website", "channel")


def test_accounts_and_roles_are_seen_where_they_work_and_changed_by_their_home_or_themselves(
    conn, service, city_id
):
    """Identity's tables (migration 0009) under row security: an account is seen by the staff
    of its home city and of a city where it has a role, not elsewhere; its roles only in
    their city; a city's admin cannot change another city's account; an account may log
    itself out everywhere; nobody reads or writes ``login_failures`` directly."""
    from geo.staff.accounts import grant_role

    other = make_city(conn, "RLS")
    visitor = make_user(conn, "operator", city="RLS")  # at home in RLS ...
    grant_role(conn, visitor["username"], "PET", "inspector")  # ... working in PET too
    stranger = make_user(conn, "operator", city="RLS")  # RLS only
    names = "SELECT username FROM users WHERE username IN (:v, :s)"
    who = {"v": visitor["username"], "s": stranger["username"]}
    with service(scope(city_id, "operator")) as c:
        assert c.execute(text(names), who).scalars().all() == [visitor["username"]]
        assert count(c, "SELECT count(*) FROM staff_roles WHERE city_id = :o", o=other) == 0
        assert count(c, "SELECT count(*) FROM staff_roles WHERE user_id = :u", u=visitor["id"]) == 1
    with service(scope(other, "operator")) as c:
        assert sorted(c.execute(text(names), who).scalars()) == sorted(who.values())
    bump = "UPDATE users SET token_version = token_version + 1 WHERE id = :u"
    with service(scope(city_id, "admin")) as c:  # PET's admin: RLS's account is not PET's
        assert c.execute(text(bump), {"u": visitor["id"]}).rowcount == 0
    itself = Scope(
        city_id, Actor(name=visitor["username"], role="inspector", user_id=visitor["id"])
    )
    with service(itself) as c:  # logging itself out everywhere, from PET
        assert c.execute(text(bump), {"u": visitor["id"]}).rowcount == 1
        assert c.execute(text(bump), {"u": stranger["id"]}).rowcount == 0
    with service(scope(other, "admin")) as c:  # RLS's admin manages its own accounts
        assert c.execute(text(bump), {"u": stranger["id"]}).rowcount == 1
    for sql in (
        "SELECT count(*) FROM login_failures",
        "INSERT INTO login_failures (account, client) VALUES ('x', 'y')",
        "DELETE FROM login_failures",
        "INSERT INTO staff_roles (city_id, user_id, role) VALUES (:c, 1, 'admin')",
    ):
        with service(scope(city_id, "admin")) as c, refused(c, ProgrammingError, "permission"):
            c.execute(text(sql), {"c": city_id})


def test_the_pre_scope_functions_answer_only_what_their_check_needs(conn, service, city_id):
    """Before a scope exists: a token's account check, an account's cities, the login
    throttle; none of them hands out a password hash."""
    from geo.staff.accounts import current_actor, roles_of
    from geo.staff.login import Limits, log_in
    from geo.staff.tokens import TokenClaims

    user = make_user(conn, "operator")
    limits = Limits(window_s=60, per_account=2, per_client=100)
    with service(None) as c:
        claims = TokenClaims(user_id=user["id"], city_id=city_id, role="operator", version=0)
        actor, code = current_actor(c, claims)
        assert (actor.role, actor.user_id, code) == ("operator", user["id"], "PET")
        assert [r["city"] for r in roles_of(c, user["id"])] == ["PET"]
        for _ in range(2):
            assert log_in(c, user["username"], "wrong-password", "10.0.0.9", limits).user is None
        throttled = log_in(c, user["username"], "secret-password", "10.0.0.9", limits)
        assert throttled.user is None and throttled.retry_after is not None
    assert count(conn, "SELECT count(*) FROM login_failures WHERE client = '10.0.0.9'") == 2
    returned = conn.execute(
        text("""
        SELECT p.proname, pg_get_function_result(p.oid) FROM pg_proc p
        WHERE p.proname IN ('qala_token_account', 'qala_account_roles', 'qala_api_key',
                            'qala_login_wait', 'qala_login_failed', 'qala_login_succeeded')""")
    ).all()
    assert len(returned) == 6
    assert [name for name, result in returned if "hash" in result] == []


def test_every_table_of_a_city_has_row_security_and_the_view_runs_as_its_reader(conn):
    tables = conn.execute(
        text("""
        SELECT c.relname, c.relrowsecurity FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attname = 'city_id' AND NOT a.attisdropped)""")
    ).all()
    assert len(tables) >= 16
    assert "staff_roles" in {name for name, _ in tables}  # identity's, migration 0009
    assert [name for name, secured in tables if not secured] == []
    # login_failures has no city: row security on, no policy, nothing granted
    locked = conn.execute(
        text("""
        SELECT c.relrowsecurity, has_table_privilege('qala_app', c.oid, 'SELECT, INSERT, DELETE')
        FROM pg_class c WHERE c.relname = 'login_failures'""")
    ).one()
    assert tuple(locked) == (True, False)
    options = conn.execute(
        text("SELECT reloptions FROM pg_class WHERE relname = 'appeal_cards'")
    ).scalar_one()
    assert "security_invoker=true" in options


def test_the_service_role_bypasses_nothing_and_owns_nothing(conn, service_login):
    role = service_login[0]
    row = conn.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).one()
    assert tuple(row) == (False, False)
    owned = conn.execute(
        text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_has_role(:r, c.relowner, 'USAGE')"
        ),
        {"r": role},
    ).scalar_one()
    assert owned == 0


# -- the plans: the policies must not cost the indexes ------------------------------------


def plan(conn, sql: str, **params) -> str:
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # can an index serve, not will it
    try:
        return "\n".join(conn.execute(text("EXPLAIN " + sql), params).scalars())
    finally:
        conn.execute(text("SET LOCAL enable_seqscan = on"))


def test_spatial_lookups_address_search_tiles_and_the_work_list_keep_their_indexes(
    conn, service, city_id
):
    with service(scope(city_id, "operator")) as c:
        near = plan(
            c,
            "SELECT id FROM appeals WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(69.15, "
            "54.87), 4326), 0.001, 0.001)",
        )
        assert "ix_appeals_geom" in near and "Index Cond: (geom &&" in near, near
        snap = plan(
            c,
            "SELECT id FROM buildings WHERE city_id = :c AND geom && ST_Expand(ST_SetSRID("
            "ST_MakePoint(69.15, 54.87), 4326), 0.0005, 0.0005)",
            c=city_id,
        )
        assert "Index Cond: (geom &&" in snap, snap
        search = plan(
            c, "SELECT id FROM buildings WHERE city_id = :c AND 'абая' <% search_text", c=city_id
        )
        assert "ix_buildings_search" in search, search
        tile = plan(
            c,
            "SELECT id FROM appeals WHERE city_id = :c AND cell >= 0 AND cell < 4096",
            c=city_id,
        )
        assert "ix_appeals_cell" in tile and "Index Cond: ((city_id" in tile, tile
        work = plan(
            c,
            "SELECT * FROM appeal_cards a WHERE a.city_id = :c ORDER BY a.created_at DESC, "
            "a.id DESC LIMIT 100",
            c=city_id,
        )
        # an index of appeals serves it (which one is the planner's choice by the statistics,
        # which the tests before it move: ix_appeals_created, forwards, backwards or as a
        # bitmap, ix_appeals_org_status or the city's numbers' unique index and a sort)
        used = re.search(r"Index (Only )?Scan (Backward )?(using|on) (ix|uq|pk)_appeals_", work)
        assert used and "Seq Scan on appeals" not in work, work


def test_the_policies_of_appeals_let_an_analysis_run_in_parallel(conn, service, city_id):
    """Every function the appeals' policies call is PARALLEL SAFE (migration 0024): one
    unsafe function keeps PostgreSQL from planning any part of a query in parallel, and a
    planner's count per cell over a city's millions of appeals then runs in one process.
    Checked both ways: the labels in the catalogue, and the plan of the hot spots' count per
    cell as the service role in a planner's scope (parallel costs set to nothing, so that
    the small test city is planned as a large one would be)."""
    policies = conn.execute(
        text(
            "SELECT string_agg(coalesce(qual, '') || coalesce(with_check, ''), ' ') "
            "FROM pg_policies WHERE tablename = 'appeals'"
        )
    ).scalar_one()
    called = set(re.findall(r"(qala_[a-z_]+)\(", policies))
    assert "qala_resident_appeals" in called and "qala_scope_city" in called
    labels = dict(
        conn.execute(
            text("SELECT proname, proparallel FROM pg_proc WHERE proname = ANY(:n)"),
            {"n": sorted(called)},
        ).all()
    )
    assert labels == dict.fromkeys(called, "s"), labels
    with service(Scope(city_id, Actor(name="planner", role="planner"))) as c:
        for setting in (
            "parallel_setup_cost",
            "parallel_tuple_cost",
            "min_parallel_table_scan_size",
            "min_parallel_index_scan_size",
        ):
            c.execute(text(f"SET LOCAL {setting} = 0"))
        plan = "\n".join(
            r[0]
            for r in c.execute(
                text(
                    "EXPLAIN SELECT floor(x_m / 250)::bigint, floor(y_m / 250)::bigint, count(*) "
                    "FROM appeals a WHERE a.city_id = :c GROUP BY 1, 2"
                ),
                {"c": city_id},
            )
        )
    assert "Gather" in plan and "Parallel" in plan, plan


def test_the_planner_knows_how_many_50_m_cells_the_appeals_fill(conn, city_id):
    """The hot spots' count per cell (``geo.hotspots.run.counts_sql``) groups by the appeals'
    50 m cells first, by the expressions of the statistics of migration 0025. Their number
    is what lets PostgreSQL group in each parallel worker (``Partial HashAggregate``, 0.5 s
    at 2.3 million appeals) instead of passing every row to the leader (0.85 s): without
    the statistics it takes one group per row (checked: with them dropped this fails)."""
    from geo.demo.appeals import load_demo_appeals
    from geo.hotspots.run import FINE, counts_sql

    load_demo_appeals(conn, city_id, n=20000, seed=5, events=False)
    conn.execute(text("ANALYZE appeals"))
    srid = conn.execute(text("SELECT metric_srid FROM cities WHERE id = :c"), {"c": city_id})
    sql, params = counts_sql(conn, city_id, srid.scalar_one(), 250.0, "a.city_id = :c")
    assert params == {"s": 250.0, "k": 250 // FINE}
    inner = sql[sql.index("(SELECT") + 1 : sql.rindex(") fine")]
    rows, cells = conn.execute(
        text(f"SELECT count(*), count(DISTINCT (gx, gy)) FROM ({inner}) f"), {"c": city_id}
    ).one()
    conn.execute(text("SET LOCAL enable_sort = off"))
    plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + inner), {"c": city_id}).scalar_one()
    estimated = plan[0]["Plan"]["Plan Rows"]
    appeals = conn.execute(text("SELECT count(*) FROM appeals WHERE city_id = :c"), {"c": city_id})
    assert rows == cells and cells < appeals.scalar_one() / 3
    assert cells / 2 <= estimated <= cells * 1.5, (estimated, cells)
