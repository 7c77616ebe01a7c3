"""The life of an appeal after registration: roles, transitions, the event log.

The states, their groups and which state may follow which are :mod:`geo.appeals.states`
(CHECK-constrained in the database); which role may set which is decided here. Every change
is written to the append-only event log (triggers refuse UPDATE, DELETE and TRUNCATE).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor, check_can_see
from geo.appeals.notes import add_note
from geo.appeals.reads import get_appeal, version
from geo.appeals.states import STATES, TRANSITIONS
from geo.infra.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion

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
    version : the appeal's version the asker saw (:func:`geo.appeals.reads.version`);
        when someone changed it since, nothing changes (:class:`StaleVersion`). ``None``:
        not checked.
    duplicate_of : with ``to="duplicate"``: the number of the appeal it repeats.
    public_note : a note the resident sees, written with the change
        (:mod:`geo.appeals.notes`); ``comment`` stays internal.
    """

    reg_number: str
    to: str
    comment: str | None = None
    organisation_id: int | None = None
    deferred_to_year: int | None = None
    version: int | None = None
    duplicate_of: str | None = None
    public_note: str | None = None


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
    # the row is locked: a change committed meanwhile is in the count now
    if change.version is not None and change.version != version(conn, city_id, row["id"]):
        raise StaleVersion(
            f"the appeal {change.reg_number} was changed by someone else meanwhile (it is "
            f"now {row['status']!r}); nothing was changed: look at it again and decide",
            current=get_appeal(conn, city_id, appeal_id=row["id"], actor=actor),
        )
    if _is_acceptance(actor, row, change):
        log_event(
            conn,
            city_id,
            row["id"],
            actor,
            "assigned",
            "assigned",
            row["organisation_id"],
            change.comment or ACCEPTED,
        )
        _public_note(conn, city_id, row["id"], actor, change.public_note)
        return get_appeal(conn, city_id, appeal_id=row["id"], actor=actor)
    if to_status not in ROLE_TARGETS.get(actor.role, set()):
        raise Forbidden(f"a user with role {actor.role!r} cannot set status {to_status!r}")
    if to_status not in TRANSITIONS[row["status"]]:
        allowed = ", ".join(sorted(TRANSITIONS[row["status"]]))
        raise Conflict(
            f"an appeal in status {row['status']!r} cannot become {to_status!r}; allowed: {allowed}"
        )
    if to_status == "deferred" and not change.deferred_to_year:
        raise InvalidInput("deferred needs deferred_to_year (the year the budget allows)")
    original = _original(conn, city_id, row["id"], change) if to_status == "duplicate" else None
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
          repeat_of_id = coalesce(:orig, repeat_of_id),
          resolved_at = CASE WHEN :s = 'resolved' THEN now()
                             WHEN :s = 'reopened' THEN NULL ELSE resolved_at END,
          closed_at = CASE WHEN :s = 'closed' THEN now()
                           WHEN :s = 'reopened' THEN NULL ELSE closed_at END
        WHERE city_id = :c AND id = :i"""),
        {
            "s": to_status,
            "o": org,
            "y": change.deferred_to_year,
            "orig": original,
            "c": city_id,
            "i": row["id"],
        },
    )
    comment = change.comment
    if change.duplicate_of:
        comment = f"duplicate of {change.duplicate_of.strip().upper()}" + (
            f": {comment}" if comment else ""
        )
    log_event(conn, city_id, row["id"], actor, row["status"], to_status, org, comment)
    _public_note(conn, city_id, row["id"], actor, change.public_note)
    return get_appeal(conn, city_id, appeal_id=row["id"], actor=actor)


#: the event comment of an executor's acceptance when it gives none
ACCEPTED = "accepted"


def _is_acceptance(actor: Actor, row, change: TransitionRequest) -> bool:
    """An executor "sets" ``assigned`` on its own assigned appeal: it accepts the work (an
    event, the state unchanged); any other ``assigned`` of an executor is refused later."""
    return (
        actor.role == "executor"
        and change.to == "assigned"
        and row["status"] == "assigned"
        and change.organisation_id in (None, row["organisation_id"])
    )


def _original(
    conn: Connection, city_id: int, appeal_id: int, change: TransitionRequest
) -> int | None:
    """The id of the appeal ``change`` says this one duplicates (same city, not itself);
    ``None`` when it names none (the staff page always asks for it)."""
    number = (change.duplicate_of or "").strip().upper()
    if not number:
        return None
    found = conn.execute(
        text("SELECT id FROM appeals WHERE city_id = :c AND reg_number = :r"),
        {"c": city_id, "r": number},
    ).scalar()
    if found is None:
        raise InvalidInput(f"duplicate_of: no appeal with registration number {number!r}")
    if found == appeal_id:
        raise InvalidInput("duplicate_of: an appeal cannot be a duplicate of itself")
    return found


def _public_note(conn: Connection, city_id: int, appeal_id: int, actor: Actor, body) -> None:
    if body and body.strip():
        add_note(conn, city_id, appeal_id, actor, "public", body)


def call_back(
    conn: Connection, city_id: int, reg_number: str, actor: Actor, result: str | None = None
) -> dict:
    """Mark the call back to the applicant as done, and log it with its ``result`` (what the
    applicant said; the state does not change).

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
        f"callback done: {result.strip()}" if result and result.strip() else "callback done",
    )
    return get_appeal(conn, city_id, appeal_id=appeal["id"], actor=actor)


