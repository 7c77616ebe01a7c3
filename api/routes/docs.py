"""The API docs: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), from the service's own assets
(npm packages under ``/static/vendor``: they work without any network), only when
``QALA_DOCS`` allows them (by default everywhere but in production; closed, both are 404).

``/openapi.json`` stays: the OGC API landing page names it as the service description.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from geo.infra.settings import Settings
from web import assets, csp

DOCS, REDOC, OAUTH2_REDIRECT = "/docs", "/redoc", "/docs/oauth2-redirect"


def docs_policy(nonce: str) -> str:
    """The docs pages' Content-Security-Policy: scripts from here or with the nonce only.
    Styles may be inline: Swagger UI and ReDoc (styled-components) write them at run time;
    ReDoc runs its search in a worker made from a blob."""
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _page(page: HTMLResponse) -> HTMLResponse:
    nonce = csp.new_nonce()
    body = csp.with_nonce(page.body.decode(), nonce)
    return HTMLResponse(body, headers={"Content-Security-Policy": docs_policy(nonce)})


def install(app: FastAPI, settings: Settings) -> None:
    """The docs routes, if the settings allow them (create the app with ``docs_url=None``
    and ``redoc_url=None``)."""
    if not settings.docs_enabled:
        return
    router = APIRouter(include_in_schema=False)
    title = f"{app.title}: API"

    @router.get(DOCS)
    def swagger_ui() -> HTMLResponse:
        return _page(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=title,
                swagger_js_url=assets.SWAGGER_JS,
                swagger_css_url=assets.SWAGGER_CSS,
                swagger_favicon_url=assets.SWAGGER_ICON,
                oauth2_redirect_url=OAUTH2_REDIRECT,
                # the tags folded: 16 tags and 140 operations unfolded at once were drawn
                # only partly (3 tags, no error) by Swagger UI 5.35 in Chromium
                swagger_ui_parameters={"docExpansion": "none"},
            )
        )

    @router.get(OAUTH2_REDIRECT)
    def oauth2_redirect() -> HTMLResponse:
        return _page(get_swagger_ui_oauth2_redirect_html())

    @router.get(REDOC)
    def redoc() -> HTMLResponse:
        return _page(
            get_redoc_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=title,
                redoc_js_url=assets.REDOC_JS,
                redoc_favicon_url=assets.SWAGGER_ICON,
                with_google_fonts=False,
            )
        )

    app.include_router(router)
