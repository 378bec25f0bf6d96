"""The store switcher: staff of several stores narrow every list to one store, kept in the session."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from guanxi.accounts.models import Store

SESSION_KEY = "workspace_store_id"


def switchable_stores(user: Any) -> list[Store]:
    """Stores the user may narrow to: all active stores for those who see every store, else their own."""
    if not getattr(user, "is_authenticated", False):
        return []
    if user.sees_all_stores:
        return list(Store.objects.filter(is_active=True).order_by("code"))
    return list(user.stores.filter(is_active=True).order_by("code"))


def current_store_id(request) -> int | None:
    value = request.session.get(SESSION_KEY)
    return int(value) if value else None


def store_choose(request, store_id: int | None) -> bool:
    """Keep the choice if the store is one of the user's; None shows all their stores again."""
    if store_id is None:
        request.session.pop(SESSION_KEY, None)
        return True
    if any(s.pk == store_id for s in switchable_stores(request.user)):
        request.session[SESSION_KEY] = store_id
        return True
    return False


def scoped(request, queryset: QuerySet) -> QuerySet:
    """Narrow an already visible customer queryset to the store chosen in the switcher."""
    store_id = current_store_id(request)
    return queryset.filter(home_store_id=store_id) if store_id else queryset
