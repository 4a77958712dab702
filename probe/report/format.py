"""How numbers read in a report: one function per unit, so every table and sentence spells a value the same way."""

from __future__ import annotations

from datetime import datetime

NO_DATA = "No data"


def seconds(value: float) -> str:
    """0.56 s, 2.31 s, 12.4 s, 125 s."""
    if abs(value) < 10:
        return f"{value:.2f} s"
    if abs(value) < 100:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def speed(value: float) -> str:
    """80.2 tok/s, 1250 tok/s."""
    return f"{value:.1f} tok/s" if abs(value) < 1000 else f"{value:.0f} tok/s"


def price(value: float) -> str:
    """USD per million tokens: $1.60/M, $0.400/M, $0.0750/M, $0.00010/M."""
    return f"${_money(value)}/M"


def _money(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    if abs(value) >= 0.1:
        return f"{value:.3f}"
    if abs(value) >= 0.01:
        return f"{value:.4f}"
    return f"{value:.2g}"


def percent(fraction: float) -> str:
    """A fraction as a percentage: 100%, 98.5%, 0%."""
    value = fraction * 100
    if value in (0, 100):
        return f"{value:.0f}%"
    return f"{value:.1f}%"


def percentage_points(fraction: float) -> str:
    """A difference of two rates: 1.5 pp."""
    return f"{abs(fraction) * 100:.1f} pp"


def score(value: float) -> str:
    """A third-party score as published: 92.5, 1250, 0.873."""
    if abs(value) < 1:
        return f"{value:.3g}"
    if abs(value) < 1000:
        return f"{value:.1f}"
    return f"{value:.0f}"


def count(value: int) -> str:
    """12, 1,234, 1,000,000."""
    return f"{value:,}"


def tokens(value: int) -> str:
    """A token count as a size: 1.0M tokens, 32.8K tokens, 512 tokens."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M tokens"
    if value >= 1_000:
        return f"{value / 1_000:.1f}K tokens"
    return f"{value} tokens"


def timestamp(iso: str) -> str:
    """An ISO 8601 UTC stamp as "2025-06-04 12:00 UTC"; text that is not one is returned as is."""
    try:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def month(iso_date: str | None) -> str:
    """"2025-04-14" as "Apr 2025"; a year alone stays as is."""
    if not iso_date:
        return NO_DATA
    parts = iso_date.split("-")
    if len(parts) >= 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= 12:
        names = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
        return f"{names[int(parts[1]) - 1]} {parts[0]}"
    return iso_date


def duration(seconds_total: float) -> str:
    """A time span: 38 s, 45 min, 5.2 h, 3.0 days."""
    if seconds_total < 60:
        return f"{seconds_total:.0f} s"
    if seconds_total < 3600:
        return f"{seconds_total / 60:.0f} min"
    if seconds_total < 2 * 86400:
        return f"{seconds_total / 3600:.1f} h"
    return f"{seconds_total / 86400:.1f} days"
