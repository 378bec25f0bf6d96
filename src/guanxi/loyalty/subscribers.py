"""Orders from any channel (API, import, webhook, checkout) earn and lose points through their events."""

from __future__ import annotations

from guanxi.core.events import subscriber
from guanxi.sales.models import Order


@subscriber("order.paid", name="loyalty.earn")
def on_order_paid(event) -> None:
    from guanxi.loyalty.services import points_earn_for_order

    order = Order.objects.filter(pk=event.payload.get("order_id")).first()
    if order is not None:
        points_earn_for_order(order=order)


@subscriber("order.refunded", name="loyalty.reverse")
def on_order_refunded(event) -> None:
    from guanxi.loyalty.services import points_reverse_for_refund

    order = Order.objects.filter(pk=event.payload.get("order_id")).first()
    if order is not None and event.payload.get("refund_id"):
        points_reverse_for_refund(order=order, refund_id=event.payload["refund_id"])
