"""The home page: the site's name and one card per page that declares one."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from web import render


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    cards = [
        {"page": p.name, "title": ctx.t[p.label], "about": ctx.t[p.about], "href": ctx.href(p.name)}
        for p in ctx.pages
        if p.about
    ]
    return render.page(ctx, ctx.t["site"], cards=cards)
