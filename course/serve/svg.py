"""Charts drawn as inline SVG on the server: a score histogram and one pass-rate bar per check.

Every chart carries a `<title>` (and the histogram a `<desc>`) for screen readers, every bar its own
`<title>` (a tooltip), and the numbers are written out as text, so nothing depends on colour alone.
Any text put into a chart is escaped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 210
"""The histogram's drawing units (it scales to the page's width)."""
TOP, BOTTOM, SIDE = 28, 54, 8
"""Room above the bars (their counts), below them (scores and the axis title) and at each side."""


@dataclass(frozen=True)
class Bin:
    label: str
    """The scores the bin holds, as shown under its bar (`8`, or `4.4–5.5`)."""
    count: int
    """How many students scored in it."""


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def histogram(bins: list[Bin], *, max_score: float, ident: str) -> Markup:
    """The score histogram: one bar per bin, its count above it and its scores below; `ident` makes
    the ids of its title and description unique on the page."""
    total = sum(b.count for b in bins)
    tallest = max((b.count for b in bins), default=0) or 1
    band = (WIDTH - 2 * SIDE) / max(len(bins), 1)
    plot = HEIGHT - TOP - BOTTOM
    base = TOP + plot
    title = f"Score histogram: {total} student{'s' if total != 1 else ''}, scores out of {max_score:g}"
    desc = "; ".join(f"{b.count} scored {b.label}" for b in bins if b.count) or "no scores"
    parts = [f'<svg class="histogram" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{ident}-title">{escape(title)}</title>',
             f'<desc id="{ident}-desc">{escape(desc)}</desc>',
             f'<line class="axis" x1="{SIDE}" y1="{base}" x2="{WIDTH - SIDE}" y2="{base}"/>']
    for number, b in enumerate(bins):
        x = SIDE + number * band
        height = plot * b.count / tallest
        middle = _n(x + band / 2)
        who = f"{b.count} student{'s' if b.count != 1 else ''} scored {b.label}"
        parts.append(f'<g class="bin" data-label="{escape(b.label)}" data-count="{b.count}"><title>{escape(who)}</title>'
                     f'<rect class="hit" x="{_n(x)}" y="{TOP}" width="{_n(band)}" height="{plot}"/>'
                     f'<rect class="bar" x="{_n(x + band * 0.1)}" y="{_n(base - height)}" width="{_n(band * 0.8)}" '
                     f'height="{_n(height)}"/>')
        if b.count:
            parts.append(f'<text class="count" x="{middle}" y="{_n(base - height - 6)}">{b.count}</text>')
        parts.append(f'<text class="score" x="{middle}" y="{base + 22}">{escape(b.label)}</text></g>')
    parts.append(f'<text class="axis-title" x="{WIDTH / 2:g}" y="{HEIGHT - 6}">score (out of {max_score:g})'
                 '</text></svg>')
    return Markup("".join(parts))


def rate_bar(passed: int, total: int, *, label: str) -> Markup:
    """One check's pass rate as a bar: a track the full width, filled to `passed / total`."""
    rate = passed / total if total else 0.0
    band = "high" if rate >= 0.8 else "mid" if rate >= 0.5 else "low"
    title = f"{label}: {passed} of {total} passed ({rate:.0%})"
    return Markup(f'<svg class="rate {band}" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
                  f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  f'<rect class="track" width="100" height="10"/>'
                  f'<rect class="bar" width="{_n(100 * rate)}" height="10" data-rate="{rate:.4f}"/></svg>')
