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
import threading
import time
from collections import OrderedDict
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
from web.pages import planner_words

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


def panels(ctx: render.PageContext, conn: Connection, since: dt.datetime) -> dict:
    """What the page's panels show: the year's totals and charts, and the queue's top.
    Computed here (and kept per data version), whatever the cache held."""
    t = ctx.t
    if ctx.scope is not None:
        stats = year_statistics(conn, ctx.scope, since)
        queue = kept_queue(conn, ctx.scope)
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


def panels_ready(conn: Connection, scope, since: dt.datetime) -> bool:
    """Whether the panels' figures are kept for the current data (no computing needed)."""
    if scope is None:
        return True
    version = data_version(conn, scope.city_id)
    return _kept(_STATS, _stats_key(scope, since, version)) is not None and (
        _kept(_QUEUES, (scope.city_id, None, version, yards_version(conn, scope))) is not None
    )


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
    ready = panels_ready(conn, ctx.scope, since)
    figures = panels(ctx, conn, since) if ready else {}
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
        panels_ready=ready,
        money=render.money,
        percent=render.percent,
        **figures,
    )


#: the year's statistics per (city, who sees which appeals, period start, data version)
_STATS: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()
_QUEUES: OrderedDict[tuple, tuple[float, object]] = OrderedDict()  # the same, the queue
_STATS_LOCK = threading.Lock()
STATS_KEEP, STATS_TTL = 16, 300.0  # as the analyses' answers (QALA_ANALYSIS_CACHE_S)


def year_statistics(conn: Connection, scope: Scope, since: dt.datetime) -> dict:
    """The workspace's totals and charts (:func:`geo.planning.ratings.statistics` from
    ``since``), kept per data version as the analyses are (a new or changed appeal makes a
    new version; two index look-ups), at most :data:`STATS_TTL` seconds: a scan of the
    year's appeals (0.6 s at 200,000) once, not on every page view. The service computes
    the default period's ahead, when it starts (``api.routes.planner_map``)."""
    key = _stats_key(scope, since, data_version(conn, scope.city_id))
    stats = _kept(_STATS, key)
    if stats is None:
        stats = _keep(_STATS, key, statistics(conn, scope.city_id, since))
    return stats


def kept_queue(conn: Connection, scope: Scope, budget: float | None = None):
    """The public queue (:func:`geo.planning.repair_queue.public_queue`, cut by ``budget``),
    kept per data version as the statistics are: the same for every viewer of the city.
    Shared: its rows are not to be changed."""
    key = (scope.city_id, budget, data_version(conn, scope.city_id), yards_version(conn, scope))
    queue = _kept(_QUEUES, key)
    if queue is None:
        queue = _keep(_QUEUES, key, public_queue(conn, scope.city_id, budget))
    return queue


def yards_version(conn: Connection, scope: Scope) -> int:
    """The city's yards as the queue ranks them, cheaply (a hash of the fields a planner
    sets: ``geo.planning.repair_queue.set_repair``): a yard marked done or given dates
    leaves or moves in the queue at once, not when the next appeal arrives."""
    return conn.execute(
        text(
            "SELECT coalesce(sum(hashtext(concat_ws('|', id, repair_status, planned_start, "
            "planned_end, contractor_id, cost_estimate, last_repair_year, name))), 0) "
            "FROM yards WHERE city_id = :c"
        ),
        {"c": scope.city_id},
    ).scalar_one()


def forget_panels() -> None:
    """Drop the kept statistics and queues (tests: as if the data had changed)."""
    with _STATS_LOCK:
        _STATS.clear()
        _QUEUES.clear()


def _stats_key(scope: Scope, since: dt.datetime, version: tuple) -> tuple:
    return (scope.city_id, scope.role, scope.actor.organisation_id, since.isoformat(), version)


def _kept(cache: OrderedDict, key: tuple):
    """The value kept under ``key`` if it is younger than :data:`STATS_TTL`, else None."""
    with _STATS_LOCK:
        hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] <= STATS_TTL:
            cache.move_to_end(key)
            return hit[1]
    return None


def _keep(cache: OrderedDict, key: tuple, value):
    with _STATS_LOCK:
        cache[key] = (time.monotonic(), value)
        cache.move_to_end(key)
        while len(cache) > STATS_KEEP:
            cache.popitem(last=False)
    return value


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
