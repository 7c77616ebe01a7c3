"""The OpenAPI document describes every answer the service gives, not only the happy one.

FastAPI documents each operation's success and its own ``HTTPValidationError``; the service
answers more, and in other shapes (``api/errors.py``). :func:`describe` post-processes the
document from what each route is made of, the same rules for every route:

* what its dependencies can refuse (:data:`DEPENDENCY_ANSWERS`: the database behind a
  session is 503 during an outage, an unknown city 404, staff credentials 401/403 …);
* what its request can be refused for: a body (400 unreadable, 413 too large, 422),
  parameters (422), a path naming something (404), a change to something that exists (409:
  the change conflicts with its state), the login (401 refused, 429 when throttled);
* what its tags answer (:data:`TAG_ANSWERS`: the map layers parse their own queries, 400;
  tiles answer 304 to a matching ``If-None-Match``);
* what the route says itself (its endpoint's ``answer_words``, :func:`own_words`): its words
  win, e.g. the analyses' 422 when the work would exceed the limit and 503 when their
  queue is full;
* the content types of its successes: ``format=csv`` is ``text/csv``, ``format=geojson``
  ``application/geo+json``; Open311 answers JSON and XML, its errors too, in the spec's shape
  (``Open311Route.error_model``).

Errors are ``{"detail": "..."}`` (:data:`ERROR`, ``ErrorDetail``); a 422 adds ``errors`` (one
per field) when the request did not match its schema (:data:`INVALID`, ``InvalidInput``), as
``api/errors.py`` writes them.
"""

from __future__ import annotations

import typing
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

ERROR = {
    "title": "ErrorDetail",
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "what is wrong, for a person"}},
    "required": ["detail"],
}
INVALID = {
    "title": "InvalidInput",
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "every problem, 'field: message; …'"},
        "errors": {
            "type": "array",
            "description": "one per field, when the request did not match its schema",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": ["string", "null"]},
                    "type": {"type": ["string", "null"]},
                },
            },
        },
        "change": {
            "type": "object",
            "description": "an analysis refused for its work: each parameter that would bring "
            "it under the limit, with the largest (or smallest) value that would pass",
            "additionalProperties": {"type": "number"},
        },
    },
    "required": ["detail"],
}
DESCRIPTIONS = {
    304: "Not modified: the client's copy (If-None-Match) is current",
    400: "Bad request: the body or a parameter cannot be read; the message says which",
    401: "Not authenticated: log in (POST /api/v1/auth/token) and send the Bearer token",
    403: "Forbidden: the role, city or organisation does not allow it, or the credentials "
    "are not valid",
    404: "Not found: no such city, appeal, object or resource",
    409: "Conflict: the change does not fit the current state (e.g. a transition not "
    "allowed from the appeal's status)",
    413: "The request body is larger than the service accepts (QALA_MAX_BODY_BYTES; a "
    "photo: QALA_PHOTO_MAX_BYTES)",
    415: "Unsupported media: the file is not a photo the service reads (JPEG, PNG, WebP, HEIC)",
    422: "Invalid input: what is wrong, field by field",
    429: "Too many attempts: wait Retry-After seconds",
    503: "The database is unavailable: the message says whether the request may have been "
    "saved (then retry with the same Idempotency-Key) or surely was not",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}

#: what a dependency (by its function's name) can refuse a request with
DEPENDENCY_ANSWERS: dict[str, set[int]] = {
    "get_session": {503},
    "get_db": {503},
    # the request's scope from its credentials (api.deps): a token refused, a key unknown,
    # another city than the credentials', an unknown city
    "get_scope": {401, 403, 404, 503},
    "get_staff_scope": {401, 403},
    "get_token_scope": {401, 403, 503},
    "get_admin_scope": {401, 403},
    "get_resident_scope": {401, 403},
}
#: what the routes of a tag answer besides
TAG_ANSWERS: dict[str, set[int]] = {"tiles": {304, 400}, "ogc": {400}}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FORMAT_TYPES = {
    "csv": ("text/csv", {"type": "string", "description": "a header row, then one per item"}),
    "geojson": (
        "application/geo+json",
        {"type": "object", "description": "a GeoJSON FeatureCollection (RFC 7946)"},
    ),
    "gpkg": (
        "application/geopackage+sqlite3",
        {"type": "string", "format": "binary", "description": "a GeoPackage (OGC 12-128r18)"},
    ),
}


