"""Earning from orders: points and growth for a paid order (once per order), the first-purchase and
referral rewards, the e-bill, and taking them back in proportion when the order is refunded."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F

from guanxi.core.events import event_record
from guanxi.customers.services import timeline_record
from guanxi.loyalty.calculations import (
    growth_for_amount,
    points_for_amount,
)
from guanxi.loyalty.lock_objects import (
    lock_member_points,
    lock_membership,
    lock_order_award,
    lock_points_account,
)
from guanxi.loyalty.models import (
    Checkout,
    Membership,
    OrderAward,
    PointsAccount,
    PointsEntry,
    ProgramSettings,
    Wallet,
)
from guanxi.loyalty.services.common import (
    _actor_id,
    program,
)
from guanxi.loyalty.services.coupons import coupon_issue
from guanxi.loyalty.services.membership import tier_recompute
from guanxi.loyalty.services.points import _points_credit, _points_debit, _points_existing

if TYPE_CHECKING:
    from guanxi.accounts.models import User
    from guanxi.sales.models import Order


@transaction.atomic
def points_earn_for_order(
    *,
    order: Order,
    actor: User | None = None,
    locked: Membership | None = None,
    settings: ProgramSettings | None = None,
) -> OrderAward | None:
    """Award points and growth for a paid order of an active member, once per order; emits the e-bill.

    ``locked``: the order's membership, already locked by the caller in this transaction.
    """
    return _points_earn_for_order(order=order, actor=actor, locked=locked, settings=settings)


def _points_earn_for_order(
    *,
    order: Order,
    actor: User | None = None,
    locked: Membership | None = None,
    settings: ProgramSettings | None = None,
    account: PointsAccount | None = None,
    checkout: Checkout | None = None,
    wallet: Wallet | None = None,
) -> OrderAward | None:
    """``points_earn_for_order`` inside the caller's transaction (the checkout's: no savepoint of its own).

    ``locked``: the order's membership, already locked by the caller (the checkout) in this transaction;
    ``account``: its points account, locked by the caller too; ``checkout``: the order's checkout, if the
    caller just wrote it; ``wallet``: the membership's wallet, locked (and posted to) by the caller.
    """
    if locked is None:
        if OrderAward.objects.filter(order_id=order.pk).exists():
            return None
        found = Membership.objects.filter(customer_id=order.customer_id).values_list("pk", flat=True).first()
        if found is None:
            return None
        membership = lock_membership(found)
        if OrderAward.objects.filter(order_id=order.pk).exists():
            return None
    else:
        membership = locked
    if membership.status != Membership.Status.ACTIVE:
        return None
    settings = settings or program()
    lines = [(ln.category_id, ln.amount) for ln in order.lines.all()]
    paid = order.paid_amount
    points = points_for_amount(
        paid=paid,
        total=order.total_amount,
        lines=lines,
        settings=settings,
        tier=membership.tier,
        when=order.ordered_at,
    )
    growth = growth_for_amount(paid)
    award = OrderAward.objects.create(order=order, membership=membership, points=points, growth=growth)
    if account is None:
        account = lock_member_points(membership.pk)
    if points:
        _points_credit(
            account,
            kind=PointsEntry.Kind.EARN,
            points=points,
            reference=f"order:{order.pk}",
            reason=f"order {order.external_ref}",
            order=order,
            settings=settings,
        )
    bonus = 0
    if membership.first_order_at is None:
        membership.first_order_at = order.ordered_at
        membership.save(update_fields=["first_order_at"])
        if settings.first_purchase_bonus:
            bonus = settings.first_purchase_bonus
            _points_credit(
                account,
                kind=PointsEntry.Kind.EARN,
                points=bonus,
                reference="first-purchase",
                reason="first purchase",
                order=order,
                settings=settings,
            )
        _referral_reward(membership, account, settings)
    Membership.objects.filter(pk=membership.pk).update(growth=F("growth") + growth)
    membership.growth += growth
    tier_recompute(membership=membership, settings=settings)
    if wallet is None:
        wallet = Wallet.objects.get(membership=membership)
    if checkout is None:
        checkout = Checkout.objects.filter(order=order).first()
    payload = {
        "order_id": order.pk,
        "order_ref": order.external_ref,
        "amount": str(order.paid_amount),
        "discount": str(order.discount_amount),
        "points_earned": points + bonus,
        "points_used": checkout.points_used if checkout else 0,
        "points_balance": account.balance,
        "wallet_paid": str(checkout.wallet_principal + checkout.wallet_bonus) if checkout else "0.00",
        "wallet_balance": str(wallet.balance),
        "member_no": membership.member_no,
        "tier": membership.tier.name if membership.tier else "",
    }
    event = event_record(
        name="loyalty.ebill",
        customer_id=order.customer_id,
        aggregate="order",
        aggregate_id=order.pk,
        payload=payload,
        actor_id=_actor_id(actor),
    )
    timeline_record(
        customer_id=order.customer_id,
        kind="loyalty.ebill",
        occurred_at=order.ordered_at,
        summary=f"e-bill {order.external_ref}",
        data=payload,
        event_id=event.pk,
        ref_type="order",
        ref_id=order.pk,
    )
    return award


def _referral_reward(membership: Membership, account: PointsAccount, settings: ProgramSettings) -> None:
    """On an invited member's first purchase, reward both once (reference ``referral:<invited id>``)."""
    if membership.referred_by_id is None or membership.referral_rewarded:
        return
    ref = f"referral:{membership.pk}"
    if settings.referral_referee_points:
        _points_credit(
            account,
            kind=PointsEntry.Kind.EARN,
            points=settings.referral_referee_points,
            reference=ref,
            reason="referral",
            settings=settings,
        )
    referrer = Membership.objects.get(pk=membership.referred_by_id)
    if settings.referral_referrer_points and referrer.status == Membership.Status.ACTIVE:
        other = lock_points_account(referrer.points.pk)
        if not _points_existing(other, PointsEntry.Kind.EARN, ref):
            _points_credit(
                other,
                kind=PointsEntry.Kind.EARN,
                points=settings.referral_referrer_points,
                reference=ref,
                reason="referral",
                settings=settings,
            )
    if settings.referral_coupon is not None:
        coupon_issue(
            actor=None,
            template=settings.referral_coupon,
            customer_ids=[membership.customer_id, referrer.customer_id],
            reference=ref,
            skip_ineligible=True,
        )
    Membership.objects.filter(pk=membership.pk).update(referral_rewarded=True)
    membership.referral_rewarded = True


