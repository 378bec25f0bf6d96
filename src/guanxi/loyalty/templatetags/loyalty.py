"""``{% load loyalty %}``: ledger reasons and references as words (see ``loyalty.display``)."""

from __future__ import annotations

from typing import Any

from django import template

from guanxi.loyalty.display import reason_text, reference_text

register = template.Library()


@register.filter
def ledger_reason(reason: str) -> str:
    return reason_text(reason)


@register.filter
def ledger_reference(entry: Any) -> str:
    """An entry's reference as words, naming its order (``select_related("order")`` on the list)."""
    order = getattr(entry, "order", None)
    return reference_text(entry.reference, order.external_ref if order is not None else None)


@register.filter
def program_value(bound_field: Any) -> str:
    """A setting's value as words, for those who may read the program but not change it."""
    from django.utils.translation import gettext as _

    value = bound_field.value()
    field = bound_field.field
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if value in (None, ""):
        return "—"
    choices = getattr(field, "choices", None)
    if choices is not None:
        for code, label in choices:
            if str(getattr(code, "value", code)) == str(value):
                return str(label)
    return str(value)