def _dependency_names(dependant, seen: set[str]) -> set[str]:
    for sub in dependant.dependencies:
        seen.add(getattr(sub.call, "__name__", type(sub.call).__name__))
        _dependency_names(sub, seen)
    return seen


def _formats(route: APIRoute) -> set[str]:
    """The values of a ``format`` query parameter (a Literal), if the route has one."""
    for param in route.dependant.query_params:
        if param.name == "format":
            return {str(v) for v in typing.get_args(param.field_info.annotation)}
    return set()


def answers(route: APIRoute, login_path: str | None) -> set[int]:
    """The error statuses ``route`` can answer with."""
    codes: set[int] = set()
    for name in _dependency_names(route.dependant, set()):
        codes |= DEPENDENCY_ANSWERS.get(name, set())
    for tag in route.tags:
        codes |= TAG_ANSWERS.get(str(tag), set())
    d = route.dependant
    if route.body_field is not None:
        codes |= {400, 413, 422}
    if d.path_params:
        codes.add(404)
    if d.path_params or d.query_params or d.header_params or d.cookie_params:
        codes.add(422)
    if {p.name for p in d.path_params} - {"format"} and route.methods & WRITES:
        codes.add(409)  # a change to something that exists may not fit its state
    if login_path and route.path == login_path:
        codes |= {401, 429}  # a wrong password; too many of them
    return codes | set(own_words(route))


def own_words(route: APIRoute) -> dict[int, str]:
    """The words of a route that answers a status for more reasons than every route
    (``endpoint.answer_words``, status -> description: the analyses' 422 and 503)."""
    return dict(getattr(route.endpoint, "answer_words", {}))


def _routes(app: FastAPI) -> list[APIRoute]:
    try:  # FastAPI >= 0.160 keeps included routers whole
        from fastapi.routing import iter_route_contexts

        found = [c.original_route for c in iter_route_contexts(app.routes)]
    except ImportError:
        found = list(app.routes)
    return [r for r in found if isinstance(r, APIRoute) and r.include_in_schema]


def _error_content(route: APIRoute, status: int) -> dict:
    spec = getattr(type(route), "error_model", None)
    if spec is not None:  # Open311: the spec's errors, as JSON or XML
        ref = {"$ref": f"#/components/schemas/{spec.__name__}"}
        return {"application/json": {"schema": ref}, "text/xml": {"schema": {"type": "string"}}}
    name = "InvalidInput" if status == 422 else "ErrorDetail"
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _describe_operation(route: APIRoute, op: dict, login_path: str | None) -> None:
    responses = op.setdefault("responses", {})
    declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    own = own_words(route)
    for status in sorted(answers(route, login_path) | declared):
        entry = responses.setdefault(str(status), {})
        entry["description"] = own.get(status) or DESCRIPTIONS.get(
            status, entry.get("description", "")
        )
        if status == 304:
            continue  # no body
        entry["content"] = _error_content(route, status)
        if status in (429, 503):
            entry["headers"] = RETRY_AFTER
    formats = _formats(route)
    for code, entry in responses.items():
        if code.startswith("2"):
            content = entry.setdefault("content", {})
            for fmt, (media, schema) in FORMAT_TYPES.items():
                if fmt in formats:
                    content.setdefault(media, {"schema": schema})


def _add_model(schemas: dict, model: type) -> None:
    """``model``'s schema (and those it uses) in the components, if FastAPI left it out."""
    if model.__name__ in schemas:
        return
    found = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in found.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas[model.__name__] = found


def describe(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (FastAPI's OpenAPI of ``app``) with every answer of every operation."""
    login = getattr(app.state, "login_path", "/api/v1/auth/token")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for route in _routes(app):
        spec = getattr(type(route), "error_model", None)
        if spec is not None:
            _add_model(schemas, spec)
        item = document.get("paths", {}).get(route.path_format, {})
        for method in route.methods:
            op = item.get(method.lower())
            if op is not None:
                _describe_operation(route, op, login)
    schemas["ErrorDetail"], schemas["InvalidInput"] = ERROR, INVALID
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)  # FastAPI's 422, which this service never answers
    return document


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer the described document (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
