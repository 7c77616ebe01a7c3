"""The pages: Jinja2 templates around folium maps, in Russian, Kazakh or English.

Each ``*_page`` function takes plain data (what the route read from the database) and
returns the HTML. Scripts on the page get their settings and labels as one JSON block
(``#qala-config``) and talk only to this service's API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

import folium
from jinja2 import Environment, PackageLoader, select_autoescape

from web import assets, charts, citymap, csp, i18n
from web.data import CityView

ENV = Environment(
    loader=PackageLoader("web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals["static"] = assets.static

#: the Content-Security-Policy of a page with its nonce (web.csp): the browser itself
#: refuses any other host and any inline script the page did not write
CSP = csp.page_policy

NAV = ("home", "operator", "queue", "track", "planner")
NAV_PATHS = {
    "home": "/",
    "operator": "/operator",
    "queue": "/queue",
    "track": "/track",
    "planner": "/planner",
}
SEASONS = ("winter", "spring", "summer", "autumn")
HOTSPOT_COLORS = {
    "hot_99": "#b2182b",
    "hot_95": "#ef8a62",
    "hot_90": "#fddbc7",
    "cold_90": "#d1e5f0",
    "cold_95": "#67a9cf",
    "cold_99": "#2166ac",
}
#: as the city did: the first 70 yards of the queue were funded for the next year
DEFAULT_FUNDED = 70


@dataclass
class PageContext:
    """What every page knows: language, city, the map source, the current query."""

    lang: str
    city: CityView
    source: citymap.Source = "geojson"
    query: dict[str, str] = field(default_factory=dict)
    district_labels: list[dict] = field(default_factory=list)
    # the page's inline scripts and styles carry it; its CSP header names it (web.csp)
    nonce: str = field(default_factory=csp.new_nonce)

    @property
    def t(self) -> dict[str, str]:
        return i18n.labels(self.lang)

    def href(self, page: str, **params) -> str:
        query = {"lang": self.lang, **params} if self.lang != i18n.DEFAULT_LANG else params
        path = NAV_PATHS[page]
        return f"{path}?{urlencode(query)}" if query else path

    def lang_links(self, path: str) -> list[dict]:
        out = []
        for code in i18n.LANGS:
            q = {k: v for k, v in self.query.items() if k != "lang"}
            if code != i18n.DEFAULT_LANG:
                q["lang"] = code
            out.append(
                {
                    "code": code,
                    "name": i18n.LANG_NAMES[code],
                    "current": code == self.lang,
                    "href": f"{path}?{urlencode(q)}" if q else path,
                }
            )
        return out


def _render(
    template: str,
    ctx: PageContext,
    page: str,
    title: str,
    m: citymap.MapParts | None = None,
    config: dict | None = None,
    **extra,
) -> str:
    t = ctx.t
    nav = [{"page": p, "label": t[p], "href": ctx.href(p), "current": p == page} for p in NAV]
    conf = {
        "page": page,
        "lang": ctx.lang,
        "t": t,
        "vocab": i18n.vocabulary(ctx.lang),
        "map": m.name if m else None,
        "city": ctx.city.code,
        **(config or {}),
    }
    if m is not None:  # folium's inline blocks, allowed by the page's nonce
        m = citymap.MapParts(m.name, csp.with_nonce(m.header, ctx.nonce), m.html, m.script)
    return ENV.get_template(template).render(
        nonce=ctx.nonce,
        lang=ctx.lang,
        t=t,
        page=page,
        title=title,
        nav=nav,
        map=m,
        config=conf,
        langs=ctx.lang_links(NAV_PATHS[page]),
        city_name=ctx.city.names.get(ctx.lang),
        synthetic=ctx.city.synthetic,
        **extra,
    )


def _map(ctx: PageContext, **kw) -> folium.Map:
    return citymap.city_map(ctx.city, ctx.t, ctx.source, district_labels=ctx.district_labels, **kw)


def landing_page(ctx: PageContext) -> str:
    cards = [
        {"page": p, "title": ctx.t[p], "about": ctx.t[f"{p}_about"], "href": ctx.href(p)}
        for p in NAV[1:]
    ]
    return _render("landing.html", ctx, "home", ctx.t["site"], cards=cards)


def operator_page(ctx: PageContext) -> str:
    m = citymap.map_parts(_map(ctx, zoom=15))
    return _render("operator.html", ctx, "operator", ctx.t["operator"], m)


def track_page(ctx: PageContext, reg: str | None) -> str:
    m = citymap.map_parts(
        _map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13),
        layer_control=False,
    )
    return _render("track.html", ctx, "track", ctx.t["track"], m, {"reg": reg}, reg=reg or "")


def queue_page(
    ctx: PageContext,
    queue: list[dict],
    line: dict,
    budget: float | None,
    cost_per_m2: float,
    year: int,
) -> str:
    m = _map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
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
        for q in queue
    ]
    t = ctx.t
    folium.GeoJson(
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
    ).add_to(m)
    parts = citymap.map_parts(m)
    note = (
        t["budget_line_text"].format(year=year, sum=_money(line["funded_cost"]))
        if budget is not None
        else t["budget_assumed"].format(n=line["funded_yards"])
    )
    return _render(
        "queue.html",
        ctx,
        "queue",
        t["queue"],
        parts,
        queue=queue,
        line=line,
        budget_note=note,
        cost_note=t["cost_note"].format(cpm=_money(cost_per_m2)),
        money=_money,
        states=i18n.vocabulary(ctx.lang)["states"],
        date=_date,
    )


def planner_page(
    ctx: PageContext,
    stats: dict,
    categories: dict[str, str],
    hotspots: dict,
    queue: list[dict],
    line: dict,
) -> str:
    t = ctx.t
    m = _map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=13)
    if hotspots["features"]:
        folium.GeoJson(
            hotspots,
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
        ).add_to(m)
    parts = citymap.map_parts(m)
    by_cat = [(categories.get(r["key"], r["key"]), r["appeals"]) for r in stats["by_category"]]
    by_month = [(r["key"][5:] + "." + r["key"][2:4], r["appeals"]) for r in stats["by_month"]]
    season = {r["key"]: r["appeals"] for r in stats["by_season"]}
    by_season = [(t[s], season.get(s, 0)) for s in SEASONS]
    return _render(
        "planner.html",
        ctx,
        "planner",
        t["planner"],
        parts,
        totals=stats["totals"],
        chart_category=charts.hbars(by_cat[:15]),
        chart_month=charts.vbars(by_month),
        chart_season=charts.vbars(by_season, colors=["#5b8fc9", "#5fae6e", "#e0b040", "#c0703a"]),
        n_hot=sum(f["properties"]["class"].startswith("hot") for f in hotspots["features"]),
        queue=queue_digest(queue, line),
        line=line,
        money=_money,
        percent=_percent,
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


def _money(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}".replace(",", "\u202f")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _date(value: dt.date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else "—"
