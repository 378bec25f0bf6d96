"""Short-lived caching of the few whole-table figures (headline counts, monthly sales, duplicate candidates).

At a million customers and ten million orders these take seconds; staff look at them many times an
hour and a few minutes' staleness is harmless. The key is the visibility scope (everyone for those
who see all stores, else the user) and the store chosen in the switcher. ``GUANXI_WORKSPACE_CACHE_SECONDS``
(default 600; 0 switches caching off) sets the lifetime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from guanxi.accounts.stores import current_store_id


def scope_key(request) -> str:
    user = request.user
    who = "all" if user.sees_all_stores else f"u{user.pk}"
    return f"{who}:s{current_store_id(request) or '-'}"


def cached(name: str, request, compute: Callable[[], Any]) -> Any:
    seconds = int(getattr(settings, "GUANXI_WORKSPACE_CACHE_SECONDS", 600))
    if seconds <= 0:
        return compute()
    key = f"guanxi:workspace:{name}:{scope_key(request)}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value
