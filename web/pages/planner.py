"""The planner dashboard: the year's totals, hot spots on the map, appeals by category,
month and season, the top of the queue around the budget line (on-time ratings load in
``planner.js`` once a planner signs in)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import folium
from pydantic import BaseModel
from sqlalchemy import Connection

from geo.city.catalog import category_names
from geo.hotspots.run import HotspotQuery, run_hotspots, to_geojson
from geo.hotspots.workers import Analysis, Answer, Busy
from geo.infra.errors import InvalidInput
from geo.planning.ratings import statistics
from geo.planning.repair_queue import public_queue
from web import charts, citymap, render

SEASONS = ("winter", "spring", "summer", "autumn")
SEASON_COLORS = ["#5b8fc9", "#5fae6e", "#e0b040", "#c0703a"]
HOTSPOT_COLORS = {
    "hot_99": "#b2182b",
    "hot_95": "#ef8a62",
    "hot_90": "#fddbc7",
    "cold_90": "#d1e5f0",
    "cold_95": "#67a9cf",
    "cold_99": "#2166ac",
}


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    t = ctx.t
    # the year up to this hour: the hot spots' answer is shared by an hour's page views
    since = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    since -= dt.timedelta(days=365)
    stats = statistics(conn, ctx.city.id, since)
    categories = category_names(conn, ctx.lang)
    spots = hotspots(conn, ctx.city.id, since, ctx.analyse)
    queue = public_queue(conn, ctx.city.id)

    m = render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    if spots["features"]:
        _hotspot_layer(spots, t).add_to(m)
    by_cat = [(categories.get(r["key"], r["key"]), r["appeals"]) for r in stats["by_category"]]
    by_month = [(r["key"][5:] + "." + r["key"][2:4], r["appeals"]) for r in stats["by_month"]]
    season = {r["key"]: r["appeals"] for r in stats["by_season"]}
    by_season = [(t[s], season.get(s, 0)) for s in SEASONS]
    return render.page(
        ctx,
        t["planner"],
        citymap.map_parts(m),
        totals=stats["totals"],
        chart_category=charts.hbars(by_cat[:15], title=t["by_category"]),
        chart_month=charts.vbars(by_month, title=t["by_month"]),
        chart_season=charts.vbars(by_season, colors=SEASON_COLORS, title=t["by_season"]),
        n_hot=sum(f["properties"]["class"].startswith("hot") for f in spots["features"]),
        queue=queue_digest(queue.items, queue.line),
        line=queue.line,
        money=render.money,
        percent=render.percent,
    )


def hotspots(
    conn: Connection,
    city_id: int,
    since: dt.datetime,
    analyse: Callable[[Analysis], Answer] | None = None,
) -> dict:
    """Significant Gi* cells of the last year's appeals (none when there are too few, or
    when the service's analyses are all busy), on 250 m cells (counted by PostGIS in one
    scan, fast with millions of appeals); the API offers the data-driven defaults. With
    ``analyse`` the run takes the API's path (a worker process, the cache)."""
    q = HotspotQuery(since=since, cell_size=250)
    try:
        if analyse is None:
            collection = to_geojson(run_hotspots(conn, city_id, q))
        else:
            collection = json.loads(analyse(Analysis("hotspots", q, None, "geojson")).body)
    except (InvalidInput, Busy):
        return {"type": "FeatureCollection", "features": [], "parameters": {}}
    collection["features"] = [
        f for f in collection["features"] if f["properties"]["class"] != "not_significant"
    ]
    return collection


def _hotspot_layer(spots: dict, t: dict[str, str]) -> folium.GeoJson:
    return folium.GeoJson(
        spots,
        name=t["layer_hotspots"],
        style_function=lambda f: {
            "color": HOTSPOT_COLORS[f["properties"]["class"]],
            "weight": 0.5,
            "fillOpacity": 0.65,
            "fillColor": HOTSPOT_COLORS[f["properties"]["class"]],
        },
        tooltip=folium.GeoJsonTooltip(
            ["count", "z", "class"], aliases=[t["appeals"], "Gi* z", t["confidence"]]
        ),
    )


def queue_digest(queue: list[dict], line: dict, head: int = 10, around: int = 3) -> list[dict]:
    """The top of the queue and the yards either side of the budget line; ``gap`` marks
    where rows were left out."""
    cut = line["funded_yards"]
    keep = [q for q in queue if q["rank"] <= head or cut - around < q["rank"] <= cut + around]
    out, last = [], 0
    for q in keep:
        out.append({**q, "gap": q["rank"] != last + 1})
        last = q["rank"]
    return out
