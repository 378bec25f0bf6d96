"""Event rules: each domain event that a registered care trigger names is evaluated against the active rules.

The subscription is made in ``CareConfig.ready()`` for the events the registered triggers name (the lower
apps registered theirs before); ``care_subscribe`` may be called again after registering more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guanxi.core.care import care_triggers
from guanxi.core.events import subscriber

if TYPE_CHECKING:
    from guanxi.core.models import Event


def care_event(event: Event) -> None:
    """Evaluate the active care rules whose trigger fires on this event (exactly once per rule and customer)."""
    from guanxi.care.run import care_event_evaluate

    care_event_evaluate(event)


def care_subscribe() -> None:
    names = sorted({t.event for t in care_triggers() if t.event})
    if names:
        subscriber(*names, name="care.rules")(care_event)
