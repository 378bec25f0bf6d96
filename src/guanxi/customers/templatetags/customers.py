"""Template helpers for showing a customer (``{% load customers %}``): masked contacts and timeline sentences."""

from __future__ import annotations

from typing import Any

from django import template

from guanxi.core.timeline import timeline_text as render_timeline
from guanxi.customers.contacts import mask_value

register = template.Library()


@register.filter
def contact_display(contact: Any, full: bool) -> str:
    """A contact value in full for roles that may see it, else masked (138****1234)."""
    if contact is None:
        return ""
    return contact.value if full else mask_value(contact.kind, contact.value)


@register.filter
def primary_contact(customer: Any, kind: str) -> Any:
    contacts = getattr(customer, "primary_contacts", None)
    if contacts is None:
        contacts = [c for c in customer.contact_points.all() if c.is_primary]
    return next((c for c in contacts if c.kind == kind), None)


@register.filter
def timeline_text(entry: Any) -> str:
    return render_timeline(entry.kind, entry.data or {}, entry.summary)


@register.filter
def import_field_label(name: str, target: str) -> str:
    """An import field's label for the kind ``target`` (``{{ f|import_field_label:job.target }}``)."""
    from guanxi.customers.imports.kinds import import_kinds

    kind = import_kinds().get(target)
    return kind.label(name) if kind is not None else name
