"""A resident's own account: sign in with a one-time code, then their appeals (``me.js``
asks the residents' API with the session token; the page itself holds no appeal data)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from web import render


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    return render.page(ctx, ctx.t["me"])
