"""Map layers over HTTP: vector tiles, TileJSON and OGC API – Features, from the registry.

:class:`LayerRoutes` walks :data:`layers.registry.LAYERS` and registers, for every layer,

* ``GET /tiles/{layer}/{z}/{x}/{y}.pbf``: a Mapbox Vector Tile (WebMercatorQuad, XYZ);
* ``GET /tiles/{layer}.json``: its TileJSON 3.0;
* ``GET /ogc/collections/{layer}``, ``.../items`` and ``.../items/{id}``: OGC API – Features;

plus the shared ``/tiles``, ``/ogc``, ``/ogc/conformance`` and ``/ogc/collections``. Nothing
here knows a layer by name: its filters become documented query parameters, its visibility
the staff check. Staff layers answer 401 without a Bearer token.

(No ``from __future__ import annotations`` here: the route functions are closures, and
FastAPI must see their ``Depends(...)`` objects, not strings naming local variables.)
"""

import datetime as dt
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import ScopeDep, SessionDep
from api.ogc_openapi import OPENAPI_30, ogc_openapi
from geo.appeals.states import STATES
from geo.infra.errors import NotAuthenticated, NotFound
from geo.staff.scope import Scope
from layers import features as feats
from layers.cql import LANGS, cql_where
from layers.filters import BadQuery, Selection
from layers.registry import LAYERS, Layer
from layers.tiles import Tile, check_tile, mvt_field_types, render_tile

MVT = "application/vnd.mapbox-vector-tile"
GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
]  # not oas30: FastAPI describes the API in OpenAPI 3.1
SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
ITEM_PARAMS = {"bbox", "datetime", "limit", "offset", "city", "f", "filter", "filter-lang"}
RESERVED = ITEM_PARAMS | {"z", "x", "y"}
CELL_FIELDS = {
    "count": "Number",
    **{s: "Number" for s in STATES},
}


def cql_filter(layer: Layer, request: Request) -> tuple[str, dict] | None:
    """The request's ``filter`` (CQL2 text) as SQL, or None without one."""
    text = request.query_params.get("filter")
    lang = request.query_params.get("filter-lang", "cql2-text")
    if text is None:
        return None
    if lang not in LANGS:
        raise BadQuery(f"filter-lang: {lang!r} is not supported; use {' or '.join(LANGS)}")
    return cql_where(layer, text)


def bad_request(exc: BadQuery) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


def filter_params(layer: Layer) -> Callable[..., dict[str, str | None]]:
    """A dependency whose query parameters are the layer's filters (for the OpenAPI too)."""
    params = []
    for f in layer.filters:
        if f.name in RESERVED:
            raise ValueError(f"layer {layer.name!r}: filter name {f.name!r} is reserved")
        doc = f.doc or (f"comma-separated: {', '.join(f.values)}" if f.values else f.name)
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[str | None, Query(description=doc, max_length=2000)],
            )
        )

    def dependency(**raw: str | None) -> dict[str, str | None]:
        return raw

    dependency.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return dependency


def etag_response(request: Request, body: bytes, media_type: str, headers: dict) -> Response:
    """The body with a strong ETag; ``304`` when the client already holds it."""
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {**headers, "ETag": tag}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


