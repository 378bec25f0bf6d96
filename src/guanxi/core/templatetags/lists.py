"""Template helpers for any list page (``{% load lists %}``): sort links and query strings that keep the filters.

They live in ``core`` so that every app's list pages use them without reaching up to the workspace shell.
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_url(context: template.Context, key: str) -> str:
    """The list URL sorted by ``key``, toggling direction when already sorted by it; filters kept, cursor dropped."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("after", None)
    current = params.get("sort") or "-id"
    params["sort"] = ("" if current == "-" + key else "-") + key
    return "?" + str(params.urlencode())


@register.simple_tag(takes_context=True)
def sort_state(context: template.Context, key: str) -> str:
    current = context["request"].GET.get("sort") or "-id"
    if current == key:
        return "asc"
    if current == "-" + key:
        return "desc"
    return ""


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
