"""The staff work list: filters, counts per status, the table and the map of the same query
side by side (``staff.js`` reads the API once staff sign in, and follows the live stream)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from geo.city.catalog import list_categories
from web import citymap, i18n, render


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    m = citymap.map_parts(
        render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    )
    column = {"kk": "name_kk", "en": "name_en"}.get(ctx.lang, "name_ru")
    categories = [
        {"code": c["code"], "name": c[column], "group": c["group_code"]}
        for c in list_categories(conn)
    ]
    vocab = i18n.vocabulary(ctx.lang)
    return render.page(
        ctx,
        ctx.t["staff"],
        m,
        categories=categories,
        groups=vocab["groups"],
        states=vocab["states"],
        channels=vocab["channels"],
    )
