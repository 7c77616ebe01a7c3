"""Reading appeals: one appeal, its event log, its media links, and lists for staff.

Readers see the view ``appeal_cards`` (migration 0005). The public sees no personal data at
all; staff see the applicant's contacts where their role may.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor, check_can_see
from geo.appeals.states import STATES, overdue_sql
from geo.infra.errors import Forbidden, InvalidInput, NotFound

# An appeal as readers see it: the view appeal_cards (migration 0005); callers add
# "AND a.<column> ..." conditions and ORDER BY.
APPEAL_SQL = "SELECT a.* FROM appeal_cards a WHERE a.city_id = :c"


def get_appeal(
    conn: Connection,
    city_id: int,
    reg_number: str | None = None,
    appeal_id: int | None = None,
    actor: Actor | None = None,
) -> dict:
    """One appeal by number or id. With a staff ``actor``: checks the organisation and adds
    contacts where the role may see them. Without one: no personal data at all."""
    where, key = ("a.reg_number = :k", reg_number) if reg_number else ("a.id = :k", appeal_id)
    row = conn.execute(text(APPEAL_SQL + f" AND {where}"), {"c": city_id, "k": key}).mappings()
    found = row.first()
    if found is None:
        raise NotFound(
            f"no appeal with registration number {reg_number!r}"
            if reg_number
            else f"no appeal with id {appeal_id}"
        )
    appeal = dict(found)
    if actor is not None:
        for_staff(conn, city_id, appeal, actor)
    return appeal


def for_staff(conn: Connection, city_id: int, appeal: dict, actor: Actor) -> dict:
    """An appeal as a staff ``actor`` may see it: checks the organisation and adds the
    applicant's contacts where the role may see them (in place; returned too)."""
    check_can_see(actor, appeal)
    if actor.sees_contacts:
        contact = (
            conn.execute(
                text(
                    "SELECT name, phone, email FROM appeal_contacts "
                    "WHERE city_id = :c AND appeal_id = :a"
                ),
                {"c": city_id, "a": appeal["id"]},
            )
            .mappings()
            .first()
        )
        appeal["applicant"] = dict(contact) if contact else None
    return appeal


def history(conn: Connection, city_id: int, appeal_id: int, staff: bool = False) -> list[dict]:
    """The event log of an appeal, oldest first; the public sees roles, not names."""
    rows = conn.execute(
        text("""
        SELECT e.at, e.from_status, e.to_status, e.actor, e.actor_role, e.comment,
               o.name_ru AS organisation_ru
        FROM appeal_events e
        LEFT JOIN organisations o ON o.city_id = e.city_id AND o.id = e.organisation_id
        WHERE e.city_id = :c AND e.appeal_id = :a ORDER BY e.at, e.id"""),
        {"c": city_id, "a": appeal_id},
    ).mappings()
    out = []
    for r in rows:
        item = dict(r)
        if not staff:
            item.pop("actor")
            item.pop("comment")
        out.append(item)
    return out


def media(conn: Connection, city_id: int, appeal_id: int) -> list[str]:
    """The photos of an appeal the public may see, first added first: the page copies of its
    approved photos (paths of this service), then the links kept before photos were stored."""
    return list(
        conn.execute(
            text("""
            SELECT '/api/v1/appeals/' || a.reg_number || '/photos/' || p.id || '/page.jpg'
            FROM appeal_photos p JOIN appeals a ON a.city_id = p.city_id AND a.id = p.appeal_id
            WHERE p.city_id = :c AND p.appeal_id = :a AND p.approved
            ORDER BY p.id"""),
            {"c": city_id, "a": appeal_id},
        ).scalars()
    ) + list(
        conn.execute(
            text("SELECT url FROM appeal_media WHERE city_id = :c AND appeal_id = :a ORDER BY id"),
            {"c": city_id, "a": appeal_id},
        ).scalars()
    )


@dataclass(frozen=True)
class AppealFilter:
    """Which appeals a staff list shows, newest first.

    Parameters
    ----------
    status : one state (:data:`geo.appeals.states.STATES`), or any.
    overdue : only overdue appeals (``True``), only the others (``False``), or all.
    organisation_id : only this organisation's.
    category : only this category's code.
    limit, offset : the page of the list.
    """

    status: str | None = None
    overdue: bool | None = None
    organisation_id: int | None = None
    category: str | None = None
    limit: int = 100
    offset: int = 0


def list_appeals(
    conn: Connection, city_id: int, actor: Actor, which: AppealFilter | None = None
) -> list[dict]:
    """Appeals a staff actor may see (an executor only its organisation's), filtered.

    Raises
    ------
    Forbidden
        A role that may not list appeals.
    InvalidInput
        An unknown status.
    """
    which = which or AppealFilter()
    status, overdue = which.status, which.overdue
    organisation_id, category = which.organisation_id, which.category
    where = []
    params: dict = {"c": city_id, "lim": which.limit, "off": which.offset}
    if actor.role == "executor":
        where.append("a.organisation_id = :own")
        params["own"] = actor.organisation_id
    elif not actor.sees_everything:
        raise Forbidden(f"role {actor.role!r} cannot list appeals")
    if status:
        if status not in STATES:
            raise InvalidInput(f"unknown status {status!r}")
        where.append("a.status = :st")
        params["st"] = status
    if overdue is not None:
        cond = overdue_sql("a.status", "a.deadline_at")
        where.append(cond if overdue else f"NOT ({cond})")
    if organisation_id is not None:
        where.append("a.organisation_id = :org")
        params["org"] = organisation_id
    if category:
        where.append("a.category_code = :cat")
        params["cat"] = category
    sql = APPEAL_SQL + "".join(f" AND {w}" for w in where)
    sql += " ORDER BY a.created_at DESC, a.id DESC LIMIT :lim OFFSET :off"
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]
