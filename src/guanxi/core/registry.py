"""Extension points: apps higher in the stack plug into lower ones here, never by being imported.

A registry is a keyed list of typed entries. Each app registers its entries in its ``AppConfig.ready()``;
a key registered twice is refused (two apps claiming one key is a bug, found at start-up rather than
by whichever ran last). Readers get the entries sorted by ``(order, key)``, so the result never depends
on ``INSTALLED_APPS`` order. The contracts of every registry are in docs/development/architecture.md
("Registries").

This module holds the registry type and the two registries of the staff workspace's shell: navigation
entries and the panels of the customer 360 page:

    register_nav(NavItem(key="loyalty", label=_("Loyalty"), url_name="loyalty:program", order=40))
    register_customer_panel(CustomerPanel(key="loyalty", title=_("Loyalty"), template="loyalty/panel.html",
                                          context=loyalty_panel_context, order=20))

``context(request, customer) -> dict`` must run a constant number of queries. A third, **customer list
actions**, puts links of higher apps on the customer list while segment filters (``?seg.<key>=<value>``)
are active; the list appends those ``seg.*`` parameters to the entry's URL:

    register_customer_list_action(CustomerListAction(key="campaigns.segment", label=_("Save as segment"),
                                                     url_name="campaigns:segment_new", order=10))

The other registries:
``core.timeline`` (timeline kinds), ``core.merge`` (merge followers and hooks), ``core.personal_data``
(exporters and erasers), ``core.segments`` (segment fields) and ``core.care`` (care triggers and actions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from django.core.exceptions import ImproperlyConfigured


class Entry(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def order(self) -> int: ...


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """Entries by key; ``register`` refuses a key that is taken, ``entries`` lists them by (order, key)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, E] = {}

    def register(self, entry: E) -> E:
        if not entry.key:
            raise ImproperlyConfigured(f"{self.name}: an entry needs a key.")
        if entry.key in self._entries:
            raise ImproperlyConfigured(f"{self.name}: {entry.key!r} is registered already.")
        self._entries[entry.key] = entry
        return entry

    def unregister(self, key: str) -> None:
        """For tests that register an entry of their own and must leave the registry as they found it."""
        self._entries.pop(key, None)

    def get(self, key: str) -> E | None:
        return self._entries.get(key)

    def entries(self) -> list[E]:
        return sorted(self._entries.values(), key=lambda e: (e.order, e.key))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[E]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._entries)


def allowed(roles: frozenset[str], user: Any) -> bool:
    """Empty ``roles``: everyone signed in; else superusers and users whose role is listed."""
    return not roles or getattr(user, "is_superuser", False) or getattr(user, "role", None) in roles


# --- the workspace shell: navigation and 360 panels ------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    key: str
    label: Any
    url_name: str
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)  # empty: everyone signed in
    icon: str = ""


@dataclass(frozen=True)
class CustomerPanel:
    key: str
    title: Any
    template: str
    context: Callable[[Any, Any], dict[str, Any]] | None = None
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)
    #: The panel's HTML id on the 360 page; empty: ``panel-<key>``.
    anchor: str = ""

    @property
    def html_id(self) -> str:
        return self.anchor or f"panel-{self.key}"


@dataclass(frozen=True)
class CustomerListAction:
    """A link on the customer list shown while segment filters are active, carrying their ``seg.*`` parameters."""

    key: str
    label: Any
    url_name: str  # reversed without arguments; the list appends ``?seg.<key>=<value>&…``
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)


NAV: Registry[NavItem] = Registry("navigation")
CUSTOMER_PANELS: Registry[CustomerPanel] = Registry("customer 360 panels")
CUSTOMER_LIST_ACTIONS: Registry[CustomerListAction] = Registry("customer list actions")


def register_nav(item: NavItem) -> None:
    NAV.register(item)


def register_customer_panel(panel: CustomerPanel) -> None:
    CUSTOMER_PANELS.register(panel)


def register_customer_list_action(action: CustomerListAction) -> None:
    CUSTOMER_LIST_ACTIONS.register(action)


def customer_list_actions(user: Any) -> list[CustomerListAction]:
    return [a for a in CUSTOMER_LIST_ACTIONS.entries() if allowed(a.roles, user)]


def nav_items(user: Any) -> list[NavItem]:
    return [i for i in NAV.entries() if allowed(i.roles, user)]


def customer_panels(user: Any) -> list[CustomerPanel]:
    return [p for p in CUSTOMER_PANELS.entries() if allowed(p.roles, user)]
