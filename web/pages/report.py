"""A resident reports a problem (``report.js`` asks the residents' API): the place (an
address, a tap on the map or the device's location), the category from a plain list by
group, a description, up to 5 photos, a contact that is never published; before sending,
the open appeals of that category nearby."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from geo.city.catalog import list_categories
from web import citymap, i18n, render


class Params(BaseModel):
    """No parameters of its own."""


def category_groups(conn: Connection, lang: str) -> list[dict]:
    """The categories by group, in the page's language: ``[{"name", "categories": [{"code",
    "name"}]}]`` (the groups as the vocabulary names them; never a raw code on the page)."""
    groups = i18n.vocabulary(lang)["groups"]
    column = {"kk": "name_kk", "en": "name_en"}.get(lang, "name_ru")
    out: dict[str, dict] = {}
    for c in list_categories(conn):
        group = out.setdefault(
            c["group_code"], {"name": groups.get(c["group_code"], c["group_code"]), "items": []}
        )
        group["items"].append({"code": c["code"], "name": c[column] or c["name_ru"]})
    return sorted(out.values(), key=lambda g: g["name"])


def view(ctx: render.PageContext, conn: Connection, params: Params) -> str:
    m = citymap.map_parts(
        render.city_map(ctx, layers=("districts", "streets", "buildings"), zoom=13),
        layer_control=False,
    )
    t = ctx.t
    return render.page(
        ctx,
        t["report"],
        m,
        {"max_photos": 5},
        groups=category_groups(conn, ctx.lang),
    )
