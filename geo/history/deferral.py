"""Deferring the upkeep of ``appeals`` during a bulk load into a locked table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass
class Deferred:
    """Plain indexes and foreign keys of ``appeals`` dropped for a bulk load."""

    indexes: list[str]
    foreign_keys: list[tuple[str, str]]


def defer_appeal_indexes(conn: Connection) -> Deferred:
    """Drop the non-unique indexes and the foreign keys of ``appeals`` (in the caller's
    transaction; ``restore_appeal_indexes`` puts them back and re-validates every row)."""
    idx = conn.execute(
        text("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'appeals'::regclass AND NOT i.indisunique AND NOT i.indisprimary
        ORDER BY c.relname""")
    ).all()
    fks = conn.execute(
        text("""
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'appeals'::regclass AND contype = 'f' ORDER BY conname""")
    ).all()
    for name, _ in fks:
        conn.execute(text(f'ALTER TABLE appeals DROP CONSTRAINT "{name}"'))
    for name, _ in idx:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return Deferred(indexes=[d for _, d in idx], foreign_keys=[(n, d) for n, d in fks])


def restore_appeal_indexes(conn: Connection, deferred: Deferred) -> None:
    """Rebuild what ``defer_appeal_indexes`` dropped (the foreign keys are re-checked)."""
    for ddl in deferred.indexes:
        conn.execute(text(ddl))
    for name, ddl in deferred.foreign_keys:
        conn.execute(text(f'ALTER TABLE appeals ADD CONSTRAINT "{name}" {ddl}'))
