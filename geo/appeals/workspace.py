"""What the staff workspace reads: a page of the work list with its counts, the same list
for a CSV export or the map, and one appeal's whole file (its dossier).

Everything is read in the caller's scope: the filters of :class:`~geo.appeals.reads.AppealFilter`
on top of what row-level security already limits (the city; an executor's organisation).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import Connection, text

from geo.appeals import lifecycle, notes, reads
from geo.appeals.actors import Actor
from geo.appeals.reads import SORTS, AppealFilter, filter_sql
from geo.appeals.states import STATES
from geo.infra.errors import Forbidden, NotFound

#: the most rows one CSV export or one map of the list holds
EXPORT_MAX = 20_000
MAP_MAX = 2_000
#: a list whose filters the tallies cannot answer is counted up to this many appeals (more
#: are "10,000+": a search that wide is refined, not paged to its end)
COUNT_CAP = 10_000
#: a search by words of the address is counted up to this many (its matches are read by the
#: trigram index, every one a row to fetch)
SEARCH_COUNT_CAP = 1_000

#: the columns of the work list (and of its CSV export), no personal data of applicants
LIST_COLUMNS = (
    "reg_number",
    "status",
    "overdue",
    "category_code",
    "category_ru",
    "category_kk",
    "category_en",
    "channel",
    "created_at",
    "deadline_at",
    "organisation_id",
    "organisation_ru",
    "organisation_kk",
    "district_id",
    "address_text",
    "repeat_of",
    "lon",
    "lat",
)


def work_page(conn: Connection, city_id: int, actor: Actor, which: AppealFilter) -> dict:
    """One page of the work list: ``items`` in the filter's order, ``total`` matching, and
    ``counts`` per status of everything the other filters match (the status tabs).

    Counts of filters on organisation, category or group, district and channel come from the
    tallies kept by triggers (migration 0023), exact and whatever the city's size; a list
    filtered by lateness, period or text is counted from the appeals up to
    :data:`COUNT_CAP` (:data:`SEARCH_COUNT_CAP` for words of the address), and past it
    ``counts_exact`` is false: ``total`` is then the cap (the
    pages that may be read) and ``counts`` the appeals counted so far.

    Raises
    ------
    Forbidden, InvalidInput
        As :func:`geo.appeals.reads.filter_sql`.
    """
    items = reads.list_appeals(conn, city_id, actor, which)
    if _tallied(which):
        counts, exact = _tally_counts(conn, city_id, actor, which), True
    else:
        counts, exact = _live_counts(conn, city_id, actor, which, skip_status=True)
    if not which.status:
        total = sum(counts.values()) if exact else _cap(which)
    elif exact:
        total = counts[which.status]
    else:  # the status's own count, capped too
        mine, status_exact = _live_counts(conn, city_id, actor, which, skip_status=False)
        total = mine[which.status] if status_exact else _cap(which)
    return {
        "total": total,
        "counts": counts,
        "counts_exact": exact,
        "limit": which.limit,
        "offset": which.offset,
        "items": items,
    }


def _tallied(which: AppealFilter) -> bool:
    """The tallies answer this filter's counts (it filters only by their columns)."""
    return (
        which.overdue is None
        and not which.due_today
        and which.since is None
        and which.until is None
        and not (which.q or "").strip()
    )


def _tally_counts(conn: Connection, city_id: int, actor: Actor, which: AppealFilter) -> dict:
    """Appeals per status from ``appeal_tallies`` (read under its own row security: an
    executor's organisation only, as the list)."""
    where, params = ["city_id = :c"], {"c": city_id}
    if actor.role == "executor":
        where.append("organisation_id = :own")
        params["own"] = actor.organisation_id
    conds, cparams = reads.column_filters(which)
    where += conds
    params.update(cparams)
    counts = dict.fromkeys(STATES, 0)
    sql = f"SELECT status, sum(n) FROM appeal_tallies WHERE {' AND '.join(where)} GROUP BY 1"
    for status, n in conn.execute(text(sql), params):
        counts[status] = int(n)
    return counts


def _live_counts(
    conn: Connection, city_id: int, actor: Actor, which: AppealFilter, skip_status: bool
) -> tuple[dict, bool]:
    """Appeals per status counted from the appeals, at most :data:`COUNT_CAP` + 1 of them;
    and whether that was all."""
    cap = _cap(which)
    body, params = filter_sql(actor, which, skip_status=skip_status, table="appeals")
    params.update(c=city_id, cap=cap + 1)
    counts = dict.fromkeys(STATES, 0)
    sql = f"SELECT status, count(*) FROM (SELECT a.status {body} LIMIT :cap) s GROUP BY 1"
    for status, n in conn.execute(text(sql), params):
        counts[status] = n
    return counts, sum(counts.values()) <= cap


