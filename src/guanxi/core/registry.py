"""Extension points of the staff workspace: apps add navigation entries and 360-page panels here.

The registry lives in ``core`` (the bottom layer) so that every app can register without importing
the workspace, which sits above them all; the workspace only reads it. Each app registers in its
``AppConfig.ready()``, so the shell never imports an app by name:

    register_nav(NavItem(key="loyalty", label=_("Loyalty"), url_name="loyalty:program", order=40))
    register_customer_panel(CustomerPanel(key="loyalty", title=_("Loyalty"), template="loyalty/panel.html",
                                          context=loyalty_panel_context, order=20))

``context(request, customer) -> dict`` must run a constant number of queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    context: Callable[[Any, Any], dict] | None = None
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)


_nav: dict[str, NavItem] = {}
_panels: dict[str, CustomerPanel] = {}


def register_nav(item: NavItem) -> None:
    _nav[item.key] = item


def register_customer_panel(panel: CustomerPanel) -> None:
    _panels[panel.key] = panel


def _allowed(roles: frozenset[str], user: Any) -> bool:
    return not roles or getattr(user, "is_superuser", False) or getattr(user, "role", None) in roles


def nav_items(user: Any) -> list[NavItem]:
    return sorted((i for i in _nav.values() if _allowed(i.roles, user)), key=lambda i: (i.order, i.key))


def customer_panels(user: Any) -> list[CustomerPanel]:
    return sorted((p for p in _panels.values() if _allowed(p.roles, user)), key=lambda p: (p.order, p.key))
