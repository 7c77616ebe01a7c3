"""The life of an appeal after registration: roles, transitions, the event log.

The states, their groups and which state may follow which are :mod:`geo.appeals.states`
(CHECK-constrained in the database); which role may set which is decided here. Every change
is written to the append-only event log (a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor, check_can_see
from geo.appeals.reads import get_appeal
from geo.appeals.states import OPEN, STATES, TRANSITIONS
from geo.infra.errors import Conflict, Forbidden, InvalidInput, NotFound

ROLE_TARGETS: dict[str, set[str]] = {
    "operator": {"resolved", "duplicate"},
    "inspector": set(STATES) - {"registered"},
    "executor": {"in_progress", "resolved", "deferred"},
    "controller": {"closed", "reopened", "assigned"},
    "planner": {"deferred"},
    "admin": set(STATES) - {"registered"},
}
# api/routes/open311.py's name for states.OPEN, until that file asks geo.appeals.states itself
OPEN_STATES = OPEN


def log_event(
    conn: Connection,
    city_id: int,
    appeal_id: int,
    actor: Actor,
    from_status,
    to_status: str,
    organisation_id,
    comment: str | None,
) -> None:
    conn.execute(
        text("""
        INSERT INTO appeal_events (city_id, appeal_id, actor, actor_role, from_status, to_status,
                                   organisation_id, comment)
        VALUES (:c, :a, :actor, :role, :f, :t, :o, :cm)"""),
        {
            "c": city_id,
            "a": appeal_id,
            "actor": actor.name,
            "role": actor.role,
            "f": from_status,
            "t": to_status,
            "o": organisation_id,
            "cm": comment,
        },
    )


def transition(
    conn: Connection,
    city_id: int,
    reg_number: str,
    to_status: str,
    actor: Actor,
    comment: str | None = None,
    organisation_id: int | None = None,
    deferred_to_year: int | None = None,
) -> dict:
    """Move an appeal to ``to_status`` if the state machine and the actor's role allow it."""
    if to_status not in STATES:
        raise InvalidInput(f"unknown status {to_status!r}: one of {', '.join(STATES)}")
    row = (
        conn.execute(
            text(
                "SELECT id, status, organisation_id FROM appeals WHERE city_id = :c "
                "AND reg_number = :r FOR UPDATE"
            ),
            {"c": city_id, "r": reg_number},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no appeal with registration number {reg_number!r}")
    check_can_see(actor, dict(row))
    if to_status not in ROLE_TARGETS.get(actor.role, set()):
        raise Forbidden(f"a user with role {actor.role!r} cannot set status {to_status!r}")
    if to_status not in TRANSITIONS[row["status"]]:
        allowed = ", ".join(sorted(TRANSITIONS[row["status"]]))
        raise Conflict(
            f"an appeal in status {row['status']!r} cannot become {to_status!r}; allowed: {allowed}"
        )
    if to_status == "deferred" and not deferred_to_year:
        raise InvalidInput("deferred needs deferred_to_year (the year the budget allows)")
    org = row["organisation_id"]
    if organisation_id is not None and organisation_id != org:
        if actor.role not in {"inspector", "controller", "admin"}:
            raise Forbidden("only inspectors and controllers route appeals to an organisation")
        exists = conn.execute(
            text("SELECT 1 FROM organisations WHERE city_id = :c AND id = :o"),
            {"c": city_id, "o": organisation_id},
        ).scalar()
        if not exists:
            raise InvalidInput(f"no organisation with id {organisation_id} in this city")
        org = organisation_id
    conn.execute(
        text("""
        UPDATE appeals SET status = :s, organisation_id = :o,
          deferred_to_year = CASE WHEN :s = 'deferred' THEN :y ELSE deferred_to_year END,
          resolved_at = CASE WHEN :s = 'resolved' THEN now()
                             WHEN :s = 'reopened' THEN NULL ELSE resolved_at END,
          closed_at = CASE WHEN :s = 'closed' THEN now()
                           WHEN :s = 'reopened' THEN NULL ELSE closed_at END
        WHERE city_id = :c AND id = :i"""),
        {"s": to_status, "o": org, "y": deferred_to_year, "c": city_id, "i": row["id"]},
    )
    log_event(conn, city_id, row["id"], actor, row["status"], to_status, org, comment)
    return get_appeal(conn, city_id, appeal_id=row["id"], actor=actor)
