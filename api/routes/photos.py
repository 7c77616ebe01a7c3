"""Photos of appeals: add (staff; Open311's ``media`` in ``api/open311``), list, serve the
page copy and thumbnail, approve for the public; and the unsubscribe link of messages.

Every photo is checked by its content and re-encoded without metadata before anything is
stored (``geo.media.photos``); the files are kept by content hash in the photo store
(``app.state.photo_store``, chosen by settings). The public sees and gets approved photos
only (row-level security, migration 0015); staff of the city see all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, ScopeDep, SessionDep, SettingsDep, StaffScopeDep
from api.reads import writes_on_get
from api.schemas import PhotoAdded, PhotoApproval, PhotoOut, PhotoPlace, Unsubscribed
from geo.infra.errors import NotFound, TooLarge
from geo.media import gallery
from geo.media.photos import gps_position, process
from geo.notify.unsubscribe import read_token
from geo.staff.scope import Scope

router = APIRouter(prefix="/api/v1", tags=["photos"])
#: the link in every message to an applicant (geo.notify)
residents = APIRouter(prefix="/api/v1", tags=["residents"])
Reg = Annotated[str, Path(max_length=32, description="the appeal's registration number")]
PhotoId = Annotated[int, Path(ge=1, le=2**62)]
JPEG = {200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}}
PRIVATE = "private, max-age=300"


async def read_upload(upload: UploadFile, settings) -> bytes:
    """The uploaded file's bytes, refused beyond ``photo_max_bytes`` without reading more."""
    most = settings.photo_max_bytes
    data = await upload.read(most + 1)
    if len(data) > most:
        raise TooLarge(f"the photo is larger than {most} bytes ({most / 2**20:g} MB)")
    return data


def _with_links(row: dict, reg: str) -> dict:
    base = f"/api/v1/appeals/{reg}/photos/{row['id']}"
    return {**row, "page_url": f"{base}/page.jpg", "thumb_url": f"{base}/thumb.jpg"}


@router.post(
    "/appeals/{reg}/photos",
    status_code=201,
    response_model=PhotoAdded,
    responses={
        200: {"model": PhotoAdded, "description": "the same photo was already kept"},
        415: {"description": "not a JPEG, PNG, WebP or HEIC photo"},
    },
    summary="Add a photo to an appeal (staff): before the work, or after it (the executor's)",
    description="Checked by its content (JPEG, PNG, WebP, HEIC), at most QALA_PHOTO_MAX_BYTES "
    "(10 MB) and QALA_PHOTO_MAX_PIXELS; its metadata (EXIF: GPS, camera) removed and its "
    "orientation applied before it is stored; kept as a page copy (1600 px) and a thumbnail "
    "(320 px). A staff member's photo is approved for the public at once. A GPS position in "
    "the photo is returned as `gps` (to offer as the location), never kept.",
)
async def add_photo(
    request: Request,
    response: Response,
    reg: Reg,
    scope: StaffScopeDep,
    db: DbDep,
    settings: SettingsDep,
    photo: Annotated[UploadFile, File(description="the photo")],
    kind: Annotated[str, Form(pattern="^(before|after)$")] = "before",
) -> dict:
    data = await read_upload(photo, settings)
    made = await run_in_threadpool(
        process, data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
    )
    store = request.app.state.photo_store

    def write(conn):
        return gallery.add_photo_by_number(conn, store, scope.city_id, reg, made, scope.actor, kind)

    row, created = await run_in_threadpool(db.read_scoped, scope, write)
    response.status_code = 201 if created else 200
    gps = {"lon": made.gps[0], "lat": made.gps[1]} if made.gps else None
    return {**_with_links(row, reg), "created": created, "gps": gps}


@router.post(
    "/photos/gps",
    response_model=PhotoPlace,
    responses={415: {"description": "not a JPEG, PNG, WebP or HEIC photo"}},
    summary="The GPS position a photo carries, to offer as the location (nothing is kept)",
)
async def photo_gps(
    settings: SettingsDep,
    scope: ScopeDep,
    photo: Annotated[UploadFile, File(description="the photo")],
) -> dict:
    data = await read_upload(photo, settings)
    found = await run_in_threadpool(gps_position, data, max_bytes=settings.photo_max_bytes)
    return {"gps": {"lon": found[0], "lat": found[1]} if found else None}


@router.get(
    "/appeals/{reg}/photos",
    response_model=list[PhotoOut],
    summary="An appeal's photos: approved ones for the public, all for staff",
)
def list_photos(reg: Reg, session: SessionDep, scope: ScopeDep) -> list[dict]:
    rows = gallery.list_photos(session.connection(), scope.city_id, reg)
    return [_with_links(r, reg) for r in rows]


def _serve(request: Request, session, scope: Scope, reg: str, photo_id: int, size: str):
    store = request.app.state.photo_store
    data = gallery.photo_file(session.connection(), store, scope.city_id, reg, photo_id, size)
    cache = PRIVATE if scope.is_staff else "public, max-age=3600"
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": cache})


@router.get(
    "/appeals/{reg}/photos/{photo_id}/page.jpg",
    response_class=Response,
    responses=JPEG,
    summary="A photo's page copy (at most 1600 px; no metadata)",
)
def photo_page(
    request: Request, reg: Reg, photo_id: PhotoId, session: SessionDep, scope: ScopeDep
) -> Response:
    return _serve(request, session, scope, reg, photo_id, "page")


@router.get(
    "/appeals/{reg}/photos/{photo_id}/thumb.jpg",
    response_class=Response,
    responses=JPEG,
    summary="A photo's thumbnail (at most 320 px; no metadata)",
)
def photo_thumb(
    request: Request, reg: Reg, photo_id: PhotoId, session: SessionDep, scope: ScopeDep
) -> Response:
    return _serve(request, session, scope, reg, photo_id, "thumb")


@router.patch(
    "/appeals/{reg}/photos/{photo_id}",
    response_model=PhotoOut,
    summary="Show a photo to the public, or hide it (operators, inspectors, controllers, admins)",
)
def approve_photo(
    reg: Reg, photo_id: PhotoId, body: PhotoApproval, session: SessionDep, scope: StaffScopeDep
) -> dict:
    row = gallery.approve(
        session.connection(), scope.city_id, reg, photo_id, scope.actor, body.approved
    )
    session.commit()
    return _with_links(row, reg)


@residents.get(
    "/unsubscribe",
    response_model=Unsubscribed,
    responses={404: {"description": "the message is no longer known"}},
    summary="Stop the messages about one appeal (the link in every message)",
)
@writes_on_get  # a link in an e-mail: a GET, on the primary
def unsubscribe(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Query(max_length=80, description="from the message's link")],
) -> dict:
    city_id, message_id = read_token(settings.signing_key, token)
    reg = session.execute(
        text("SELECT qala_unsubscribe(:c, :m)"), {"c": city_id, "m": message_id}
    ).scalar()
    if reg is None:
        raise NotFound("this message is no longer known; nothing to unsubscribe from")
    session.commit()
    return {
        "reg_number": reg,
        "detail": f"no more messages about appeal {reg} will be sent to you / "
        f"сообщений об обращении {reg} больше не будет / "
        f"{reg} өтініші туралы хабарламалар енді жіберілмейді",
    }