def _cap(which: AppealFilter) -> int:
    return SEARCH_COUNT_CAP if reads.word_search(which) else COUNT_CAP


def _rows(conn: Connection, city_id: int, actor: Actor, which: AppealFilter, most: int):
    body, params = filter_sql(actor, which)
    params.update(c=city_id, lim=most)
    cols = ", ".join(f"a.{c}" for c in LIST_COLUMNS)
    sql = f"SELECT {cols} {body} ORDER BY {SORTS[which.sort]} LIMIT :lim"
    return conn.execute(text(sql), params).mappings()


def export_csv(conn: Connection, city_id: int, actor: Actor, which: AppealFilter) -> Iterator[str]:
    """The whole filtered list (at most :data:`EXPORT_MAX` rows, paging ignored) as CSV
    text, header first, in chunks."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LIST_COLUMNS)
    for i, row in enumerate(_rows(conn, city_id, actor, which, EXPORT_MAX)):
        writer.writerow(["" if row[c] is None else row[c] for c in LIST_COLUMNS])
        if i % 500 == 499:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def map_points(conn: Connection, city_id: int, actor: Actor, which: AppealFilter) -> dict:
    """The filtered list (at most :data:`MAP_MAX`, paging ignored) as a GeoJSON
    FeatureCollection of points: number, status, overdue, category."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(r["lon"], 6), round(r["lat"], 6)]},
            "properties": {
                "reg_number": r["reg_number"],
                "status": r["status"],
                "overdue": r["overdue"],
                "category_code": r["category_code"],
            },
        }
        for r in _rows(conn, city_id, actor, which, MAP_MAX)
    ]
    return {"type": "FeatureCollection", "features": features}


def dossier(conn: Connection, city_id: int, reg_number: str, actor: Actor) -> dict:
    """One appeal's whole file for a staff page: the appeal (with the applicant's contacts
    where the role may see them and its version), its event log, notes of both kinds,
    photos, its original and its repeats, and the actions offered to ``actor`` now.

    Raises
    ------
    NotFound
        No appeal of that number in the city.
    Forbidden
        It exists but ``actor`` may not see it (another organisation's, for an executor).
    """
    number = reg_number.strip().upper()
    try:
        appeal = reads.get_appeal(conn, city_id, reg_number=number, actor=actor)
    except NotFound:
        # row-level security hides another organisation's appeal from an executor: say so
        # rather than "no such appeal" (the public tracker tells anyone that it exists)
        if conn.execute(
            text("SELECT qala_appeal_exists(:c, :r)"), {"c": city_id, "r": number}
        ).scalar():
            raise Forbidden(
                f"the appeal {number} is assigned to another organisation: you cannot open it"
            ) from None
        raise
    events = reads.history(conn, city_id, appeal["id"], staff=True)
    repeats = conn.execute(
        text(
            "SELECT reg_number, status, created_at FROM appeal_cards a WHERE a.city_id = :c "
            "AND a.repeat_of = :r ORDER BY created_at"
        ),
        {"c": city_id, "r": appeal["reg_number"]},
    ).mappings()
    return {
        "appeal": appeal,
        "events": events,
        "notes": notes.notes(conn, city_id, appeal["id"], staff=True),
        "media": reads.media(conn, city_id, appeal["id"]),
        "repeats": [dict(r) for r in repeats],
        "actions": lifecycle.offered_actions(appeal, actor, events),
        "calls_back": actor.role in lifecycle.CALLS_BACK,
    }


def organisations(conn: Connection, city_id: int) -> list[dict]:
    """The city's organisations (an appeal is assigned to one), by kind and name."""
    rows = conn.execute(
        text(
            "SELECT id, kind, name_ru, name_kk FROM organisations WHERE city_id = :c "
            "ORDER BY kind, name_ru, id"
        ),
        {"c": city_id},
    ).mappings()
    return [dict(r) for r in rows]


def districts(conn: Connection, city_id: int) -> list[dict]:
    """The city's districts, by name."""
    rows = conn.execute(
        text("SELECT id, name_ru, name_kk FROM districts WHERE city_id = :c ORDER BY name_ru"),
        {"c": city_id},
    ).mappings()
    return [dict(r) for r in rows]
