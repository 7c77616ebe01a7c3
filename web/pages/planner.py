"""The planner workspace: parameters (period, category or group, district, cell size, band,
p-value method) with their defaults; hot spots, emerging hot spots, failing objects,
clusters and the repair plan as switchable vector tile layers above the basemap, with
legends, tooltips in words and exports; the year's totals and charts; ratings of every body
(after signing in); repair planning over several years. The analyses run when the page asks
for them (``planner.js`` → ``/api/v1/planner/layers``), so the page itself is quick."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlalchemy import Connection, text

from geo.city.catalog import category_names
from geo.planning import map_layers
from geo.planning.ratings import statistics
from geo.planning.repair_queue import public_queue
from web import assets, charts, citymap, i18n, render
from web.pages import planner_words

SEASONS = ("winter", "spring", "summer", "autumn")
SEASON_COLORS = ["#5b8fc9", "#5fae6e", "#e0b040", "#c0703a"]
HOTSPOT_COLORS = planner_words.HOT


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    t = ctx.t
    # the year up to today: the workspace's default period (whole days, so that the
    # analyses of a day's page views share one cached answer)
    today = dt.datetime.now(dt.UTC).date()
    since = dt.datetime.combine(today - dt.timedelta(days=365), dt.time(), dt.UTC)
    stats = statistics(conn, ctx.city.id, since)
    categories = category_names(conn, ctx.lang)
    queue = public_queue(conn, ctx.city.id)
    words = planner_words.words(ctx.lang)

    m = render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    if ("vectorGrid", assets.VECTORGRID_JS) not in m.default_js:  # the analysis layers' tiles
        m.default_js.append(("vectorGrid", assets.VECTORGRID_JS))
    by_cat = [(categories.get(r["key"], r["key"]), r["appeals"]) for r in stats["by_category"]]
    by_month = [(r["key"][5:] + "." + r["key"][2:4], r["appeals"]) for r in stats["by_month"]]
    season = {r["key"]: r["appeals"] for r in stats["by_season"]}
    by_season = [(t[s], season.get(s, 0)) for s in SEASONS]
    defaults = {
        "since": (today - dt.timedelta(days=365)).isoformat(),
        "until": "",
        "cell_size": 250,
        "band": "",
        "p_method": "permutation",
        "step": "week",
    }
    return render.page(
        ctx,
        t["planner"],
        citymap.map_parts(m),
        config={
            "t": {**t, **words},
            "planner": {
                "defaults": defaults,
                "colours": planner_words.colours(),
                "orders": planner_words.orders(),
                "today": today.isoformat(),
            },
        },
        w=words,
        defaults=defaults,
        categories=sorted(categories.items(), key=lambda kv: kv[1]),
        groups=i18n.vocabulary(ctx.lang)["groups"],
        districts=districts(conn, ctx.city.id, ctx.lang),
        layers=map_layers.LAYERS,
        totals=stats["totals"],
        chart_category=charts.hbars(by_cat[:15], title=t["by_category"]),
        chart_month=charts.vbars(by_month, title=t["by_month"]),
        chart_season=charts.vbars(by_season, colors=SEASON_COLORS, title=t["by_season"]),
        queue=queue_digest(queue.items, queue.line),
        line=queue.line,
        money=render.money,
        percent=render.percent,
    )


def districts(conn: Connection, city_id: int, lang: str) -> list[tuple[int, str]]:
    """The city's districts (id, name in ``lang``; Russian when there is no Kazakh one)."""
    column = "coalesce(name_kk, name_ru)" if lang == "kk" else "name_ru"
    rows = conn.execute(
        text(f"SELECT id, {column} FROM districts WHERE city_id = :c ORDER BY 2"), {"c": city_id}
    )
    return [(r[0], r[1] or str(r[0])) for r in rows]


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
