"""Debian's Chromium as the browser tests and the page benchmark drive it (Playwright).

One definition of the executable and its flags: headless, no sandbox (CI runs as root), and
none of Chromium's background traffic (component updates, sync, QUIC probes), so that a
page's requests are only the page's own and the machine has no other network.
"""

from __future__ import annotations

from pathlib import Path

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

#: axe-core (npm, ``web/node_modules``): the accessibility rules the browser tests run
AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
#: the impacts a page may not have
SEVERE = ("critical", "serious")

_RUN_AXE = """async () => {
    const r = await window.axe.run(document, {resultTypes: ['violations']});
    return r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
    }));
}"""


def axe_violations(page, impacts: tuple[str, ...] = SEVERE) -> list[dict]:
    """The axe-core violations of the page loaded in ``page`` (a Playwright page) whose
    impact is one of ``impacts``: each ``{id, impact, help, nodes}``.

    axe-core is evaluated in the page through the DevTools protocol, which the page's
    Content-Security-Policy does not govern (the page itself still refuses any inline
    script it did not write).
    """
    if not AXE_JS.is_file():
        raise FileNotFoundError(f"{AXE_JS} is missing: run `make install` (npm ci in web/)")
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    return [v for v in page.evaluate(_RUN_AXE) if v["impact"] in impacts]


def describe(violations: list[dict]) -> str:
    """Violations as lines a person reads in a failed test."""
    return "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['nodes'])}" for v in violations
    )
