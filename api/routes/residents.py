"""A resident's own account (``/me``): sign in with a one-time code sent to the contact left
on an appeal, then the appeals of that contact — a comment, a photo, confirm or dispute a
fix, rate it.

The code is sent through the outbox (``geo.notify``); the token it buys is scoped to the
contact (``api.deps.get_scope``: a :class:`~geo.staff.scope.Scope` with ``contact``), and
row-level security (migration 0018) holds every query of the session to that contact's
appeals. Wrong codes and requests are throttled (429 with ``Retry-After``); five wrong
codes lock the contact for the window.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Path, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, ResidentScopeDep, ScopeDep, SettingsDep
from api.routes.photos import read_upload
from geo.media import gallery
from geo.media.photos import process
from geo.residents import account, codes

router = APIRouter(prefix="/api/v1/resident", tags=["residents"])
Reg = Annotated[str, Path(max_length=32, description="the appeal's registration number")]
THROTTLED = {429: {"description": "too many codes asked or wrong codes given: wait Retry-After"}}


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: str = Field(
        min_length=3,
        max_length=254,
        description="the phone number or e-mail left on the appeal",
        examples=["+7 701 234 56 78", "aigerim@example.kz"],
    )


class CodeSent(BaseModel):
    detail: str
    expires_in: int = Field(description="seconds the code works")


class CodeLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=1, max_length=12, description="the code from the message")


class ResidentToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


class Note(BaseModel):
    at: dt.datetime
    kind: str = Field(description="public: written by staff for you; resident: your comment")
    author_role: str
    body: str


class MyPhoto(BaseModel):
    id: int
    kind: str
    approved: bool
    thumb_url: str
    page_url: str


class MyAppeal(BaseModel):
    reg_number: str
    category_code: str
    category_ru: str
    category_kk: str
    category_en: str
    status: str
    open: bool
    overdue: bool
    created_at: dt.datetime
    deadline_at: dt.datetime
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    deferred_to_year: int | None
    organisation_ru: str | None
    organisation_kk: str | None
    address_ru: str | None
    address_kk: str | None
    lon: float
    lat: float
    queue_yard: int | None = Field(description="the yard whose repair queue place it has")
    dispute_days: int
    dispute_until: dt.datetime | None
    can_confirm: bool
    can_dispute: bool
    can_rate: bool
    rating: int | None
    notes: list[Note]
    photos: list[MyPhoto]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=account.COMMENT_MAX)


class CommentOut(BaseModel):
    id: int
    at: dt.datetime
    kind: str
    body: str


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, max_length=account.COMMENT_MAX)


class VerdictOut(BaseModel):
    reg_number: str
    status: str
    dispute_until: dt.datetime | None


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)


class RatingOut(BaseModel):
    reg_number: str
    rating: int


class MyPhotoAdded(BaseModel):
    id: int
    created: bool
    approved: bool = False


def _limits(settings) -> codes.CodeLimits:
    return codes.CodeLimits(
        ttl_s=settings.resident_code_ttl_s,
        window_s=settings.login_window_s,
        per_contact=settings.resident_codes_per_contact,
        per_client=settings.resident_codes_per_client,
        max_failures=settings.resident_code_failures,
        failures_per_client=settings.login_failures_per_client,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/code",
    status_code=202,
    response_model=CodeSent,
    responses=THROTTLED,
    summary="Send a one-time sign-in code to the phone or e-mail of your appeals",
    description="The same answer whether or not the contact is on an appeal of the city "
    "(nobody learns whose it is); a code goes out only to a known contact, through the "
    "outbox. It works once, for QALA_RESIDENT_CODE_TTL_S; asking again ends the earlier one.",
)
def ask_code(
    body: CodeRequest, request: Request, scope: ScopeDep, db: DbDep, settings: SettingsDep
):
    limits = _limits(settings)
    db.read(
        codes.request_code,
        settings.signing_key,
        scope.city_id,
        body.contact,
        _client(request),
        limits,
    )
    return {
        "detail": "if this contact is on an appeal here, a code is on its way to it",
        "expires_in": limits.ttl_s,
    }


@router.post(
    "/token",
    response_model=ResidentToken,
    responses={
        401: {"description": "a wrong or expired code (the message says how many tries are left)"},
        **THROTTLED,
    },
    summary="Trade the code for a session scoped to your contact",
)
def sign_in(body: CodeLogin, request: Request, scope: ScopeDep, db: DbDep, settings: SettingsDep):
    key = db.read(
        codes.check_code,
        settings.signing_key,
        scope.city_id,
        body.contact,
        body.code,
        _client(request),
        _limits(settings),
    )
    minutes = settings.resident_session_minutes
    token = codes.issue_token(settings.signing_key, scope.city_id, key, minutes)
    return {"access_token": token, "expires_in": minutes * 60}


def _photo_links(reg: str, photo: dict) -> dict:
    base = f"/api/v1/resident/appeals/{reg}/photos/{photo['id']}"
    return {**photo, "page_url": f"{base}/page.jpg", "thumb_url": f"{base}/thumb.jpg"}


@router.get(
    "/appeals",
    response_model=list[MyAppeal],
    summary="Your appeals: status, deadline, what you may do now",
)
def my_appeals(scope: ResidentScopeDep, db: DbDep) -> list[dict]:
    rows = db.read_scoped(scope, account.my_appeals, scope.city_id)
    for r in rows:
        r["photos"] = [_photo_links(r["reg_number"], p) for p in r["photos"]]
    return rows


@router.post(
    "/appeals/{reg}/comments",
    status_code=201,
    response_model=CommentOut,
    summary="Add a comment to your appeal (staff read it; never public)",
)
def comment(reg: Reg, body: CommentIn, scope: ResidentScopeDep, db: DbDep) -> dict:
    return db.read_scoped(scope, account.add_comment, scope.city_id, reg.strip().upper(), body.body)


@router.post(
    "/appeals/{reg}/photos",
    status_code=201,
    response_model=MyPhotoAdded,
    responses={
        200: {"model": MyPhotoAdded, "description": "the same photo was already kept"},
        415: {"description": "not a JPEG, PNG, WebP or HEIC photo"},
    },
    summary="Add a photo to your appeal (cleaned of metadata; public once staff approve it)",
)
async def photo(
    request: Request,
    response: Response,
    reg: Reg,
    scope: ResidentScopeDep,
    db: DbDep,
    settings: SettingsDep,
    photo: Annotated[UploadFile, File(description="the photo")],
) -> dict:
    data = await read_upload(photo, settings)
    made = await run_in_threadpool(
        process, data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
    )
    store = request.app.state.photo_store
    pid, created = await run_in_threadpool(
        db.read_scoped, scope, account.add_photo, store, scope.city_id, reg.strip().upper(), made
    )
    response.status_code = 201 if created else 200
    return {"id": pid, "created": created, "approved": False}


@router.get(
    "/appeals/{reg}/photos/{photo_id}/{size}.jpg",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
    },
    summary="A photo of your appeal (also your own, before staff approve it)",
)
def my_photo(
    request: Request,
    reg: Reg,
    photo_id: Annotated[int, Path(ge=1, le=2**62)],
    size: Annotated[str, Path(pattern="^(page|thumb)$")],
    scope: ResidentScopeDep,
    db: DbDep,
) -> Response:
    store = request.app.state.photo_store
    data = db.read_scoped(
        scope, gallery.photo_file, store, scope.city_id, reg.strip().upper(), photo_id, size
    )
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


def _verdict(scope, db, reg: str, verdict: str, body: VerdictIn) -> dict:
    return db.read_scoped(
        scope, account.respond, scope.city_id, reg.strip().upper(), verdict, body.comment
    )


@router.post(
    "/appeals/{reg}/confirm",
    response_model=VerdictOut,
    summary="Confirm the fix of your resolved appeal",
)
def confirm(reg: Reg, body: VerdictIn, scope: ResidentScopeDep, db: DbDep) -> dict:
    return _verdict(scope, db, reg, "confirmed", body)


@router.post(
    "/appeals/{reg}/dispute",
    response_model=VerdictOut,
    summary="Dispute the fix: the appeal is reopened (within the category's dispute window)",
    description="Refused with 409 and a message when the appeal is not resolved or the window "
    "(the category's dispute_days after it was resolved, 14 by default) has closed.",
)
def dispute(reg: Reg, body: VerdictIn, scope: ResidentScopeDep, db: DbDep) -> dict:
    return _verdict(scope, db, reg, "disputed", body)


@router.put(
    "/appeals/{reg}/rating",
    response_model=RatingOut,
    summary="Rate the result 1–5 (the last rating counts; part of the bodies' ratings)",
)
def rating(reg: Reg, body: RatingIn, scope: ResidentScopeDep, db: DbDep) -> dict:
    return db.read_scoped(scope, account.rate, scope.city_id, reg.strip().upper(), body.rating)
