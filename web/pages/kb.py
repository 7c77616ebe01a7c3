"""The operators' knowledge base (``/staff/kb``): the articles of every category, searched;
an admin edits one (``kb.js`` reads and writes ``/api/v1/staff/kb``; a stale edit is told
and shown the article as it is now). Other staff read."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from web import i18n, render


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    return render.page(ctx, ctx.t["kb"], None, languages=i18n.LANG_NAMES)
