"""One money format on every page (``{% load money %}`` then ``{{ amount|money }}``): ``¥3,556.00``.

Two decimal places, thousands grouped with commas, the sign before the currency (``-¥12.50``), in every
language; the grouping never follows the locale, so the same amount reads the same on every page.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()

_CENT = Decimal("0.01")


def format_money(value: Any, symbol: str = "¥") -> str:
    """``value`` (Decimal, int, decimal string) as ``¥1,234.50``; blank or unreadable values as ``—``."""
    if value is None or value == "" or isinstance(value, bool):
        return "—"
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return "—"
    if not amount.is_finite():
        return "—"
    amount = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


@register.filter
def money(value: Any) -> str:
    return format_money(value)
