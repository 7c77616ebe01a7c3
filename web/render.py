"""What every page shares: its context, the templates, the security headers, the formatters.

A page's view (``web/pages/<page>.py``) gets a :class:`PageContext` (language, city, map
source, the current query, the site's pages for the top bar) and returns
:func:`page` of its template. Scripts on the page get their settings and labels as one JSON
block (``#qala-config``) and talk only to this service's API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import folium
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection

from geo.city.basemap import CityView, city_names, city_view, district_labels
from layers.registry import APPEAL_STATUS_COLOURS
from web import assets, citymap, csp, i18n

if TYPE_CHECKING:
    from web.registry import Page

ENV = Environment(
    loader=PackageLoader("web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals["static"] = assets.static

#: the Content-Security-Policy of a page with its nonce (web.csp): the browser itself
#: refuses any other host and any inline script or style the page did not write; the other
#: security headers are on every answer (api.edges)
CSP = csp.page_policy


@dataclass
class PageContext:
    """What every page knows: which page, the site's pages, language, city, the map's tiled
    layers, the current query, and the nonce of this one answer."""

    page: Page
    pages: tuple[Page, ...]
    lang: str
    city: CityView
    # the base layers served as vector tiles (the others come as GeoJSON)
    tiled: frozenset[str] = frozenset()
    query: dict[str, str] = field(default_factory=dict)
    district_labels: list[dict] = field(default_factory=list)
    # the page's inline scripts and styles carry it; its CSP header names it (web.csp)
    nonce: str = field(default_factory=csp.new_nonce)
    # runs an analysis (geo.hotspots.workers.Analysis) outside the serving process, with
    # the API's bounds and cache; None: in the page's own thread (tests of a view alone)
    analyse: Callable[[Any], Any] | None = None
    # where this answer is served (a page with path parameters: /staff/PET-2026-000001)
    path: str | None = None
    # every city's name in the page's language, by code (the staff pages' city picker)
    cities: dict[str, str] = field(default_factory=dict)
    # who asks (geo.staff.scope.Scope): what a page keeps per viewer is kept under it; None:
    # a view rendered alone (tests)
    scope: Any = None

    @property
    def city_param(self) -> bool:
        """The page was asked for a city (``?city=HEL``): its links carry it on."""
        return "city" in self.query

    @property
    def t(self) -> dict[str, str]:
        return i18n.labels(self.lang)

    def href(self, name: str, **params) -> str:
        """The link to page ``name`` in this page's language (and city, when it was named)."""
        query = {"lang": self.lang, **params} if self.lang != i18n.DEFAULT_LANG else params
        if self.city_param:
            query = {**query, "city": self.city.code}
        path = next(p.path for p in self.pages if p.name == name)
        return f"{path}?{urlencode(query)}" if query else path

    def lang_links(self) -> list[dict]:
        """This page in every language, keeping the rest of its query."""
        path = self.path or self.page.path
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

    def nav(self) -> list[dict]:
        """The top bar's links: the pages declared with ``nav``, in the registry's order."""
        return [
            {
                "page": p.name,
                "label": self.t[p.label],
                "href": self.href(p.name),
                "current": p is self.page,
            }
            for p in self.pages
            if p.nav
        ]


def page_context(
    conn: Connection,
    page: Page,
    pages: tuple[Page, ...],
    city_id: int,
    lang: str | None,
    tiled: frozenset[str],
    query: dict[str, str],
    path: str | None = None,
) -> PageContext:
    """The context of ``page`` in the language asked for (Russian when none or unknown)."""
    language = i18n.pick_lang(lang)
    labels = [
        {"lat": d["lat"], "lon": d["lon"], "html": escape(d["name"])}  # a map label is HTML
        for d in district_labels(conn, city_id, language)
    ]
    return PageContext(
        page=page,
        pages=pages,
        lang=language,
        city=city_view(conn, city_id),
        tiled=tiled,
        query=query,
        district_labels=labels,
        path=path,
        cities=city_names(conn, language),
    )


def page(
    ctx: PageContext,
    title: str,
    m: citymap.MapParts | None = None,
    config: dict | None = None,
    **extra,
) -> str:
    """The HTML of ``ctx.page``: its template inside the shared frame (top bar, languages,
    ``#qala-config``, the map's script, ``qala.js`` and the page's own script)."""
    t = ctx.t
    conf = {
        "page": ctx.page.name,
        "lang": ctx.lang,
        "t": t,
        "vocab": i18n.vocabulary(ctx.lang),
        "map": m.name if m else None,
        "city": ctx.city.code,
        "city_param": ctx.city_param,
        "cities": ctx.cities,
        # the map's colours of the appeals' states: the layers' own table (layers.registry)
        "status_colours": APPEAL_STATUS_COLOURS,
        **(config or {}),
    }
    if m is not None:  # folium's inline blocks, allowed by the page's nonce
        m = citymap.MapParts(m.name, csp.with_nonce(m.header, ctx.nonce), m.html, m.script)
    return ENV.get_template(ctx.page.template).render(
        nonce=ctx.nonce,
        lang=ctx.lang,
        t=t,
        page=ctx.page.name,
        script=ctx.page.script,
        title=title,
        nav=ctx.nav(),
        href=ctx.href,
        map=m,
        config=conf,
        langs=ctx.lang_links(),
        city_name=ctx.city.names.get(ctx.lang),
        synthetic=ctx.city.synthetic,
        **extra,
    )


def fragment(ctx: PageContext, template: str, **extra) -> str:
    """A part of ``ctx.page`` alone (no frame): what its script asks for after the page
    has drawn (the planner's panels)."""
    return ENV.get_template(template).render(lang=ctx.lang, t=ctx.t, **extra)


def headers(ctx: PageContext) -> dict[str, str]:
    """The headers of the page ``ctx`` is for: its policy names its nonce."""
    return {"Content-Security-Policy": CSP(ctx.nonce)}


def city_map(ctx: PageContext, **kw) -> folium.Map:
    """The city's map in the page's language: vector tiles where the app serves them."""
    return citymap.city_map(ctx.city, ctx.t, ctx.tiled, district_labels=ctx.district_labels, **kw)


def money(value: float | None) -> str:
    """Tenge (or any count) with thin spaces between thousands; ``—`` for none."""
    if value is None:
        return "—"
    return f"{value:,.0f}".replace(",", "\u202f")


def percent(value: float | None) -> str:
    """A share as a whole percentage (``0.456`` → ``46%``); ``—`` for none."""
    return "—" if value is None else f"{value * 100:.0f}%"


def date(value: dt.date | None) -> str:
    """``dd.mm.yyyy``; ``—`` for none."""
    return value.strftime("%d.%m.%Y") if value else "—"


def typed_date(value: dt.date | None, lang: str) -> str:
    """A date as the pages' date fields take it (``_base/date_field.html``, ``Qala.isoDate``):
    ``dd.mm.yyyy``, ``dd/mm/yyyy`` in English; empty for none."""
    if value is None:
        return ""
    return value.strftime("%d/%m/%Y" if lang == "en" else "%d.%m.%Y")
