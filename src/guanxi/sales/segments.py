"""The purchase-behaviour segment fields (``core.segments``), registered in ``SalesConfig.ready()``.

A purchase is an order that is not refunded in full (as analytics counts it); an order refunded in part is a
purchase, its spend the part kept (paid − refunded). Every condition is one set-based piece of SQL over
``customers.Customer``: a ``customer_id IN (orders grouped by customer)``, an ``Exists`` over the
customer's orders (index ``order_customer_facts``) or a comparison of the purchase figures kept on the
customer row (``last_order_at``, ``first_order_at``, ``order_count``, ``total_spent``).

Those figures count every order, refunded or not, so ``last_order_at`` and ``first_order_at`` are exact
bounds rather than answers: a purchase since a day needs ``last_order_at`` on or after it (the indexed
column narrows the customers first) and is then confirmed on the orders.

"The last N days" are local calendar days from 00:00 of today − N + 1 (``customers.segments``); a field whose
``days`` is left out counts purchases at any time.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum, Value
from django.utils.translation import gettext_lazy

from guanxi.core.segments import (
    choice_field,
    date_field,
    days_field,
    flag_field,
    number_field,
    register_segment_field,
)
from guanxi.customers.segments import (
    clean_count,
    clean_date,
    clean_days,
    clean_ids,
    clean_money,
    clean_optional_days,
    clean_yes,
    last_days_start,
    local_day_start,
)
from guanxi.sales.models import Order, OrderLine, Product, ProductCategory

ORDERS = "sales.orders"
SPEND = "sales.spend"
LAST_PURCHASE = "sales.last_purchase"
HAS_BOUGHT = "sales.has_bought"
FIRST_PURCHASE = "sales.first_purchase"
CATEGORY = "sales.category"
PRODUCT = "sales.product"
AVERAGE_ORDER = "sales.average_order"

#: Amounts are whole cents: comparing against a bound moved by half a cent gives the exact answer on every
#: database, also where sums are binary floating point (SQLite).
HALF_CENT = Decimal("0.005")
#: Every customer, as a condition that ``not`` turns into no customer (``~Q()`` would still be everyone).
EVERYONE = Q(pk__isnull=False)


def _purchases(days: int | None) -> QuerySet[Order]:
    orders = Order.objects.exclude(status=Order.Status.REFUNDED)
    return orders.filter(ordered_at__gte=last_days_start(days)) if days else orders


def _bought_since(start: dt.datetime | None) -> Q:
    """A purchase at or after ``start`` (any time when None): the indexed last-order column, then the orders."""
    orders = Order.objects.filter(customer_id=OuterRef("pk")).exclude(status=Order.Status.REFUNDED)
    if start is None:
        return Q(last_order_at__isnull=False) & Q(Exists(orders))
    return Q(last_order_at__isnull=False, last_order_at__gte=start) & Q(Exists(orders.filter(ordered_at__gte=start)))


def _customers_where(orders: QuerySet[Order], having: Q) -> Q:
    """Customers among ``orders``' buyers whose group of orders meets ``having`` (``customer_id`` is never NULL)."""
    grouped = (
        orders.order_by().values("customer_id").annotate(n=Count("id"), s=Sum(F("paid_amount") - F("refunded_amount")))
    )
    return Q(pk__in=grouped.filter(having).values("customer_id"))


def orders_condition(operator: str, value: int, params: dict[str, Any]) -> Q:
    """The number of purchases in the last ``days`` days (or ever): at least / at most / exactly ``value``."""
    orders = _purchases(params.get("days"))
    if operator == "gte":
        return EVERYONE if value == 0 else _customers_where(orders, Q(n__gte=value))
    if operator == "lte":
        return ~_customers_where(orders, Q(n__gt=value))
    if value == 0:  # eq 0: no purchase at all in the window
        return ~Q(pk__in=orders.values("customer_id"))
    return _customers_where(orders, Q(n=value))


def spend_condition(operator: str, value: Decimal, params: dict[str, Any]) -> Q:
    """Money kept from purchases in the last ``days`` days (or ever): at least / at most ``value``."""
    orders = _purchases(params.get("days"))
    if operator == "gte":
        return EVERYONE if value == 0 else _customers_where(orders, Q(s__gte=value - HALF_CENT))
    return ~_customers_where(orders, Q(s__gt=value + HALF_CENT))


def last_purchase_condition(operator: str, value: int, params: dict[str, Any]) -> Q:
    """Bought in the last ``value`` days; "not in the last … days" is its negation, so it includes never-bought."""
    q = _bought_since(last_days_start(value))
    return ~q if operator == "not_within_days" else q


def has_bought_condition(operator: str, value: bool, params: dict[str, Any]) -> Q:
    q = _bought_since(None)
    return ~q if operator == "is_false" else q


def first_purchase_condition(operator: str, value: dt.date, params: dict[str, Any]) -> Q:
    """First purchase on a day before ``value``, or on a day after it (local dates); never-bought: neither."""
    orders = Order.objects.filter(customer_id=OuterRef("pk")).exclude(status=Order.Status.REFUNDED)
    if operator == "before":
        start = local_day_start(value)
        return Q(first_order_at__isnull=False, first_order_at__lt=start) & Q(
            Exists(orders.filter(ordered_at__lt=start))
        )
    start = local_day_start(value + dt.timedelta(days=1))
    return _bought_since(start) & ~Q(Exists(orders.filter(ordered_at__lt=start)))