class LayerRoutes:
    """One factory for every layer's routes (titiler's ``BaseFactory.register_routes``).

    Parameters
    ----------
    layers : the declared layers, by name.
    tiles_prefix, ogc_prefix : where the tiles and the OGC API live.
    """

    def __init__(
        self, layers: Mapping[str, Layer], tiles_prefix: str = "/tiles", ogc_prefix: str = "/ogc"
    ) -> None:
        self.layers = layers
        self.tiles = tiles_prefix
        self.ogc = ogc_prefix
        self.types: dict[str, dict[str, dict]] = {}  # JSON Schema types of each layer's columns
        self.router = APIRouter()
        self.register_routes()

    # -- who may see what ---------------------------------------------------------------
    @staticmethod
    def selection(
        layer: Layer,
        scope: Scope,
        raw: dict,
        datetime: str | None = None,
    ) -> Selection:
        """The layer's filters for this caller; the city is the scope's (get_scope refused a
        ``?city=`` other than the credentials')."""
        organisation = None
        if not layer.public:
            if not scope.is_staff:
                raise NotAuthenticated(
                    f"layer {layer.name!r} is for staff: log in "
                    "(POST /api/v1/auth/token) and send "
                    "'Authorization: Bearer <token>'"
                )
            if not scope.actor.sees_everything:
                organisation = scope.actor.organisation_id or -1
        try:
            return Selection.parse(layer, raw, datetime=datetime, scope=organisation)
        except BadQuery as exc:
            raise bad_request(exc) from None

    def visible(self, scope: Scope) -> list[Layer]:
        return [la for la in self.layers.values() if la.public or scope.is_staff]

    @staticmethod
    def cache_control(layer: Layer) -> dict[str, str]:
        scope = "public" if layer.public else "private"
        # the city of a request without ?city= is its credentials' (get_scope): a cache
        # must not hand one caller's city to another, public layers included
        return {
            "Cache-Control": f"{scope}, max-age={layer.cache_seconds}",
            "Vary": "Authorization, X-API-Key",
        }

    # -- registration ----------------------------------------------------------------------
    def register_routes(self) -> None:
        self.router.add_api_route(
            self.tiles,
            self.tile_index,
            methods=["GET"],
            tags=["tiles"],
            summary="The map layers and their TileJSON",
        )
        self.router.add_api_route(
            self.ogc,
            self.landing,
            methods=["GET"],
            tags=["ogc"],
            summary="OGC API – Features landing page",
        )
        self.router.add_api_route(
            f"{self.ogc}/api",
            self.api_doc,
            methods=["GET"],
            tags=["ogc"],
            summary="The OGC API's own description (OpenAPI 3.0), for GIS clients",
            responses={200: {"content": {OPENAPI_30: {"schema": {"type": "object"}}}}},
        )
        self.router.add_api_route(
            f"{self.ogc}/conformance",
            self.conformance,
            methods=["GET"],
            tags=["ogc"],
            summary="Conformance classes implemented",
        )
        self.router.add_api_route(
            f"{self.ogc}/collections",
            self.collections,
            methods=["GET"],
            tags=["ogc"],
            summary="Feature collections (one per map layer)",
        )
        for layer in self.layers.values():
            self.register_layer(layer)
        self.register_not_found()

    def register_layer(self, layer: Layer) -> None:
        """The tile, TileJSON and OGC routes of one layer, each made by its own method."""
        filters = filter_params(layer)
        name, title = layer.name, layer.title.get("en", layer.name)
        access = "" if layer.public else " (staff: Bearer token)"
        add = self.router.add_api_route
        add(
            f"{self.tiles}/{name}/{{z}}/{{x}}/{{y}}.pbf",
            self.tile_route(layer, filters),
            methods=["GET"],
            tags=["tiles"],
            response_class=Response,
            summary=f"{title}: vector tile{access}",
            responses={200: {"content": {MVT: {}}, "description": "a Mapbox Vector Tile"}},
            name=f"tile_{name}",
        )
        add(
            f"{self.tiles}/{name}.json",
            self.tilejson_route(layer, filters),
            methods=["GET"],
            tags=["tiles"],
            summary=f"{title}: TileJSON{access}",
            name=f"tilejson_{name}",
        )
        add(
            f"{self.ogc}/collections/{name}",
            self.collection_route(layer),
            methods=["GET"],
            tags=["ogc"],
            summary=f"{title}: collection{access}",
            name=f"collection_{name}",
        )
        for part, summary in (
            ("schema", "typed JSON Schema of its features (describedby)"),
            ("queryables", "the properties a query may filter on (OGC API – Features Part 3)"),
        ):
            add(
                f"{self.ogc}/collections/{name}/{part}",
                self.schema_route(layer, part),
                methods=["GET"],
                tags=["ogc"],
                response_class=JSONResponse,
                summary=f"{title}: {summary}{access}",
                responses={200: {"content": {SCHEMA_JSON: {}}}},
                name=f"{part}_{name}",
            )
        add(
            f"{self.ogc}/collections/{name}/items",
            self.items_route(layer, filters),
            methods=["GET"],
            tags=["ogc"],
            response_class=Response,
            summary=f"{title}: features (GeoJSON){access}",
            responses={200: {"content": {GEOJSON: {}}}},
            name=f"items_{name}",
        )
        add(
            f"{self.ogc}/collections/{name}/items/{{featureId}}",
            self.item_route(layer),
            methods=["GET"],
            tags=["ogc"],
            response_class=Response,
            summary=f"{title}: one feature{access}",
            responses={200: {"content": {GEOJSON: {}}}},
            name=f"item_{name}",
        )

    def tile_route(self, layer: Layer, filters: Callable) -> Callable[..., Response]:
        """``GET /tiles/{layer}/{z}/{x}/{y}.pbf``: one vector tile, with a strong ETag."""

        def tile(
            request: Request,
            session: SessionDep,
            scope: ScopeDep,
            raw: Annotated[dict, Depends(filters)],
            z: Annotated[int, Path(ge=0, le=22)],
            x: Annotated[int, Path(ge=0)],
            y: Annotated[int, Path(ge=0)],
        ) -> Response:
            city = scope.city_id
            sel = self.selection(layer, scope, raw)
            try:
                check_tile(z, x, y)
            except ValueError as exc:
                raise NotFound(str(exc)) from None
            made: Tile = render_tile(session.connection(), layer, sel, city, z, x, y)
            headers = {
                **self.cache_control(layer),
                "X-Qala-Tile": made.kind,
                "X-Qala-Counted": str(made.counted),
            }
            return etag_response(request, made.data, MVT, headers)

        return tile

    def tilejson_route(self, layer: Layer, filters: Callable) -> Callable[..., JSONResponse]:
        """``GET /tiles/{layer}.json``: the layer's TileJSON, its filters passed on."""

        def tilejson(
            request: Request,
            session: SessionDep,
            scope: ScopeDep,
            raw: Annotated[dict, Depends(filters)],
        ) -> JSONResponse:
            self.selection(layer, scope, raw)
            return JSONResponse(
                self.tilejson_doc(request, session, layer, scope.city_id),
                headers=self.cache_control(layer),
            )

        return tilejson

    def collection_route(self, layer: Layer) -> Callable[..., JSONResponse]:
        """``GET /ogc/collections/{layer}``: the collection with its extent in the city."""

        def collection(request: Request, session: SessionDep, scope: ScopeDep) -> JSONResponse:
            city = scope.city_id
            self.selection(layer, scope, {})
            doc = self.collection_doc(request, layer)
            doc["extent"] = feats.extent(session.connection(), layer, city)
            return JSONResponse(doc)

        return collection

    def schema_route(self, layer: Layer, part: str) -> Callable[..., JSONResponse]:
        """``GET /ogc/collections/{layer}/schema`` or ``.../queryables``: JSON Schema from
        the database's types of the layer's columns (kept per process: they change only
        with a migration)."""
        make = feats.feature_schema if part == "schema" else feats.queryables

        def schema(request: Request, session: SessionDep, scope: ScopeDep) -> JSONResponse:
            self.selection(layer, scope, {})
            types = self.types.get(layer.name)
            if types is None:
                types = self.types[layer.name] = feats.column_types(
                    session.connection(), layer, scope.city_id
                )
            doc = make(types, layer, layer.title.get("en", layer.name))
            doc["$id"] = self.url(request, f"{self.ogc}/collections/{layer.name}/{part}")
            return JSONResponse(doc, media_type=SCHEMA_JSON)

        return schema

    def items_route(self, layer: Layer, filters: Callable) -> Callable[..., Response]:
        """``GET /ogc/collections/{layer}/items``: a page of features, with paging links."""

        def items(
            request: Request,
            session: SessionDep,
            scope: ScopeDep,
            raw: Annotated[dict, Depends(filters)],
            bbox: Annotated[
                str | None,
                Query(
                    description="minLon,minLat,maxLon,maxLat (CRS84)",
                    examples=["69.10,54.85,69.20,54.90"],
                ),
            ] = None,
            datetime: Annotated[
                str | None,
                Query(
                    description="an RFC 3339 instant or interval (start/end, '..' for "
                    "open); on the layer's time column"
                ),
            ] = None,
            limit: Annotated[
                str | None,
                Query(
                    description=f"features per page, 1..{feats.MAX_LIMIT} (default "
                    f"{feats.DEFAULT_LIMIT}; more is served as the maximum)"
                ),
            ] = None,
            offset: Annotated[str | None, Query(description="features to skip")] = None,
            cql: Annotated[
                str | None,
                Query(
                    alias="filter",
                    description="CQL2 text on the queryables, run on the server, e.g. "
                    "status = 'assigned' AND category IN ('ice', 'garbage')",
                ),
            ] = None,
            cql_lang: Annotated[
                str | None,
                Query(alias="filter-lang", description="cql2-text (the default) or cql-text"),
            ] = None,
        ) -> Response:
            self.check_params(request, layer)
            city = scope.city_id
            sel = self.selection(layer, scope, raw, datetime)
            try:
                page = feats.Page.parse(bbox, limit, offset)
                extra = cql_filter(layer, request)
            except BadQuery as exc:
                raise bad_request(exc) from None
            matched, returned, features = feats.feature_page(
                session.connection(), layer, sel, city, page, extra
            )
            head = {
                "type": "FeatureCollection",
                "numberMatched": matched,
                "numberReturned": returned,
                "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "links": self.page_links(request, layer, page, matched, returned),
            }
            body = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": ' + features + "}"
            return Response(body, media_type=GEOJSON, headers=self.cache_control(layer))

        return items

    def item_route(self, layer: Layer) -> Callable[..., Response]:
        """``GET /ogc/collections/{layer}/items/{featureId}``: one feature by its id."""

        def item(
            request: Request,
            session: SessionDep,
            scope: ScopeDep,
            feature_id: Annotated[str, Path(alias="featureId", max_length=64)],
        ) -> Response:
            city = scope.city_id
            sel = self.selection(layer, scope, {})
            fid: int | str | None = feature_id
            if layer.id_type == "int":
                try:
                    fid = int(feature_id)
                except ValueError:
                    fid = None
                if fid is None or abs(fid) >= 2**63:
                    raise NotFound(f"no feature {feature_id!r} in {layer.name!r}: ids are integers")
            found = feats.one_feature(session.connection(), layer, sel, city, fid)
            if found is None:
                raise NotFound(f"no feature {feature_id!r} in {layer.name!r}")
            feature = json.loads(found)
            base = self.url(request, f"{self.ogc}/collections/{layer.name}")
            feature["links"] = [
                {"rel": "self", "type": GEOJSON, "href": str(request.url)},
                {"rel": "collection", "type": "application/json", "href": base},
            ]
            return Response(
                json.dumps(feature, ensure_ascii=False),
                media_type=GEOJSON,
                headers=self.cache_control(layer),
            )

        return item

    def register_not_found(self) -> None:
        """Unknown layers get a 404 that names the known ones (registered last)."""

        def unknown(layer: str) -> None:
            raise NotFound(f"no layer {layer!r}; layers: {', '.join(self.layers)}")

        for path in (
            f"{self.tiles}/{{layer}}/{{z}}/{{x}}/{{y}}.pbf",
            f"{self.tiles}/{{layer}}.json",
            f"{self.ogc}/collections/{{layer}}",
            f"{self.ogc}/collections/{{layer}}/items",
            f"{self.ogc}/collections/{{layer}}/items/{{featureId}}",
        ):
            self.router.add_api_route(path, unknown, methods=["GET"], include_in_schema=False)

    # -- documents ---------------------------------------------------------------------------
    @staticmethod
    def url(request: Request, path: str, query: str = "") -> str:
        return str(request.base_url).rstrip("/") + path + (f"?{query}" if query else "")

    def check_params(self, request: Request, layer: Layer) -> None:
        allowed = ITEM_PARAMS | {f.name for f in layer.filters}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise HTTPException(
                400,
                detail=f"unknown query parameter(s) {', '.join(unknown)};"
                f" {layer.name!r} takes {', '.join(sorted(allowed))}",
            )

    def page_links(
        self, request: Request, layer: Layer, page: feats.Page, matched: int, returned: int
    ) -> list[dict]:
        def at(offset: int) -> str:
            return str(request.url.include_query_params(offset=offset, limit=page.limit))

        links = [
            {"rel": "self", "type": GEOJSON, "href": str(request.url)},
            {
                "rel": "collection",
                "type": "application/json",
                "href": self.url(request, f"{self.ogc}/collections/{layer.name}"),
            },
        ]
        if page.offset + returned < matched:
            links.append(
                {
                    "rel": "next",
                    "type": GEOJSON,
                    "title": "next page",
                    "href": at(page.offset + page.limit),
                }
            )
        if page.offset > 0:
            links.append(
                {
                    "rel": "prev",
                    "type": GEOJSON,
                    "title": "previous page",
                    "href": at(max(page.offset - page.limit, 0)),
                }
            )
        return links

    def collection_doc(self, request: Request, layer: Layer) -> dict[str, Any]:
        base = self.url(request, f"{self.ogc}/collections/{layer.name}")
        city = request.query_params.get("city")
        query = urlencode({"city": city}) if city else ""
        doc: dict[str, Any] = {
            "id": layer.name,
            "title": layer.title.get("en", layer.name),
            "description": layer.description,
            "itemType": "feature",
            "crs": [CRS84],
            "links": [
                {"rel": "self", "type": "application/json", "href": base},
                {
                    "rel": "items",
                    "type": GEOJSON,
                    "href": f"{base}/items" + (f"?{query}" if query else ""),
                },
                {
                    "rel": "describedby",
                    "type": SCHEMA_JSON,
                    "title": "the features' properties, typed",
                    "href": f"{base}/schema",
                },
                {
                    "rel": QUERYABLES_REL,
                    "type": SCHEMA_JSON,
                    "title": "the properties a query may filter on",
                    "href": f"{base}/queryables",
                },
                {
                    "rel": "alternate",
                    "type": "application/vnd.mapbox.tilejson+json",
                    "title": "TileJSON of the vector tiles",
                    "href": self.url(request, f"{self.tiles}/{layer.name}.json", query),
                },
            ],
            "titles": dict(layer.title),
            "geometry": layer.geometry_type,
            "visibility": layer.visibility,
            "filters": [
                {"name": f.name, "kind": f.kind, "values": list(f.values)} for f in layer.filters
            ],
        }
        if layer.style:
            doc["style"] = {
                "property": layer.style.property,
                "colours": dict(layer.style.colours),
                "default": layer.style.default,
            }
        return doc

    def tilejson_doc(self, request: Request, session, layer: Layer, city: int) -> dict:
        ext = feats.extent(session.connection(), layer, city)["spatial"]["bbox"][0]
        passed = urlencode(request.query_params.multi_items())
        template = self.url(request, f"{self.tiles}/{layer.name}/{{z}}/{{x}}/{{y}}.pbf", passed)
        fields = mvt_field_types(session.connection(), layer)
        fields.pop(layer.id_column, None)
        if layer.aggregation:
            fields.update(CELL_FIELDS)
        doc = {
            "tilejson": "3.0.0",
            "name": layer.name,
            "description": layer.description or layer.title.get("en", layer.name),
            "version": "1.0.0",
            "scheme": "xyz",
            "tiles": [template],
            "minzoom": layer.minzoom,
            "maxzoom": layer.maxzoom,
            "bounds": ext,
            "center": [
                (ext[0] + ext[2]) / 2,
                (ext[1] + ext[3]) / 2,
                max(layer.minzoom, min(12, layer.maxzoom)),
            ],
            "vector_layers": [
                {
                    "id": layer.name,
                    "fields": fields,
                    "minzoom": layer.minzoom,
                    "maxzoom": layer.maxzoom,
                    "description": layer.title.get("en", layer.name),
                }
            ],
        }
        if layer.aggregation:
            agg = layer.aggregation
            doc["aggregation"] = {
                "below_zoom": agg.below_zoom,
                "grid": agg.grid,
                "max_points": agg.max_points,
                "note": f"below zoom {agg.below_zoom}, and in tiles holding more than "
                f"{agg.max_points} appeals, features are grid cells with 'count' "
                "(and counts by status); every appeal is counted",
            }
        if layer.style:
            doc["style"] = {
                "property": layer.style.property,
                "colours": dict(layer.style.colours),
                "default": layer.style.default,
            }
        return doc

    # -- shared routes ---------------------------------------------------------------------
    def tile_index(self, request: Request, scope: ScopeDep) -> dict:
        return {
            "layers": [
                {
                    "name": la.name,
                    "titles": dict(la.title),
                    "geometry": la.geometry_type,
                    "visibility": la.visibility,
                    "tilejson": self.url(request, f"{self.tiles}/{la.name}.json"),
                    "tiles": self.url(request, f"{self.tiles}/{la.name}/{{z}}/{{x}}/{{y}}.pbf"),
                }
                for la in self.visible(scope)
            ]
        }

    def landing(self, request: Request) -> dict:
        return {
            "title": "Qala Map: OGC API – Features",
            "description": "The city map layers (buildings, yards, wells, streets, districts) "
            "and the appeals of the 109 centre as GeoJSON features.",
            "links": [
                {"rel": "self", "type": "application/json", "href": self.url(request, self.ogc)},
                {
                    "rel": "service-desc",
                    "type": OPENAPI_30,
                    "href": self.url(request, f"{self.ogc}/api"),
                },
                {
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.1",
                    "href": self.url(request, request.app.openapi_url or "/openapi.json"),
                },
                {
                    "rel": "service-doc",
                    "type": "text/html",
                    "href": self.url(request, request.app.docs_url or "/docs"),
                },
                {
                    "rel": "conformance",
                    "type": "application/json",
                    "href": self.url(request, f"{self.ogc}/conformance"),
                },
                {
                    "rel": "data",
                    "type": "application/json",
                    "href": self.url(request, f"{self.ogc}/collections"),
                },
            ],
        }

    def api_doc(self, request: Request, scope: ScopeDep) -> JSONResponse:
        doc = ogc_openapi(
            self.url(request, self.ogc), "Qala Map: OGC API – Features", self.visible(scope)
        )
        return JSONResponse(doc, media_type=OPENAPI_30)

    def conformance(self) -> dict:
        return {"conformsTo": CONFORMANCE}

    def collections(self, request: Request, scope: ScopeDep) -> dict:
        return {
            "links": [
                {
                    "rel": "self",
                    "type": "application/json",
                    "href": self.url(request, f"{self.ogc}/collections"),
                }
            ],
            "collections": [self.collection_doc(request, la) for la in self.visible(scope)],
        }


def __getattr__(name: str) -> APIRouter:
    """``router``: the routes of the layers declared when the app is built (a layer
    registered after this module is imported, but before ``create_app``, is included)."""
    if name == "router":
        return LayerRoutes(LAYERS).router
    raise AttributeError(name)


__all__ = ["LayerRoutes"]  # and `router`, made on access (see __getattr__)
