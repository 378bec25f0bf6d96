"""How sales' timeline entries read: amounts in the one money format, refund numbers as words."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from guanxi.core.templatetags.money import format_money


def order_paid(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "amount": format_money(data.get("amount"))}


def order_refunded(data: dict[str, Any]) -> dict[str, Any]:
    """A refund's stored ref may be a service code (``return:7``, ``checkout:…``): show its number only."""
    ref = str(data.get("ref", ""))
    kind, sep, rest = ref.partition(":")
    if sep and kind in ("return", "refund", "checkout"):
        ref = _("#%(id)s") % {"id": rest}
    return {**data, "ref": ref, "amount": format_money(data.get("amount"))}
