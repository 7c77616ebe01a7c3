"""One appeal for staff: its place on the map, the applicant, the description, photos, the
whole event log, notes, its original and repeats, and the actions the state machine offers
the signed-in role (``appeal.js`` reads it all from the API once staff sign in: the page
itself holds nothing of the appeal, so an executor of another organisation is shown the
API's 403, never the appeal)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from web import citymap, render


class Params(BaseModel):
    # from the path (/staff/{reg}); optional only for the query model the route validates
    reg: str | None = Field(None, max_length=32, description="the appeal's registration number")


def view(ctx: render.PageContext, conn: Connection, params: Params) -> str:
    m = citymap.map_parts(
        render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=15),
        layer_control=False,
    )
    reg = (params.reg or "").strip().upper()
    return render.page(ctx, f"{reg} · {ctx.t['appeal']}", m, {"reg": reg}, reg=reg)
