"""What a signed-in resident sees and does on ``/me``: their appeals, a comment, a photo,
confirming or disputing a fix, a rating.

Every function takes a connection whose transaction carries the resident's scope
(:class:`geo.staff.scope.Scope` with ``contact``): row-level security (migration 0018)
shows it only the appeals its contact is on, and the writes go through the resident
functions, which check that again. No one else's data can be reached from here: the
queries below have no contact filter of their own, and need none.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from geo.appeals import public
from geo.appeals.states import OPEN
from geo.infra.errors import Conflict, InvalidInput, NotFound
from geo.media.gallery import store_files
from geo.media.photos import Photo
from geo.media.store import PhotoStore

COMMENT_MAX = 2000
#: the states after which the resident may confirm, dispute (within the window) or rate
DONE = ("resolved", "closed")
#: how many of the contact's appeals a page lists (newest first)
LIST_MAX = 200

APPEALS_SQL = text(f"""
SELECT a.city_id, a.id, a.reg_number, a.category_code, a.category_ru, a.category_kk,
       a.category_en, a.status, a.created_at, a.deadline_at, a.resolved_at, a.closed_at,
       a.overdue, a.organisation_ru, a.organisation_kk, a.object_kind, a.object_id, a.lon,
       a.lat, a.deferred_to_year, ap.yard_id, cat.dispute_days, cat.counts_for_yard_queue,
       r.rating,
       CASE WHEN a.status IN ('resolved', 'closed')
            THEN coalesce(a.resolved_at, a.closed_at) + cat.dispute_days * interval '1 day'
       END AS dispute_until
