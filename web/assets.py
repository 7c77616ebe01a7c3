"""Every script and style the pages use, served by the service itself (a closed network).

Our own files are in ``web/static``; Leaflet and its plugins, Swagger UI and ReDoc (the API
docs) come from npm into ``web/node_modules`` (``cd web && npm ci``) and are served under
``/static/vendor/...``. Only the folders named here are exposed, never the whole of
``node_modules``.
"""

from __future__ import annotations

from pathlib import Path

WEB = Path(__file__).resolve().parent
STATIC_DIR = WEB / "static"
NODE_MODULES = WEB / "node_modules"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"

#: URL folder under /static/vendor -> folder under web/node_modules
VENDOR = {
    "leaflet": "leaflet/dist",
    "leaflet.vectorgrid": "leaflet.vectorgrid/dist",
    # the API docs (/docs, /redoc)
    "swagger-ui": "swagger-ui-dist",
    "redoc": "redoc/bundles",
}

LEAFLET_JS = f"{VENDOR_URL}/leaflet/leaflet.js"
LEAFLET_CSS = f"{VENDOR_URL}/leaflet/leaflet.css"
VECTORGRID_JS = f"{VENDOR_URL}/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.js"
SWAGGER_JS = f"{VENDOR_URL}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR_URL}/swagger-ui/swagger-ui.css"
SWAGGER_ICON = f"{VENDOR_URL}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{VENDOR_URL}/redoc/redoc.standalone.js"


def vendor_dirs() -> dict[str, Path]:
    """URL path -> folder on disk, for every vendored package."""
    return {f"{VENDOR_URL}/{name}": NODE_MODULES / sub for name, sub in VENDOR.items()}


def missing_vendor() -> list[str]:
    """Vendored folders that are not installed (``npm ci`` not run)."""
    return [str(p) for p in vendor_dirs().values() if not p.is_dir()]


def static(name: str) -> str:
    """URL of one of our own static files, with its modification time against stale caches."""
    path = STATIC_DIR / name
    version = int(path.stat().st_mtime) if path.exists() else 0
    return f"{STATIC_URL}/{name}?v={version}"
