"""The work list at a city's scale: counts per status kept by triggers, and its indexes

The staff work list shows, above every page, how many appeals its filters match in each
status (the status tabs). Counted from ``appeals`` on each request, that is a scan of the
city's appeals: about a second at 2.3 million (Astana's year), where the list must answer in
150 ms (issue #12). ``appeal_tallies`` keeps the number of appeals per city, organisation,
category, district, channel and status, kept current in the same transaction as every insert,
update and delete of ``appeals`` by statement triggers (as ``appeal_cells`` is, migration
0003): the counts of a list filtered by any of those (and by a group of categories) are a sum
over a few thousand rows. Filters the tallies cannot answer (overdue, a period, text) are
counted from ``appeals`` (``geo.appeals.workspace``).

An appeal without an organisation or district is tallied under ``0`` (a key column cannot be
NULL). The update trigger moves a count only for rows whose key changed; every upsert takes
its rows in key order, so two transactions meet their locks in the same order. Rows at zero
are kept (a status tab that empties fills again).

Reads follow the appeals' own policy (the city; an executor its organisation's rows only);
only the trigger functions, run as their owner, write. A bulk load that drops the insert
trigger (``geo.imports.history.deferral``) recounts the city with ``refresh_appeal_tallies``.

Indexes for the list's orders and filters (each found slow at 2.3M appeals): a status with
the newest first (``ix_appeals_status_created``), the active ones by deadline (what "overdue"
and "due today" read: ``ix_appeals_active_deadline``, partial), the
whole city by deadline (``ix_appeals_deadline``), and a trigram index over the address as
written (``ix_appeals_search``) for the list's text search: pg_trgm's word-similarity
operators are LEAKPROOF (migration 0011), so row-level security lets them use the index,
and ``ILIKE`` checks the rows they find. (A registration number is looked up by equality on
the unique index.)

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

APP_GROUP = "qala_app"  # frozen here, as in 0011
PATH = "SET search_path = pg_catalog, public, pg_temp"
KEY = "city_id, organisation_id, category_code, district_id, channel, status"


def _row(a: str = "") -> str:
    """An appeals row (of alias ``a``) as its tally key."""
    p = f"{a}." if a else ""
    return (
        f"{p}city_id, coalesce({p}organisation_id, 0), {p}category_code, "
        f"coalesce({p}district_id, 0), {p}channel, {p}status"
    )


ROW = _row()
CHANGED = (
    "(o.organisation_id IS DISTINCT FROM n.organisation_id OR o.category_code <> "
    "n.category_code OR o.district_id IS DISTINCT FROM n.district_id OR o.channel <> n.channel "
    "OR o.status <> n.status OR o.city_id <> n.city_id)"
)


def _delta(rows: str) -> str:
    """Add the weights ``w`` of ``rows`` (key columns then ``w``) to the tallies."""
    return f"""
  INSERT INTO appeal_tallies AS t ({KEY}, n)
  SELECT {KEY}, sum(w) FROM ({rows}) d ({KEY}, w)
  GROUP BY {KEY} HAVING sum(w) <> 0 ORDER BY {KEY}
  ON CONFLICT ({KEY}) DO UPDATE SET n = t.n + EXCLUDED.n"""


FUNCTIONS = f"""
CREATE TABLE appeal_tallies (
  city_id smallint NOT NULL REFERENCES cities (id),
  organisation_id bigint NOT NULL,
  category_code varchar(32) NOT NULL,
  district_id bigint NOT NULL,
  channel varchar(12) NOT NULL,
  status varchar(12) NOT NULL,
  n bigint NOT NULL,
  CONSTRAINT pk_appeal_tallies PRIMARY KEY ({KEY})
);

CREATE FUNCTION appeal_tallies_on_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
BEGIN
  {_delta(f"SELECT {ROW}, 1 FROM new_rows")};
  RETURN NULL;
END
$f$;

CREATE FUNCTION appeal_tallies_on_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
BEGIN
  {
    _delta(
        f"SELECT {_row('n')}, 1 "
        f"FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.city_id = n.city_id "
        f"WHERE {CHANGED} UNION ALL "
        f"SELECT {_row('o')}, -1 "
        f"FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.city_id = n.city_id "
        f"WHERE {CHANGED}"
    )
};
  RETURN NULL;
END
$f$;

