"""The care triggers of sales (``core.care``), registered in ``SalesConfig.ready()``; both fire on ``order.paid``.

- ``first_purchase``: the buyer, when the paid order is their first (no other order of theirs placed before or
  at the same time): one query.
- ``order_over_amount`` (``amount``, yuan): the buyer, when the order's paid amount is at least ``amount``:
  from the event's payload alone, no query.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy

from guanxi.core.care import CareTrigger, register_care_trigger
from guanxi.customers.care import param_money
from guanxi.sales.models import Order

FIRST_PURCHASE = "first_purchase"
ORDER_OVER_AMOUNT = "order_over_amount"
ORDER_PAID = "order.paid"


def _event(context: dict[str, Any]) -> tuple[str, int | None, dict[str, Any]]:
    event = context["event"]
    if isinstance(event, dict):
        return event.get("name", ""), event.get("customer_id"), event.get("payload") or {}
    return event.name, event.customer_id, event.payload or {}


def first_purchase_customers(params: dict[str, Any], context: dict[str, Any]) -> list[int]:
    name, customer_id, payload = _event(context)
    order_id = payload.get("order_id")
    if name != ORDER_PAID or customer_id is None or order_id is None:
        return []
    order = Order.objects.filter(pk=order_id).values("ordered_at").first()
    if order is None:
        return []
    earlier = Order.objects.filter(customer_id=customer_id, ordered_at__lte=order["ordered_at"]).exclude(pk=order_id)
    return [] if earlier.exists() else [int(customer_id)]


def clean_amount_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"amount": str(param_money(params, "amount"))}


def order_over_amount_customers(params: dict[str, Any], context: dict[str, Any]) -> list[int]:
    name, customer_id, payload = _event(context)
    if name != ORDER_PAID or customer_id is None:
        return []
    try:
        paid = Decimal(str(payload.get("paid_amount")))
    except InvalidOperation:
        return []
    return [int(customer_id)] if paid >= Decimal(str(params["amount"])) else []


def register() -> None:
    register_care_trigger(
        CareTrigger(
            key=FIRST_PURCHASE,
            label=gettext_lazy("First purchase"),
            handler=first_purchase_customers,
            event=ORDER_PAID,
            order=30,
        )
    )
    register_care_trigger(
        CareTrigger(
            key=ORDER_OVER_AMOUNT,
            label=gettext_lazy("Order paid over an amount"),
            handler=order_over_amount_customers,
            validate_params=clean_amount_params,
            params_schema={
                "type": "object",
                "properties": {
                    "amount": {"type": "string", "format": "decimal", "title": gettext_lazy("Amount at least (¥)")}
                },
                "required": ["amount"],
            },
            event=ORDER_PAID,
            order=31,
        )
    )