@transaction.atomic
def points_reverse_for_refund(*, order: Order, refund_id: int) -> PointsEntry | None:
    """Take back earned points and growth in proportion to the refunded share (cumulative, floored)."""
    award = OrderAward.objects.filter(order_id=order.pk).first()
    if award is None:
        return None
    membership = lock_membership(award.membership_id)
    award = lock_order_award(award.pk)
    order.refresh_from_db(fields=["refunded_amount", "paid_amount"])
    share = min(Decimal(1), order.refunded_amount / order.paid_amount) if order.paid_amount else Decimal(1)
    points_target = int((award.points * share).to_integral_value(rounding=ROUND_FLOOR))
    growth_target = int((award.growth * share).to_integral_value(rounding=ROUND_FLOOR))
    account = lock_points_account(membership.points.pk)
    ref = f"refund:{refund_id}"
    if _points_existing(account, PointsEntry.Kind.REVERSE, ref):
        return None
    take = points_target - award.points_reversed
    entry = None
    if take > 0:
        # points already spent cannot be taken twice: the reversal takes at most the balance (stated rule)
        take = min(take, account.balance)
        if take:
            entry = _points_debit(
                account,
                kind=PointsEntry.Kind.REVERSE,
                points=take,
                reference=ref,
                reason=f"refund of order {order.external_ref}",
                order=order,
            )
    growth_take = growth_target - award.growth_reversed
    OrderAward.objects.filter(pk=award.pk).update(
        points_reversed=F("points_reversed") + max(take, 0), growth_reversed=F("growth_reversed") + max(growth_take, 0)
    )
    if growth_take > 0:
        Membership.objects.filter(pk=membership.pk).update(growth=F("growth") - min(growth_take, membership.growth))
    return entry
