"""What residents see: follow an appeal by its number. No personal data of anyone, and the
address as the city map knows it, never the caller's own words."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import ScopeDep, SessionDep
from api.schemas import TrackOut
from geo.appeals import notes, public, reads

router = APIRouter(prefix="/public", tags=["public"])


@router.get(
    "/track/{reg_number}",
    response_model=TrackOut,
    summary="Status, history, deadline and place of an appeal by its number",
)
def track(
    reg_number: Annotated[str, Path(max_length=32)], session: SessionDep, scope: ScopeDep
) -> dict:
    conn, city = session.connection(), scope.city_id
    appeal = reads.get_appeal(conn, city, reg_number=reg_number.strip().upper())
    appeal.update(public.map_address(conn, appeal))  # never the caller's own words
    appeal["queue_yard"] = public.queue_yard(conn, appeal)
    return {
        "appeal": appeal,
        "history": reads.history(conn, city, appeal["id"], staff=False),
        "media": reads.media(conn, city, appeal["id"]),
        "notes": notes.notes(conn, city, appeal["id"], staff=False),
    }
