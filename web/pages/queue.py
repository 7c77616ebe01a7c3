"""The public yard-asphalting queue: the rule, the budget line, every yard on the map and in
the table. Without a budget the city's own cut is shown (``geo.planning.repair_queue``)."""

from __future__ import annotations

from html import escape

import folium
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from geo.planning.repair_queue import public_queue
from web import citymap, i18n, render


class Params(BaseModel):
    budget: float | None = Field(None, ge=0, le=1e15, description="the year's budget, tenge")


def view(ctx: render.PageContext, conn: Connection, params: Params) -> str:
    queue = public_queue(conn, ctx.city.id, params.budget)
    t = ctx.t
    m = render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    _yards_layer(queue.items, t).add_to(m)
    line = queue.line
    note = (
        t["budget_line_text"].format(year=queue.year, sum=render.money(line["funded_cost"]))
        if queue.budget is not None
        else t["budget_assumed"].format(n=line["funded_yards"])
    )
    return render.page(
        ctx,
        t["queue"],
        citymap.map_parts(m),
        queue=queue.items,
        line=line,
        budget_note=note,
        cost_note=t["cost_note"].format(cpm=render.money(queue.cost_per_m2)),
        money=render.money,
        states=i18n.vocabulary(ctx.lang)["states"],
        date=render.date,
    )


def _yards_layer(items: list[dict], t: dict[str, str]) -> folium.GeoJson:
    """The queue's yards as points, funded ones green, with rank, address and counts."""
    features = [
        {
            "type": "Feature",
            "properties": {
                "rank": q["rank"],
                "address": escape(q["address"]),  # the tooltip is HTML
                "apartments": q["apartments"],
                "appeals": q["appeals"],
                "funded": q["funded"],
            },
            "geometry": {"type": "Point", "coordinates": [round(q["lon"], 6), round(q["lat"], 6)]},
        }
        for q in items
    ]
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=t["layer_queue"],
        marker=folium.CircleMarker(radius=6, weight=1, fill=True, fill_opacity=0.9),
        style_function=lambda f: {
            "color": "#1d4d2b" if f["properties"]["funded"] else "#7a4a12",
            "fillColor": "#3f9a5a" if f["properties"]["funded"] else "#e0a040",
        },
        tooltip=folium.GeoJsonTooltip(
            ["rank", "address", "apartments", "appeals"],
            aliases=[t["rank"], t["address"], t["apartments"], t["appeals_n"]],
        ),
    )
