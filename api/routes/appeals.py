"""Operators' and staff's API: search, place card, preview, register, route, follow."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep, ScopeDep, SessionDep, StaffScopeDep
from api.errors import caused_by_outage
from api.observe import appeal_registered
from api.schemas import (
    AddressHit,
    AppealCreated,
    AppealIn,
    AppealPublic,
    AppealStaff,
    CallbackIn,
    CategoryOut,
    Channel,
    EventStaff,
    PreviewOut,
    TransitionIn,
)
from geo.appeals import intake, lifecycle, reads
from geo.appeals.lifecycle import TransitionRequest
from geo.appeals.reads import AppealFilter
from geo.city.catalog import list_categories
from geo.city.place import place_card
from geo.city.search import search_address
from geo.infra.errors import Forbidden, NotAuthenticated

router = APIRouter(prefix="/api/v1")
log = logging.getLogger("qala.api")
#: a staff registration committed, whose applicant's contacts could not be read back
CONTACTS_UNREAD = (
    "the appeal {reg} was saved; the applicant's contacts could not be read back (the "
    "database became unavailable): GET /api/v1/appeals/{reg} shows them"
)


@router.get("/categories", response_model=list[CategoryOut], tags=["reference"])
def categories(session: SessionDep) -> list[dict]:
    return list_categories(session.connection())


@router.get(
    "/search/address",
    response_model=list[AddressHit],
    tags=["locate"],
    summary="Find buildings by address (Russian or Kazakh, typos allowed)",
)
def search(
    session: SessionDep,
    scope: ScopeDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[dict]:
    return search_address(session.connection(), scope.city_id, q, limit)


@router.get("/place", tags=["locate"], summary="The place card at a point")
def place(
    session: SessionDep,
    scope: StaffScopeDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    category: Annotated[str | None, Query(max_length=32)] = None,
) -> dict:
    return place_card(session.connection(), scope.city_id, lon, lat, category)


def _new(body: AppealIn, key: str | None) -> intake.NewAppeal:
    return intake.NewAppeal(**body.model_dump(), idempotency_key=key)


@router.post(
    "/appeals/preview",
    response_model=PreviewOut,
    tags=["appeals"],
    summary="Object, organisation, deadline and repeat candidates, without saving",
)
def preview(body: AppealIn, session: SessionDep, scope: StaffScopeDep) -> dict:
    loc = intake.preview(session.connection(), scope.city_id, _new(body, None))
    return loc.__dict__


@router.post(
    "/appeals",
    response_model=AppealCreated,
    status_code=201,
    tags=["appeals"],
    summary="Register an appeal (staff token or channel API key)",
    description="An Idempotency-Key belongs to its caller (the API key or staff user): the "
    "same request sent again under it answers 200 with the first appeal (created false); "
    "another request under it is refused (422).",
    responses={200: {"model": AppealCreated, "description": "the first appeal, re-sent key"}},
)
async def create(
    body: AppealIn,
    db: DbDep,
    scope: ScopeDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(max_length=128, description="the caller's own key for this request")
    ] = None,
) -> dict:
    if scope.role == "public":
        raise NotAuthenticated("registering an appeal needs a staff token or a channel API key")
    if scope.role not in {"operator", "inspector", "admin", "channel"}:
        raise Forbidden(f"role {scope.role!r} cannot register appeals")
    new = _new(body, idempotency_key)
    if scope.channel:
        new.channel = scope.channel
    # one function call is one transaction (autocommit), in the request's scope:
    # committed, with synchronous_commit on, before the answer is sent
    appeal, created = await db.create_appeal(scope, new)
    if created:
        appeal_registered(new.channel)
    else:
        response.status_code = 200
    if not scope.is_staff:
        return {"created": created, "appeal": AppealPublic(**appeal)}
    try:  # staff see the applicant's contacts
        appeal = await run_in_threadpool(
            db.read_scoped, scope, reads.for_staff, scope.city_id, appeal, scope.actor
        )
    except SQLAlchemyError as exc:
        if not (isinstance(exc, PoolTimeout) or caused_by_outage(exc)):
            raise
        # the appeal is committed: say so (never "nothing was saved"), without the contacts
        log.warning("appeal %s saved; its contacts not read back: %r", appeal["reg_number"], exc)
        return {
            "created": created,
            "appeal": AppealStaff(**appeal),
            "note": CONTACTS_UNREAD.format(reg=appeal["reg_number"]),
        }
    return {"created": created, "appeal": AppealStaff(**appeal)}


def appeal_filter(
    status: Annotated[str | None, Query(max_length=12)] = None,
    overdue: bool | None = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
    group: Annotated[str | None, Query(max_length=32, description="a category group")] = None,
    due_today: Annotated[
        bool, Query(description="deadline today (city time), still being worked on")
    ] = False,
    district_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    channel: Annotated[Channel | None, Query()] = None,
    since: Annotated[dt.datetime | None, Query(description="registered at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="registered before")] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="a registration number or address words")
    ] = None,
    sort: Annotated[Literal["created", "deadline", "-deadline"], Query()] = "created",
) -> AppealFilter:
    """The filters of a staff list of appeals, travelling together."""
    return AppealFilter(
        status=status,
        overdue=overdue,
        organisation_id=organisation_id,
        category=category,
        limit=limit,
        offset=offset,
        group=group,
        due_today=due_today,
        district_id=district_id,
        channel=channel,
        since=since,
        until=until,
        q=q,
        sort=sort,
    )


@router.get(
    "/appeals",
    response_model=list[AppealStaff],
    tags=["appeals"],
    summary="Appeals the caller may see (an executor: its organisation's)",
)
def list_appeals(
    session: SessionDep,
    scope: StaffScopeDep,
    which: Annotated[AppealFilter, Depends(appeal_filter)],
) -> list[dict]:
    return reads.list_appeals(session.connection(), scope.city_id, scope.actor, which)


@router.get("/appeals/{reg_number}", response_model=AppealStaff, tags=["appeals"])
def get(reg_number: str, session: SessionDep, scope: StaffScopeDep) -> dict:
    return reads.get_appeal(
        session.connection(), scope.city_id, reg_number=reg_number, actor=scope.actor
    )


@router.get("/appeals/{reg_number}/events", response_model=list[EventStaff], tags=["appeals"])
def events(reg_number: str, session: SessionDep, scope: StaffScopeDep) -> list[dict]:
    conn = session.connection()
    appeal = reads.get_appeal(conn, scope.city_id, reg_number=reg_number, actor=scope.actor)
    return reads.history(conn, scope.city_id, appeal["id"], staff=True)


def transition_request(reg_number: str, body: TransitionIn) -> TransitionRequest:
    """The appeal's number from the path and the change from the body, together."""
    return TransitionRequest(reg_number, **body.model_dump())


@router.post(
    "/appeals/{reg_number}/transition",
    response_model=AppealStaff,
    tags=["appeals"],
    summary="Change status (and route): every change goes to the event log",
)
def change(
    change: Annotated[TransitionRequest, Depends(transition_request)],
    session: SessionDep,
    scope: StaffScopeDep,
) -> dict:
    appeal = lifecycle.transition(session.connection(), scope.city_id, change, scope.actor)
    session.commit()
    return appeal


@router.post(
    "/appeals/{reg_number}/callback",
    response_model=AppealStaff,
    tags=["appeals"],
    summary="Mark the callback to the applicant as done, with what they said",
)
def callback(
    reg_number: str, session: SessionDep, scope: StaffScopeDep, body: CallbackIn | None = None
) -> dict:
    result = body.result if body else None
    appeal = lifecycle.call_back(
        session.connection(), scope.city_id, reg_number, scope.actor, result
    )
    session.commit()
    return appeal
