"""Tiny inline-SVG charts: the report stays one self-contained file with no scripts to fail."""

from __future__ import annotations

import html
from collections.abc import Sequence

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2",
           "#FF9DA6", "#9D755D", "#BAB0AC"]  # fmt: skip
# Outcome colours: success reads as good (green), everything else never does
GOOD = "#2E8B3A"
NEUTRAL = "#9E9E9E"
BAD = ["#D9473F", "#F08A24", "#A05EB5", "#C9A227", "#8C564B", "#E377C2", "#5B7FA8", "#BAB0AC"]
GOOD_NAMES = frozenset({"ok", "kept"})
NEUTRAL_NAMES = frozenset({"pending"})


def outcome_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per outcome name: `ok`/`kept` green, `pending` grey, failures warm and
    distinct (in the order given, so a report's charts agree with each other)."""
    colors, k = {}, 0
    for name in names:
        if name in colors:
            continue
        if name in GOOD_NAMES:
            colors[name] = GOOD
        elif name in NEUTRAL_NAMES:
            colors[name] = NEUTRAL
        else:
            colors[name] = BAD[k % len(BAD)]
            k += 1
    return colors


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}"
    return f"{int(value):,}"


def hbar(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 640,
    colors: dict[str, str] | None = None,
) -> str:
    """Horizontal bars, one per (label, value) with its count at the end; `colors` maps a
    label to its colour (default: one neutral blue)."""
    if not items:
        return f'<p class="empty">{_esc(title)}: no data</p>'
    row, label_w, pad = 22, 230, 70
    height = row * len(items) + 30
    top = max(v for _, v in items) or 1
    bars = []
    for i, (label, value) in enumerate(items):
        y = 24 + i * row
        w = (width - label_w - pad) * value / top
        bars.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_esc(label)[:40]}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{(colors or {}).get(label, PALETTE[0])}">'
            f"<title>{_esc(label)}: {_fmt(value)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{_fmt(value)}</text>'
        )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{_esc(title)}</text>{"".join(bars)}</svg>'
    )


def stacked_hbar(
    rows: Sequence[tuple[str, dict[str, float]]],
    *,
    title: str,
    width: int = 640,
    colors: dict[str, str] | None = None,
) -> str:
    """One bar per row, split by category; a legend names the categories. Categories are
    coloured as outcomes (`outcome_colors`) unless `colors` is given."""
    if not rows:
        return f'<p class="empty">{_esc(title)}: no data</p>'
    cats = sorted({c for _, parts in rows for c in parts})
    color = {**outcome_colors(cats), **(colors or {})}
    row, label_w = 22, 230
    legend_h = 20 * ((len(cats) + 3) // 4)
    height = row * len(rows) + 30 + legend_h
    top = max(sum(p.values()) for _, p in rows) or 1
    parts_svg = []
    for i, (label, parts) in enumerate(rows):
        y = 24 + i * row
        x = float(label_w)
        parts_svg.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_esc(label)[:40]}</text>'
        )
        for cat in cats:
            value = parts.get(cat, 0)
            if not value:
                continue
            w = (width - label_w - 20) * value / top
            parts_svg.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
                f'fill="{color[cat]}"><title>{_esc(label)} {_esc(cat)}: {_fmt(value)}</title></rect>'
            )
            x += w
    ly = 30 + row * len(rows)
    for j, cat in enumerate(cats):
        lx, lyy = (j % 4) * (width // 4), ly + 20 * (j // 4)
        parts_svg.append(
            f'<rect x="{lx}" y="{lyy}" width="12" height="12" fill="{color[cat]}"/>'
            f'<text x="{lx + 16}" y="{lyy + 11}">{_esc(cat)}</text>'
        )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{_esc(title)}</text>{"".join(parts_svg)}</svg>'
    )


def _nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2, 2.5, 5 x 10^k steps)."""
    import math

    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def histogram(
    bins: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
    y_label: str = "count",
) -> str:
    """Vertical bars over labelled bins (the caller chooses the binning), with a y axis of
    counts and each bar's count on hover."""
    if not bins or not any(v for _, v in bins):
        return f'<p class="empty">{_esc(title)}: no data</p>'
    base, left, right = height - 40, 56, 10
    ticks = _nice_ticks(max(v for _, v in bins))
    top = ticks[-1] or 1
    bw = (width - left - right) / len(bins)
    parts = []
    for t in ticks:
        y = base - (base - 30) * t / top
        parts.append(
            f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="#e4e4e4"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="tick">{_fmt(t)}</text>'
        )
    for i, (label, value) in enumerate(bins):
        h = (base - 30) * value / top
        x = left + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{_esc(label)}: {_fmt(value)}</title></rect>'
        )
        if len(bins) <= 12 or i % max(len(bins) // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{base + 14}" text-anchor="middle" '
                f'class="tick">{_esc(label)}</text>'
            )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{_esc(title)}</text>'
        f'<text x="12" y="{(base + 30) / 2:.0f}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 12 {(base + 30) / 2:.0f})">{_esc(y_label)}</text>'
        f'<line x1="{left}" y1="30" x2="{left}" y2="{base}" stroke="#999"/>'
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>'
        f"{''.join(parts)}</svg>"
    )


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 260,
) -> str:
    """Lines (with points) of (x, y) series on shared axes with ticks and a legend."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return f'<p class="empty">{_esc(title)}: no data</p>'
    left, right, top_y, base = 56, 16, 30, height - 56
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.05 or abs(y1) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1

    def sx(x: float) -> float:
        return left + (width - left - right) * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return base - (base - top_y) * (y - y0) / (y1 - y0)

    parts = []
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        parts.append(
            f'<line x1="{left - 4}" y1="{sy(yv):.1f}" x2="{width - right}" y2="{sy(yv):.1f}" '
            f'stroke="#e4e4e4"/><text x="{left - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end" '
            f'class="tick">{yv:.3g}</text>'
        )
        xv = x0 + (x1 - x0) * k / 4
        parts.append(
            f'<text x="{sx(xv):.1f}" y="{base + 16}" text-anchor="middle" class="tick">'
            f"{_fmt(round(xv))}</text>"
        )
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
        parts += [
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
            f"<title>{_esc(name)} step {_fmt(x)}: {y:.4f}</title></circle>"
            for x, y in pts
        ]
        lx = left + 150 * i
        parts.append(
            f'<rect x="{lx}" y="{height - 16}" width="12" height="3" fill="{color}"/>'
            f'<text x="{lx + 16}" y="{height - 11}">{_esc(name)}</text>'
        )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{_esc(title)}</text>'
        f'<line x1="{left}" y1="{top_y}" x2="{left}" y2="{base}" stroke="#999"/>'
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>'
        f'<text x="{(left + width - right) / 2:.0f}" y="{base + 32}" text-anchor="middle" '
        f'class="tick">{_esc(x_label)}</text>'
        f'<text x="12" y="{(top_y + base) / 2:.0f}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 12 {(top_y + base) / 2:.0f})">{_esc(y_label)}</text>'
        f"{''.join(parts)}</svg>"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{_esc(_fmt(c) if isinstance(c, int | float) else c)}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
