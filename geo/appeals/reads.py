"""Reading appeals: one appeal, its event log, its media links, and lists for staff.

Readers see the view ``appeal_cards`` (migration 0005). The public sees no personal data at
all; staff see the applicant's contacts where their role may.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor, check_can_see
from geo.appeals.states import ACTIVE, STATES, overdue_sql, sql_list
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
    appeal["version"] = version(conn, city_id, appeal["id"])
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


def version(conn: Connection, city_id: int, appeal_id: int) -> int:
    """The appeal's version: how many changes its event log holds. Every change (a
    transition, a call-back) appends one event, so a client that read version ``n`` and
    sends it back with a change is told when someone else changed the appeal meanwhile
    (:func:`geo.appeals.lifecycle.transition`)."""
    return conn.execute(
        text("SELECT count(*) FROM appeal_events WHERE city_id = :c AND appeal_id = :a"),
        {"c": city_id, "a": appeal_id},
    ).scalar_one()


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
    """Which appeals a staff list shows, and in which order.

    Parameters
    ----------
    status : one state (:data:`geo.appeals.states.STATES`), or any.
    overdue : only overdue appeals (``True``), only the others (``False``), or all.
    organisation_id : only this organisation's.
    category : only this category's code.
    limit, offset : the page of the list.
    group : only the categories of this group (``housing``, ``roads`` …).
    due_today : only appeals still being worked on whose deadline falls today, in the
        city's time zone.
    district_id : only this district's.
    channel : only appeals that came by this channel.
    since, until : registered in ``[since, until)``.
    q : a registration number (whole, ``2026-000123`` or its number ``000123``) or words of
        the address as written (whole words or their beginnings: pg_trgm's word similarity
        finds them).
    sort : ``created`` (newest first, the default), ``deadline`` (soonest first) or
        ``-deadline`` (latest first).
    """

    status: str | None = None
    overdue: bool | None = None
    organisation_id: int | None = None
    category: str | None = None
    limit: int = 100
    offset: int = 0
    group: str | None = None
    due_today: bool = False
    district_id: int | None = None
    channel: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    q: str | None = None
    sort: str = "created"


#: the orders a list may take (:attr:`AppealFilter.sort`), each ending in a unique key
SORTS = {
    "created": "a.created_at DESC, a.id DESC",
    "deadline": "a.deadline_at ASC, a.id ASC",
    "-deadline": "a.deadline_at DESC, a.id DESC",
}

#: the start of today in the scope city's time zone: a scalar subquery (an InitPlan, run once),
#: so the deadline range is an index range
_TODAY = (
    "(SELECT date_trunc('day', now() AT TIME ZONE ci.timezone) AT TIME ZONE ci.timezone "
    "FROM cities ci WHERE ci.id = :c)"
)
DUE_TODAY_SQL = (
    f"(a.status IN {sql_list(ACTIVE)} AND a.deadline_at >= {_TODAY} "
    f"AND a.deadline_at < {_TODAY} + interval '1 day')"
)


#: a whole registration number (``AST-2026-000123``), its year and number (``2026-000123``)
#: or its number alone (``000123``, ``123``): see ``qala_next_reg_number`` (migration 0005)
WHOLE_NUMBER = re.compile(r"^[A-Za-z]{2,8}-\d{4}-\d+$")
YEAR_NUMBER = re.compile(r"^(\d{4})-(\d+)$")
NUMBER = re.compile(r"^\d{1,12}$")
#: the registration numbers a number (and year) may be in the scope's city: one per year
NUMBERS_SQL = (
    "a.reg_number = ANY(ARRAY(SELECT format('%s-%s-%s', ci.code, y, lpad(CAST(:q_n AS text), "
    "greatest(6, length(CAST(:q_n AS text))), '0')) FROM cities ci, generate_series({first}, "
    "{last}) y WHERE ci.id = :c))"
)


def word_search(which: AppealFilter) -> bool:
    """The filter searches words of the address (not a registration number)."""
    q = (which.q or "").strip()
    return bool(q) and not (WHOLE_NUMBER.match(q) or YEAR_NUMBER.match(q) or NUMBER.match(q))


def _search_sql(q: str) -> tuple[str, dict]:
    """The list's text search: a registration number by the unique index (whole, with its
    year, or its number in any year), else words of the address as written. Every form is
    an index lookup row security allows: equality is LEAKPROOF, and so is pg_trgm's word
    similarity (migration 0011), which finds the candidates by the trigram index (migration
    0023) before ``ILIKE`` keeps those that hold the words."""
    if WHOLE_NUMBER.match(q):
        return "a.reg_number = :q_reg", {"q_reg": q.upper()}
    if m := YEAR_NUMBER.match(q):
        year = int(m.group(1))
        return NUMBERS_SQL.format(first=year, last=year), {"q_n": int(m.group(2))}
    if NUMBER.match(q):
        # numbers are given from 2000 on; appeals of earlier years are imported ones
        return NUMBERS_SQL.format(
            first=2000, last="CAST(extract(year FROM now()) AS integer) + 1"
        ), {"q_n": int(q)}
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "(:q <% a.address_text AND a.address_text ILIKE :q_any)", {
        "q": q,
        "q_any": f"%{like}%",
    }


def column_filters(which: AppealFilter, prefix: str = "") -> tuple[list[str], dict]:
    """The conditions of ``which`` on an appeal's organisation, category (or its group),
    district and channel, over columns named ``prefix`` + name: what both the appeals and
    their tallies (migration 0023) can be filtered by."""
    where: list[str] = []
    params: dict = {}
    simple = {
        "organisation_id": which.organisation_id,
        "category_code": which.category,
        "district_id": which.district_id,
        "channel": which.channel,
    }
    for column, value in simple.items():
        if value is not None and value != "":
            where.append(f"{prefix}{column} = :{column}")
            params[column] = value
    if which.group:
        where.append(
            f"{prefix}category_code IN (SELECT code FROM categories WHERE group_code = :grp)"
        )
        params["grp"] = which.group
    return where, params


def filter_sql(
    actor: Actor,
    which: AppealFilter,
    skip_status: bool = False,
    table: str = "appeal_cards",
) -> tuple[str, dict]:
    """``FROM appeal_cards a ... WHERE ...`` (without ``SELECT``) of the appeals ``actor``
    may see that ``which`` selects, and its parameters (the city's ``:c`` is the caller's).
    ``skip_status``: every status (for the counts per status). ``table``: ``appeals`` to
    select from the table itself (every filter is on its columns: counts, keys).

    Raises
    ------
    Forbidden
        A role that may not list appeals.
    InvalidInput
        An unknown status or order, or a period that ends before it starts.
    """
    where = []
    params: dict = {}
    if actor.role == "executor":
        where.append("a.organisation_id = :own")
        params["own"] = actor.organisation_id
    elif not actor.sees_everything:
        raise Forbidden(f"role {actor.role!r} cannot list appeals")
    if which.status and not skip_status:
        if which.status not in STATES:
            raise InvalidInput(f"unknown status {which.status!r}: one of {', '.join(STATES)}")
        where.append("a.status = :st")
        params["st"] = which.status
    if which.sort not in SORTS:
        raise InvalidInput(f"unknown sort {which.sort!r}: one of {', '.join(SORTS)}")
    if which.overdue is not None:
        cond = overdue_sql("a.status", "a.deadline_at")
        where.append(cond if which.overdue else f"NOT ({cond})")
    if which.due_today:
        where.append(DUE_TODAY_SQL)
    conds, cparams = column_filters(which, "a.")
    where += conds
    params.update(cparams)
    if which.since and which.until and which.until <= which.since:
        raise InvalidInput("the period ends before it starts: 'until' must be after 'since'")
    if which.since:
        where.append("a.created_at >= :since")
        params["since"] = which.since
    if which.until:
        where.append("a.created_at < :until")
        params["until"] = which.until
    q = (which.q or "").strip()
    if q:
        cond, qparams = _search_sql(q)
        where.append(cond)
        params.update(qparams)
    sql = f"FROM {table} a WHERE a.city_id = :c"
    return sql + "".join(f" AND {w}" for w in where), params


def list_appeals(
    conn: Connection, city_id: int, actor: Actor, which: AppealFilter | None = None
) -> list[dict]:
    """Appeals a staff actor may see (an executor only its organisation's), filtered, in
    the filter's order, one page.

    Raises
    ------
    Forbidden
        A role that may not list appeals.
    InvalidInput
        An unknown status or order.
    """
    which = which or AppealFilter()
    body, params = filter_sql(actor, which, table="appeals")
    params.update(c=city_id, lim=which.limit, off=which.offset)
    # the page's keys from the table first, then their cards: the view's joins for the page's
    # rows only, whatever the planner thinks the filters leave
    order = SORTS[which.sort]
    cards = f"""
        SELECT a.* FROM page JOIN appeal_cards a ON a.city_id = page.city_id AND a.id = page.id
        ORDER BY {order}"""
    sql = f"""
        WITH page AS MATERIALIZED (
          SELECT a.city_id, a.id {body} ORDER BY {order} LIMIT :lim OFFSET :off)
        {cards}"""
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]