CREATE FUNCTION appeal_tallies_on_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
BEGIN
  {_delta(f"SELECT {ROW}, -1 FROM old_rows")};
  RETURN NULL;
END
$f$;

CREATE FUNCTION appeal_tallies_on_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
BEGIN
  DELETE FROM appeal_tallies;
  RETURN NULL;
END
$f$;

CREATE FUNCTION refresh_appeal_tallies(city integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER {PATH} AS $f$
DECLARE
  total bigint;
BEGIN
  -- writers wait while the city is recounted, readers do not
  LOCK TABLE appeals IN SHARE MODE;
  DELETE FROM appeal_tallies WHERE city_id = city;
  {_delta(f"SELECT {ROW}, 1 FROM appeals WHERE city_id = city")};
  SELECT coalesce(sum(n), 0) INTO total FROM appeal_tallies WHERE city_id = city;
  RETURN total;
END
$f$;
REVOKE ALL ON FUNCTION refresh_appeal_tallies(integer) FROM PUBLIC;

CREATE TRIGGER appeal_tallies_insert AFTER INSERT ON appeals
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION appeal_tallies_on_insert();
CREATE TRIGGER appeal_tallies_update AFTER UPDATE ON appeals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION appeal_tallies_on_update();
CREATE TRIGGER appeal_tallies_delete AFTER DELETE ON appeals
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION appeal_tallies_on_delete();
CREATE TRIGGER appeal_tallies_truncate AFTER TRUNCATE ON appeals
  FOR EACH STATEMENT EXECUTE FUNCTION appeal_tallies_on_truncate();

ALTER TABLE appeal_tallies ENABLE ROW LEVEL SECURITY;
CREATE POLICY appeal_tallies_read ON appeal_tallies FOR SELECT USING (
  city_id = (SELECT qala_scope_city()) AND
  ((SELECT qala_scope_role()) <> 'executor' OR organisation_id = (SELECT qala_scope_org())));
REVOKE ALL ON appeal_tallies FROM PUBLIC;
GRANT SELECT ON appeal_tallies TO {APP_GROUP};
"""


ACTIVE_SQL = "status IN ('registered', 'assigned', 'in_progress', 'reopened')"
INDEXES = (
    ("ix_appeals_status_created", "(city_id, status, created_at, id)"),
    # the active states of geo.appeals.states.ACTIVE, frozen here; each includes what the
    # list's filters, its order, its counts and row security read, so that lateness is
    # counted from the index alone (only the active appeals: a small index)
    (
        "ix_appeals_active_deadline",
        f"(city_id, deadline_at, id) INCLUDE (status, organisation_id, category_code, "
        f"district_id, created_at) WHERE {ACTIVE_SQL}",
    ),
    # the same for an executor's organisation and for a district (lateness per body, per
    # district: a range of the index, not a filter over every late appeal of the city)
    (
        "ix_appeals_active_org_deadline",
        f"(city_id, organisation_id, deadline_at) INCLUDE (id, status, category_code, "
        f"district_id, created_at) WHERE {ACTIVE_SQL}",
    ),
    (
        "ix_appeals_active_district_deadline",
        f"(city_id, district_id, deadline_at) INCLUDE (id, status, organisation_id, "
        f"category_code, created_at) WHERE {ACTIVE_SQL}",
    ),
    ("ix_appeals_deadline", "(city_id, deadline_at, id)"),
    ("ix_appeals_search", "USING gin (address_text gin_trgm_ops)"),
)


def upgrade() -> None:
    op.execute(FUNCTIONS)
    for name, definition in INDEXES:
        op.execute(f"CREATE INDEX {name} ON appeals {definition}")
    # every city's appeals counted once (the table is new: nothing to subtract)
    op.execute(
        f"INSERT INTO appeal_tallies ({KEY}, n) SELECT {ROW}, count(*) FROM appeals "
        f"GROUP BY {KEY} ORDER BY {KEY}"
    )


def downgrade() -> None:
    for name, _ in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS appeal_tallies_{event} ON appeals")
        op.execute(f"DROP FUNCTION IF EXISTS appeal_tallies_on_{event}()")
    op.execute("DROP FUNCTION IF EXISTS refresh_appeal_tallies(integer)")
    op.execute("DROP TABLE IF EXISTS appeal_tallies")
