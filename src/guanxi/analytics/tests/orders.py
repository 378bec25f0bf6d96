"""Order rows for analytics tests, written in bulk (the analytics only read ``sales_order`` and lines)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from guanxi.analytics.sql import local_zone
from guanxi.customers.models import Customer
from guanxi.sales.models import Order, OrderLine, PaymentMethod

_refs = itertools.count(1)


def at_local(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=local_zone())


def customers(n: int, **fields) -> list[Customer]:
    return Customer.objects.bulk_create([Customer(name=f"客户{i}", **fields) for i in range(n)])


def order(
    customer_id: int,
    when: dt.datetime,
    paid: str | Decimal,
    *,
    refunded: str | Decimal = "0.00",
    category=None,
) -> Order:
    paid, refunded = Decimal(paid), Decimal(refunded)
    status = Order.Status.PAID
    if refunded:
        status = Order.Status.REFUNDED if refunded == paid else Order.Status.PARTIALLY_REFUNDED
    o = Order(
        source="test",
        external_ref=f"A-{next(_refs)}",
        customer_id=customer_id,
        ordered_at=when,
        total_amount=paid,
        paid_amount=paid,
        refunded_amount=refunded,
        status=status,
        payment_method=PaymentMethod.CASH,
    )
    o._category = category  # noqa: SLF001 - consumed by save_orders
    return o


def save_orders(orders: list[Order]) -> list[Order]:
    """Insert orders, each with one line (in the given category, if any)."""
    created = Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=o,
                name="商品",
                category=getattr(src, "_category", None),
                quantity=1,
                unit_price=o.paid_amount,
                amount=o.paid_amount,
            )
            for o, src in zip(created, orders, strict=True)
        ]
    )
    return created
