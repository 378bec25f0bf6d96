"""What a customer merge carries along: rows that follow the customer, and hooks for everything else.

``customers.services.customer_merge`` folds one customer into another. It cannot know the rows of the apps
above it, so they register here in their ``AppConfig.ready()``:

- a **merge follower** names a model and its foreign key to the customer; the merge moves every row with
  one ``UPDATE`` (``"messaging.Message"``, field ``customer``). Use it when moving the rows is all there is.
- a **merge hook** is a function ``(survivor, merged) -> {what: count}`` for what needs more than a move:
  rows that must be combined (two memberships, two wallets), balances to recount, unique keys to resolve.

Both run inside the merge's transaction, after both customers are locked (``select_for_update``), followers
first and then hooks, each in ``(order, key)`` order. A hook raises ``ValidationError`` to refuse the merge
(nothing is written). The counts end up in the merge record, the event and the audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guanxi.core.registry import Registry

#: ``(survivor, merged) -> {what: count}``; the customers are ``customers.Customer`` rows (core cannot name them).
MergeFunction = Callable[[Any, Any], dict[str, int]]


@dataclass(frozen=True)
class MergeFollower:
    model_label: str  # "app_label.ModelName"
    field_name: str = "customer"
    order: int = 100

    @property
    def key(self) -> str:
        return f"{self.model_label}.{self.field_name}"


@dataclass(frozen=True)
class MergeHook:
    key: str
    function: MergeFunction
    order: int = 100


MERGE_FOLLOWERS: Registry[MergeFollower] = Registry("merge followers")
MERGE_HOOKS: Registry[MergeHook] = Registry("merge hooks")


def register_merge_follower(follower: MergeFollower) -> None:
    MERGE_FOLLOWERS.register(follower)


def register_merge_hook(hook: MergeHook) -> None:
    MERGE_HOOKS.register(hook)


def merge_followers() -> list[MergeFollower]:
    return MERGE_FOLLOWERS.entries()


def merge_hooks() -> list[MergeHook]:
    return MERGE_HOOKS.entries()
