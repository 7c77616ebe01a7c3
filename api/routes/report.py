"""A resident reports a problem (the ``/report`` page's API): the open appeals it may repeat,
and the report itself, with its photos, in one request.

The report goes through the same registration as every other channel
(``qala_create_appeal``, channel ``website``: number, body, deadline, repeats), and its
photos in the same transaction (``geo.appeals.report.file_report``): every photo is read,
checked and cleaned before anything is written, so a bad one (not an image, too large, a
decompression bomb) refuses the whole report and nothing is half-stored. The rate limit
(per client address and per contact, ``QALA_REPORT_*``) is counted in the database, the
same for every process. Refusals that a resident may meet are worded in the page's
language (``lang``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ScopeDep, SessionDep, SettingsDep, rescope
from api.observe import appeal_registered
from api.schemas import AppealPublic
from geo.appeals import intake, report
from geo.infra.errors import InvalidInput, TooLarge, TooManyAttempts, UnsupportedMedia
from geo.media.photos import Photo, process
from geo.models import DESCRIPTION_MAX
from geo.staff.scope import Scope
from web import i18n

router = APIRouter(prefix="/api/v1/report", tags=["residents"])


class NearbyAppeal(BaseModel):
    reg_number: str
    status: str
    created_at: dt.datetime
    deadline_at: dt.datetime | None
    distance_m: float
    same_object: bool


class NearbyOut(BaseModel):
    """What a report here would get, and the open appeals it would repeat (no personal data)."""

    organisation_ru: str | None
    organisation_kk: str | None
    deadline_hours: int
    object_label: str | None
    appeals: list[NearbyAppeal]


class ReportOut(BaseModel):
    """The answer a resident gets: as an operator would have given it."""

    created: bool
    appeal: AppealPublic
    photos: int
    track_url: str


@router.get(
    "/nearby",
    response_model=NearbyOut,
    summary='Before a report: the open appeals of the category nearby ("is it one of these?")',
    description="The same rule as the operator's repeat candidates (the category's radius "
    "and time window), open ones only, same object first; with the body and deadline a "
    "report here would get. No personal data.",
)
def nearby(
    session: SessionDep,
    scope: ScopeDep,
    category: Annotated[str, Query(max_length=32)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> dict:
    return report.nearby_open(session.connection(), scope.city_id, category, lon, lat)


def _read(upload: UploadFile, most: int, t: dict) -> bytes:
    data = upload.file.read(most + 1)
    if len(data) > most:
        raise TooLarge(t["report_photo_too_big"].format(name=upload.filename or "", mb=most >> 20))
    return data


def _photos(uploads: list[UploadFile], settings, t: dict) -> list[Photo]:
    """Every photo read, checked and cleaned, or the report refused (in the page's words)."""
    if len(uploads) > settings.report_max_photos:
        raise InvalidInput(t["report_too_many_photos"].format(n=settings.report_max_photos))
    made = []
    for upload in uploads:
        name = upload.filename or ""
        data = _read(upload, settings.photo_max_bytes, t)
        try:
            made.append(
                process(
                    data,
                    max_bytes=settings.photo_max_bytes,
                    max_pixels=settings.photo_max_pixels,
                )
            )
        except TooLarge as exc:
            raise TooLarge(
                t["report_photo_too_big"].format(name=name, mb=settings.photo_max_bytes >> 20)
            ) from exc
        except UnsupportedMedia as exc:
            raise UnsupportedMedia(t["report_not_image"].format(name=name)) from exc
        except InvalidInput as exc:  # empty, or a decompression bomb (too many pixels)
            mp = settings.photo_max_pixels // 1_000_000
            raise InvalidInput(t["report_photo_unusable"].format(name=name, mp=mp)) from exc
    return made


def _too_many(t: dict, wait: int) -> TooManyAttempts:
    return TooManyAttempts(t["report_too_many"].format(minutes=max(1, -(-wait // 60))), wait)


@router.post(
    "",
    status_code=201,
    response_model=ReportOut,
    responses={
        200: {"model": ReportOut, "description": "the same form sent again: the first appeal"},
        413: {"description": "a photo is larger than QALA_PHOTO_MAX_BYTES"},
        415: {"description": "a file is not a JPEG, PNG, WebP or HEIC photo"},
        429: {"description": "too many reports from this address or contact: Retry-After"},
    },
    summary="A resident reports a problem, with up to 5 photos, in one request",
    description="Registered as the website channel by the same rules as an operator's "
    "appeal (number, body, deadline). The photos are checked by content, cleaned of their "
    "metadata and kept in the appeal's transaction: the appeal and all its photos, or "
    "nothing. The contact is never shown publicly. An Idempotency-Key (one per form) makes a "
    "re-sent form answer 200 with the first appeal. Rate limited per client address and per "
    "contact (QALA_REPORT_*): 429 with Retry-After, worded in `lang`.",
)
def file_report(
    request: Request,
    response: Response,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    category: Annotated[str, Form(max_length=32)],
    lon: Annotated[float, Form(ge=-180, le=180)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    located_by: Annotated[str, Form(pattern="^(click|address|gps)$")] = "click",
    description: Annotated[str, Form(max_length=DESCRIPTION_MAX)] = "",
    address: Annotated[str | None, Form(max_length=300)] = None,
    phone: Annotated[str | None, Form(max_length=40)] = None,
    email: Annotated[str | None, Form(max_length=200)] = None,
    lang: Annotated[str | None, Form(max_length=5)] = None,
    photos: Annotated[list[UploadFile] | None, File(description="up to 5 photos")] = None,
    idempotency_key: Annotated[
        str | None, Header(max_length=128, description="one key per form")
    ] = None,
) -> dict:
    language = i18n.pick_lang(lang)
    t = i18n.labels(language)
    phone, email = report.check_contact(phone, email)
    limits = report.Limits(
        settings.report_window_s, settings.report_per_client, settings.report_per_contact
    )
    client = report.client_key(request.client.host if request.client else "unknown")
    contact = report.contact_key(phone, email)
    conn = session.connection()
    # a flood is refused before any photo is read (counted below, with the appeal)
    wait = report.retry_after(conn, client, contact, idempotency_key, limits, record=False)
    if wait is not None:
        raise _too_many(t, wait)
    made = _photos(photos or [], settings, t)
    form = {
        "category": category,
        "lon": lon,
        "lat": lat,
        "located_by": located_by,
        "description": description,
        "address": address,
        "phone": phone,
        "email": email,
        "photos": sorted(p.source_hash for p in made),
    }
    digest = hashlib.sha256(json.dumps(form, sort_keys=True).encode()).hexdigest()
    new = intake.NewAppeal(
        category=category,
        lon=lon,
        lat=lat,
        channel="website",
        description=description.strip(),
        located_by=located_by,
        address_text=(address or "").strip() or None,  # for staff; never published
        applicant_phone=phone,
        applicant_email=email,
        idempotency_key=idempotency_key,
        request_hash=digest,
    )
    # registered as the website channel, in the request's city
    rescope(session, Scope(scope.city_id, report.WEBSITE, "website"))
    conn.execute(text("SELECT set_config('qala.lang', :l, true)"), {"l": language})
    wait = report.retry_after(conn, client, contact, idempotency_key, limits, record=True)
    if wait is not None:  # another request of the same client got there first
        raise _too_many(t, wait)
    store = request.app.state.photo_store
    appeal, created = report.file_report(conn, store, scope.city_id, new, made)
    session.commit()
    if created:
        appeal_registered("website")
    else:
        response.status_code = 200
    return {
        "created": created,
        "appeal": AppealPublic(**appeal),
        "photos": len(made) if created else 0,
        "track_url": f"/track?reg={appeal['reg_number']}"
        + (f"&lang={language}" if language != i18n.DEFAULT_LANG else ""),
    }
