"""Registering appeals: numbers, deadlines, routing, repeats, and the lifecycle."""

from __future__ import annotations

from sqlalchemy import Connection, text


def sequence_name(city_id: int, year: int) -> str:
    return f"appeal_seq_{int(city_id)}_{int(year)}"


def ensure_sequence(conn: Connection, city_id: int, year: int) -> str:
    """The registration-number sequence of a city and year (created on first use)."""
    name = sequence_name(city_id, year)
    conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name}"))
    return name
