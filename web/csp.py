"""The Content-Security-Policy of the pages: scripts only from this service or carrying the
response's nonce, never any other inline script.

Folium writes the map as inline ``<script>`` and ``<style>`` blocks; each page gets a fresh
random nonce (:func:`new_nonce`), :func:`with_nonce` writes it into those blocks, and
:func:`page_policy` allows exactly them. Our own scripts are files under ``/static``.

Styles follow the same rule: ``<style>`` elements (folium writes some) need the nonce, and
style attributes written in HTML are refused (``style-src-attr 'none'``). Leaflet does not
need them: it positions the map through the CSSOM (``element.style``), which a CSP does
not restrict, and so do our scripts (the planner's rating bars).
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
        f"style-src 'self' 'nonce-{nonce}'; style-src-attr 'none'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
