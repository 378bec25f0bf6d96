"""Checkout: price an order for a member (member discount → coupon → points as cash → stored value), commit
it with every ledger entry in one transaction once per idempotency key, and refund it in proportion."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.idempotency import idempotency_claim
from guanxi.core.money import parse_money_field
from guanxi.customers.models import Customer
from guanxi.loyalty.calculations import (
    CENT,
    member_discount,
    points_for_amount,
    points_max_for,
    points_value,
    wallet_split,
)
from guanxi.loyalty.lock_objects import (
    lock_checkout,
    lock_coupon,
    lock_member_points,
    lock_member_wallet,
    lock_member_wallet_or_none,
    lock_membership,
    lock_points_account,
)
from guanxi.loyalty.models import (
    ZERO,
    Checkout,
    Coupon,
    Membership,
    PointsAccount,
    PointsEntry,
    ProgramSettings,
    Wallet,
    WalletEntry,
)
from guanxi.loyalty.services.common import (
    MONEY_DIGITS,
    _require_active,
    program,
    to_points,
)
from guanxi.loyalty.services.coupons import _coupon_redeem, coupon_check
from guanxi.loyalty.services.earning import _points_earn_for_order, points_reverse_for_refund
from guanxi.loyalty.services.points import _points_credit, _points_debit, _points_timeline
from guanxi.loyalty.services.wallet import _wallet_post

if TYPE_CHECKING:
    from guanxi.accounts.models import Store, User
    from guanxi.sales.models import Product


@dataclass
class Quote:
    membership: Membership
    cleaned: dict[str, Any]
    total: Decimal
    settings: ProgramSettings
    member_discount: Decimal = ZERO
    coupon: Coupon | None = None
    coupon_discount: Decimal = ZERO
    points: int = 0
    points_value: Decimal = ZERO
    points_max: int = 0
    wallet_amount: Decimal = ZERO
    other_paid: Decimal = ZERO
    points_earned: int = 0

    @property
    def discount(self) -> Decimal:
        return self.member_discount + self.coupon_discount + self.points_value

    @property
    def paid(self) -> Decimal:
        return self.wallet_amount + self.other_paid

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.membership.customer_id,
            "member_no": self.membership.member_no,
            "tier": self.membership.tier.name if self.membership.tier else "",
            "total": str(self.total),
            "member_discount": str(self.member_discount),
            "coupon_code": self.coupon.code if self.coupon else "",
            "coupon_discount": str(self.coupon_discount),
            "points": self.points,
            "points_value": str(self.points_value),
            "points_max": self.points_max,
            "wallet_amount": str(self.wallet_amount),
            "other_paid": str(self.other_paid),
            "discount_amount": str(self.discount),
            "paid_amount": str(self.paid),
            "points_earned": self.points_earned,
        }


def _membership_for(data: dict[str, Any], actor: User | None) -> Membership:
    cid = data.get("customer_id")
    qs = Membership.objects.select_related("tier", "customer")
    member = None
    if str(cid or "").isdigit():
        visible = Customer.objects.visible_to(actor) if actor is not None else Customer.objects.all()
        member = qs.filter(customer_id=str(cid), customer__in=visible.values_list("pk", flat=True)).first()
    elif data.get("member_no"):
        member = qs.filter(member_no=str(data["member_no"])).first()
        if (
            member
            and actor is not None
            and not Customer.objects.visible_to(actor).filter(pk=member.customer_id).exists()
        ):
            member = None
    if member is None:
        raise ValidationError({"customer_id": [_("This customer is not a member (or not one you can see).")]})
    return member


def _cached(membership: Membership, name: str) -> Any:
    """A one-to-one row the membership was read with (``select_related``); None when it has none."""
    try:
        return getattr(membership, name)
    except (PointsAccount.DoesNotExist, Wallet.DoesNotExist):
        return None


def checkout_price(
    *,
    actor: User | None,
    data: dict[str, Any],
    locked: Membership | None = None,
    products: dict[str, Product] | None = None,
    stores: dict[str, Store] | None = None,
    account: PointsAccount | None = None,
    wallet: Wallet | None = None,
) -> Quote:
    """Price an order: member discount → coupon → points as cash (capped) → stored value → other payment.

    What the caller already holds is not read again: ``products`` (by code) and ``stores`` (by code) go to
    ``order_clean``; ``account`` and ``wallet`` are the membership's (locked by the commit); a ``locked``
    membership read with its points account and wallet (``select_related``) lends them too.
    """
    from guanxi.sales.services import order_clean

    membership = locked or _membership_for(data, actor)
    _require_active(membership, "customer_id")
    settings = program()
    cleaned = order_clean(
        {**data, "external_ref": data.get("external_ref") or "quote", "discount_amount": "0"},
        products=products,
        stores=stores,
    )
    total = cleaned["total_amount"]
    q = Quote(membership=membership, cleaned=cleaned, total=total, settings=settings)
    q.member_discount = member_discount(total, membership.tier)
    after = total - q.member_discount
    code = str(data.get("coupon_code") or "").strip().upper()
    if code:
        coupon = Coupon.objects.select_related("template").filter(code=code).first()
        q.coupon_discount = coupon_check(coupon, customer_id=membership.customer_id, amount=after)
        q.coupon = coupon
    after -= q.coupon_discount
    if account is None and Membership.points.is_cached(membership):
        account = _cached(membership, "points")
        balance = account.balance if account is not None else 0
    elif account is not None:
        balance = account.balance
    else:
        balance = PointsAccount.objects.filter(membership=membership).values_list("balance", flat=True).first() or 0
    q.points_max = points_max_for(after, settings, balance)
    wanted = data.get("points")
    if wanted == "max":
        q.points = q.points_max
    elif wanted not in (None, "", 0, "0"):
        q.points = to_points(wanted, "points")
        if q.points < 0 or q.points > q.points_max:
            raise ValidationError(
                {"points": [_("At most %(n)d points can be used on this order.") % {"n": q.points_max}]}
            )
    q.points_value = points_value(q.points, settings)
    after -= q.points_value
    if wallet is None:
        wallet = (
            _cached(membership, "wallet")
            if Membership.wallet.is_cached(membership)
            else Wallet.objects.filter(membership=membership).first()
        )
    wallet_balance = wallet.balance if wallet is not None else ZERO
    wanted_wallet = data.get("wallet_amount")
    if wanted_wallet == "max":
        q.wallet_amount = min(wallet_balance, after)
    elif wanted_wallet not in (None, "", 0, "0"):
        q.wallet_amount = parse_money_field(wanted_wallet, "wallet_amount", max_digits=MONEY_DIGITS)
        if q.wallet_amount > wallet_balance:
            raise ValidationError({"wallet_amount": [_("The stored-value balance is ¥%(b)s.") % {"b": wallet_balance}]})
        if q.wallet_amount > after:
            raise ValidationError({"wallet_amount": [_("Only ¥%(a)s is left to pay.") % {"a": after}]})
    q.other_paid = after - q.wallet_amount
    lines = [(ln["category"].pk if ln["category"] else None, ln["amount"]) for ln in cleaned["lines"]]
    q.points_earned = points_for_amount(
        paid=q.paid, total=total, lines=lines, settings=settings, tier=membership.tier, when=cleaned["ordered_at"]
    )
    return q


@transaction.atomic
def checkout_commit(
    *,
    actor: User | None,
    data: dict[str, Any],
    member: Membership | None = None,
    products: dict[str, Product] | None = None,
    stores: dict[str, Store] | None = None,
) -> tuple[Checkout, bool]:
    """Write the order and every ledger entry of the checkout in one transaction, once per ``key``.

    Replaying the key with the same content returns the first checkout; with other content it is refused.
    ``member`` (the membership of ``customer_id`` as the actor sees it), ``products`` and ``stores`` (by code):
    what the caller already read, so that the commit does not read it again.
    """
    key = str(data.get("key") or "").strip()
    if not key or len(key) > 80:
        raise ValidationError({"key": [_("Give an idempotency key of at most 80 characters.")]})
    if not str(data.get("external_ref") or "").strip():
        raise ValidationError({"external_ref": [_("Every order needs its order number.")]})
    if member is None or str(member.customer_id) != str(data.get("customer_id")):
        member = _membership_for(data, actor)
    existing = Checkout.objects.filter(key=key).first()
    if existing:
        _replayed(existing, member)  # another member's key: refused as such
    claimed = idempotency_claim(
        scope="checkout",
        key=key,
        params={k: v for k, v in data.items() if k != "key"},
        field="key",
        replay=existing is not None,
    )
    if not claimed:  # a replay; the first request may have committed after the look-up above
        existing = existing or Checkout.objects.filter(key=key).first()
        if existing is None:
            raise IntegrityError("checkout key claimed without its checkout")
        return _replayed(existing, member), False
    # This transaction holds the key's claim: no other checkout can be written under it, so the write needs no
    # savepoint to recover from a duplicate.
    return _checkout_write(actor=actor, data=data, key=key, member=member, products=products, stores=stores), True


def _replayed(existing: Checkout, member: Membership) -> Checkout:
    if existing.membership_id != member.pk:
        raise ValidationError({"key": [_("This idempotency key was used for another checkout.")]})
    return existing


def _checkout_write(
    *,
    actor: User | None,
    data: dict[str, Any],
    key: str,
    member: Membership,
    products: dict[str, Product] | None = None,
    stores: dict[str, Store] | None = None,
) -> Checkout:
    from guanxi.sales.models import PaymentMethod
    from guanxi.sales.services import order_ingest_within

    with transaction.atomic(savepoint=False):  # inside checkout_commit's transaction, which holds the key
        membership = lock_membership(member.pk)
        # Lock order Membership → PointsAccount → Wallet → Coupon; the balances are priced on the locked rows.
        account = lock_member_points(membership.pk)
        wallet = lock_member_wallet_or_none(membership)
        q = checkout_price(
            actor=actor,
            data=data,
            locked=membership,
            products=products,
            stores=stores,
            account=account,
            wallet=wallet,
        )
        # The order is cleaned again by order_ingest: hand it the products and the store the quote found.
        store = q.cleaned["store"]
        method = data.get("payment_method") or PaymentMethod.OTHER
        if q.wallet_amount and q.other_paid:
            method = PaymentMethod.MIXED
        elif q.wallet_amount:
            method = PaymentMethod.WALLET
        result = order_ingest_within(
            actor=actor,
            channel="checkout",
            data={
                "external_ref": data["external_ref"],
                "source": data.get("source") or "checkout",
                "customer_id": membership.customer_id,
                "store": data.get("store"),
                "ordered_at": data.get("ordered_at"),
                "lines": data.get("lines"),
                "discount_amount": str(q.discount),
                "paid_amount": str(q.paid),
                "payment_method": method,
            },
            products={ln["product"].sku: ln["product"] for ln in q.cleaned["lines"] if ln["product"] is not None},
            stores={str(data.get("store")): store} if store is not None else None,
        )
        if not result.created:
            raise ValidationError({"external_ref": [_("This order number was already recorded.")]})
        order = result.order
        ref = f"checkout:{key}"  # new: the key was checked under the membership lock
        if q.points:
            entry = _points_debit(
                account,
                kind=PointsEntry.Kind.REDEEM,
                points=q.points,
                reference=ref,
                reason=f"order {order.external_ref}",
                order=order,
                actor=actor,
            )
            _points_timeline(membership, entry, actor)
        principal = bonus = ZERO
        if q.wallet_amount:
            if wallet is None or q.wallet_amount > wallet.balance:
                raise ValidationError(
                    {
                        "wallet_amount": [
                            _("The stored-value balance is ¥%(b)s.") % {"b": wallet.balance if wallet else ZERO}
                        ]
                    }
                )
            principal, bonus = wallet_split(wallet, q.wallet_amount, q.settings.wallet_spend_order)
            _wallet_post(
                wallet,
                kind=WalletEntry.Kind.SPEND,
                principal=-principal,
                bonus=-bonus,
                reference=ref,
                note="spend",
                order=order,
                store=order.store,
                actor=actor,
            )
        if q.coupon:
            _coupon_redeem(
                actor=actor,
                code=q.coupon.code,
                customer_id=membership.customer_id,
                amount=q.total - q.member_discount,
                order=order,
            )
        checkout = Checkout.objects.create(
            key=key,
            membership=membership,
            order=order,
            total=q.total,
            member_discount=q.member_discount,
            coupon=q.coupon,
            coupon_discount=q.coupon_discount,
            points_used=q.points,
            points_value=q.points_value,
            wallet_principal=principal,
            wallet_bonus=bonus,
            other_paid=q.other_paid,
        )
        _points_earn_for_order(
            order=order,
            actor=actor,
            locked=membership,
            settings=q.settings,
            account=account,
            checkout=checkout,
            wallet=wallet,
        )
    return checkout


@transaction.atomic
def checkout_refund(
    *,
    actor: User | None,
    checkout: Checkout,
    reference: str,
    amount: Any = None,
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Refund (part of) a checkout: the sales refund plus exactly what the checkout applied, in proportion.

    Points used and stored value come back in the cumulative refunded share (floored; the final refund
    returns the rest); the coupon comes back only on a full refund, while it is still valid, when the
    program says so; earned points are reversed in the same proportion.

    ``lines`` (``[{"order_line": id, "quantity": n}]``) returns goods: the money refunded is their share of
    what was paid. An order paid ¥0 (points, coupon) is refunded by its goods: its share is theirs.
    """
    from guanxi.sales.services import refund_create

    lock_membership(checkout.membership_id)
    checkout = lock_checkout(checkout.pk)
    order = checkout.order
    order_lines = list(order.lines.order_by("pk"))
    left = order.paid_amount - order.refunded_amount
    fingerprint: dict[str, Any] = {"checkout": checkout.key, "amount": None if amount in (None, "") else amount}
    if lines:
        fingerprint["lines"] = lines
        value: Any = _lines_money(order_lines, lines, paid=order.paid_amount, total=checkout.total, left=left)
    elif amount not in (None, ""):
        value = amount
    else:  # the whole rest: the money and the goods not yet returned
        value = str(left)
        lines = [
            {"order_line": ln.pk, "quantity": ln.quantity - ln.refunded_quantity}
            for ln in order_lines
            if ln.quantity > ln.refunded_quantity
        ]
    refund, created = refund_create(
        actor=actor,
        order=order,
        external_ref=reference,
        amount=value,
        lines=lines or None,
        channel="checkout",
        fingerprint_params=fingerprint,
    )
    if created:
        order.refresh_from_db()
        cum = order.refunded_amount
        paid = checkout.paid
        if paid > 0:
            full = cum >= paid
            share = Decimal(1) if full else cum / paid
        else:  # paid ¥0: the share of the goods returned
            returned = order.lines.values_list("quantity", "refunded_quantity", "amount")
            full = all(back >= qty for qty, back, _amount in returned)
            gross = sum((amt * back / qty for qty, back, amt in returned), ZERO)
            share = Decimal(1) if full or not checkout.total else min(Decimal(1), gross / checkout.total)
        ref = f"return:{refund.pk}"
        points_target = (
            checkout.points_used
            if full
            else int((checkout.points_used * share).to_integral_value(rounding=ROUND_FLOOR))
        )
        p_target = (
            checkout.wallet_principal
            if full
            else (checkout.wallet_principal * share).quantize(CENT, rounding=ROUND_DOWN)
        )
        wallet_target = (checkout.wallet_principal + checkout.wallet_bonus) * share
        b_target = (
            checkout.wallet_bonus
            if full
            else min(checkout.wallet_bonus, wallet_target.quantize(CENT, rounding=ROUND_DOWN) - p_target)
        )
        membership = checkout.membership
        pts = points_target - checkout.points_returned
        if pts > 0:
            account = lock_points_account(membership.points.pk)
            _points_credit(
                account,
                kind=PointsEntry.Kind.REVERSE,
                points=pts,
                reference=ref,
                reason=f"refund of order {order.external_ref}",
                order=order,
                actor=actor,
            )
        dp, db = p_target - checkout.principal_returned, b_target - checkout.bonus_returned
        if dp > 0 or db > 0:
            wallet = lock_member_wallet(membership)
            _wallet_post(
                wallet,
                kind=WalletEntry.Kind.RETURN,
                principal=dp,
                bonus=db,
                reference=ref,
                note=f"refund of order {order.external_ref}",
                order=order,
                actor=actor,
            )
        restored = False
        if full and checkout.coupon is not None and program().restore_coupon_on_refund:
            coupon = lock_coupon(checkout.coupon.code)
            if (
                coupon is not None
                and coupon.status == Coupon.Status.REDEEMED
                and (not coupon.expires_at or coupon.expires_at > timezone.now())
            ):
                Coupon.objects.filter(pk=coupon.pk).update(
                    status=Coupon.Status.ISSUED, redeemed_at=None, redeemed_order=None, discount=ZERO
                )
                restored = True
        Checkout.objects.filter(pk=checkout.pk).update(
            refunded=cum,
            points_returned=points_target,
            principal_returned=p_target,
            bonus_returned=b_target,
            coupon_restored=restored or checkout.coupon_restored,
        )
        points_reverse_for_refund(order=order, refund_id=refund.pk)
        checkout.refresh_from_db()
    return {
        "refund_id": refund.pk,
        "created": created,
        "amount": str(refund.amount),
        "points_returned": checkout.points_returned,
        "wallet_principal_returned": str(checkout.principal_returned),
        "wallet_bonus_returned": str(checkout.bonus_returned),
        "coupon_restored": checkout.coupon_restored,
    }


def _lines_money(
    order_lines: list[Any], lines: list[dict[str, Any]], *, paid: Decimal, total: Decimal, left: Decimal
) -> str:
    """The money for returned goods: their share of the order's total, applied to what was paid (floored);
    the goods that make the order complete take the rest, so the shares add up to what was paid."""
    by_pk = {ln.pk: ln for ln in order_lines}
    back = {ln.pk: ln.refunded_quantity for ln in order_lines}
    for item in lines:
        line = by_pk.get(int(item["order_line"])) if str(item.get("order_line", "")).isdigit() else None
        qty = item.get("quantity")
        if line is None or not isinstance(qty, int) or qty < 1:
            return "0"  # refund_create names the bad line
        back[line.pk] += qty
    if all(back[ln.pk] >= ln.quantity for ln in order_lines):
        return str(left)
    if not total:
        return "0"
    gross = sum((ln.amount * min(back[ln.pk], ln.quantity) / ln.quantity for ln in order_lines), ZERO)
    before = paid - left
    value = (paid * gross / total).quantize(CENT, rounding=ROUND_DOWN) - before
    return str(max(ZERO, min(value, left)))
