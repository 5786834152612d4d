"""Inline SVG charts made in code: no network, no fonts to fetch, crisp in print.

Text in the SVG uses the document's font (the PDF renderer draws it); every value that
comes from the workspace is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from collections.abc import Callable, Sequence

PALETTE = ["#1f5fa8", "#d2691e", "#2e8b57", "#8e44ad", "#b22222", "#5f6b7a"]


@dataclass
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False


def _nice_ticks(lo: float, hi: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values covering ``lo..hi``; ``integer`` for counted axes (epochs, trials),
    where a tick at 1.25 would name something that does not exist."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=mag * 10)
    if integer:
        step = float(max(1, math.ceil(step)) if step < 5 else 5 * math.ceil(step / 5))
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - step * 0.001:  # the last tick at or above hi: bars and lines stay inside
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


#: x axes that count whole things: their ticks are integers
COUNTED_AXES = frozenset({"epoch", "trial"})


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def line_chart(
    title: str,
    series: list[Series],
    *,
    y_label: str = "",
    x_label: str = "epoch",
    markers: dict[str, float | None] | None = None,
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 640,
    height: int = 260,
) -> str:
    """A line chart with axes, grid, legend and labelled vertical markers (best epoch...)."""
    left, right, top, bottom = 56, 16, 30, 52
    pw, ph = width - left - right, height - top - bottom
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys if y is not None and math.isfinite(y)]
    if not xs or not ys:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60" role="img"><text x="8" y="30" '
            f'font-size="12">{escape(title)}: no data</text></svg>'
        )
    x0, x1 = min(xs), max(xs)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi <= lo:
        hi = lo + 1.0
    yt = _nice_ticks(lo, hi)
    lo, hi = min(lo, yt[0]), max(hi, yt[-1])

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - lo) / (hi - lo) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">'
    ]
    out.append(f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>')
    for t in yt:
        y = sy(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e3e7ec" stroke-width="1"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#444">{_fmt(t)}</text>'
        )
    for t in _nice_ticks(x0, x1, 8, integer=x_label in COUNTED_AXES):
        if x0 <= t <= x1:
            x = sx(t)
            out.append(f'<line x1="{x:.1f}" y1="{top + ph}" x2="{x:.1f}" y2="{top + ph + 4}" stroke="#888"/>')
            out.append(
                f'<text x="{x:.1f}" y="{top + ph + 16}" font-size="10" text-anchor="middle" '
                f'fill="#444">{_fmt(t)}</text>'
            )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#9aa5b1"/>')
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 22}" font-size="10" text-anchor="middle" '
        f'fill="#444">{escape(x_label)}</text>'
    )
    if y_label:
        out.append(
            f'<text x="12" y="{top + ph / 2}" font-size="10" text-anchor="middle" fill="#444" transform="rotate(-90 '
            f'12 {top + ph / 2})">{escape(y_label)}</text>'
        )
    for name, value in (markers or {}).items():
        if value is None or not x0 <= value <= x1:
            continue
        x = sx(value)
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#b22222" stroke-dasharray="4 3" '
            'stroke-width="1.2"/>'
        )
        near_right = x > left + pw * 0.75
        anchor, tx = ("end", x - 3) if near_right else ("start", x + 3)
        out.append(
            f'<text x="{tx:.1f}" y="{top + 11}" font-size="10" fill="#b22222" text-anchor="{anchor}">{escape(name)} '
            f"{_fmt(value)}</text>"
        )
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        points = [(sx(x), sy(y)) for x, y in zip(s.xs, s.ys) if y is not None and math.isfinite(y)]
        if not points:
            continue
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        path = " ".join(f"{'M' if j == 0 else 'L'}{px:.1f},{py:.1f}" for j, (px, py) in enumerate(points))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>')
        if len(points) <= 40:
            out.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="{color}"/>' for px, py in points)
    lx: float = left
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        out.append(
            f'<line x1="{lx}" y1="{height - 7}" x2="{lx + 16}" y2="{height - 7}" stroke="{color}" '
            f'stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{lx + 20}" y="{height - 3}" font-size="10">{escape(s.label)}</text>')
        lx += 28 + 6.2 * len(s.label)
    out.append("</svg>")
    return "".join(out)


def percent(v: float) -> str:
    """A share (0..1) as a bar label: ``31%``, ``4.5%``, ``0%``."""
    pct = v * 100
    return f"{pct:.0f}%" if pct == 0 or pct >= 10 else f"{pct:.1f}%"


def _clip_label(text: str, room: float, px_per_char: float = 5.6) -> str:
    """``text`` cut with an ellipsis to fit ``room`` pixels (the full text stays in a tooltip)."""
    fits = max(3, int(room / px_per_char))
    return text if len(text) <= fits else text[: fits - 1] + "…"


def _hatch(x: float, y: float, w: float, h: float, color: str = "#6b7480", step: float = 5.0) -> str:
    """Diagonal lines filling a rectangle, drawn as plain lines (no SVG pattern, which not
    every renderer draws): marks a bar whose value means little (a slice too small)."""
    out = []
    c = step
    while c < w + h:
        # the line u + v = c in the rectangle's own coordinates, clipped to it
        u0, v0 = (c, 0.0) if c <= w else (w, c - w)
        u1, v1 = (0.0, c) if c <= h else (c - h, h)
        out.append(
            f'<line x1="{x + u0:.1f}" y1="{y + v0:.1f}" x2="{x + u1:.1f}" y2="{y + v1:.1f}" stroke="{color}" '
            'stroke-width="1"/>'
        )
        c += step
    return "".join(out)


def _row_label(text: str, right: float, middle: float, *, two_lines: bool) -> str:
    """A right-aligned row label; one too long for ``right`` pixels goes on two lines
    (split after a comma where it has one) when the row has room, else is cut."""
    room = right - 4
    lines = [text]
    if two_lines and len(text) * 5.6 > room:
        cut = text.rfind(", ", 0, int(room / 5.6))
        if cut <= 0:
            cut = int(room / 5.6)
            lines = [text[:cut], text[cut:]]
        else:
            lines = [text[: cut + 1], text[cut + 2 :]]
    spans = "".join(
        f'<tspan x="{right:.1f}" dy="{0 if i == 0 else 11}">{escape(_clip_label(line, room))}</tspan>'
        for i, line in enumerate(lines)
    )
    y = middle + 4 - (5.5 if len(lines) > 1 else 0)
    return (
        f'<text x="{right:.1f}" y="{y:.1f}" font-size="10" text-anchor="end"><title>{escape(text)}</title>'
        f"{spans}</text>"
    )


def bar_chart(
    title: str,
    categories: list[str],
    groups: dict[str, list[float]],
    *,
    width: int = 640,
    height: int = 240,
    fmt: Callable[[float], str] | None = None,
    y_max: float | None = None,
    y_label: str = "",
) -> str:
    """Grouped vertical bars: one group per category, one bar per series (e.g. split).
    ``fmt`` writes the value labels and ticks (``percent`` for shares), ``y_max`` fixes the
    top of the axis (1 for shares, so charts of different splits compare)."""
    fmt = fmt or _fmt
    left, right, top, bottom = 56, 16, 40, 50
    pw, ph = width - left - right, height - top - bottom
    values = [v for vs in groups.values() for v in vs]
    if not categories or not values:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60"><text x="8" y="30" '
            f'font-size="12">{escape(title)}: no data</text></svg>'
        )
    ticks = _nice_ticks(0, y_max if y_max is not None else (max(values) or 1))
    hi = ticks[-1] or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">'
    ]
    out.append(f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>')
    for t in ticks:
        y = top + ph - t / hi * ph
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e3e7ec"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#444">{fmt(t)}</text>')
    if y_label:
        out.append(
            f'<text x="12" y="{top + ph / 2}" font-size="10" text-anchor="middle" fill="#444" transform="rotate(-90 '
            f'12 {top + ph / 2})">{escape(y_label)}</text>'
        )
    n_series = len(groups)
    slot = pw / len(categories)
    bar = min(slot * 0.8 / max(n_series, 1), 48.0)  # one value: bars, not a wall
    pad = (slot - bar * n_series) / 2
    for ci, cat in enumerate(categories):
        for si, (name, vs) in enumerate(groups.items()):
            v = vs[ci]
            h = min(v, hi) / hi * ph
            x = left + ci * slot + pad + si * bar
            out.append(
                f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{bar * 0.92:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(cat)} {escape(name)}: {fmt(v)}</title></rect>'
            )
            if n_series * len(categories) <= 24:
                out.append(
                    f'<text x="{x + bar * 0.46:.1f}" y="{top + ph - h - 3:.1f}" font-size="9" '
                    f'text-anchor="middle">{fmt(v)}</text>'
                )
        out.append(
            f'<text x="{left + ci * slot + slot / 2:.1f}" y="{top + ph + 14}" font-size="10" '
            f'text-anchor="middle"><title>{escape(cat)}</title>{escape(_clip_label(cat, slot))}</text>'
        )
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#9aa5b1"/>')
    lx: float = left
    for si, name in enumerate(groups):
        out.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 5}" font-size="10">{escape(name)}</text>')
        lx += 30 + 6.2 * len(name)
    out.append("</svg>")
    return "".join(out)


def hbar_chart(
    title: str,
    categories: list[str],
    groups: dict[str, list[float | None]],
    *,
    faded: dict[str, list[bool]] | None = None,
    faded_label: str = "too small",
    fmt: Callable[[float], str] | None = None,
    x_max: float | None = None,
    width: int = 640,
) -> str:
    """Grouped horizontal bars, one row per category (long labels such as slice conditions
    read on the left), one bar per series. A ``faded`` bar is drawn grey and hatched and
    labelled ``faded_label``: a value that counts for little (a slice with too few images)."""
    fmt = fmt or (lambda v: f"{v:.3f}")
    values = [v for vs in groups.values() for v in vs if v is not None and math.isfinite(v)]
    if not categories or not groups:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60"><text x="8" y="30" '
            f'font-size="12">{escape(title)}: no data</text></svg>'
        )
    n_series = len(groups)
    bar_h = 11.0
    row = n_series * bar_h + 8
    label_w = min(230.0, max(60.0, 5.6 * max(len(c) for c in categories) + 10))
    left, right, top = label_w + 8, 120, 30
    legend = 20 if n_series > 1 or faded else 0
    axis = 18
    pw = width - left - right
    ph = row * len(categories)
    height = int(top + ph + axis + legend + 6)
    hi = x_max if x_max is not None else (max(values) if values else 1.0) or 1.0
    ticks = [t for t in _nice_ticks(0, hi) if t <= hi + 1e-9]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">'
    ]
    out.append(f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>')
    for t in ticks:
        x = left + t / hi * pw
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#e3e7ec"/>')
        out.append(
            f'<text x="{x:.1f}" y="{top + ph + 13}" font-size="10" text-anchor="middle" fill="#444">{_fmt(t)}</text>'
        )
    for ci, cat in enumerate(categories):
        y0 = top + ci * row + 4
        if ci % 2:
            out.append(f'<rect x="0" y="{y0 - 4:.1f}" width="{left + pw}" height="{row:.1f}" fill="#f6f8fa"/>')
        out.append(_row_label(cat, label_w, y0 + row / 2 - 4 + 0.5, two_lines=row >= 26))
        for si, (name, vs) in enumerate(groups.items()):
            v = vs[ci]
            y = y0 + si * bar_h
            small = bool((faded or {}).get(name, [False] * len(categories))[ci])
            color = PALETTE[si % len(PALETTE)]
            if v is None or not math.isfinite(v):
                out.append(
                    f'<text x="{left + 3}" y="{y + bar_h - 2.5:.1f}" font-size="9" fill="#8a6d00">'
                    f"{escape(name)}: not evaluated</text>"
                )
                continue
            w = max(min(v, hi), 0) / hi * pw
            fill = "#d5d9de" if small else color
            out.append(
                f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar_h - 1.5:.1f}" fill="{fill}" '
                f'stroke="{color if small else "none"}"><title>{escape(cat)} {escape(name)}: {fmt(v)}'
                f"{' (' + escape(faded_label) + ')' if small else ''}</title></rect>"
            )
            if small:
                out.append(_hatch(left, y, w, bar_h - 1.5, color))
            label = fmt(v) + (f" {faded_label}" if small else "")
            style = ' fill="#6b7480" font-style="italic"' if small else ""
            out.append(
                f'<text x="{left + w + 3:.1f}" y="{y + bar_h - 2.5:.1f}" font-size="9"{style}>{escape(label)}</text>'
            )
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#9aa5b1"/>')
    ly = height - 8
    lx: float = 8
    if legend:
        for si, name in enumerate(groups):
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}"/>')
            out.append(f'<text x="{lx + 14}" y="{ly}" font-size="10">{escape(name)}</text>')
            lx += 30 + 6.2 * len(name)
        if faded and any(any(f) for f in faded.values()):
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="#d5d9de" stroke="#6b7480"/>')
            out.append(_hatch(lx, ly - 9, 10, 10))
            out.append(f'<text x="{lx + 14}" y="{ly}" font-size="10">{escape(faded_label)}</text>')
    out.append("</svg>")
    return "".join(out)
