"""Care triggers and actions: the parts a care rule (trigger → conditions → actions) is built from.

Apps register them in their ``AppConfig.ready()``; the care app lists them in its rule editor and runs them.

- a **trigger** says for whom a rule fires. ``handler(params, context) -> customer ids``: a queryset of ids
  (``values_list("id", flat=True)``) or an iterable, computed set-based in a constant number of queries.
  ``event`` names the domain event that fires it (``"order.paid"``; ``context["event"]`` is the event), or is
  empty for a scheduled trigger that the care app evaluates every day (``context["today"]``, the local date).
- an **action** does something for one customer. ``handler(customer, params, context) -> {what: value}``
  runs inside the care run's transaction and is idempotent on ``context["dedupe_key"]`` (the care app may run
  it twice after a crash: the second run changes nothing), e.g. by passing the key to the messaging queue
  or as the coupon issue's idempotency key.

  What an action returns is recorded on the care occurrence; two keys mean something to the care run:
  ``{"suppressed": reason}`` when the gesture was refused and nothing was done (the messaging queue's frequency
  cap, consent or quiet hours for ``Purpose.CARE``): the occurrence becomes a suppressed one with that reason and
  the rule's later steps do not run; ``{"cost": Decimal}`` what the gesture cost (a coupon's face value), spent
  against the rule's care plan and its yearly budget. Other keys are free (``{"coupon": code}``, …).

A **state** trigger (its condition holds day after day, e.g. churn risk) sets ``rearm_days``: the daily run leaves
out the customers the rule already reached within that many days, so it fires once per lapse, not daily (the
re-firing Zendesk automations are known for).

``validate_params(params) -> params`` cleans what the rule editor sent and raises ``ValidationError``
naming the field; ``params_schema`` (JSON Schema) describes the same parameters to the editor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from guanxi.core.registry import Registry


def no_params(params: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class CareTrigger:
    key: str
    label: Any
    handler: Callable[[dict[str, Any], dict[str, Any]], Iterable[int]]
    validate_params: Callable[[dict[str, Any]], dict[str, Any]] = no_params
    params_schema: dict[str, Any] = field(default_factory=dict)
    event: str = ""  # empty: scheduled (daily)
    order: int = 100
    #: A *state* trigger (true for as long as a condition lasts: churn risk, a drifting customer) fires once for a
    #: rule and customer, then not again for that rule until this many days have passed; 0: an occasion trigger
    #: (a birthday, day N) that is true on one day only.
    rearm_days: int = 0


@dataclass(frozen=True)
class CareAction:
    key: str
    label: Any
    handler: Callable[[Any, dict[str, Any], dict[str, Any]], dict[str, Any]]
    validate_params: Callable[[dict[str, Any]], dict[str, Any]] = no_params
    params_schema: dict[str, Any] = field(default_factory=dict)
    order: int = 100


CARE_TRIGGERS: Registry[CareTrigger] = Registry("care triggers")
CARE_ACTIONS: Registry[CareAction] = Registry("care actions")


def register_care_trigger(trigger: CareTrigger) -> None:
    CARE_TRIGGERS.register(trigger)


def register_care_action(action: CareAction) -> None:
    CARE_ACTIONS.register(action)


def care_triggers(*, event: str | None = None) -> list[CareTrigger]:
    """All triggers, or those fired by ``event`` (``""``: the scheduled ones)."""
    return [t for t in CARE_TRIGGERS.entries() if event is None or t.event == event]


def care_actions() -> list[CareAction]:
    return CARE_ACTIONS.entries()
