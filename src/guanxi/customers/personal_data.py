"""The customer record's part of a personal-data export: what the customer 360 page shows about the person.

Registered in ``core.personal_data`` by ``CustomersConfig.ready()``; other apps register their own copies
(messages, memberships). Values in full (the export is for the customer or for whoever handles their
request), dates as ISO strings; five queries whatever the customer has.
"""

from __future__ import annotations

from typing import Any

from guanxi.customers.forms import PROFILE_EDIT_FIELDS
from guanxi.customers.models import ContactPoint, Customer, ImportantDate, Note

#: The profile as the 360 page shows it, and what the record says of its own origin.
PROFILE = [*PROFILE_EDIT_FIELDS, "kind", "source", "created_at"]


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def customer_personal_data(customer: Customer) -> dict[str, Any]:
    """Profile, contacts, important dates, interests, tags, custom attributes and notes of one customer."""
    row = Customer.objects.select_related("home_store").get(pk=customer.pk)
    contacts = ContactPoint.objects.filter(customer_id=row.pk).order_by("kind", "-is_primary", "id")
    dates = ImportantDate.objects.filter(customer_id=row.pk).order_by("date", "id")
    notes = Note.objects.filter(customer_id=row.pk).order_by("created_at", "id")
    return {
        "id": row.pk,
        **{name: _plain(getattr(row, name)) for name in PROFILE},
        "home_store": row.home_store.name if row.home_store else None,
        "contacts": [{"kind": c.kind, "value": c.value, "primary": c.is_primary} for c in contacts],
        "important_dates": [{"kind": d.kind, "label": d.label, "date": d.date.isoformat()} for d in dates],
        "interests": list(row.interests),
        "tags": sorted(row.tags.values_list("name", flat=True)),
        "custom_attributes": {k: _plain(v) for k, v in row.custom_attributes.items()},
        "notes": [{"body": n.body, "created_at": n.created_at.isoformat()} for n in notes],
    }
