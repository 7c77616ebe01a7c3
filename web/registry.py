"""Every page of the site, declared once.

A :class:`Page` says where the page is served, which template and script it has, whom it is
for, how the top bar and the home page name it, and which view builds it. The routes are
generated from :data:`PAGES` (``api/routes/pages.py``, one loop), the top bar and the home
page's cards too, so adding a page is: one entry here, its view in ``web/pages/<name>.py``,
its template in ``web/templates/<name>/page.html``, its script (if any) in
``web/static/<name>.js``, and its words in ``web/i18n.py``.

>>> [p.path for p in PAGES if p.nav]
['/operator', '/staff', '/queue', '/track', '/report', '/planner']
>>> get_page("queue").template
'queue/page.html'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection

from web.pages import (
    appeal,
    home,
    kb,
    me,
    operator,
    planner,
    publicmap,
    queue,
    report,
    staff,
    track,
)
from web.render import PageContext

Audience = Literal["public", "staff"]
View = Callable[[PageContext, Connection, BaseModel], str]


class NoParams(BaseModel):
    """A page that takes no query parameters of its own (``lang`` and ``city`` are shared)."""


@dataclass(frozen=True)
class Page:
    """One page of the site.

    Parameters
    ----------
    name : its name: the ``page`` in its config and the ``page-<name>`` class of its body.
    path : where it is served; ``{name}`` parts are path parameters, fields of ``params``.
    template : its template under ``web/templates``.
    script : its own script under ``web/static`` (after the shared ``qala.js``), or none.
    audience : ``public`` (residents) or ``staff`` (the page asks staff to sign in for
        what needs it; the page itself is served to anyone, like the API's public parts).
    label : the ``web/i18n.py`` key of its link in the top bar.
    about : the key of the line under its card on the home page; ``None``: no card.
    nav : whether the top bar links it (the home page is the brand link instead).
    view : builds the page's HTML from the context, a connection and its parameters.
    params : its own query parameters (a pydantic model the API validates: a 422 when bad).
    """

    name: str
    path: str
    template: str
    script: str | None
    audience: Audience
    label: str
    about: str | None
    nav: bool
    view: View
    params: type[BaseModel] = NoParams


PAGES: tuple[Page, ...] = (
    Page(
        "home",
        "/",
        "home/page.html",
        None,
        "public",
        label="home",
        about=None,
        nav=False,
        view=home.view,
    ),
    Page(
        "operator",
        "/operator",
        "operator/page.html",
        "operator.js",
        "staff",
        label="operator",
        about="operator_about",
        nav=True,
        view=operator.view,
    ),
    Page(
        "staff",
        "/staff",
        "staff/page.html",
        "staff.js",
        "staff",
        label="staff",
        about="staff_about",
        nav=True,
        view=staff.view,
    ),
    # before /staff/{reg}: the routes are matched in this order
    Page(
        "kb",
        "/staff/kb",
        "kb/page.html",
        "kb.js",
        "staff",
        label="kb",
        about="kb_about",
        nav=False,
        view=kb.view,
    ),
    Page(
        "appeal",
        "/staff/{reg}",
        "appeal/page.html",
        "appeal.js",
        "staff",
        label="appeal",
        about=None,
        nav=False,
        view=appeal.view,
        params=appeal.Params,
    ),
    Page(
        "queue",
        "/queue",
        "queue/page.html",
        "queue.js",
        "public",
        label="queue",
        about="queue_about",
        nav=True,
        view=queue.view,
        params=queue.Params,
    ),
    Page(
        "track",
        "/track",
        "track/page.html",
        "track.js",
        "public",
        label="track",
        about="track_about",
        nav=True,
        view=track.view,
        params=track.Params,
    ),
    Page(
        "me",
        "/me",
        "me/page.html",
        "me.js",
        "public",
        label="me",
        about="me_about",
        nav=False,
        view=me.view,
    ),
    Page(
        "map",
        "/map",
        "map/page.html",
        "map.js",
        "public",
        label="map_page",
        about="map_about",
        nav=False,
        view=publicmap.view,
    ),
    Page(
        "report",
        "/report",
        "report/page.html",
        "report.js",
        "public",
        label="report",
        about="report_about",
        nav=True,
        view=report.view,
        params=report.Params,
    ),
    Page(
        "planner",
        "/planner",
        "planner/page.html",
        "planner.js",
        "staff",
        label="planner",
        about="planner_about",
        nav=True,
        view=planner.view,
        params=planner.Params,
    ),
)


def get_page(name: str) -> Page:
    """The page called ``name``."""
    for p in PAGES:
        if p.name == name:
            return p
    raise KeyError(f"no page {name!r}: one of {', '.join(p.name for p in PAGES)}")
