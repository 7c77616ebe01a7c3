"""The edges of every answer: the request body limit and the security headers.

* Bodies larger than ``QALA_MAX_BODY_BYTES`` (1 MiB) are refused with 413 and a message
  saying the limit (:class:`BodyLimit`): by their ``Content-Length`` before a byte is read,
  and while they stream (no or a false length) as soon as the limit is passed, so nothing
  larger is ever parsed. The refusal is raised where the app reads the body, so each part
  answers it in its own format (Open311 in the spec's); FastAPI's ``max_body_size`` would
  replace every such answer with a plain "Content Too Large".
* Every answer, API, page, tile, static file and error alike, carries
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``, ``X-Frame-Options: DENY`` and a
  Content-Security-Policy (``default-src 'none'; frame-ancestors 'none'`` unless the page
  set its own, which also forbids framing), plus HSTS when the request came over TLS: its
  scheme is https, ``QALA_BEHIND_TLS`` says a proxy always terminates TLS in front, or a
  proxy of ``QALA_TRUSTED_PROXIES`` says ``X-Forwarded-Proto: https``. The headers are added
  outside everything else, so a 500 or a 413 answered by a middleware has them too.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.infra.settings import Settings

#: the policy of any answer that is not a page: it loads nothing and is never framed
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "content-security-policy": API_CSP,
}


def too_large(limit: int) -> str:
    """What a 413 says."""
    return (
        f"the request body is too large: this service accepts at most {limit} bytes "
        f"({limit / 1024 / 1024:g} MiB)"
    )


#: the routes a photo is posted to: their bodies may be as large as a photo and a form
PHOTO_ROUTES = re.compile(
    r"^(/api/v1/appeals/[^/]+/photos|/api/v1/photos/gps|/open311/v2/requests\.(json|xml))$"
)
REPORT_ROUTE = "/api/v1/report"
FORM_ROOM = 64 * 1024  # the form's other fields and the multipart framing around a photo


def body_limit(settings: Settings, method: str, path: str, content_type: str = "") -> int:
    """The largest body accepted by ``method`` ``path``: ``QALA_MAX_BODY_BYTES``, or where a
    photo is posted (multipart), room for one of ``QALA_PHOTO_MAX_BYTES``."""
    if (
        method == "POST"
        and content_type.lower().startswith("multipart/form-data")
        and PHOTO_ROUTES.match(path)
    ):
        return max(settings.max_body_bytes, settings.photo_max_bytes + FORM_ROOM)
    if method == "POST" and path == REPORT_ROUTE and content_type.lower().startswith("multipart/"):
        # a resident's report carries up to report_max_photos photos in one request
        room = settings.photo_max_bytes * settings.report_max_photos + FORM_ROOM
        return max(settings.max_body_bytes, room)
    return settings.max_body_bytes


def too_large_for(settings: Settings, method: str, path: str, content_type: str = "") -> str:
    """What a 413 of ``method`` ``path`` says (a photo route names the photo's limit)."""
    limit = body_limit(settings, method, path, content_type)
    if limit == settings.max_body_bytes:
        return too_large(limit)
    most = settings.photo_max_bytes
    return (
        f"the request body is too large: a photo may have at most {most} bytes "
        f"({most / 2**20:g} MB), the whole request at most {limit} bytes"
    )


class BodyLimit:
    """ASGI middleware: a request body larger than ``limit`` bytes is never read whole.

    The app's ``receive`` raises ``HTTPException(413)`` on the first read when the
    ``Content-Length`` says more than ``limit``, and as soon as the bytes received pass it
    otherwise; FastAPI hands the exception to the app's handlers. One that escapes them
    (the response not started yet) is answered here."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        kind = headers.get("content-type", "")
        limit = body_limit(self.settings, scope["method"], scope["path"], kind)
        refusal = too_large_for(self.settings, scope["method"], scope["path"], kind)
        try:
            announced = int(headers.get("content-length", "0"))
        except ValueError:
            announced = 0
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            if announced > limit:
                raise HTTPException(413, refusal)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, refusal)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: the headers of :data:`HEADERS` on every HTTP answer (a header the
    answer set itself is kept), and HSTS over TLS."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.behind_tls = settings.behind_tls
        self.proxies = {p.strip() for p in settings.trusted_proxies.split(",") if p.strip()}

    def over_tls(self, scope: Scope) -> bool:
        if self.behind_tls or scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        if client and client[0] in self.proxies:
            forwarded = Headers(scope=scope).get("x-forwarded-proto", "")
            # the proxy nearest to us writes the last value
            return forwarded.split(",")[-1].strip().lower() == "https"
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = self.over_tls(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if tls:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    """Limit request bodies and put the security headers outside the whole app."""

    @app.exception_handler(413)
    async def body_too_large(request: Request, exc: Exception):
        kind = request.headers.get("content-type", "")
        detail = too_large_for(settings, request.method, request.url.path, kind)
        return JSONResponse({"detail": detail}, status_code=413)

    build = app.build_middleware_stack
    # outermost, around Starlette's ServerErrorMiddleware: a 500 carries the headers too
    app.build_middleware_stack = lambda: SecurityHeaders(BodyLimit(build(), settings), settings)  # type: ignore[method-assign]
