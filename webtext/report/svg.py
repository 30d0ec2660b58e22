"""Tiny inline-SVG charts: the report stays one self-contained file with no scripts to fail."""

from __future__ import annotations

import html
from collections.abc import Sequence

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2",
           "#FF9DA6", "#9D755D", "#BAB0AC"]  # fmt: skip


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}"
    return f"{int(value):,}"


def hbar(items: Sequence[tuple[str, float]], *, title: str, width: int = 640) -> str:
    """Horizontal bars, one per (label, value), longest label on the left."""
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
            f'fill="{PALETTE[0]}"><title>{_esc(label)}: {_fmt(value)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{_fmt(value)}</text>'
        )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{_esc(title)}</text>{"".join(bars)}</svg>'
    )


def stacked_hbar(
    rows: Sequence[tuple[str, dict[str, float]]], *, title: str, width: int = 640
) -> str:
    """One bar per row, split by category; a legend names the categories."""
    if not rows:
        return f'<p class="empty">{_esc(title)}: no data</p>'
    cats = sorted({c for _, parts in rows for c in parts})
    color = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(cats)}
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


def histogram(
    bins: Sequence[tuple[str, float]], *, title: str, width: int = 640, height: int = 220
) -> str:
    """Vertical bars over labelled bins (the caller chooses the binning)."""
    if not bins or not any(v for _, v in bins):
        return f'<p class="empty">{_esc(title)}: no data</p>'
    base, left = height - 40, 10
    top = max(v for _, v in bins) or 1
    bw = (width - 2 * left) / len(bins)
    bars = []
    for i, (label, value) in enumerate(bins):
        h = (base - 30) * value / top
        x = left + i * bw
        bars.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[2]}"><title>{_esc(label)}: {_fmt(value)}</title></rect>'
        )
        if len(bins) <= 12 or i % max(len(bins) // 8, 1) == 0:
            bars.append(
                f'<text x="{x + bw / 2:.1f}" y="{base + 14}" text-anchor="middle" '
                f'class="tick">{_esc(label)}</text>'
            )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{_esc(title)}</text>'
        f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="#999"/>'
        f"{''.join(bars)}</svg>"
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
