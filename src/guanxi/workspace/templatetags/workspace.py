"""Template helpers of the workspace shell: navigation and the store switcher.

List helpers (sort links, query strings) are in ``core`` (``{% load lists %}``); showing a customer is in
``customers`` (``{% load customers %}``).
"""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from guanxi.accounts.stores import current_store_id, switchable_stores
from guanxi.core.registry import nav_items

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
