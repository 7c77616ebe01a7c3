"""The city map as a folium map: the city's own layers are the basemap, no tile server.

Folium writes the Leaflet map; everything it links is ours (``web.assets``): Leaflet and
Leaflet.VectorGrid from npm, served under ``/static/vendor``. A layer comes as vector tiles
(``/tiles/{layer}/{z}/{x}/{y}.pbf``) when the app serves tiles of it, else as GeoJSON for
the visible bounding box from the pages' own endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote

import folium
from folium.map import Layer
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from geo.city.basemap import CityView
from web import assets

# every request names the city (a public request's scope is the city it names)
TILE_URL = "/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf?city={city}"
GEOJSON_URL = "/web/api/layers/{layer}.geojson?city={city}"
BACKGROUND = "#ece8df"  # the land between the layers: the map has no raster basemap


@dataclass(frozen=True)
class BaseLayer:
    """One layer of the basemap: its style (Leaflet path options) and from which zoom on."""

    name: str
    style: dict
    min_zoom: int = 0
    points: bool = False


BASE_LAYERS: tuple[BaseLayer, ...] = (
    BaseLayer(
        "districts",
        {
            "color": "#8c7b62",
            "weight": 2,
            "dashArray": "6 4",
            "fill": True,
            "fillColor": "#f6f3ec",
            "fillOpacity": 0.35,
            "opacity": 0.9,
        },
    ),
    BaseLayer(
        "yards",
        {
            "color": "#8fb47a",
            "weight": 0.6,
            "fill": True,
            "fillColor": "#cfe5bf",
            "fillOpacity": 0.75,
        },
        min_zoom=13,
    ),
    BaseLayer("streets", {"color": "#ffffff", "weight": 5, "opacity": 1, "lineCap": "round"}),
    BaseLayer(
        "buildings",
        {
            "color": "#a48d72",
            "weight": 0.7,
            "fill": True,
            "fillColor": "#d8c7b0",
            "fillOpacity": 0.95,
        },
        min_zoom=15,
    ),
    BaseLayer(
        "wells",
        {
            "radius": 3,
            "color": "#2d5f8b",
            "weight": 1,
            "fill": True,
            "fillColor": "#5b9bd5",
            "fillOpacity": 0.9,
        },
        min_zoom=17,
        points=True,
    ),
)
LAYERS_BY_NAME = {layer.name: layer for layer in BASE_LAYERS}


class BboxGeoJson(Layer):
    """A GeoJSON layer that loads the features of the visible bounding box on each move.

    Folium's own ``GeoJson(embed=False)`` needs jQuery and a synchronous request; this one
    uses ``fetch`` and drops stale answers.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON(null, {
            interactive: false,
            style: function () { return {{ this.style|tojson }}; },
            pointToLayer: function (f, latlng) {
                return L.circleMarker(latlng, {{ this.style|tojson }});
            }
        });
        (function (layer, map) {
            var seq = 0;
            function load() {
                if (!map.hasLayer(layer)) { return; }
                if (map.getZoom() < {{ this.min_zoom }}) { layer.clearLayers(); return; }
                var b = map.getBounds().pad(0.25), mine = ++seq;
                var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
                    .map(function (v) { return v.toFixed(5); }).join(',');
                fetch({{ this.url|tojson }} + '&bbox=' + bbox)
                    .then(function (r) { return r.ok ? r.json() : null; })
                    .then(function (fc) {
                        if (fc && mine === seq) { layer.clearLayers(); layer.addData(fc); }
                    });
            }
            map.on('moveend', load);
            layer.on('add', load);
        })({{ this.get_name() }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """)

    def __init__(self, url: str, name: str, style: dict, min_zoom: int = 0, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "BboxGeoJson"
        self.url = url
        self.style = style
        self.min_zoom = min_zoom


class VectorTiles(VectorGridProtobuf):
    """Leaflet.VectorGrid from our own /static/vendor, one vector tile layer of ``layers/``.

    The zooms at which the server makes tiles come from the layer's declaration; deeper
    zooms are overzoomed by the browser.
    """

    default_js = [("vectorGrid", assets.VECTORGRID_JS)]

    def __init__(self, layer: BaseLayer, label: str, city: str, show: bool = True):
        tile_min, tile_max = tile_zooms(layer.name)
        style = json.dumps(layer.style)
        options = (
            # the basemap yields to the page's own data: its tiles are fetched at low priority
            # (Chromium orders a host's queued requests by it), so that a page's analysis or
            # list is not queued behind the 60-odd tiles of three base layers
            "{rendererFactory: L.canvas.tile, interactive: false, fetchOptions: {priority: 'low'}, "
            f"minZoom: {max(layer.min_zoom, tile_min)}, maxNativeZoom: {tile_max}, "
            "vectorTileLayerStyles: new Proxy({}, {get: function () { return "
            f"{style}; }}}})}}"
        )
        url = TILE_URL.format(layer=layer.name, city=quote(city))
        super().__init__(url, name=label, options=options, show=show)


def tile_zooms(name: str) -> tuple[int, int]:
    """(minzoom, maxzoom) of a declared tile layer; (0, 16) when it is not declared."""
    try:
        from layers.registry import get_layer

        declared = get_layer(name)
    except (ImportError, KeyError):
        return 0, 16
    return declared.minzoom, declared.maxzoom


class CityLabels(Layer):
    """District names written on the map (the vector basemap has no text of its own)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup(
            {{ this.labels|tojson }}.map(function (d) {
                return L.marker([d.lat, d.lon], {interactive: false, keyboard: false,
                    icon: L.divIcon({className: 'qala-district-label', html: d.html,
                                     iconSize: null})});
            }));
        {% endmacro %}
        """)

    def __init__(self, labels: list[dict], name: str):
        super().__init__(name=name, overlay=True, control=False, show=True)
        self._name = "CityLabels"
        self.labels = labels


def city_map(
    view: CityView,
    labels: dict[str, str],
    tiled: Collection[str] = (),
    layers: tuple[str, ...] = tuple(LAYERS_BY_NAME),
    zoom: int = 14,
    district_labels: list[dict] | None = None,
    min_zoom: int = 11,
    vector_grid: bool = False,
) -> folium.Map:
    """A folium map of the city with its own layers as the basemap.

    Parameters
    ----------
    view : where the city is.
    labels : the page's labels (``web.i18n.labels``) for the layer names.
    tiled : the layers the app serves as vector tiles (``/tiles/...``); the others come
        from the pages' own GeoJSON endpoint.
    layers : which base layers, bottom first.
    vector_grid : load Leaflet.VectorGrid whatever the source (the staff maps' appeals).
    """
    pad_lat = (view.north - view.south) * 0.5
    pad_lon = (view.east - view.west) * 0.5
    m = folium.Map(
        location=view.center,
        zoom_start=zoom,
        tiles=None,
        min_zoom=min_zoom,
        max_zoom=19,
        control_scale=True,
        prefer_canvas=True,
        max_bounds=True,
        min_lat=view.south - pad_lat,
        max_lat=view.north + pad_lat,
        min_lon=view.west - pad_lon,
        max_lon=view.east + pad_lon,
    )
    # instance lists: folium's add_js_link would change the class's shared list
    m.default_js = [("leaflet", assets.LEAFLET_JS)]
    m.default_css = [("leaflet_css", assets.LEAFLET_CSS)]
    if vector_grid:  # the staff maps draw the appeals from the vector tiles (qala.js)
        m.default_js.append(("vectorGrid", assets.VECTORGRID_JS))
    for name in layers:
        layer = LAYERS_BY_NAME[name]
        label = labels.get(f"layer_{name}", name)
        if name in tiled:
            VectorTiles(layer, label, view.code).add_to(m)
        else:
            url = GEOJSON_URL.format(layer=name, city=quote(view.code))
            BboxGeoJson(url, label, layer.style, layer.min_zoom).add_to(m)
    if district_labels:
        CityLabels(district_labels, labels.get("layer_districts", "districts")).add_to(m)
    return m


@dataclass(frozen=True)
class MapParts:
    """A rendered folium map cut into what goes into the page's head, body and end."""

    name: str  # the JavaScript variable holding the Leaflet map
    header: str
    html: str
    script: str


#: the pages' viewport: folium's own says ``maximum-scale=1.0, user-scalable=no``, which
#: stops people who need to from zooming the page with two fingers (WCAG 1.4.4)
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
_FOLIUM_VIEWPORT = re.compile(r'<meta\s+name="viewport"[^>]*>')


def map_parts(m: folium.Map, layer_control: bool = True) -> MapParts:
    """Render ``m``; the layer switcher is added last so that it lists every layer."""
    if layer_control:
        folium.LayerControl(collapsed=True, position="topright").add_to(m)
    figure = m.get_root()
    figure.render()
    header = _FOLIUM_VIEWPORT.sub(VIEWPORT, figure.header.render())
    return MapParts(m.get_name(), header, figure.html.render(), figure.script.render())
