"""The staff workspace's API: the work list with its counts (JSON, CSV, GeoJSON), one
appeal's whole file, notes, the lists the filters offer, and the live stream of changes.

The stream is Server-Sent Events (``api/stream.py``); ``EventSource`` cannot send an
``Authorization`` header, so a page trades its token for a ticket valid for a minute
(``POST /staff/stream/ticket``) and opens ``GET /staff/stream?ticket=…``; the long-lived
token never travels in a URL.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import ASYNCPG_OUTAGE, DbDep, SessionDep, SettingsDep, StaffScopeDep, oauth2
from api.routes.appeals import appeal_filter
from api.schemas import (
    AppealDossier,
    DistrictOut,
    Note,
    NoteIn,
    OrganisationOut,
    StreamTicket,
    WorkPage,
)
from api.stream import AppealHub, message
from geo.appeals import notes, public, reads, workspace
from geo.appeals.reads import AppealFilter
from geo.infra.errors import NotAuthenticated, Unavailable
from geo.staff.accounts import current_actor
from geo.staff.scope import Scope
from geo.staff.tokens import TICKET_SECONDS, TokenRefused, issue_ticket, read_ticket, read_token

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

PING_S = 15  # a comment line this often keeps proxies from closing an idle stream
RECHECK_S = 60  # the account behind a stream is checked again this often
STREAM_MAX_S = 15 * 60  # then the stream ends; the page opens a new one and refetches


@router.get(
    "/appeals",
    response_model=WorkPage,
    summary="The work list: one page, the total and the counts per status",
    description="format=csv: every matching appeal (up to 20 000, paging ignored) as CSV; "
    "format=geojson: up to 2 000 as points for the map.",
)
def work_list(
    session: SessionDep,
    scope: StaffScopeDep,
    which: Annotated[AppealFilter, Depends(appeal_filter)],
    format: Annotated[Literal["json", "csv", "geojson"], Query()] = "json",
):
    conn = session.connection()
    if format == "geojson":
        return JSONResponse(
            workspace.map_points(conn, scope.city_id, scope.actor, which),
            media_type="application/geo+json",
        )
    if format == "csv":
        chunks = list(workspace.export_csv(conn, scope.city_id, scope.actor, which))
        return StreamingResponse(
            iterate_in_threadpool(iter(chunks)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="appeals.csv"'},
        )
    return workspace.work_page(conn, scope.city_id, scope.actor, which)


@router.get(
    "/appeals/{reg_number}",
    response_model=AppealDossier,
    summary="One appeal's whole file and the actions offered to the caller now",
    description="403 when it is another organisation's (an executor), 404 when no appeal "
    "has the number.",
)
def dossier(reg_number: str, session: SessionDep, scope: StaffScopeDep) -> dict:
    conn = session.connection()
    out = workspace.dossier(conn, scope.city_id, reg_number, scope.actor)
    out["appeal"].update(public.map_address(conn, out["appeal"]))
    return out


@router.post(
    "/appeals/{reg_number}/notes",
    response_model=Note,
    status_code=201,
    summary="A note: internal (staff only) or public (the resident sees it)",
)
def add_note(reg_number: str, body: NoteIn, session: SessionDep, scope: StaffScopeDep) -> dict:
    conn = session.connection()
    appeal = reads.get_appeal(
        conn, scope.city_id, reg_number=reg_number.strip().upper(), actor=scope.actor
    )
    note = notes.add_note(conn, scope.city_id, appeal["id"], scope.actor, body.kind, body.body)
    session.commit()
    return note


@router.get("/organisations", response_model=list[OrganisationOut])
def organisations(session: SessionDep, scope: StaffScopeDep) -> list[dict]:
    return workspace.organisations(session.connection(), scope.city_id)


@router.get("/districts", response_model=list[DistrictOut])
def districts(session: SessionDep, scope: StaffScopeDep) -> list[dict]:
    return workspace.districts(session.connection(), scope.city_id)


@router.post(
    "/stream/ticket",
    response_model=StreamTicket,
    summary="A ticket, valid for a minute, to open the stream of changes",
)
async def stream_ticket(
    scope: StaffScopeDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)] = None,
) -> dict:
    if not token:  # StaffScopeDep let only a staff token through; kept for clarity
        raise NotAuthenticated("a stream ticket is given for a staff token")
    claims = read_token(token, settings.signing_key)
    return {"ticket": issue_ticket(claims, settings.signing_key), "expires_in": TICKET_SECONDS}


@router.get(
    "/stream",
    summary="Server-Sent Events: every change of an appeal the caller may see",
    description="`event: ready` once listening, then `event: appeal` with "
    '`{"kind": "event"|"note"|"bulk", "reg", "status"}` within moments of each commit; '
    "comment lines keep it open. It ends after 15 minutes or when the database connection "
    "is lost: open a new one with a new ticket and refetch.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the stream"},
        401: {"description": "the ticket is expired, forged, or a token instead of a ticket"},
    },
)
async def stream(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    ticket: Annotated[str, Query(max_length=2000, description="from POST /stream/ticket")],
) -> StreamingResponse:
    claims = read_ticket(ticket, settings.signing_key)
    actor, _ = await run_in_threadpool(db.read, current_actor, claims)
    scope = Scope(claims.city_id, actor)
    hub: AppealHub = request.app.state.appeal_hub
    try:
        sub = await hub.subscribe(scope)
    except ASYNCPG_OUTAGE as exc:  # nothing to listen with: the page retries
        raise Unavailable() from exc

    async def events():
        started = checked = time.monotonic()
        try:
            yield "retry: 2000\nevent: ready\ndata: {}\n\n"
            while True:
                try:
                    change = await asyncio.wait_for(sub.queue.get(), timeout=PING_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    now = time.monotonic()
                    if now - started > STREAM_MAX_S:
                        return
                    if now - checked > RECHECK_S:  # disabled, logged out, role taken away
                        checked = now
                        try:
                            await run_in_threadpool(db.read, current_actor, claims)
                        except TokenRefused:
                            return
                    yield ": ping\n\n"
                    continue
                if change is None:  # the hub lost its connection: reconnect and refetch
                    return
                yield message(change)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
