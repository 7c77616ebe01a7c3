"""Notes on an appeal, kept apart by who reads them: ``internal`` (staff only) and ``public``
(the resident sees them on the tracker, with the author's role, never the name).

Row-level security keeps them apart in the database too (migration 0014): the public's
queries see public notes only, whatever they ask. Notes are a log: never changed or deleted.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.infra.errors import Forbidden, InvalidInput
from geo.models import NOTE_KINDS

NOTE_MAX = 4000


def add_note(
    conn: Connection, city_id: int, appeal_id: int, actor: Actor, kind: str, body: str
) -> dict:
    """Write a note of ``kind`` by ``actor`` on an appeal it may see.

    Returns
    -------
    dict
        The note: ``id``, ``at``, ``author``, ``author_role``, ``kind``, ``body``.

    Raises
    ------
    InvalidInput
        An unknown kind, an empty or too long text.
    Forbidden
        The public or a channel.
    """
    if actor.role in {"public", "channel"}:
        raise Forbidden("only staff write notes on appeals")
    if kind not in NOTE_KINDS:
        raise InvalidInput(f"unknown note kind {kind!r}: one of {', '.join(NOTE_KINDS)}")
    body = (body or "").strip()
    if not body:
        raise InvalidInput("a note needs some text")
    if len(body) > NOTE_MAX:
        raise InvalidInput(f"a note has at most {NOTE_MAX} characters")
    row = conn.execute(
        text("""
        INSERT INTO appeal_notes (city_id, appeal_id, author, author_role, kind, body)
        VALUES (:c, :a, :who, :role, :k, :b)
        RETURNING id, at, author, author_role, kind, body"""),
        {"c": city_id, "a": appeal_id, "who": actor.name, "role": actor.role, "k": kind, "b": body},
    )
    return dict(row.mappings().one())


def notes(conn: Connection, city_id: int, appeal_id: int, staff: bool) -> list[dict]:
    """An appeal's notes, oldest first: every kind for staff; for anyone else the public
    ones, without the author's name."""
    sql = (
        "SELECT id, at, author, author_role, kind, body FROM appeal_notes "
        "WHERE city_id = :c AND appeal_id = :a" + ("" if staff else " AND kind = 'public'")
    )
    rows = conn.execute(text(sql + " ORDER BY at, id"), {"c": city_id, "a": appeal_id}).mappings()
    out = []
    for r in rows:
        item = dict(r)
        if not staff:
            item.pop("author")
        out.append(item)
    return out
