"""Hand-drawn SVG charts: box plots of a distribution per model and provider, and daily medians as lines. Pure.

Plain SVG 1.1 with a white background and generic fonts, so GitHub renders it as an image in light and dark mode
alike. Every label is XML-escaped; coordinates are rounded to 0.1 px so the same data gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from probe.report.data import BoxRow
from probe.report.escape import escape_xml

COLORS = {"a": "#2563eb", "b": "#ea580c"}
_WIDTH = 760
_LABEL_W = 300
_PLOT_RIGHT = _WIDTH - 30
_FONT = 'font-family="Helvetica, Arial, sans-serif"'


def box_plot_svg(title: str, rows: Sequence[BoxRow], fmt: Callable[[float], str]) -> str:
    """Horizontal box plots: whiskers p5 to p95, box p25 to p75, a bar at the median; one row per label.

    Overall rows (a model across all its providers) are drawn solid, provider rows lighter beneath them.
    """
    row_h = 30
    top = 56
    height = top + max(len(rows), 1) * row_h + 46
    parts = _open(height, title)
    if not rows:
        parts.append(_text(_WIDTH / 2, top + 20, "No successful samples in this window", anchor="middle", fill="#555"))
        return _close(parts)
    high = max(row.stats.p95 for row in rows)
    ticks = nice_ticks(0.0, high)
    scale = _scale(0.0, ticks[-1], _LABEL_W, _PLOT_RIGHT)
    bottom = top + len(rows) * row_h
    for tick in ticks:
        x = scale(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{bottom}" stroke="#e5e7eb"/>')
        parts.append(_text(x, bottom + 18, fmt(tick), anchor="middle", size=11, fill="#444"))
    for index, row in enumerate(rows):
        y = top + index * row_h + row_h / 2
        color = COLORS[row.side]
        opacity = "1" if row.overall else "0.55"
        half = 9 if row.overall else 6
        s = row.stats
        label = f"{_clip(row.label, 44)} (n={row.stats.n:,})"
        parts.append(_text(_LABEL_W - 10, y + 4, label, anchor="end", size=12, weight="bold" if row.overall else None))
        parts.append(
            f'<g stroke="{color}" fill="{color}" opacity="{opacity}">'
            f'<line x1="{scale(s.p5):.1f}" y1="{y:.1f}" x2="{scale(s.p95):.1f}" y2="{y:.1f}" stroke-width="1.5"/>'
            f'<line x1="{scale(s.p5):.1f}" y1="{y - half / 2:.1f}" x2="{scale(s.p5):.1f}" y2="{y + half / 2:.1f}"/>'
            f'<line x1="{scale(s.p95):.1f}" y1="{y - half / 2:.1f}" x2="{scale(s.p95):.1f}" y2="{y + half / 2:.1f}"/>'
            f'<rect x="{scale(s.p25):.1f}" y="{y - half:.1f}" width="{max(scale(s.p75) - scale(s.p25), 1):.1f}" '
            f'height="{2 * half}" fill-opacity="0.25"/>'
            f'<line x1="{scale(s.p50):.1f}" y1="{y - half:.1f}" x2="{scale(s.p50):.1f}" y2="{y + half:.1f}" stroke-width="3"/>'
            "</g>"
        )
    parts.append(
        _text(_LABEL_W, height - 10, "whiskers p5 to p95 · box p25 to p75 · bar at the median", size=11, fill="#666")
    )
    return _close(parts)


def daily_svg(
    panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[tuple[str, float]]]], Callable[[float], str]]],
) -> str:
    """Stacked line charts, one panel per metric: ``(title, ((series name, ((day, median), ...)), ...), fmt)``.

    The first series is drawn in model A's colour, the second in model B's.
    """
    panel_h = 220
    height = 24 + len(panels) * panel_h
    parts = _open(height, None)
    for index, (title, series, fmt) in enumerate(panels):
        parts.extend(_line_panel(title, series, fmt, 8 + index * panel_h, panel_h))
    return _close(parts)


def _line_panel(
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    fmt: Callable[[float], str],
    top: float,
    height: float,
) -> list[str]:
    parts = [_text(16, top + 20, title, size=15, weight="bold")]
    legend_x = 16.0
    for (name, _), side in zip(series, ("a", "b")):
        parts.append(f'<rect x="{legend_x:.1f}" y="{top + 30:.1f}" width="12" height="12" fill="{COLORS[side]}"/>')
        parts.append(_text(legend_x + 18, top + 40, _clip(name, 40), size=12))
        legend_x += 30 + 7.2 * min(len(name), 40)
    days = sorted({day for _, points in series for day, _ in points})
    plot_top, plot_bottom = top + 58, top + height - 34
    left, right = 70.0, float(_PLOT_RIGHT)
    if not days:
        parts.append(_text(_WIDTH / 2, (plot_top + plot_bottom) / 2, "No successful samples in this window", anchor="middle", fill="#555"))
        return parts
    ticks = nice_ticks(0.0, max(value for _, points in series for _, value in points))
    y_of = _scale(0.0, ticks[-1], plot_bottom, plot_top)
    step = (right - left) / max(len(days) - 1, 1)
    x_of = {day: (left + (right - left) / 2 if len(days) == 1 else left + i * step) for i, day in enumerate(days)}
    for tick in ticks:
        y = y_of(tick)
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(_text(left - 8, y + 4, fmt(tick), anchor="end", size=11, fill="#444"))
    every = max(1, math.ceil(len(days) / 12))
    for i, day in enumerate(days):
        if i % every == 0 or i == len(days) - 1:
            parts.append(_text(x_of[day], plot_bottom + 18, day[5:], anchor="middle", size=11, fill="#444"))
    for (_, points), side in zip(series, ("a", "b")):
        if not points:
            continue
        coords = " ".join(f"{x_of[day]:.1f},{y_of(value):.1f}" for day, value in points)
        if len(points) > 1:
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{COLORS[side]}" stroke-width="2"/>')
        for day, value in points:
            parts.append(f'<circle cx="{x_of[day]:.1f}" cy="{y_of(value):.1f}" r="3.5" fill="{COLORS[side]}"/>')
    return parts


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values from ``low`` to at least ``high``: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not math.isfinite(high) or high <= low:
        high = low + 1.0
    raw = (high - low) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = math.ceil((high - low) / step - 1e-9)
    return [round(low + i * step, 10) for i in range(count + 1)]


def _scale(domain_low: float, domain_high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    span = (domain_high - domain_low) or 1.0

    def scale(value: float) -> float:
        return out_low + (value - domain_low) / span * (out_high - out_low)

    return scale


def _open(height: float, title: str | None) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {_WIDTH} {height:.0f}" {_FONT}>',
        f'<rect width="{_WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    if title:
        parts.append(_text(16, 28, title, size=15, weight="bold"))
    return parts


def _close(parts: list[str]) -> str:
    return "\n".join([*parts, "</svg>"]) + "\n"


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 13, fill: str = "#111", weight: str | None = None
) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{bold}>'
        f"{escape_xml(text)}</text>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
