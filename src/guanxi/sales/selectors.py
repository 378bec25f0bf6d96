"""Reads of orders, always through the customers a user may see."""

from django.db.models import Prefetch, QuerySet

from guanxi.accounts.actors import Actor
from guanxi.customers.models import Customer
from guanxi.sales.models import Order, OrderLine


def order_list(*, user: Actor) -> QuerySet[Order]:
    return (
        Order.objects.filter(customer__in=Customer.objects.visible_to(user).values("pk"))
        .select_related("store", "customer")  # shown on every row
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))  # one query per page
        .order_by("-ordered_at", "-id")
    )


def customer_orders(*, customer: Customer, limit: int = 20) -> list[Order]:
    return list(
        Order.objects.filter(customer=customer)
        .select_related("store")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
        .order_by("-ordered_at", "-id")[:limit]
    )
