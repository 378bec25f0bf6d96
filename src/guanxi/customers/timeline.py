"""The customer record's own timeline kinds; ``CustomersConfig.ready()`` registers them in ``core.timeline``.

Entries store a kind and data, not a sentence, so a page in English shows English and a page in Chinese
shows Chinese. Every app registers the kinds it writes the same way (see ``core.timeline``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from guanxi.core.timeline import TimelineKind, timeline_text

#: The customers app's name for ``core.timeline.timeline_text`` (the API and the tests read entries with it).
render = timeline_text


def _field_labels(data: dict[str, Any]) -> dict[str, Any]:
    """Name the changed fields in the viewer's language, not the editor's."""
    from guanxi.customers.models import Customer

    names = data.get("field_names")
    if names is None:
        return data
    labels = []
    for name in names:
        try:
            field = Customer._meta.get_field(name)
            labels.append(str(getattr(field, "verbose_name", name)))
        except Exception:  # noqa: BLE001 - a field since removed still reads as its name
            labels.append(name)
    return {**data, "fields": ", ".join(labels)}


#: The channels a write arrives by (``customer_create(channel=…)``, the audit's ``channel``), as people say them.
CHANNEL_LABELS = {
    "web": _("staff pages"),
    "api": _("API"),
    "import": _("import"),
    "order": _("an order"),
    "checkout": _("counter sale"),
    "webhook": _("till (POS) webhook"),
    "cli": _("command line"),
    "demo": _("demo data"),
}


def channel_label(code: str) -> str:
    """A channel code as words in the viewer's language; an unknown code reads as given."""
    label = CHANNEL_LABELS.get(code)
    return str(label) if label is not None else code


def _channel(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "channel": channel_label(str(data.get("channel", "")))}


KINDS = [
    TimelineKind("customer.created", _("Customer record created (%(channel)s)"), prepare=_channel),
    TimelineKind("customer.updated", _("Profile changed: %(fields)s"), prepare=_field_labels),
    TimelineKind("customer.merged", _("Merged with customer #%(merged_id)s (%(merged_name)s)")),
    TimelineKind("contact.added", _("%(kind)s added: %(masked)s")),
    TimelineKind("contact.removed", _("%(kind)s removed: %(masked)s")),
    TimelineKind("contact.primary", _("Primary %(kind)s set to %(masked)s")),
    TimelineKind("contact.changed", _("%(kind)s corrected: %(from)s → %(to)s")),
    TimelineKind("tag.added", _("Tagged “%(tag)s”")),
    TimelineKind("tag.removed", _("Tag “%(tag)s” removed")),
    TimelineKind("note.added", _("Note: %(excerpt)s")),
    TimelineKind("date.added", _("Important date added: %(label)s %(date)s")),
]
