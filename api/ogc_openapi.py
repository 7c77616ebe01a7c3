"""The OGC API's own description (``/ogc/api``, OpenAPI 3.0): the landing page's
``service-desc`` for GIS clients.

GDAL's OAPIF driver looks up each collection's items operation in the API description under
the path *relative to the landing page* (``/collections/buildings/items``), and there reads
which query parameters filter on the server: a parameter named like a field is sent as
``?status=…``, and a ``filter-lang`` parameter whose enum holds ``cql-text`` makes it send
its attribute filters as CQL text (``filter=…&filter-lang=cql-text``, answered by
:mod:`layers.cql`). ``/openapi.json`` describes the whole service under its full paths
(``/ogc/collections/…``), where GDAL finds nothing; hence this second, smaller document.

``limit`` is declared with its default and maximum (:data:`layers.features.DEFAULT_LIMIT`,
:data:`~layers.features.MAX_LIMIT`): GDAL 3.8 and later page at the maximum; GDAL 3.6 (Debian
12) does not read it and pages at 10 unless told ``-oo PAGE_SIZE=1000`` (docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from layers import features as feats
from layers.cql import LANGS, queryable_filters
from layers.registry import Layer

OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
GEOJSON = "application/geo+json"

PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": f"features per page; more than {feats.MAX_LIMIT} is served as "
        f"{feats.MAX_LIMIT}",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": feats.MAX_LIMIT,
            "default": feats.DEFAULT_LIMIT,
        },
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "default": 0},
    },
    "bbox": {
        "name": "bbox",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "minLon,minLat,maxLon,maxLat (CRS84)",
        "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
    },
    "datetime": {
        "name": "datetime",
        "in": "query",
        "required": False,
        "description": "an RFC 3339 instant or interval, on the layer's time column",
        "schema": {"type": "string"},
    },
    "filter": {
        "name": "filter",
        "in": "query",
        "required": False,
        "description": "a CQL2 text filter on the queryables, run on the server, e.g. "
        "status = 'assigned' AND category IN ('ice', 'garbage')",
        "schema": {"type": "string"},
    },
    "filter-lang": {
        "name": "filter-lang",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(LANGS), "default": LANGS[0]},
    },
}


def _queryable_params(layer: Layer) -> list[dict]:
    out = []
    for f in queryable_filters(layer).values():
        schema: dict[str, Any] = {"type": "integer" if f.value_type == "int" else "string"}
        if f.values:
            schema["enum"] = list(f.values)
        out.append(
            {
                "name": f.name,
                "in": "query",
                "required": False,
                "style": "form",
                "explode": False,
                "description": f.doc or f"{f.name} (comma-separated values)",
                "schema": schema,
            }
        )
    return out


def _json(description: str, media: str = "application/json") -> dict:
    return {"200": {"description": description, "content": {media: {}}}}


def ogc_openapi(base: str, title: str, layers: list[Layer]) -> dict:
    """The OpenAPI 3.0 document of the OGC API at ``base`` for these (visible) layers.

    >>> from layers.registry import get_layer
    >>> doc = ogc_openapi("http://x/ogc", "t", [get_layer("appeals")])
    >>> limit = doc["components"]["parameters"]["limit"]["schema"]
    >>> limit["default"], limit["maximum"]
    (100, 10000)
    >>> "/collections/appeals/items" in doc["paths"]
    True
    """
    refs = [{"$ref": f"#/components/parameters/{name}"} for name in PARAMETERS]
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "landing page", "responses": _json("the landing page")}},
        "/conformance": {"get": {"summary": "conformance", "responses": _json("classes")}},
        "/collections": {"get": {"summary": "collections", "responses": _json("collections")}},
    }
    for layer in layers:
        name = layer.name
        paths[f"/collections/{name}"] = {
            "get": {"summary": f"{name}: the collection", "responses": _json("the collection")}
        }
        paths[f"/collections/{name}/items"] = {
            "get": {
                "summary": f"{name}: features",
                "operationId": f"items_{name}",
                "parameters": refs + _queryable_params(layer),
                "responses": _json("a page of features", GEOJSON),
            }
        }
        paths[f"/collections/{name}/items/{{featureId}}"] = {
            "get": {
                "summary": f"{name}: one feature",
                "parameters": [
                    {
                        "name": "featureId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer" if layer.id_type == "int" else "string"},
                    }
                ],
                "responses": _json("a feature", GEOJSON),
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0"},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"parameters": PARAMETERS},
    }


__all__ = ["OPENAPI_30", "ogc_openapi"]
