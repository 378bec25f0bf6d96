"""Rows for analytics tests, written in bulk: the analytics read only customers, ``sales_order`` and its lines,
so these are plain rows (no contacts, no events), built by factories and inserted with one ``bulk_create``
per table, which keeps a base of hundreds of customers quick."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import factory
from django.utils import timezone

from guanxi.analytics.sql import local_zone
from guanxi.customers.models import Customer
from guanxi.sales.models import Order, OrderLine, PaymentMethod

_refs = itertools.count(1)


def at_local(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=local_zone())


class CustomerRowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"客户{n}")


def _status(o) -> str:  # ``o``: the factory's view of the row being built
    if not o.refunded_amount:
        return Order.Status.PAID
    return Order.Status.REFUNDED if o.refunded_amount == o.paid_amount else Order.Status.PARTIALLY_REFUNDED


class OrderRowFactory(factory.django.DjangoModelFactory):
    """A paid order (``paid_amount`` = ``total_amount``); a refunded amount makes it (partly) refunded."""

    class Meta:
        model = Order

    source = "test"
    external_ref = factory.LazyFunction(lambda: f"A-{next(_refs)}")
    ordered_at = factory.LazyFunction(lambda: at_local(timezone.localdate()))
    paid_amount = Decimal("100.00")
    total_amount = factory.SelfAttribute("paid_amount")
    refunded_amount = Decimal("0.00")
    status = factory.LazyAttribute(_status)
    payment_method = PaymentMethod.CASH


def customers(n: int, **fields) -> list[Customer]:
    """``n`` customers named 客户0 … 客户{n-1}, in one insert."""
    return Customer.objects.bulk_create([CustomerRowFactory.build(name=f"客户{i}", **fields) for i in range(n)])


def order(
    customer_id: int,
    when: dt.datetime,
    paid: str | Decimal,
    *,
    refunded: str | Decimal = "0.00",
    category=None,
) -> Order:
    """An unsaved order row; ``save_orders`` inserts it with one line (in ``category``, if any)."""
    o = OrderRowFactory.build(
        customer_id=customer_id, ordered_at=when, paid_amount=Decimal(paid), refunded_amount=Decimal(refunded)
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
