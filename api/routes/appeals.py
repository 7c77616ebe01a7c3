"""Operators' and staff's API: search, place card, preview, register, route, follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, CityDep, DbDep, SessionDep, SettingsDep, StaffDep
from api.schemas import (
    AddressHit,
    AppealCreated,
    AppealIn,
    AppealPublic,
    AppealStaff,
    CategoryOut,
    EventStaff,
    PreviewOut,
    Token,
    TransitionIn,
)
from geo.appeals import intake, lifecycle, reads
from geo.city.place import place_card
from geo.city.search import search_address
from geo.infra.errors import Forbidden, NotAuthenticated
from geo.staff.auth import authenticate, issue_token

router = APIRouter(prefix="/api/v1")


@router.post(
    "/auth/token", response_model=Token, tags=["auth"], summary="Log in (OAuth2 password flow)"
)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    user = authenticate(session.connection(), form.username, form.password)
    if user is None:
        raise NotAuthenticated("wrong user name or password")
    return Token(
        access_token=issue_token(user, settings.secret_key, settings.token_minutes),
        role=user["role"],
    )


@router.get("/categories", response_model=list[CategoryOut], tags=["reference"])
def categories(session: SessionDep) -> list[dict]:
    rows = session.execute(text("SELECT * FROM categories ORDER BY group_code, code")).mappings()
    return [dict(r) for r in rows]


@router.get(
    "/search/address",
    response_model=list[AddressHit],
    tags=["locate"],
    summary="Find buildings by address (Russian or Kazakh, typos allowed)",
)
def search(
    session: SessionDep,
    city: CityDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[dict]:
    return search_address(session.connection(), city, q, limit)


@router.get("/place", tags=["locate"], summary="The place card at a point")
def place(
    session: SessionDep,
    city: CityDep,
    actor: StaffDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    category: Annotated[str | None, Query(max_length=32)] = None,
) -> dict:
    return place_card(session.connection(), city, lon, lat, category)


def _new(body: AppealIn, key: str | None) -> intake.NewAppeal:
    return intake.NewAppeal(**body.model_dump(), idempotency_key=key)


@router.post(
    "/appeals/preview",
    response_model=PreviewOut,
    tags=["appeals"],
    summary="Object, organisation, deadline and repeat candidates, without saving",
)
def preview(body: AppealIn, session: SessionDep, city: CityDep, actor: StaffDep) -> dict:
    loc = intake.preview(session.connection(), city, _new(body, None))
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
    caller: CallerDep,
    response: Response,
    city: CityDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=128, description="the caller's own key for this request")
    ] = None,
) -> dict:
    if caller.actor.role == "public":
        raise NotAuthenticated("registering an appeal needs a staff token or a channel API key")
    if caller.city_id is not None and caller.city_id != city:
        raise Forbidden("your credentials are for another city")
    if caller.actor.role not in {"operator", "inspector", "admin", "channel"}:
        raise Forbidden(f"role {caller.actor.role!r} cannot register appeals")
    new = _new(body, idempotency_key)
    if caller.channel:
        new.channel = caller.channel
    # one function call is one transaction (autocommit): committed, with
    # synchronous_commit on, before the answer is sent
    appeal, created = await db.create_appeal(city, new, caller.actor)
    if not created:
        response.status_code = 200
    if caller.is_staff:  # staff see the applicant's contacts
        appeal = await run_in_threadpool(db.read, reads.for_staff, city, appeal, caller.actor)
        return {"created": created, "appeal": AppealStaff(**appeal)}
    return {"created": created, "appeal": AppealPublic(**appeal)}


@router.get(
    "/appeals",
    response_model=list[AppealStaff],
    tags=["appeals"],
    summary="Appeals the caller may see (an executor: its organisation's)",
)
def list_appeals(
    session: SessionDep,
    city: CityDep,
    actor: StaffDep,
    status: Annotated[str | None, Query(max_length=12)] = None,
    overdue: bool | None = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
) -> list[dict]:
    return reads.list_appeals(
        session.connection(), city, actor, status, overdue, organisation_id, category, limit, offset
    )


@router.get("/appeals/{reg_number}", response_model=AppealStaff, tags=["appeals"])
def get(reg_number: str, session: SessionDep, city: CityDep, actor: StaffDep) -> dict:
    return reads.get_appeal(session.connection(), city, reg_number=reg_number, actor=actor)


@router.get("/appeals/{reg_number}/events", response_model=list[EventStaff], tags=["appeals"])
def events(reg_number: str, session: SessionDep, city: CityDep, actor: StaffDep) -> list[dict]:
    conn = session.connection()
    appeal = reads.get_appeal(conn, city, reg_number=reg_number, actor=actor)
    return reads.history(conn, city, appeal["id"], staff=True)


@router.post(
    "/appeals/{reg_number}/transition",
    response_model=AppealStaff,
    tags=["appeals"],
    summary="Change status (and route): every change goes to the event log",
)
def change(
    reg_number: str, body: TransitionIn, session: SessionDep, city: CityDep, actor: StaffDep
) -> dict:
    appeal = lifecycle.transition(
        session.connection(),
        city,
        reg_number,
        body.to,
        actor,
        body.comment,
        body.organisation_id,
        body.deferred_to_year,
    )
    session.commit()
    return appeal


@router.post(
    "/appeals/{reg_number}/callback",
    response_model=AppealStaff,
    tags=["appeals"],
    summary="Mark the callback to the applicant as done",
)
def callback(reg_number: str, session: SessionDep, city: CityDep, actor: StaffDep) -> dict:
    conn = session.connection()
    appeal = reads.get_appeal(conn, city, reg_number=reg_number, actor=actor)
    if actor.role not in {"operator", "inspector", "controller", "admin", "executor"}:
        raise Forbidden(f"role {actor.role!r} does not call applicants back")
    conn.execute(
        text("UPDATE appeals SET callback_done = true WHERE city_id = :c AND id = :i"),
        {"c": city, "i": appeal["id"]},
    )
    lifecycle.log_event(
        conn,
        city,
        appeal["id"],
        actor,
        appeal["status"],
        appeal["status"],
        appeal["organisation_id"],
        "callback done",
    )
    session.commit()
    return reads.get_appeal(session.connection(), city, appeal_id=appeal["id"], actor=actor)
