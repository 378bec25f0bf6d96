"""Template helpers of the workspace shell: navigation, store switcher, sort links, masking, timeline text."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from guanxi.core.registry import nav_items
from guanxi.customers import timeline
from guanxi.customers.contacts import mask_value
from guanxi.workspace.stores import current_store_id, switchable_stores

register = template.Library()


@register.simple_tag(takes_context=True)
def workspace_nav(context):
    """[(item, url, active)] for the signed-in user, from the navigation registry."""
    request = context["request"]
    out = []
    for item in nav_items(request.user):
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        out.append({"item": item, "url": url, "active": active})
    # the longest matching prefix wins, so /customers/duplicates/ is not also "Customers"
    actives = [e for e in out if e["active"]]
    if len(actives) > 1:
        best = max(actives, key=lambda e: len(e["url"]))
        for e in actives:
            e["active"] = e is best
    return out


@register.simple_tag(takes_context=True)
def store_switcher(context):
    request = context["request"]
    stores = switchable_stores(request.user)
    return {"stores": stores, "current": current_store_id(request), "show": len(stores) > 1}


@register.simple_tag(takes_context=True)
def sort_url(context, key: str) -> str:
    """The list URL sorted by ``key``, toggling direction when already sorted by it; filters kept, cursor dropped."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("after", None)
    current = params.get("sort") or "-id"
    params["sort"] = ("" if current == "-" + key else "-") + key
    return "?" + params.urlencode()


@register.simple_tag(takes_context=True)
def sort_state(context, key: str) -> str:
    current = context["request"].GET.get("sort") or "-id"
    if current == key:
        return "asc"
    if current == "-" + key:
        return "desc"
    return ""


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"


@register.filter
def contact_display(contact, full: bool) -> str:
    """A contact value in full for roles that may see it, else masked (138****1234)."""
    if contact is None:
        return ""
    return contact.value if full else mask_value(contact.kind, contact.value)


@register.filter
def primary_contact(customer, kind: str):
    contacts = getattr(customer, "primary_contacts", None)
    if contacts is None:
        contacts = [c for c in customer.contact_points.all() if c.is_primary]
    return next((c for c in contacts if c.kind == kind), None)


@register.filter
def timeline_text(entry) -> str:
    return timeline.render(entry.kind, entry.data or {}, entry.summary)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
