"""An appeal's photos in the database: add, list, approve, and find one to serve.

The files are written to the store first (whole, by content hash), the row after, in the
caller's transaction: a row never points at a missing file, and a refused photo leaves
nothing behind (it is refused in :func:`geo.media.photos.process`, before any write).
Row-level security (migration 0015) shows the public only approved photos, staff all of
their city's (an executor: of its organisation's appeals).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.appeals.actors import Actor
from geo.infra.errors import Forbidden, InvalidInput, NotFound
from geo.media.photos import Photo
from geo.media.store import PhotoStore
from geo.models import PHOTO_KINDS

STAFF_ROLES = {"operator", "inspector", "executor", "controller", "planner", "admin"}
#: who may approve a photo for the public (an executor shows its work through its
#: controller); who may add the executor's "after" photos
APPROVERS = {"operator", "inspector", "controller", "admin"}
AFTER_ROLES = {"executor", "inspector", "controller", "admin"}
COLUMNS = (
    "id, kind, width, height, page_width, page_height, page_bytes, thumb_width, thumb_height, "
    "thumb_bytes, approved, added_at"
)


def _appeal(conn: Connection, city_id: int, reg_number: str) -> dict:
    row = (
        conn.execute(
            text("SELECT id, organisation_id FROM appeals WHERE city_id = :c AND reg_number = :r"),
            {"c": city_id, "r": reg_number},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no appeal with registration number {reg_number!r}")
    return dict(row)


def store_files(store: PhotoStore, photo: Photo) -> dict:
    """Write the page copy and the thumbnail whole (before any row names them) and return the
    stored photo's columns as bind parameters: ``h w hh`` (source), ``pk pw ph pb`` (page),
    ``tk tw th tb`` (thumbnail)."""
    store.put(photo.page.key, photo.page.data)
    store.put(photo.thumb.key, photo.thumb.data)
    return {
        "h": photo.source_hash,
        "w": photo.width,
        "hh": photo.height,
        "pk": photo.page.key,
        "pw": photo.page.size[0],
        "ph": photo.page.size[1],
        "pb": len(photo.page.data),
        "tk": photo.thumb.key,
        "tw": photo.thumb.size[0],
        "th": photo.thumb.size[1],
        "tb": len(photo.thumb.data),
    }


def add_photo(
    conn: Connection,
    store: PhotoStore,
    city_id: int,
    appeal_id: int,
    photo: Photo,
    actor: Actor,
    kind: str = "before",
) -> tuple[dict, bool]:
    """Keep ``photo`` with the appeal ``appeal_id``: its files in ``store``, its row here.

    A staff member's photo is approved at once; a resident's or a channel's waits for staff.
    The same bytes sent again for the same appeal are the photo already kept.

    Returns
    -------
    tuple[dict, bool]
        The photo's row (:data:`COLUMNS`) and whether it was added now.

    Raises
    ------
    InvalidInput
        An unknown ``kind``.
    Forbidden
        An ``after`` photo from a role that does not do or check the work.
    """
    if kind not in PHOTO_KINDS:
        raise InvalidInput(f"unknown photo kind {kind!r}: one of {', '.join(PHOTO_KINDS)}")
    if kind == "after" and actor.role not in AFTER_ROLES:
        raise Forbidden(f"a user with role {actor.role!r} cannot add photos of the work done")
    stored = store_files(store, photo)
    row = (
        conn.execute(
            text(f"""
            INSERT INTO appeal_photos (city_id, appeal_id, kind, source_hash, width, height,
              page_key, page_width, page_height, page_bytes,
              thumb_key, thumb_width, thumb_height, thumb_bytes, added_by, added_role, approved)
            VALUES (:c, :a, :kind, :h, :w, :hh, :pk, :pw, :ph, :pb, :tk, :tw, :th, :tb,
                    :by, :role, :approved)
            ON CONFLICT (city_id, appeal_id, source_hash) DO NOTHING
            RETURNING {COLUMNS}"""),
            {
                "c": city_id,
                "a": appeal_id,
                "kind": kind,
                **stored,
                "by": actor.name,
                "role": actor.role,
                "approved": actor.role in STAFF_ROLES,
            },
        )
        .mappings()
        .first()
    )
    if row is not None:
        return dict(row), True
    kept = conn.execute(
        text(
            f"SELECT {COLUMNS} FROM appeal_photos WHERE city_id = :c AND appeal_id = :a "
            "AND source_hash = :h"
        ),
        {"c": city_id, "a": appeal_id, "h": photo.source_hash},
    ).mappings()
    return dict(kept.one()), False


def add_photo_by_number(
    conn: Connection,
    store: PhotoStore,
    city_id: int,
    reg_number: str,
    photo: Photo,
    actor: Actor,
    kind: str = "before",
) -> tuple[dict, bool]:
    """:func:`add_photo` for the appeal with this registration number (in the city, as the
    actor sees it: an executor, its organisation's only)."""
    appeal = _appeal(conn, city_id, reg_number)
    if actor.role == "executor" and appeal["organisation_id"] != actor.organisation_id:
        raise Forbidden("this appeal is assigned to another organisation")
    return add_photo(conn, store, city_id, appeal["id"], photo, actor, kind)


def list_photos(conn: Connection, city_id: int, reg_number: str) -> list[dict]:
    """The photos of an appeal the scope may see (the public: approved ones only)."""
    appeal = _appeal(conn, city_id, reg_number)
    rows = conn.execute(
        text(
            f"SELECT {COLUMNS} FROM appeal_photos WHERE city_id = :c AND appeal_id = :a ORDER BY id"
        ),
        {"c": city_id, "a": appeal["id"]},
    ).mappings()
    return [dict(r) for r in rows]


def photo_file(
    conn: Connection, store: PhotoStore, city_id: int, reg_number: str, photo_id: int, size: str
) -> bytes:
    """The bytes of one photo's ``page`` copy or ``thumb``nail, if the scope may see it.

    Raises
    ------
    NotFound
        No such appeal or photo, or one the scope may not see (an unapproved photo for the
        public), or its file is missing from the store.
    """
    if size not in ("page", "thumb"):
        raise InvalidInput("size is page or thumb")
    appeal = _appeal(conn, city_id, reg_number)
    key = conn.execute(
        text(
            f"SELECT {size}_key FROM appeal_photos WHERE city_id = :c AND appeal_id = :a "
            "AND id = :i"
        ),
        {"c": city_id, "a": appeal["id"], "i": photo_id},
    ).scalar()
    if key is None:
        raise NotFound(f"no photo {photo_id} of appeal {reg_number} to show")
    data = store.get(key)
    if data is None:
        raise NotFound(f"the file of photo {photo_id} is missing from the photo store")
    return data


def approve(
    conn: Connection, city_id: int, reg_number: str, photo_id: int, actor: Actor, approved: bool
) -> dict:
    """Show a photo to the public (``approved``) or hide it again.

    Raises
    ------
    Forbidden
        A role that does not approve photos.
    NotFound
        No such photo of that appeal.
    """
    if actor.role not in APPROVERS:
        raise Forbidden(f"a user with role {actor.role!r} cannot approve photos")
    appeal = _appeal(conn, city_id, reg_number)
    row = (
        conn.execute(
            text(
                f"UPDATE appeal_photos SET approved = :ok WHERE city_id = :c AND appeal_id = :a "
                f"AND id = :i RETURNING {COLUMNS}"
            ),
            {"ok": approved, "c": city_id, "a": appeal["id"], "i": photo_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no photo {photo_id} of appeal {reg_number}")
    return dict(row)