FROM appeal_cards a
JOIN appeals ap ON ap.city_id = a.city_id AND ap.id = a.id
JOIN categories cat ON cat.code = a.category_code
LEFT JOIN appeal_ratings r ON r.city_id = a.city_id AND r.appeal_id = a.id
WHERE a.city_id = :c
ORDER BY a.created_at DESC, a.id DESC
LIMIT {LIST_MAX}""")
NOTES_SQL = text("""
SELECT appeal_id, at, kind, author_role, body FROM appeal_notes
WHERE city_id = :c AND appeal_id = ANY(:ids) AND kind IN ('public', 'resident')
ORDER BY at, id""")
PHOTOS_SQL = text("""
SELECT appeal_id, id, kind, approved, added_role FROM appeal_photos
WHERE city_id = :c AND appeal_id = ANY(:ids) AND (approved OR added_role = 'resident')
ORDER BY added_at, id""")


def my_appeals(conn: Connection, city_id: int, now: dt.datetime | None = None) -> list[dict]:
    """The contact's appeals in the city, newest first, each with its map address, its
    public and own notes, its photos (approved ones, and the resident's own), what may be
    done now (``can_confirm``, ``can_dispute``, ``can_rate``) and the dispute window's end.
    """
    now = now or dt.datetime.now(dt.UTC)
    rows = [dict(r) for r in conn.execute(APPEALS_SQL, {"c": city_id}).mappings()]
    ids = [r["id"] for r in rows]
    notes: dict[int, list] = {i: [] for i in ids}
    photos: dict[int, list] = {i: [] for i in ids}
    if ids:
        for n in conn.execute(NOTES_SQL, {"c": city_id, "ids": ids}).mappings():
            notes[n["appeal_id"]].append(
                {
                    "at": n["at"],
                    "kind": n["kind"],
                    "author_role": n["author_role"],
                    "body": n["body"],
                }
            )
        for p in conn.execute(PHOTOS_SQL, {"c": city_id, "ids": ids}).mappings():
            photos[p["appeal_id"]].append(
                {"id": p["id"], "kind": p["kind"], "approved": p["approved"]}
            )
    out = []
    for r in rows:
        r.update(public.map_address(conn, r))  # the map's address, never the caller's words
        done = r["status"] in DONE
        until = r["dispute_until"]
        r["can_confirm"] = r["status"] == "resolved"
        r["can_dispute"] = done and until is not None and now <= until
        r["can_rate"] = done
        r["open"] = r["status"] in OPEN
        r["queue_yard"] = r["yard_id"] if r["counts_for_yard_queue"] else None
        r["notes"] = notes[r["id"]]
        r["photos"] = photos[r["id"]]
        out.append(r)
    return out


def _known(row, reg: str) -> None:
    if row is None:
        raise NotFound(f"no appeal {reg!r} of yours (signed in with this contact)")


def add_comment(conn: Connection, city_id: int, reg: str, body: str) -> dict:
    """A comment of the resident on their appeal: staff read it, the public never."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput("comment: write something")
    if len(body) > COMMENT_MAX:
        raise InvalidInput(f"comment: at most {COMMENT_MAX} characters")
    row = (
        conn.execute(
            text("SELECT id, at FROM qala_resident_note(:c, :r, :b)"),
            {"c": city_id, "r": reg, "b": body},
        )
        .mappings()
        .first()
    )
    _known(row, reg)
    return {"id": row["id"], "at": row["at"], "kind": "resident", "body": body}


def add_photo(
    conn: Connection, store: PhotoStore, city_id: int, reg: str, photo: Photo
) -> tuple[int, bool]:
    """The resident's photo of their appeal (cleaned already: :func:`geo.media.photos.process`),
    kept waiting for staff to approve it for the public. Returns its id and whether it is new.
    """
    exists = conn.execute(
        text("SELECT id FROM qala_resident_appeal(:c, :r, false)"), {"c": city_id, "r": reg}
    ).first()
    _known(exists, reg)
    stored = store_files(store, photo)
    row = conn.execute(
        text("""
        SELECT id, created FROM qala_resident_photo(:c, :r, :h, :w, :hh, :pk, :pw, :ph, :pb,
                                                    :tk, :tw, :th, :tb)"""),
        {"c": city_id, "r": reg, **stored},
    ).first()
    _known(row, reg)
    return row[0], row[1]


def respond(conn: Connection, city_id: int, reg: str, verdict: str, comment: str | None) -> dict:
    """The resident's verdict on a fix: ``confirmed`` (logged; the state stays) or
    ``disputed`` (the appeal is reopened, within the category's ``dispute_days`` after it
    was resolved).

    Raises
    ------
    NotFound
        Not an appeal of this contact.
    Conflict
        Not resolved (nothing to confirm or dispute), or the dispute window has closed.
    """
    if verdict not in ("confirmed", "disputed"):
        raise InvalidInput("verdict: confirmed or disputed")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise InvalidInput(f"comment: at most {COMMENT_MAX} characters")
    outcome, status, until = conn.execute(
        text("SELECT outcome, status, until FROM qala_resident_respond(:c, :r, :v, :cm)"),
        {"c": city_id, "r": reg, "v": verdict, "cm": comment or None},
    ).one()
    if outcome == "not_found":
        _known(None, reg)
    if outcome == "not_resolved":
        raise Conflict(
            f"the appeal {reg} is not resolved (it is {status!r}): there is no fix to "
            "confirm or dispute yet"
        )
    if outcome == "window_closed":
        raise Conflict(
            f"the time to dispute the fix of {reg} ended on {until:%Y-%m-%d}: file a new "
            "appeal if the problem is back"
        )
    return {"reg_number": reg, "status": status, "dispute_until": until}


def rate(conn: Connection, city_id: int, reg: str, rating: int) -> dict:
    """The resident's rating (1–5) of the result; the last one given counts."""
    if not 1 <= rating <= 5:
        raise InvalidInput("rating: a whole number from 1 to 5")
    outcome, status = conn.execute(
        text("SELECT outcome, status FROM qala_resident_rate(:c, :r, :v)"),
        {"c": city_id, "r": reg, "v": rating},
    ).one()
    if outcome == "not_found":
        _known(None, reg)
    if outcome == "not_resolved":
        raise Conflict(f"the appeal {reg} is not resolved yet (it is {status!r}): rate it after")
    return {"reg_number": reg, "rating": rating}
