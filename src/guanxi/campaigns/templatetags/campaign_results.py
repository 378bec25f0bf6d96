"""Filters of the campaign results page: rates as percent, differences as signed points, p-values."""

from __future__ import annotations

from typing import Any

from django import template

from guanxi.campaigns import results

register = template.Library()


@register.filter
def pct(rate: float | None) -> str:
    """0.041 -> "4.1%"."""
    return results.percent(rate)


@register.filter
def pts(diff: float | None) -> str:
    """0.012 -> "+1.2" (percentage points)."""
    return results.points(diff)


@register.filter
def pvalue(value: Any) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
