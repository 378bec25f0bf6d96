"""The rows a loyalty service changes, locked (Saleor's ``lock_objects``): the only way a service gets one.

Lock order inside one transaction (never the other way round): Membership → PointsAccount → Wallet →
Coupon; rows of one kind in primary-key order. A balance changes only under the lock of the row holding it,
in the transaction that writes its ledger entry, so balance == sum(entries) always.
"""

from __future__ import annotations

from guanxi.loyalty.models import Checkout, Coupon, CouponTemplate, Membership, OrderAward, PointsAccount, Wallet


def lock_membership(membership_id: int) -> Membership:
    return Membership.objects.select_for_update(of=("self",)).select_related("tier").get(pk=membership_id)


def lock_points_account(account_id: int) -> PointsAccount:
    return PointsAccount.objects.select_for_update().get(pk=account_id)


def lock_wallet(wallet_id: int) -> Wallet:
    return Wallet.objects.select_for_update().get(pk=wallet_id)


def lock_member_points(membership_id: int) -> PointsAccount:
    """The points account of a membership, locked, in one statement (no id read before the lock)."""
    return PointsAccount.objects.select_for_update().get(membership_id=membership_id)


def lock_member_wallet_or_none(membership: Membership) -> Wallet | None:
    """``lock_member_wallet``, or None for a membership without a wallet."""
    wallet = Wallet.objects.select_for_update().filter(membership_id=membership.pk).first()
    if wallet is not None:
        wallet.membership = membership
    return wallet


def lock_member_wallet(membership: Membership) -> Wallet:
    """The wallet of ``membership`` (already read or locked by the caller), locked; it carries the membership."""
    wallet = Wallet.objects.select_for_update().get(membership_id=membership.pk)
    wallet.membership = membership
    return wallet


def lock_coupon(code: str) -> Coupon | None:
    """The coupon with this code (any case, spaces trimmed), locked; None when there is none."""
    return (
        Coupon.objects.select_for_update(of=("self",))
        .select_related("template")
        .filter(code=code.strip().upper())
        .first()
    )


def lock_coupon_template(template_id: int) -> CouponTemplate:
    """Issues of one template serialize here, so its budget and per-customer limits hold."""
    return CouponTemplate.objects.select_for_update().get(pk=template_id)


def lock_order_award(award_id: int) -> OrderAward:
    return OrderAward.objects.select_for_update().get(pk=award_id)


def lock_checkout(checkout_id: int) -> Checkout:
    """A checkout being refunded, with its order, membership and coupon (lock its membership first)."""
    return (
        Checkout.objects.select_for_update(of=("self",))
        .select_related("order", "membership", "coupon")
        .get(pk=checkout_id)
    )
