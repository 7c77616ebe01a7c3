"""The public yard-asphalting queue: the rule, the budget line, every yard on the map and in
the table. Without a budget the city's own cut is shown (``geo.planning.repair_queue``)."""

from __future__ import annotations

from html import escape

import folium
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from geo.planning.repair_queue import explain_ranks, public_queue
from web import citymap, i18n, render
from web.pages.kept import kept_queue


class Params(BaseModel):
    budget: float | None = Field(None, ge=0, le=1e15, description="the year's budget, tenge")


def view(ctx: render.PageContext, conn: Connection, params: Params) -> str:
    if ctx.scope is not None:  # kept per data version (0.6 s to rank at 2.3M appeals)
        # rows of its own (cut from the kept ranking): the page writes its words into them
        queue = kept_queue(conn, ctx.scope, params.budget)
    else:  # a view rendered alone (tests)
        queue = public_queue(conn, ctx.city.id, params.budget)
    t = ctx.t
    why = explain_ranks(queue.items)
    for q in queue.items:  # the page's language where the data has it, else the original
        q["shown_address"] = q["address_kk"] if ctx.lang == "kk" else q["address"]
        q["why"] = _why(why[q["yard_id"]], t)
    m = render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    # the yards' markers in a pane of their own, above the yards' fill and the buildings
    folium.map.CustomPane(MARKS_PANE, z_index=650).add_to(m)
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
        {"legend": {"funded": FUNDED[1], "unfunded": UNFUNDED[1], "yard_fill": YARD_FILL}},
        queue=queue.items,
        line=line,
        budget_note=note,
        cost_note=t["cost_note"].format(cpm=render.money(queue.cost_per_m2)),
        money=render.money,
        states=i18n.vocabulary(ctx.lang)["states"],
        date=render.date,
    )


MARKS_PANE = "queue-marks"
FUNDED = ("#1d4d2b", "#3f9a5a")  # stroke, fill: the legend takes the same
UNFUNDED = ("#7a4a12", "#e0a040")
YARD_FILL = citymap.LAYERS_BY_NAME["yards"].style["fillColor"]


def _why(e: dict, t: dict[str, str]) -> str:
    """Why a yard has its rank, in the page's language, by the API's rule (explain_rank)."""
    return t["queue_why_text"].format(
        rank=e["rank"],
        apts=e["apartments"],
        appeals=e["appeals"],
        area=f"{e['area_m2']:.0f}",
        more_apts=e["ahead_by_apartments"],
        more_appeals=e["ahead_by_appeals"],
        larger=e["ahead_by_area"],
        tie=e["ahead_by_tie_break"],
    )


def _yards_layer(items: list[dict], t: dict[str, str]) -> folium.GeoJson:
    """The queue's yards as points, funded ones green, with rank, address and counts."""
    features = [
        {
            "type": "Feature",
            "properties": {
                "rank": q["rank"],
                "yard": q["yard_id"],
                "address": escape(q["shown_address"]),  # the tooltip is HTML
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
        marker=folium.CircleMarker(
            radius=7, weight=2, fill=True, fill_opacity=0.95, pane=MARKS_PANE
        ),
        style_function=lambda f: {
            "color": (FUNDED if f["properties"]["funded"] else UNFUNDED)[0],
            "fillColor": (FUNDED if f["properties"]["funded"] else UNFUNDED)[1],
        },
        tooltip=folium.GeoJsonTooltip(
            ["rank", "address", "apartments", "appeals"],
            aliases=[t["rank"], t["address"], t["apartments"], t["appeals_n"]],
        ),
    )
