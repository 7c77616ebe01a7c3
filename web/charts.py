"""Small charts as inline SVG, drawn on the server: no chart library, nothing to download.

Every chart has a ``<title>`` per bar (a tooltip in the browser) and the numbers written out,
so it reads without a mouse and prints well; the ``<svg>`` is an image whose text alternative
(``aria-label``) names the chart and reads out every bar, for a screen reader.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#2f6f9f", "#d9822b", "#3f9a5a", "#b84a62", "#7a5fb0", "#8a8f3a")


def _alt(title: str, rows: list[tuple[str, float]], percent: bool = False) -> str:
    """The chart's text alternative: its title, then every bar as ``label: value``.

    >>> _alt("By month", [("Jan", 12), ("Feb", 3)])
    'By month: Jan: 12; Feb: 3'
    """
    bars = "; ".join(f"{label}: {_fmt(value, percent)}" for label, value in rows)
    return f"{title}: {bars}" if title else bars


def _svg(width: int, height: int, alt: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(alt)}" '
        f'viewBox="0 0 {width} {height}" width="100%">'
    )


def _fmt(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}".replace(",", "\u202f")


def hbars(
    rows: list[tuple[str, float]],
    width: int = 520,
    bar: int = 18,
    gap: int = 6,
    label_width: int = 210,
    color: str = PALETTE[0],
    percent: bool = False,
    max_value: float | None = None,
    title: str = "",
) -> str:
    """Horizontal bars, one row per (label, value), longest first as given."""
    if not rows:
        return ""
    top = max_value or max(v for _, v in rows) or 1
    span = width - label_width - 60
    height = len(rows) * (bar + gap) + gap
    out = [_svg(width, height, _alt(title, rows, percent))]
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar + gap)
        w = max(1.0, span * value / top)
        text = escape(label)
        short = text if len(label) <= 34 else escape(label[:33]) + "…"
        out.append(
            f"<g><title>{text}: {_fmt(value, percent)}</title>"
            f'<text x="{label_width - 6}" y="{y + bar * 0.72:.1f}" text-anchor="end" '
            f'class="chart-label">{short}</text>'
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar}" rx="2" '
            f'fill="{color}"/>'
            f'<text x="{label_width + w + 4:.1f}" y="{y + bar * 0.72:.1f}" '
            f'class="chart-value">{_fmt(value, percent)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def vbars(
    rows: list[tuple[str, float]],
    width: int = 520,
    height: int = 200,
    colors: list[str] | None = None,
    title: str = "",
) -> str:
    """Vertical bars (months, seasons), labels under the bars, values above them."""
    if not rows:
        return ""
    top = max(v for _, v in rows) or 1
    base, head = height - 28, 18
    step = width / len(rows)
    bw = step * 0.7
    out = [
        _svg(width, height, _alt(title, rows)),
        f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" class="chart-axis"/>',
    ]
    for i, (label, value) in enumerate(rows):
        h = (base - head) * value / top
        x = i * step + (step - bw) / 2
        color = colors[i % len(colors)] if colors else PALETTE[0]
        cx = x + bw / 2
        out.append(
            f"<g><title>{escape(label)}: {_fmt(value)}</title>"
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bw:.1f}" height="{h:.1f}" rx="2" '
            f'fill="{color}"/>'
            f'<text x="{cx:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" '
            f'class="chart-value">{_fmt(value)}</text>'
            f'<text x="{cx:.1f}" y="{height - 10}" text-anchor="middle" '
            f'class="chart-label">{escape(label)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)