@dataclass(frozen=True)
class Action:
    """Something a staff member can do to an appeal, as a page offers it.

    Parameters
    ----------
    name : ``assign``, ``accept``, ``start``, ``complete``, ``close``, ``send_back``,
        ``reopen``, ``defer``, ``duplicate``, ``reject``.
    to : the state it sets (:func:`transition`'s ``to``).
    needs : what the form must ask for: ``organisation``, ``note``, ``year``, ``original``.
    """

    name: str
    to: str
    needs: tuple[str, ...] = ()


ACTIONS: tuple[Action, ...] = (
    Action("assign", "assigned", ("organisation",)),
    Action("accept", "assigned"),
    Action("start", "in_progress"),
    Action("complete", "resolved", ("note",)),
    Action("close", "closed"),
    Action("send_back", "reopened", ("note",)),
    Action("reopen", "reopened", ("note",)),
    Action("defer", "deferred", ("year",)),
    Action("duplicate", "duplicate", ("original",)),
    Action("reject", "rejected", ("note",)),
)


def offered_actions(appeal: dict, actor: Actor, events: list[dict]) -> list[dict]:
    """The actions the state machine and ``actor``'s role allow on ``appeal`` now, in the
    order a page shows them; ``events`` is its log, oldest first (an executor accepts an
    assignment once).

    >>> a = {"status": "assigned", "organisation_id": 5}
    >>> [x["name"] for x in offered_actions(a, Actor("e", "executor", 5), [])]
    ['accept', 'start', 'complete', 'defer']
    >>> [x["name"] for x in offered_actions({"status": "resolved"}, Actor("c", "controller"), [])]
    ['close', 'send_back']
    """
    status, role = appeal["status"], actor.role
    allowed = TRANSITIONS[status] & ROLE_TARGETS.get(role, set())
    out = []
    for act in ACTIONS:
        if act.name == "accept":
            last = next((e for e in reversed(events) if e["to_status"] == "assigned"), None)
            ok = (
                role == "executor"
                and status == "assigned"
                and not (last and last.get("actor_role") == "executor")
            )
        elif act.name == "assign":
            ok = act.to in allowed and role in {"inspector", "controller", "admin"}
        elif act.name == "send_back":
            ok = act.to in allowed and status == "resolved"
        elif act.name == "reopen":
            ok = act.to in allowed and status != "resolved"
        else:
            ok = act.to in allowed
        if ok:
            out.append({"name": act.name, "to": act.to, "needs": list(act.needs)})
    return out
