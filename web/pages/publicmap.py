"""The residents' public map: open and recent appeals at the object they are about, with
filters (category or group, status, period), from the vector tiles of the ``appeals_map``
layer (``layers/public_map.py``); a click shows the public card (``/public/track``) and the
photos staff approved. No personal data is on the page or in anything it loads."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection

from geo.appeals import states
from geo.city.catalog import list_categories
from layers.registry import APPEAL_STATUS_COLOURS
from web import assets, citymap, render

#: the periods a resident picks from, in days (the first is the default)
PERIODS = (90, 30, 7, 365)


def view(ctx: render.PageContext, conn: Connection, params: BaseModel) -> str:
    m = render.city_map(ctx, layers=("districts", "yards", "streets", "buildings"), zoom=14)
    if ("vectorGrid", assets.VECTORGRID_JS) not in m.default_js:
        m.default_js.append(("vectorGrid", assets.VECTORGRID_JS))  # the appeals' tiles
    categories = [
        {
            "code": c["code"],
            "group": c["group_code"],
            "name": c[f"name_{ctx.lang}"] or c["name_ru"],
        }
        for c in list_categories(conn)
    ]
    return render.page(
        ctx,
        ctx.t["map_page"],
        citymap.map_parts(m, layer_control=False),
        {
            "categories": categories,
            "periods": list(PERIODS),
            "minzoom": 13,
            "open_states": list(states.OPEN),
            "closed_states": list(states.CLOSED),
            "colours": APPEAL_STATUS_COLOURS,
        },
        periods=PERIODS,
    )
