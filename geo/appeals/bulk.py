"""After appeals are written in bulk (the demo generator, a history import): repeats linked,
counters per object recounted, and the registration-number sequences moved past the numbers
already taken. One statement each, over a whole city.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.intake import ensure_sequence


def link_repeats(conn: Connection, city_id: int) -> int:
    """Mark repeats in bulk: same category on the same object within the category's window."""
    res = conn.execute(
        text("""
        WITH seq AS (
          SELECT a.city_id, a.id, a.created_at, c.repeat_window_days,
                 lag(a.id) OVER w AS prev_id, lag(a.created_at) OVER w AS prev_at
          FROM appeals a JOIN categories c ON c.code = a.category_code
          WHERE a.city_id = :c AND a.object_kind <> 'none' AND a.repeat_of_id IS NULL
          WINDOW w AS (PARTITION BY a.object_kind, a.object_id, a.category_code
                       ORDER BY a.created_at, a.id))
        UPDATE appeals a SET repeat_of_id = s.prev_id
        FROM seq s
        WHERE a.city_id = s.city_id AND a.id = s.id AND s.prev_id IS NOT NULL
          AND s.created_at - s.prev_at <= make_interval(days => s.repeat_window_days)"""),
        {"c": city_id},
    )
    return res.rowcount


def refresh_object_repeats(conn: Connection, city_id: int) -> None:
    """Recount appeals and repeats per object (after a bulk load)."""
    conn.execute(text("DELETE FROM object_repeats WHERE city_id = :c"), {"c": city_id})
    conn.execute(
        text("""
        INSERT INTO object_repeats (city_id, object_kind, object_id, appeals, repeats)
        SELECT city_id, object_kind, object_id, count(*), count(repeat_of_id)
        FROM appeals WHERE city_id = :c AND object_kind <> 'none' AND object_id IS NOT NULL
        GROUP BY city_id, object_kind, object_id"""),
        {"c": city_id},
    )


def numbers_taken(conn: Connection, city_id: int) -> dict[int, int]:
    """The highest registration number used per year (numbers like ``PET-2026-000123``)."""
    return dict(
        conn.execute(
            text("""
        SELECT split_part(reg_number, '-', 2)::int AS y,
               max(split_part(reg_number, '-', 3)::bigint) AS n
        FROM appeals WHERE city_id = :c AND reg_number ~ '^[A-Z]+-[0-9]{4}-[0-9]+$'
        GROUP BY 1"""),
            {"c": city_id},
        ).all()
    )


def advance_sequences(conn: Connection, city_id: int) -> None:
    """Move each year's registration-number sequence past the numbers already taken."""
    for year, top in numbers_taken(conn, city_id).items():
        name = ensure_sequence(conn, city_id, year)
        conn.execute(
            text("SELECT setval(CAST(:s AS regclass), greatest(:n, 1))"), {"s": name, "n": top}
        )
