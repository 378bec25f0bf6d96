"""Care test parts: small triggers and actions registered through the core registry for a test, removed after.

The real triggers (birthday, lunar, day N …) and actions (message, coupon, points, tag) belong to the apps that
own the data; these tests rely only on the registry's contract.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS, CareAction, CareTrigger


class Calls:
    """What the test actions did, thread-safe (the concurrency test runs them on two threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, int, str]] = []  # (action, customer id, dedupe key)

    def add(self, action: str, customer_id: int, key: str) -> None:
        with self.lock:
            self.rows.append((action, customer_id, key))

    def customers(self, action: str = "zz.note") -> list[int]:
        return sorted(cid for a, cid, _key in self.rows if a == action)


def _clean_listed(params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise ValidationError({"ids": ["Give a list of customer ids."]})
    on = params.get("on") or []
    for day in on:
        try:
            dt.date.fromisoformat(day)
        except (TypeError, ValueError):
            raise ValidationError({"on": ["Give ISO dates."]}) from None
    return {"ids": ids, "on": list(on)}


def _listed(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """The listed customers, on the listed local dates (every day when none): one query, set-based."""
    from guanxi.customers.models import Customer

    if params.get("on") and context["today"].isoformat() not in params["on"]:
        return Customer.objects.none().values_list("id", flat=True)
    return Customer.objects.filter(pk__in=params["ids"]).values_list("id", flat=True)


def _event_customer(params: dict[str, Any], context: dict[str, Any]) -> list[int]:
    event = context["event"]
    return [event.customer_id] if event.customer_id else []


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def care_parts(calls):
    """A scheduled trigger ``zz.listed``, an event trigger ``zz.paid`` (``order.paid``), and actions:
    ``zz.note`` (records the call), ``zz.capped`` (the queue refuses: frequency cap), ``zz.gift`` (costs)."""

    def note(customer, params, context):
        calls.add("zz.note", customer.pk, context["dedupe_key"])
        return {"noted": True}

    def capped(customer, params, context):
        calls.add("zz.capped", customer.pk, context["dedupe_key"])
        return {"suppressed": "frequency cap"}

    def gift(customer, params, context):
        calls.add("zz.gift", customer.pk, context["dedupe_key"])
        return {"cost": params.get("cost", "30.00")}

    def clean_gift(params):
        return {"cost": str(params.get("cost", "30.00"))}

    CARE_TRIGGERS.register(CareTrigger(key="zz.listed", label="Listed", handler=_listed, validate_params=_clean_listed))
    CARE_TRIGGERS.register(CareTrigger(key="zz.paid", label="Paid", handler=_event_customer, event="order.paid"))
    CARE_ACTIONS.register(CareAction(key="zz.note", label="Note", handler=note))
    CARE_ACTIONS.register(CareAction(key="zz.capped", label="Capped", handler=capped))
    CARE_ACTIONS.register(CareAction(key="zz.gift", label="Gift", handler=gift, validate_params=clean_gift))
    yield calls
    for key in ("zz.listed", "zz.paid"):
        CARE_TRIGGERS.unregister(key)
    for key in ("zz.note", "zz.capped", "zz.gift"):
        CARE_ACTIONS.unregister(key)


@pytest.fixture
def customers(store_a, store_b):
    from guanxi.customers.tests.factories import make_customer

    return [make_customer(store=store_a if i % 2 == 0 else store_b, name=f"顾客{i}") for i in range(6)]


def make_rule(ids, *, on=None, steps=None, priority=100, holdout="0", name="生日祝福", **extra):
    from guanxi.care.models import CareRule

    return CareRule.objects.create(
        name=name,
        active=True,
        priority=priority,
        trigger_key="zz.listed",
        trigger_params={"ids": list(ids), "on": list(on or [])},
        steps=steps if steps is not None else [{"action": "zz.note", "params": {}}],
        holdout_percent=holdout,
        **extra,
    )
