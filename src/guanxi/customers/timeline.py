"""How each kind of timeline entry reads, in the viewer's language.

Entries store a kind and data, not a sentence, so a page in English shows English and a page in
Chinese shows Chinese. Later apps register their own kinds here.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

_templates: dict[str, object] = {
    "customer.created": _("Customer record created (%(channel)s)"),
    "customer.updated": _("Profile changed: %(fields)s"),
    "customer.merged": _("Merged with customer #%(merged_id)s (%(merged_name)s)"),
    "contact.added": _("%(kind)s added: %(masked)s"),
    "contact.removed": _("%(kind)s removed: %(masked)s"),
    "contact.primary": _("Primary %(kind)s set to %(masked)s"),
    "tag.added": _("Tagged “%(tag)s”"),
    "tag.removed": _("Tag “%(tag)s” removed"),
    "note.added": _("Note: %(excerpt)s"),
    "date.added": _("Important date added: %(label)s %(date)s"),
    "order.paid": _("Order %(ref)s paid: ¥%(amount)s at %(store)s"),
    "order.refunded": _("Refund %(ref)s on order %(order_ref)s: ¥%(amount)s"),
}


def _field_labels(data: dict) -> dict:
    """Name the changed fields in the viewer's language, not the editor's."""
    from guanxi.customers.models import Customer

    names = data.get("field_names")
    if names is None:
        return data
    labels = []
    for name in names:
        try:
            labels.append(str(Customer._meta.get_field(name).verbose_name))
        except Exception:  # noqa: BLE001 - a field since removed still reads as its name
            labels.append(name)
    return {**data, "fields": ", ".join(labels)}


_prepare: dict[str, object] = {"customer.updated": _field_labels}


def register_kind(kind: str, template: object, prepare=None) -> None:
    """``template`` has %(name)s placeholders; ``prepare(data) -> data`` may add display values."""
    _templates[kind] = template
    if prepare is not None:
        _prepare[kind] = prepare


def render(kind: str, data: dict, fallback: str) -> str:
    template = _templates.get(kind)
    if template is None:
        return fallback
    try:
        prepare = _prepare.get(kind)
        return str(template) % (prepare(data) if prepare else data)
    except (KeyError, TypeError, ValueError):
        return fallback
