"""The operator console: address search, the place card and the registration form beside
the map (``operator.js`` does the work through the API once an operator signs in)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from web import citymap, render


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    m = citymap.map_parts(render.city_map(ctx, zoom=15, vector_grid=True))
    return render.page(ctx, ctx.t["operator"], m)
