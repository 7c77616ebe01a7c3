"""docs/distribution.md tells the truth about the schema (checked against the migrations).

Its table names every table once with its distribution: a reference table, a local table,
or distributed by ``city_id``. Citus requires of a distributed table that its primary key
and every unique constraint include the distribution column, and that a foreign key between
two distributed tables includes it on both sides; a reference or local table may not point
at a distributed one.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from geo.infra.settings import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "distribution.md"


def documented() -> dict[str, str]:
    """table -> 'distributed' | 'reference' | 'local', from the doc's table."""
    kinds: dict[str, str] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not line.startswith("|") or cells[0] in ("table", "---", ""):
            continue
        how = cells[2]
        kind = (
            "distributed"
            if how.startswith("distributed by `city_id`")
            else "reference"
            if how.startswith("reference table")
            else "local"
            if how.startswith("local table")
            else None
        )
        if kind is None:
            continue
        for name in cells[0].split(","):
            name = name.strip().strip("`")
            assert name not in kinds, f"{name} is listed twice in docs/distribution.md"
            kinds[name] = kind
    return kinds


@pytest.fixture(scope="module")
def schema(engine):
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace "
                    "= 'public'::regnamespace AND NOT relispartition AND relname NOT IN "
                    "('spatial_ref_sys', 'alembic_version')"
                )
            ).scalars()
        )
        uniques = conn.execute(
            text(
                "SELECT c.relname, i.indexrelid::regclass::text, "
                "array(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid "
                "      AND a.attnum = ANY(i.indkey)) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "WHERE i.indisunique AND c.relnamespace = 'public'::regnamespace"
            )
        ).all()
        fks = conn.execute(
            text(
                "SELECT c.conname, s.relname, t.relname, "
                "array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
                "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n "
                "      ORDER BY k.o), "
                "array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o) "
                "      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n "
                "      ORDER BY k.o) "
                "FROM pg_constraint c JOIN pg_class s ON s.oid = c.conrelid "
                "JOIN pg_class t ON t.oid = c.confrelid "
                "WHERE c.contype = 'f' AND s.relnamespace = 'public'::regnamespace"
            )
        ).all()
        city_tables = set(
            conn.execute(
                text(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = "
                    "'public' AND column_name = 'city_id'"
                )
            ).scalars()
        )
    return tables, uniques, fks, city_tables


def test_every_table_is_listed_once_and_nothing_else(schema):
    tables = schema[0]
    kinds = documented()
    assert set(kinds) == tables, (
        f"not in docs/distribution.md: {sorted(tables - set(kinds))}; "
        f"listed but no such table: {sorted(set(kinds) - tables)}"
    )


def test_distributed_tables_have_city_id_in_every_unique_constraint(schema):
    _, uniques, _, city_tables = schema
    kinds = documented()
    distributed = {t for t, k in kinds.items() if k == "distributed"}
    assert distributed <= city_tables, sorted(distributed - city_tables)
    wrong = [
        (table, index, columns)
        for table, index, columns in uniques
        if table in distributed and "city_id" not in columns
    ]
    assert not wrong, f"unique without city_id on a distributed table: {wrong}"
    # and the check has teeth: users and api_keys have such constraints (reference tables)
    assert any(t == "users" and "city_id" not in c for t, _, c in uniques)
    assert kinds["users"] == kinds["api_keys"] == "reference"


def test_foreign_keys_keep_a_city_on_one_node(schema):
    _, _, fks, _ = schema
    kinds = documented()
    wrong = []
    for name, source, target, cols, refcols in fks:
        if kinds[target] == "distributed":
            if kinds[source] != "distributed":
                wrong.append((name, "a non-distributed table points at a distributed one"))
            elif not re.search("city_id", " ".join(cols)) or "city_id" not in refcols:
                wrong.append((name, "not through city_id"))
            elif cols.index("city_id") != refcols.index("city_id"):
                wrong.append((name, "city_id matched to another column"))
    assert not wrong, wrong
