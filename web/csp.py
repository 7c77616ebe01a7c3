"""The Content-Security-Policy of the pages: scripts only from this service or carrying the
response's nonce, never any other inline script.

Folium writes the map as inline ``<script>`` and ``<style>`` blocks; each page gets a fresh
random nonce (:func:`new_nonce`), :func:`with_nonce` writes it into those blocks, and
:func:`page_policy` allows exactly them. Our own scripts are files under ``/static``.

Style *attributes* stay allowed (``style-src-attr 'unsafe-inline'``): Leaflet builds parts
of the map with them in HTML it writes at run time (its layer switcher, tooltips and the
markers of folium's plugins) and the pages' legends use them. ``<style>`` elements need the
nonce like scripts.
"""

from __future__ import annotations

import re
import secrets

_INLINE = re.compile(r"<(script|style)(?![^>]*\bsrc=)(?![^>]*\bnonce=)([^>]*)>", re.IGNORECASE)


def new_nonce() -> str:
    """A fresh nonce for one response (128 random bits)."""
    return secrets.token_urlsafe(16)


def with_nonce(html: str, nonce: str) -> str:
    """``html`` with ``nonce`` on every inline ``<script>`` and ``<style>`` (not on a script
    that loads a file, nor on one that has a nonce already)."""
    return _INLINE.sub(lambda m: f'<{m.group(1)} nonce="{nonce}"{m.group(2)}>', html)


def page_policy(nonce: str) -> str:
    """The policy of a page whose inline blocks carry ``nonce``: everything from this
    service only, no framing anywhere."""
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
