"""Debian's Chromium as the browser tests and the page benchmark drive it (Playwright).

One definition of the executable and its flags: headless, no sandbox (CI runs as root), and
none of Chromium's background traffic (component updates, sync, QUIC probes), so that a
page's requests are only the page's own and the machine has no other network.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
