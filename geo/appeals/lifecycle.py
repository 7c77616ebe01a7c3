"""The life of an appeal after registration: roles, transitions, the event log.

The states, their groups and which state may follow which are :mod:`geo.appeals.states`
(CHECK-constrained in the database); which role may set which is decided here. Every change
is written to the append-only event log (triggers refuse UPDATE, DELETE and TRUNCATE).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor, check_can_see
from geo.appeals.reads import get_appeal
from geo.appeals.states import STATES, TRANSITIONS
from geo.infra.errors import Conflict, Forbidden, InvalidInput, NotFound

# which role may set which state
ROLE_TARGETS: dict[str, set[str]] = {
    "operator": {"resolved", "duplicate"},
    "inspector": set(STATES) - {"registered"},
    "executor": {"in_progress", "resolved", "deferred"},
    "controller": {"closed", "reopened", "assigned"},
    "planner": {"deferred"},
    "admin": set(STATES) - {"registered"},
}
# who calls applicants back to tell them what was done
CALLS_BACK = {"operator", "inspector", "controller", "admin", "executor"}


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


@dataclass(frozen=True)
class TransitionRequest:
    """A change of one appeal's state, asked for by a staff user.

    Parameters
    ----------
    reg_number : the appeal's registration number.
    to : the state it should take (:data:`geo.appeals.states.STATES`).
    comment : why, for the event log.
    organisation_id : route it to this organisation too (inspectors, controllers, admins).
    deferred_to_year : with ``to="deferred"``: the year the budget allows.
    """

    reg_number: str
    to: str
    comment: str | None = None
    organisation_id: int | None = None
    deferred_to_year: int | None = None


def transition(conn: Connection, city_id: int, change: TransitionRequest, actor: Actor) -> dict:
    """Move an appeal to ``change.to`` if the state machine and the actor's role allow it,
    and log the change.

    Returns
    -------
    dict
        The appeal as ``actor`` sees it afterwards.

    Raises
    ------
    InvalidInput
        An unknown state, a deferral without a year, an organisation of another city.
    NotFound
        No such appeal in the city.
    Forbidden
        The actor may not see the appeal, set this state, or route it.
    Conflict
        The state machine does not lead from the appeal's state to ``change.to``.
    """
    to_status = change.to
    if to_status not in STATES:
        raise InvalidInput(f"unknown status {to_status!r}: one of {', '.join(STATES)}")
    row = (
        conn.execute(
            text(
                "SELECT id, status, organisation_id FROM appeals WHERE city_id = :c "
                "AND reg_number = :r FOR UPDATE"
            ),
            {"c": city_id, "r": change.reg_number},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no appeal with registration number {change.reg_number!r}")
    check_can_see(actor, dict(row))
    if to_status not in ROLE_TARGETS.get(actor.role, set()):
        raise Forbidden(f"a user with role {actor.role!r} cannot set status {to_status!r}")
    if to_status not in TRANSITIONS[row["status"]]:
        allowed = ", ".join(sorted(TRANSITIONS[row["status"]]))
        raise Conflict(
            f"an appeal in status {row['status']!r} cannot become {to_status!r}; allowed: {allowed}"
        )
    if to_status == "deferred" and not change.deferred_to_year:
        raise InvalidInput("deferred needs deferred_to_year (the year the budget allows)")
    org = row["organisation_id"]
    if change.organisation_id is not None and change.organisation_id != org:
        if actor.role not in {"inspector", "controller", "admin"}:
            raise Forbidden("only inspectors and controllers route appeals to an organisation")
        exists = conn.execute(
            text("SELECT 1 FROM organisations WHERE city_id = :c AND id = :o"),
            {"c": city_id, "o": change.organisation_id},
        ).scalar()
        if not exists:
            raise InvalidInput(f"no organisation with id {change.organisation_id} in this city")
        org = change.organisation_id
    conn.execute(
        text("""
        UPDATE appeals SET status = :s, organisation_id = :o,
          deferred_to_year = CASE WHEN :s = 'deferred' THEN :y ELSE deferred_to_year END,
          resolved_at = CASE WHEN :s = 'resolved' THEN now()
                             WHEN :s = 'reopened' THEN NULL ELSE resolved_at END,
          closed_at = CASE WHEN :s = 'closed' THEN now()
                           WHEN :s = 'reopened' THEN NULL ELSE closed_at END
        WHERE city_id = :c AND id = :i"""),
        {"s": to_status, "o": org, "y": change.deferred_to_year, "c": city_id, "i": row["id"]},
    )
    log_event(conn, city_id, row["id"], actor, row["status"], to_status, org, change.comment)
    return get_appeal(conn, city_id, appeal_id=row["id"], actor=actor)


def call_back(conn: Connection, city_id: int, reg_number: str, actor: Actor) -> dict:
    """Mark the call back to the applicant as done, and log it (the state does not change).

    Returns
    -------
    dict
        The appeal as ``actor`` sees it afterwards.

    Raises
    ------
    NotFound
        No such appeal in the city.
    Forbidden
        The actor may not see the appeal, or its role does not call applicants back.
    """
    appeal = get_appeal(conn, city_id, reg_number=reg_number, actor=actor)
    if actor.role not in CALLS_BACK:
        raise Forbidden(f"role {actor.role!r} does not call applicants back")
    conn.execute(
        text("UPDATE appeals SET callback_done = true WHERE city_id = :c AND id = :i"),
        {"c": city_id, "i": appeal["id"]},
    )
    log_event(
        conn,
        city_id,
        appeal["id"],
        actor,
        appeal["status"],
        appeal["status"],
        appeal["organisation_id"],
        "callback done",
    )
    return get_appeal(conn, city_id, appeal_id=appeal["id"], actor=actor)
