"""The store switcher: staff of several stores narrow every list to one store, kept in the session."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from guanxi.accounts.actors import Actor
from guanxi.accounts.models import Store, User

_M = TypeVar("_M", bound=Model)

SESSION_KEY = "workspace_store_id"


def switchable_stores(user: Actor) -> list[Store]:
    """Stores the user may narrow to: all active stores for those who see every store, else their own."""
    if not isinstance(user, User) or not user.is_authenticated:
        return []
    if user.sees_all_stores:
        return list(Store.objects.filter(is_active=True).order_by("code"))
    return list(user.stores.filter(is_active=True).order_by("code"))


def current_store_id(request: HttpRequest) -> int | None:
    value = request.session.get(SESSION_KEY)
    return int(value) if value else None


def store_choose(request: HttpRequest, store_id: int | None) -> bool:
    """Keep the choice if the store is one of the user's; None shows all their stores again."""
    if store_id is None:
        request.session.pop(SESSION_KEY, None)
        return True
    if any(s.pk == store_id for s in switchable_stores(request.user)):
        request.session[SESSION_KEY] = store_id
        return True
    return False


def scoped(request: HttpRequest, queryset: QuerySet[_M]) -> QuerySet[_M]:
    """Narrow an already visible customer queryset to the store chosen in the switcher."""
    store_id = current_store_id(request)
    return queryset.filter(home_store_id=store_id) if store_id else queryset
