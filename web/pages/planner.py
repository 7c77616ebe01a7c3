"""The planner workspace: parameters (period, category or group, district, cell size, band,
p-value method) with their defaults; hot spots, emerging hot spots, failing objects,
clusters and the repair plan as switchable vector tile layers above the basemap, with
legends, tooltips in words and exports; the year's totals and charts; ratings of every body
(after signing in); repair planning over several years. The analyses run when the page asks
for them (``planner.js`` → ``/api/v1/planner/layers``), so the page itself is quick; the
default view's (hot spots and the statistics of the year) are computed when the service
starts (``api.routes.planner_map.warm_default_view``) and kept per data version."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, text

from geo.city.catalog import category_names
from geo.hotspots.workers import data_version
from geo.planning import map_layers
from geo.planning.failing import ClusterQuery
from geo.planning.ratings import statistics
from geo.planning.repair_queue import public_queue
from geo.staff.scope import Scope
from web import assets, charts, citymap, i18n, render
from web.pages import kept, planner_words

SEASONS = ("winter", "spring", "summer", "autumn")
SEASON_COLORS = ["#5b8fc9", "#5fae6e", "#e0b040", "#c0703a"]
HOTSPOT_COLORS = planner_words.HOT
#: the workspace's default view: hot spots of 250 m cells over the year up to today
DEFAULT_CELL_SIZE = 250
DEFAULT_DAYS = 365


def default_since(today: dt.date) -> dt.datetime:
    """The default period's start: whole days (UTC midnight), so that a day's page views
    share one cached analysis, and the server can compute it before anyone asks."""
    return dt.datetime.combine(today - dt.timedelta(days=DEFAULT_DAYS), dt.time(), dt.UTC)


class Params(BaseModel):
    """``part=panels``: only the year's totals, charts and the queue's top (the page asks
    for them once its map is drawn, when they were not computed yet)."""

    part: Literal["panels"] | None = None


def panels(
    ctx: render.PageContext, conn: Connection, since: dt.datetime, compute: bool = True
) -> dict | None:
    """What the page's panels show: the year's totals and charts, and the queue's top, kept
    per data version; ``compute=False``: None unless both are kept for the current data."""
    t = ctx.t
    if ctx.scope is not None:
        version = data_version(conn, ctx.scope.city_id)
        stats = year_statistics(conn, ctx.scope, since, version, compute)
        queue = kept.kept_queue(conn, ctx.scope, None, version, compute)
        if stats is None or queue is None:
            return None
    else:  # a view rendered alone (tests)
        stats = statistics(conn, ctx.city.id, since)
        queue = public_queue(conn, ctx.city.id)
    categories = category_names(conn, ctx.lang)
    by_cat = [(categories.get(r["key"], r["key"]), r["appeals"]) for r in stats["by_category"]]
    by_month = [(r["key"][5:] + "." + r["key"][2:4], r["appeals"]) for r in stats["by_month"]]
    season = {r["key"]: r["appeals"] for r in stats["by_season"]}
    by_season = [(t[s], season.get(s, 0)) for s in SEASONS]
    return {
        "totals": stats["totals"],
        "chart_category": charts.hbars(by_cat[:15], title=t["by_category"]),
        "chart_month": charts.vbars(by_month, title=t["by_month"]),
        "chart_season": charts.vbars(by_season, colors=SEASON_COLORS, title=t["by_season"]),
        "queue": queue_digest(queue.items, queue.line),
        "line": queue.line,
    }


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    t = ctx.t
    # the year up to today: the workspace's default period (whole days, so that the
    # analyses of a day's page views share one cached answer)
    today = dt.datetime.now(dt.UTC).date()
    since = default_since(today)
    if getattr(params, "part", None) == "panels":
        return render.fragment(
            ctx,
            "planner/panels.html",
            part=True,
            money=render.money,
            percent=render.percent,
            href=ctx.href,
            **panels(ctx, conn, since),
        )
    # The map's first layer is what a planner looks at first, and a new appeal makes the
    # year's totals and the queue (1-3 s over 2.3 million appeals) stale: when they are not
    # kept for the current data the page leaves their places waiting and asks for them
    # (``?part=panels``) once its map is drawn, so that the two do not compete.
    figures = panels(ctx, conn, since, compute=False)
    categories = category_names(conn, ctx.lang)
    words = planner_words.words(ctx.lang)

    m = render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    if ("vectorGrid", assets.VECTORGRID_JS) not in m.default_js:  # the analysis layers' tiles
        m.default_js.append(("vectorGrid", assets.VECTORGRID_JS))
    defaults = {
        "since": since.date().isoformat(),
        "until": "",
        "cell_size": DEFAULT_CELL_SIZE,
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
        since_shown=render.typed_date(since.date(), ctx.lang),
        clusters=ClusterQuery(),
        categories=sorted(categories.items(), key=lambda kv: kv[1]),
        groups=i18n.vocabulary(ctx.lang)["groups"],
        districts=districts(conn, ctx.city.id, ctx.lang),
        layers=map_layers.LAYERS,
        panels_ready=figures is not None,
        money=render.money,
        percent=render.percent,
        **(figures or {}),
    )


#: the year's statistics per (city, who sees which appeals, period start, data version)
STATS = kept.Kept()


def year_statistics(
    conn: Connection,
    scope: Scope,
    since: dt.datetime,
    version: tuple | None = None,
    compute: bool = True,
) -> dict | None:
    """The workspace's totals and charts (:func:`geo.planning.ratings.statistics` from
    ``since``), kept per data version as the analyses are (a new or changed appeal makes a
    new version; two index look-ups), at most :data:`web.pages.kept.TTL` seconds: a scan of
    the year's appeals (0.6 s at 200,000) once, not on every page view. The service computes
    the default period's ahead, when it starts (``api.routes.planner_map``). ``version``:
    the city's data version when the caller has read it; ``compute=False``: None when the
    statistics are not kept."""
    version = version or data_version(conn, scope.city_id)
    key = (scope.city_id, scope.role, scope.actor.organisation_id, since.isoformat(), version)
    if not compute:
        return STATS.get(key)
    return STATS.compute(key, lambda: statistics(conn, scope.city_id, since))


def forget_panels() -> None:
    """Drop the kept statistics and queues (tests: as if the data had changed)."""
    STATS.clear()
    kept.QUEUES.clear()


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
