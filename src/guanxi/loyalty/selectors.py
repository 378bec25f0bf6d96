"""Reads of loyalty; every customer-scoped read goes through ``Customer.objects.visible_to``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from guanxi.customers.models import Customer
from guanxi.loyalty.models import Coupon, CouponTemplate, Membership, PointsEntry, Tier, TopUpRule, WalletEntry

if TYPE_CHECKING:
    from guanxi.accounts.permissions import RequestUser


def membership_list(*, user: RequestUser) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(customer__in=Customer.objects.visible_to(user).values("pk"))
        .select_related("customer", "tier", "store", "points", "wallet")
        .order_by("-pk")
    )


def membership_get(*, user: RequestUser, pk: int) -> Membership:
    return membership_list(user=user).get(pk=pk)


def membership_for_customer(*, user: RequestUser, customer_id: int) -> Membership | None:
    return membership_list(user=user).filter(customer_id=customer_id).first()


def points_entries(*, membership: Membership) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(account__membership=membership).select_related("order", "actor").order_by("-pk")


def wallet_entries(*, membership: Membership) -> QuerySet[WalletEntry]:
    return (
        WalletEntry.objects.filter(wallet__membership=membership)
        .select_related("order", "store", "actor")
        .order_by("-pk")
    )


def coupon_list(*, user: RequestUser, customer_id: int | None = None) -> QuerySet[Coupon]:
    qs = Coupon.objects.filter(customer__in=Customer.objects.visible_to(user).values("pk"))
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    return qs.select_related("template", "customer", "redeemed_order").order_by("-pk")


def tiers() -> QuerySet[Tier]:
    return Tier.objects.order_by("threshold", "order")


def coupon_templates() -> QuerySet[CouponTemplate]:
    return CouponTemplate.objects.order_by("-pk")


def top_up_rules() -> QuerySet[TopUpRule]:
    return TopUpRule.objects.order_by("-min_amount")
