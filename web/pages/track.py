"""A resident follows an appeal by its number (``track.js`` asks the public API)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from web import citymap, render


class Params(BaseModel):
    reg: str | None = Field(None, max_length=32, description="a registration number")


def view(ctx: render.PageContext, conn: Connection, params: Params) -> str:
    m = citymap.map_parts(
        render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13),
        layer_control=False,
    )
    reg = params.reg
    return render.page(ctx, ctx.t["track"], m, {"reg": reg}, reg=reg or "")