def _lines_condition(column: str):
    """Bought (on a purchase, a line not all returned) one of the ids in the last ``days`` days, or ever."""

    def condition(operator: str, value: list[int], params: dict[str, Any]) -> Q:
        lines = OrderLine.objects.filter(
            order__customer_id=OuterRef("pk"),
            refunded_quantity__lt=F("quantity"),
            **{f"{column}__in": value},
        ).exclude(order__status=Order.Status.REFUNDED)
        recent = Q(last_order_at__isnull=False)
        if params.get("days"):
            start = last_days_start(params["days"])
            lines = lines.filter(order__ordered_at__gte=start)
            recent &= Q(last_order_at__gte=start)
        q = recent & Q(Exists(lines))
        return ~q if operator == "not_in" else q

    return condition


def average_order_condition(operator: str, value: Decimal, params: dict[str, Any]) -> Q:
    """``total_spent / order_count`` of the customer row at least / at most ``value``; never-bought: neither.

    Compared as ``total_spent ≥ value × order_count`` (no division), half a cent apart (``HALF_CENT``).
    """
    money = DecimalField(max_digits=24, decimal_places=3)
    if operator == "gte":
        bound = ExpressionWrapper(F("order_count") * Value(value) - Value(HALF_CENT), output_field=money)
        return Q(order_count__gt=0, total_spent__gte=bound)
    bound = ExpressionWrapper(F("order_count") * Value(value) + Value(HALF_CENT), output_field=money)
    return Q(order_count__gt=0, total_spent__lte=bound)


def _category_choices() -> list[tuple[str, Any]]:
    return [(str(pk), name) for pk, name in ProductCategory.objects.order_by("code").values_list("pk", "name")]


def _product_choices() -> list[tuple[str, Any]]:
    products = Product.objects.filter(is_active=True).order_by("sku")[:1000]
    return [(str(pk), f"{name} ({sku})") for pk, name, sku in products.values_list("pk", "name", "sku")]


_DAYS_HELP = gettext_lazy(
    "Purchases are orders not refunded in full. In the last … days: local calendar days, today included; "
    "left empty: at any time."
)

GROUP = "purchase"

FIELDS = [
    number_field(
        ORDERS,
        gettext_lazy("Number of purchases"),
        orders_condition,
        operators=("gte", "lte", "eq"),
        clean=clean_count,
        days=clean_optional_days,
        group=GROUP,
        order=30,
        help=_DAYS_HELP,
    ),
    number_field(
        SPEND,
        gettext_lazy("Spend"),
        spend_condition,
        type="money",
        clean=clean_money,
        days=clean_optional_days,
        group=GROUP,
        order=31,
        help=gettext_lazy(
            "What the customer paid and kept (refunds deducted). In the last … days: local calendar days, "
            "today included; left empty: at any time."
        ),
    ),
    days_field(
        LAST_PURCHASE,
        gettext_lazy("Last purchase"),
        last_purchase_condition,
        clean=clean_days,
        group=GROUP,
        order=32,
        help=gettext_lazy(
            "Local calendar days, today included. “Not in the last … days” includes customers who never "
            "bought; add “Has bought” to leave them out."
        ),
    ),
    flag_field(
        HAS_BOUGHT,
        gettext_lazy("Has bought"),
        has_bought_condition,
        clean=clean_yes,
        group=GROUP,
        order=33,
        help=gettext_lazy("At least one order not refunded in full, at any time."),
    ),
    date_field(
        FIRST_PURCHASE,
        gettext_lazy("First purchase"),
        first_purchase_condition,
        clean=clean_date,
        group=GROUP,
        order=34,
        help=gettext_lazy(
            "The day of the first order not refunded in full; the day itself is neither before nor after it. "
            "Customers who never bought match neither."
        ),
    ),
    choice_field(
        CATEGORY,
        gettext_lazy("Bought from category"),
        _lines_condition("category_id"),
        clean=clean_ids,
        choices=_category_choices,
        days=clean_optional_days,
        group=GROUP,
        order=35,
        help=gettext_lazy(
            "The category an item was sold under (not its subcategories); returned items and orders refunded "
            "in full do not count. In the last … days: local calendar days; left empty: at any time."
        ),
    ),
    choice_field(
        PRODUCT,
        gettext_lazy("Bought product"),
        _lines_condition("product_id"),
        clean=clean_ids,
        choices=_product_choices,
        days=clean_optional_days,
        group=GROUP,
        order=36,
        help=gettext_lazy(
            "Returned items and orders refunded in full do not count. In the last … days: local calendar "
            "days; left empty: at any time."
        ),
    ),
    number_field(
        AVERAGE_ORDER,
        gettext_lazy("Average order value"),
        average_order_condition,
        type="money",
        clean=clean_money,
        group=GROUP,
        order=37,
        help=gettext_lazy(
            "Total spent (refunds deducted) divided by the number of orders; customers who never ordered match neither."
        ),
    ),
]


def register() -> None:
    for segment_field in FIELDS:
        register_segment_field(segment_field)
