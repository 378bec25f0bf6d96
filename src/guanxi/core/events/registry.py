"""Who listens to which domain event: the subscriber registry that apps fill in their ``AppConfig.ready()``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guanxi.core.models import Event

Handler = Callable[["Event"], None]
_subscribers: dict[str, dict[str, Handler]] = defaultdict(dict)


def subscriber(*event_names: str, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``handler`` for events by name ("order.paid") or family ("order.*", "*")."""

    def register(handler: Handler) -> Handler:
        key = name or f"{handler.__module__}.{handler.__qualname__}"
        for event_name in event_names:
            _subscribers[event_name][key] = handler
        return handler

    return register


def subscribers_for(event_name: str) -> dict[str, Handler]:
    """The handlers an event goes to, by subscriber key: those for "*", for its family, and for its name."""
    family = event_name.split(".", 1)[0] + ".*"
    found: dict[str, Handler] = {}
    for pattern in ("*", family, event_name):
        found.update(_subscribers.get(pattern, {}))
    return found
