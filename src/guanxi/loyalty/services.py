"""Writes of loyalty. Every balance change happens under the row lock of the account it changes.

Lock order inside one transaction (never the other way round): Membership → PointsAccount → Wallet →
Coupon; rows of one kind in primary-key order. The helpers ``lock_membership``, ``lock_points_account``,
``lock_wallet`` and ``lock_coupon`` are the only way a service gets a row it will change.

Rounding (stated in docs/loyalty.md and tested):
- points earned = floor(paid yuan × points per yuan × category multiplier × tier multiplier × member-day
  multiplier), computed in Decimal and floored once per order;
- growth value = floor(paid yuan);
- member discount and percentage coupons are rounded to the cent, half up; points as cash = floor to the
  cent of points ÷ points-per-¥1;
- partial refunds return points and stored value in proportion to the cumulative refunded share,
  floored, and the last refund returns the rest exactly.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import audit_record
from guanxi.core.events import event_record
from guanxi.core.idempotency import idempotency_claim
from guanxi.core.money import parse_money
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.customers.services import timeline_record
from guanxi.loyalty.models import (
    ZERO,
    Checkout,
    Coupon,
    CouponTemplate,
    Membership,
    OrderAward,
    PointsAccount,
    PointsEntry,
    ProgramSettings,
    Tier,
    TierChange,
    TopUpRule,
    Wallet,
    WalletEntry,
)

CENT = Decimal("0.01")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _actor(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _actor_id(actor: Any) -> int | None:
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def _code(n: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(n))


def to_money(value: Any, field_name: str, *, allow_zero: bool = False) -> Decimal:
    """Exact money from str/int/Decimal (never float), 2 places, positive (see ``guanxi.core.money``)."""
    try:
        return parse_money(value, allow_zero=allow_zero, max_digits=12)
    except ValidationError as exc:
        raise ValidationError({field_name: exc.messages}) from None


#: A points balance and every entry fit a 32-bit ``IntegerField`` column.
POINTS_MAX = 2_147_483_647


def to_points(value: Any, field_name: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool | float) or not (text.lstrip("-").isascii() and text.lstrip("-").isdigit()):
        raise ValidationError({field_name: [_("Points are a whole number.")]})
    if len(text) > 12 or abs(int(text)) > POINTS_MAX:
        raise ValidationError({field_name: [_("At most %(max)d points at a time.") % {"max": POINTS_MAX}]})
    return int(text)


def program() -> ProgramSettings:
    return ProgramSettings.objects.get_or_create(pk=1)[0]


# ---------------------------------------------------------------- locks


def lock_membership(membership_id: int) -> Membership:
    return Membership.objects.select_for_update(of=("self",)).select_related("tier").get(pk=membership_id)


def lock_points_account(account_id: int) -> PointsAccount:
    return PointsAccount.objects.select_for_update().get(pk=account_id)


def lock_wallet(wallet_id: int) -> Wallet:
    return Wallet.objects.select_for_update().get(pk=wallet_id)


def lock_coupon(code: str) -> Coupon | None:
    return (
        Coupon.objects.select_for_update(of=("self",))
        .select_related("template")
        .filter(code=code.strip().upper())
        .first()
    )


def _require_active(membership: Membership, field_name: str = "membership") -> None:
    if membership.status != Membership.Status.ACTIVE:
        raise ValidationError(
            {field_name: [_("This membership is %(status)s.") % {"status": membership.get_status_display()}]}
        )


# ---------------------------------------------------------------- membership and tiers


def _base_tier() -> Tier | None:
    return Tier.objects.order_by("threshold", "order").first()


@transaction.atomic
def member_enrol(
    *, actor: Any, customer: Customer, store: Any = None, invite_code: str = "", channel: str = "web"
) -> tuple[Membership, bool]:
    """Make a customer a member once (a second call returns the existing membership)."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    existing = Membership.objects.filter(customer=customer).first()
    if existing is not None:
        return existing, False
    if customer.merged_into_id:
        raise ValidationError({"customer": [_("This customer was merged into another record.")]})
    referrer = None
    if invite_code:
        referrer = Membership.objects.filter(invite_code=invite_code.strip().upper()).first()
        if referrer is None:
            raise ValidationError({"invite_code": [_("There is no member with this invite code.")]})
    tier = _base_tier()
    now = timezone.now()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    customer=customer,
                    member_no=uuid.uuid4().hex[:20],
                    joined_at=now,
                    store=store if store is not None else customer.home_store,
                    tier=tier,
                    invite_code=_code(8),
                    referred_by=referrer,
                )
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - 32^8 codes
        raise ValidationError({"invite_code": [_("Could not make a unique invite code; try again.")]})
    membership.member_no = f"M{membership.pk:08d}"
    membership.save(update_fields=["member_no"])
    PointsAccount.objects.create(membership=membership)
    Wallet.objects.create(membership=membership)
    TierChange.objects.create(membership=membership, from_tier=None, to_tier=tier, reason="enrol")
    event = event_record(
        name="loyalty.enrolled",
        customer_id=customer.pk,
        aggregate="membership",
        aggregate_id=membership.pk,
        actor_id=_actor_id(actor),
        payload={"member_no": membership.member_no, "referred_by": referrer.pk if referrer else None},
    )
    timeline_record(
        customer_id=customer.pk,
        kind="loyalty.enrolled",
        summary=f"member {membership.member_no}",
        data={"member_no": membership.member_no, "tier": tier.name if tier else "—"},
        actor=actor,
        event_id=event.pk,
        ref_type="membership",
        ref_id=membership.pk,
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="membership",
        object_id=membership.pk,
        customer_id=customer.pk,
        channel=channel,
    )
    for template in CouponTemplate.objects.filter(active=True, issue_rule=CouponTemplate.Rule.ENROL):
        coupon_issue(actor=None, template=template, customer_ids=[customer.pk], reference="enrol", skip_ineligible=True)
    return membership, True


@transaction.atomic
def member_set_status(*, actor: Any, membership: Membership, status: str, reason: str = "") -> Membership:
    if status not in Membership.Status.values:
        raise ValidationError({"status": [_("Choose active, suspended or closed.")]})
    membership = lock_membership(membership.pk)
    if membership.status == Membership.Status.CLOSED and status != Membership.Status.CLOSED:
        raise ValidationError({"status": [_("A closed membership cannot be reopened.")]})
    if (
        status == Membership.Status.CLOSED
        and Wallet.objects.filter(membership=membership).filter(principal__gt=0).exists()
    ):
        raise ValidationError({"status": [_("Refund the stored-value principal before closing the membership.")]})
    old = membership.status
    membership.status = status
    membership.save(update_fields=["status"])
    timeline_record(
        customer_id=membership.customer_id,
        kind="loyalty.status",
        summary=f"membership {status}",
        data={"status": membership.get_status_display(), "reason": reason or "—"},
        actor=actor,
        ref_type="membership",
        ref_id=membership.pk,
    )
    audit_record(
        actor=actor,
        action="update",
        object_type="membership",
        object_id=membership.pk,
        customer_id=membership.customer_id,
        changes={"status": [old, status], "reason": reason},
    )
    return membership


def member_suspend(*, actor: Any, membership: Membership, reason: str = "") -> Membership:
    return member_set_status(actor=actor, membership=membership, status=Membership.Status.SUSPENDED, reason=reason)


def member_close(*, actor: Any, membership: Membership, reason: str = "") -> Membership:
    return member_set_status(actor=actor, membership=membership, status=Membership.Status.CLOSED, reason=reason)


def review_window_growth(membership: Membership, *, now: dt.datetime | None = None) -> int:
    """Growth earned inside the review window (what a tier must be re-earned with)."""
    months = program().tier_review_months
    since = (now or timezone.now()) - dt.timedelta(days=round(months * 30.44))
    agg = OrderAward.objects.filter(membership=membership, created_at__gte=since).aggregate(
        g=Sum(F("growth") - F("growth_reversed"))
    )
    return max(0, agg["g"] or 0)


def _qualifying_tier(growth: int) -> Tier | None:
    return Tier.objects.filter(threshold__lte=growth).order_by("-threshold", "-order").first() or _base_tier()


def _tier_rank(tier: Tier | None) -> tuple:
    return (-1, -1) if tier is None else (tier.threshold, tier.order)


def tier_recompute(*, membership: Membership) -> Membership:
    """Upgrade at once when the window growth reaches a higher tier; never downgrades (see tier_review)."""
    target = _qualifying_tier(review_window_growth(membership))
    if target is not None and _tier_rank(target) > _tier_rank(membership.tier):
        _tier_set(membership, target, "upgrade")
    return membership


def _tier_set(membership: Membership, target: Tier | None, reason: str) -> None:
    old = membership.tier
    membership.tier = target
    membership.save(update_fields=["tier"])
    TierChange.objects.create(
        membership=membership, from_tier=old, to_tier=target, reason=reason, growth=membership.growth
    )
    timeline_record(
        customer_id=membership.customer_id,
        kind="loyalty.tier",
        summary=f"tier {old} -> {target}",
        data={"from": old.name if old else "—", "to": target.name if target else "—"},
        ref_type="membership",
        ref_id=membership.pk,
    )


def tier_review(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic review: a member whose growth in the window no longer reaches their tier moves down."""
    counts = {"reviewed": 0, "downgraded": 0, "upgraded": 0}
    ids = list(Membership.objects.filter(status=Membership.Status.ACTIVE).values_list("pk", flat=True))
    for pk in ids:
        with transaction.atomic():
            membership = lock_membership(pk)
            target = _qualifying_tier(review_window_growth(membership, now=now))
            counts["reviewed"] += 1
            if target is not None and target != membership.tier:
                down = _tier_rank(target) < _tier_rank(membership.tier)
                _tier_set(membership, target, "review")
                counts["downgraded" if down else "upgraded"] += 1
    return counts


def birthday_run(*, today: dt.date | None = None) -> dict[str, int]:
    """Members whose birthday is today: the tier's birthday gift goes on the timeline and out as an event
    (``loyalty.birthday``), and coupon templates marked "on the member's birthday" are issued — once a year."""
    today = today or timezone.localdate()
    members = list(
        Membership.objects.filter(status=Membership.Status.ACTIVE, customer__birthday_md=today.month * 100 + today.day)
        .select_related("tier")
        .order_by("pk")
    )
    ref = f"birthday:{today.year}"
    gifts = 0
    already = set(
        TimelineEntry.objects.filter(
            kind="loyalty.birthday", ref_type="birthday", ref_id=ref, customer_id__in=[m.customer_id for m in members]
        ).values_list("customer_id", flat=True)
    )
    with transaction.atomic():
        for m in members:
            if m.customer_id in already or not (m.tier and m.tier.birthday_gift):
                continue
            event = event_record(
                name="loyalty.birthday",
                customer_id=m.customer_id,
                aggregate="membership",
                aggregate_id=m.pk,
                payload={"gift": m.tier.birthday_gift, "tier": m.tier.name, "year": today.year},
            )
            timeline_record(
                customer_id=m.customer_id,
                kind="loyalty.birthday",
                summary=f"birthday gift {today.year}",
                data={"gift": m.tier.birthday_gift, "tier": m.tier.name},
                event_id=event.pk,
                ref_type="birthday",
                ref_id=ref,
            )
            gifts += 1
        coupons = 0
        for template in CouponTemplate.objects.filter(active=True, issue_rule=CouponTemplate.Rule.BIRTHDAY):
            coupons += len(
                coupon_issue(
                    actor=None,
                    template=template,
                    customer_ids=[m.customer_id for m in members],
                    reference=ref,
                    skip_ineligible=True,
                )
            )
    return {"members": len(members), "gifts": gifts, "coupons": coupons}


# ---------------------------------------------------------------- points ledger


def _expiry_for(earned_at: dt.datetime, settings: ProgramSettings) -> dt.datetime | None:
    if settings.points_expiry == ProgramSettings.Expiry.NEVER:
        return None
    if settings.points_expiry == ProgramSettings.Expiry.ROLLING:
        return earned_at + dt.timedelta(days=settings.points_expiry_days)
    local = timezone.localtime(earned_at)
    return dt.datetime(local.year + 2, 1, 1, tzinfo=local.tzinfo) - dt.timedelta(microseconds=1)


def _points_credit(
    account: PointsAccount,
    *,
    kind: str,
    points: int,
    reference: str,
    reason: str = "",
    order: Any = None,
    actor: Any = None,
    settings: ProgramSettings | None = None,
    now: dt.datetime | None = None,
) -> PointsEntry:
    """Add a lot of points to a locked account (``points`` > 0)."""
    now = now or timezone.now()
    if account.balance + points > POINTS_MAX:
        raise ValidationError({"points": [_("The balance would exceed %(max)d points.") % {"max": POINTS_MAX}]})
    account.balance += points
    entry = PointsEntry.objects.create(
        account=account,
        kind=kind,
        points=points,
        remaining=points,
        reference=reference,
        reason=reason[:200],
        order=order,
        earned_at=now,
        expires_at=_expiry_for(now, settings or program()),
        balance_after=account.balance,
        actor=_actor(actor),
    )
    PointsAccount.objects.filter(pk=account.pk).update(balance=account.balance, updated_at=now)
    return entry


def _points_debit(
    account: PointsAccount,
    *,
    kind: str,
    points: int,
    reference: str,
    reason: str = "",
    order: Any = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> PointsEntry:
    """Take ``points`` > 0 from a locked account, consuming the lots that expire first."""
    now = now or timezone.now()
    if points > account.balance:
        raise ValidationError({"points": [_("Only %(n)d points are available.") % {"n": account.balance}]})
    left = points
    lots = PointsEntry.objects.filter(account=account, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "earned_at", "pk"
    )
    while left:
        # consumed lots drop out of the filter, so each round starts again at the front; no server-side cursor
        batch = list(lots[:100])
        if not batch:  # pragma: no cover - lots always cover the balance (tested invariant)
            break
        for lot in batch:
            take = min(left, lot.remaining)
            PointsEntry.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
            left -= take
            if not left:
                break
    account.balance -= points
    entry = PointsEntry.objects.create(
        account=account,
        kind=kind,
        points=-points,
        remaining=0,
        reference=reference,
        reason=reason[:200],
        order=order,
        earned_at=now,
        balance_after=account.balance,
        actor=_actor(actor),
    )
    PointsAccount.objects.filter(pk=account.pk).update(balance=account.balance, updated_at=now)
    return entry


def _points_existing(account: PointsAccount, kind: str, reference: str) -> PointsEntry | None:
    return PointsEntry.objects.filter(account=account, kind=kind, reference=reference).first()


@transaction.atomic
def points_adjust(*, actor: Any, membership: Membership, points: Any, reason: str, reference: str = "") -> PointsEntry:
    """Manual adjustment (+/-), with a reason; idempotent by reference when one is given."""
    points = to_points(points, "points")
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the points are adjusted.")]})
    if points == 0:
        raise ValidationError({"points": [_("Adjust by a number other than zero.")]})
    given = reference.strip()
    reference = given or f"adjust:{uuid.uuid4().hex}"
    account = lock_points_account(membership.points.pk)
    if given:
        idempotency_claim(
            scope="points-adjust",
            key=f"{account.pk}:{reference}",
            params={"points": points, "reason": reason.strip()},
            field="reference",
        )
    existing = _points_existing(account, PointsEntry.Kind.ADJUST, reference)
    if existing:
        return existing
    if points > 0:
        entry = _points_credit(
            account, kind=PointsEntry.Kind.ADJUST, points=points, reference=reference, reason=reason, actor=actor
        )
    else:
        entry = _points_debit(
            account, kind=PointsEntry.Kind.ADJUST, points=-points, reference=reference, reason=reason, actor=actor
        )
    _points_timeline(membership, entry, actor)
    audit_record(
        actor=actor,
        action="adjust",
        object_type="points",
        object_id=entry.pk,
        customer_id=membership.customer_id,
        changes={"points": points, "reason": reason},
    )
    return entry


@transaction.atomic
def points_redeem(
    *, actor: Any, membership: Membership, points: Any, reference: str, reason: str = "", order: Any = None
) -> tuple[PointsEntry, bool]:
    """Spend points (for cash at checkout or a gift at the counter); idempotent by reference."""
    points = to_points(points, "points")
    if points <= 0:
        raise ValidationError({"points": [_("Redeem at least one point.")]})
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every redemption needs a reference.")]})
    membership = Membership.objects.get(pk=membership.pk)
    _require_active(membership)
    account = lock_points_account(membership.points.pk)
    idempotency_claim(
        scope="points-redeem",
        key=f"{account.pk}:{reference}",
        params={"points": points, "order": getattr(order, "pk", None)},
        field="reference",
    )
    existing = _points_existing(account, PointsEntry.Kind.REDEEM, reference)
    if existing:
        return existing, False
    entry = _points_debit(
        account,
        kind=PointsEntry.Kind.REDEEM,
        points=points,
        reference=reference,
        reason=reason or "redeem",
        order=order,
        actor=actor,
    )
    _points_timeline(membership, entry, actor)
    return entry, True


def _points_timeline(membership: Membership, entry: PointsEntry, actor: Any) -> None:
    timeline_record(
        customer_id=membership.customer_id,
        kind="loyalty.points",
        summary=f"points {entry.points:+d}",
        data={
            "points": f"{entry.points:+d}",
            "kind": entry.get_kind_display(),
            "balance": entry.balance_after,
            "reason": entry.reason or "—",
        },
        actor=actor,
        ref_type="points",
        ref_id=entry.pk,
    )


def points_expire_run(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Expire every lot whose expiry has passed (one expire entry per lot; rerunning changes nothing)."""
    now = now or timezone.now()
    account_ids = list(
        PointsEntry.objects.filter(remaining__gt=0, expires_at__lte=now)
        .order_by("account_id")
        .values_list("account_id", flat=True)
        .distinct()
    )
    expired_points = lots = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = lock_points_account(account_id)
            for lot in PointsEntry.objects.filter(account=account, remaining__gt=0, expires_at__lte=now).order_by(
                "expires_at", "pk"
            ):
                amount = lot.remaining
                PointsEntry.objects.filter(pk=lot.pk).update(remaining=0)
                account.balance -= amount
                PointsEntry.objects.create(
                    account=account,
                    kind=PointsEntry.Kind.EXPIRE,
                    points=-amount,
                    reference=f"lot:{lot.pk}",
                    reason="expired",
                    earned_at=now,
                    balance_after=account.balance,
                )
                expired_points += amount
                lots += 1
            PointsAccount.objects.filter(pk=account.pk).update(balance=account.balance, updated_at=now)
    return {"accounts": len(account_ids), "lots": lots, "points": expired_points}


# ---------------------------------------------------------------- earning from orders


def points_for_amount(
    *,
    paid: Decimal,
    total: Decimal,
    lines: list[tuple[int | None, Decimal]],
    settings: ProgramSettings,
    tier: Tier | None,
    when: dt.datetime,
) -> int:
    """floor(paid yuan × rate × category multipliers × tier multiplier × member-day multiplier)."""
    if paid <= 0:
        return 0
    cats = {str(k): Decimal(str(v)) for k, v in (settings.category_multipliers or {}).items()}
    if total > 0 and lines:
        weighted = sum((amount * cats.get(str(cat), Decimal(1)) for cat, amount in lines), Decimal(0))
        base = weighted * paid / total
    else:
        base = paid
    value = base * settings.points_per_yuan
    if tier is not None:
        value *= tier.points_multiplier
    if settings.member_day and timezone.localtime(when).day == settings.member_day:
        value *= settings.member_day_multiplier
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


@transaction.atomic
def points_earn_for_order(
    *, order: Any, actor: Any = None, locked: Membership | None = None, settings: ProgramSettings | None = None
) -> OrderAward | None:
    """Award points and growth for a paid order of an active member, once per order; emits the e-bill.

    ``locked``: the order's membership, already locked by the caller (the checkout) in this transaction.
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
    growth = int(paid.to_integral_value(rounding=ROUND_FLOOR))
    award = OrderAward.objects.create(order=order, membership=membership, points=points, growth=growth)
    account = lock_points_account(membership.points.pk)
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
    tier_recompute(membership=membership)
    wallet = Wallet.objects.get(membership=membership)
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
    if settings.referral_coupon_id:
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
def points_reverse_for_refund(*, order: Any, refund_id: int) -> PointsEntry | None:
    """Take back earned points and growth in proportion to the refunded share (cumulative, floored)."""
    award = OrderAward.objects.filter(order_id=order.pk).first()
    if award is None:
        return None
    membership = lock_membership(award.membership_id)
    award = OrderAward.objects.select_for_update().get(pk=award.pk)
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


# ---------------------------------------------------------------- stored value


def top_up_bonus(amount: Decimal) -> Decimal:
    rule = TopUpRule.objects.filter(active=True, min_amount__lte=amount).order_by("-min_amount").first()
    return rule.bonus if rule else ZERO


def _wallet_post(
    wallet: Wallet,
    *,
    kind: str,
    principal: Decimal,
    bonus: Decimal,
    reference: str,
    note: str = "",
    order: Any = None,
    store: Any = None,
    actor: Any = None,
) -> WalletEntry:
    wallet.principal += principal
    wallet.bonus += bonus
    if wallet.principal < 0 or wallet.bonus < 0:  # pragma: no cover - callers check first
        raise ValidationError({"amount": [_("The stored-value balance is not enough.")]})
    entry = WalletEntry.objects.create(
        wallet=wallet,
        kind=kind,
        principal=principal,
        bonus=bonus,
        reference=reference,
        note=note[:200],
        order=order,
        store=store,
        principal_after=wallet.principal,
        bonus_after=wallet.bonus,
        actor=_actor(actor),
    )
    Wallet.objects.filter(pk=wallet.pk).update(
        principal=wallet.principal, bonus=wallet.bonus, updated_at=timezone.now()
    )
    timeline_record(
        customer_id=wallet.membership.customer_id,
        kind="loyalty.wallet",
        summary=f"wallet {entry.amount}",
        data={"kind": entry.get_kind_display(), "amount": str(entry.amount), "balance": str(wallet.balance)},
        actor=actor,
        ref_type="wallet",
        ref_id=entry.pk,
    )
    return entry


def _wallet_locked(membership: Membership) -> Wallet:
    wallet = lock_wallet(Wallet.objects.filter(membership_id=membership.pk).values_list("pk", flat=True).get())
    wallet.membership = membership
    return wallet


@transaction.atomic
def wallet_top_up(
    *, actor: Any, membership: Membership, amount: Any, reference: str, store: Any = None, channel: str = "web"
) -> tuple[WalletEntry, bool]:
    """Add paid principal plus the bonus of the best matching rule; idempotent by reference."""
    amount = to_money(amount, "amount")
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every top-up needs a reference (the payment number).")]})
    membership = Membership.objects.get(pk=membership.pk)
    wallet = _wallet_locked(membership)
    idempotency_claim(scope="top-up", key=f"{wallet.pk}:{reference}", params={"amount": amount}, field="reference")
    existing = WalletEntry.objects.filter(wallet=wallet, kind=WalletEntry.Kind.TOP_UP, reference=reference).first()
    if existing:
        return existing, False
    _require_active(membership)
    bonus = top_up_bonus(amount)
    limit = program().wallet_limit
    if wallet.balance + amount + bonus > limit:
        raise ValidationError(
            {
                "amount": [
                    _("A named card holds at most ¥%(limit)s; this top-up would make ¥%(after)s.")
                    % {"limit": limit, "after": wallet.balance + amount + bonus}
                ]
            }
        )
    entry = _wallet_post(
        wallet,
        kind=WalletEntry.Kind.TOP_UP,
        principal=amount,
        bonus=bonus,
        reference=reference,
        note="top-up",
        store=store,
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="top_up",
        object_type="wallet",
        object_id=wallet.pk,
        customer_id=membership.customer_id,
        channel=channel,
        changes={"principal": str(amount), "bonus": str(bonus), "reference": reference},
    )
    return entry, True


def wallet_split(wallet: Wallet, amount: Decimal, rule: str) -> tuple[Decimal, Decimal]:
    """How much of ``amount`` comes from principal and from bonus."""
    if rule == ProgramSettings.SpendOrder.PRINCIPAL_FIRST:
        principal = min(amount, wallet.principal)
        return principal, amount - principal
    if amount == wallet.balance:
        return wallet.principal, wallet.bonus
    principal = (amount * wallet.principal / wallet.balance).quantize(CENT, rounding=ROUND_HALF_UP)
    principal = min(principal, wallet.principal)
    bonus = amount - principal
    if bonus > wallet.bonus:
        principal, bonus = amount - wallet.bonus, wallet.bonus
    return principal, bonus


@transaction.atomic
def wallet_spend(
    *, actor: Any, membership: Membership, amount: Any, reference: str, order: Any = None, store: Any = None
) -> tuple[WalletEntry, bool]:
    amount = to_money(amount, "wallet_amount")
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every payment needs a reference.")]})
    membership = Membership.objects.get(pk=membership.pk)
    _require_active(membership)
    wallet = _wallet_locked(membership)
    existing = WalletEntry.objects.filter(wallet=wallet, kind=WalletEntry.Kind.SPEND, reference=reference).first()
    if existing:
        return existing, False
    if amount > wallet.balance:
        raise ValidationError({"wallet_amount": [_("The stored-value balance is ¥%(b)s.") % {"b": wallet.balance}]})
    principal, bonus = wallet_split(wallet, amount, program().wallet_spend_order)
    entry = _wallet_post(
        wallet,
        kind=WalletEntry.Kind.SPEND,
        principal=-principal,
        bonus=-bonus,
        reference=reference,
        note="spend",
        order=order,
        store=store,
        actor=actor,
    )
    return entry, True


@transaction.atomic
def wallet_refund(
    *, actor: Any, membership: Membership, reference: str, amount: Any = None, channel: str = "web"
) -> tuple[WalletEntry, bool]:
    """Pay back unspent principal (never bonus). The bonus is forfeited in the same proportion."""
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every refund needs a reference.")]})
    membership = Membership.objects.get(pk=membership.pk)
    wallet = _wallet_locked(membership)
    asked = None if amount in (None, "") else to_money(amount, "amount")
    idempotency_claim(
        scope="wallet-refund", key=f"{wallet.pk}:{reference}", params={"amount": asked}, field="reference"
    )
    existing = WalletEntry.objects.filter(wallet=wallet, kind=WalletEntry.Kind.REFUND, reference=reference).first()
    if existing:
        return existing, False
    value = wallet.principal if asked is None else asked
    if value <= 0 or value > wallet.principal:
        raise ValidationError(
            {"amount": [_("At most ¥%(p)s of paid principal can be refunded.") % {"p": wallet.principal}]}
        )
    bonus = (wallet.bonus * value / wallet.principal).quantize(CENT, rounding=ROUND_HALF_UP)
    bonus = min(bonus, wallet.bonus)
    entry = _wallet_post(
        wallet,
        kind=WalletEntry.Kind.REFUND,
        principal=-value,
        bonus=-bonus,
        reference=reference,
        note="principal refund",
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="refund",
        object_type="wallet",
        object_id=wallet.pk,
        customer_id=membership.customer_id,
        channel=channel,
        changes={"principal": str(value), "bonus_forfeited": str(bonus)},
    )
    return entry, True


# ---------------------------------------------------------------- coupons


def _template_window(template: CouponTemplate, issued_at: dt.datetime) -> tuple[Any, Any]:
    until = template.valid_until
    if template.valid_days:
        by_days = issued_at + dt.timedelta(days=template.valid_days)
        until = min(until, by_days) if until else by_days
    return template.valid_from, until


COUPON_FIELDS = [
    "name",
    "kind",
    "amount",
    "threshold",
    "percent_off",
    "cap",
    "gift",
    "valid_from",
    "valid_until",
    "valid_days",
    "per_customer_limit",
    "budget",
    "issue_rule",
    "active",
]


def coupon_template_clean(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    if kind not in CouponTemplate.Kind.values:
        errors["kind"] = [_("Choose fixed, threshold, percent or gift.")]
    if not str(data.get("name") or "").strip():
        errors["name"] = [_("Give the coupon a name.")]
    amount = Decimal(str(data.get("amount") or 0))
    if kind in ("fixed", "threshold") and amount <= 0:
        errors["amount"] = [_("Give the amount off.")]
    if kind == "threshold" and Decimal(str(data.get("threshold") or 0)) < amount:
        errors["threshold"] = [_("The minimum spend must be at least the amount off.")]
    if kind == "percent" and not (0 < Decimal(str(data.get("percent_off") or 0)) < 100):
        errors["percent_off"] = [_("The percent off is between 0 and 100.")]
    if kind == "gift" and not str(data.get("gift") or "").strip():
        errors["gift"] = [_("Name the gift.")]
    if data.get("valid_from") and data.get("valid_until") and data["valid_until"] <= data["valid_from"]:
        errors["valid_until"] = [_("The end of the window is after its start.")]
    if errors:
        raise ValidationError(errors)
    return {k: data[k] for k in COUPON_FIELDS if k in data}


@transaction.atomic
def coupon_template_create(*, actor: Any, data: dict[str, Any]) -> CouponTemplate:
    template = CouponTemplate.objects.create(**coupon_template_clean(data))
    audit_record(actor=actor, action="create", object_type="coupon_template", object_id=template.pk)
    return template


@transaction.atomic
def coupon_issue(
    *,
    actor: Any,
    template: CouponTemplate,
    customer_ids: list[int],
    reference: str = "",
    skip_ineligible: bool = False,
) -> list[Coupon]:
    """Issue one coupon to each customer, set-based; per-customer limit and budget are enforced.

    With ``skip_ineligible`` customers at their limit are skipped; otherwise the whole issue is refused.
    A non-empty ``reference`` makes the issue idempotent per (template, customer).
    """
    template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    if not template.active:
        raise ValidationError({"template": [_("This coupon template is not active.")]})
    ids = sorted({int(i) for i in customer_ids})
    customers = Customer.objects.filter(pk__in=ids, merged_into__isnull=True)
    if actor is not None:
        customers = Customer.objects.visible_to(actor).filter(pk__in=ids)
    found = set(customers.values_list("pk", flat=True))
    if not skip_ineligible and found != set(ids):
        raise ValidationError(
            {
                "customer_ids": [
                    _("Unknown customers: %(ids)s") % {"ids": ", ".join(str(i) for i in sorted(set(ids) - found)[:20])}
                ]
            }
        )
    held = dict(
        Coupon.objects.filter(template=template, customer_id__in=found)
        .exclude(status=Coupon.Status.VOID)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values_list("customer_id", "n")
    )
    already = set()
    if reference:
        already = set(
            Coupon.objects.filter(template=template, customer_id__in=found, reference=reference).values_list(
                "customer_id", flat=True
            )
        )
    over = {c for c in found if held.get(c, 0) >= template.per_customer_limit} - already
    if over and not skip_ineligible:
        raise ValidationError(
            {"customer_ids": [_("%(n)d customers already hold the most coupons allowed.") % {"n": len(over)}]}
        )
    targets = sorted(found - over - already)
    if template.budget is not None and template.issued_count + len(targets) > template.budget:
        raise ValidationError(
            {
                "customer_ids": [
                    _("Only %(n)d coupons of this kind are left in the budget.")
                    % {"n": max(0, template.budget - template.issued_count)}
                ]
            }
        )
    now = timezone.now()
    start, until = _template_window(template, now)
    coupons = [
        Coupon(
            code=_code(12),
            template=template,
            customer_id=c,
            issued_at=now,
            valid_from=start,
            expires_at=until,
            reference=reference,
        )
        for c in targets
    ]
    Coupon.objects.bulk_create(coupons, batch_size=1000)
    CouponTemplate.objects.filter(pk=template.pk).update(issued_count=F("issued_count") + len(coupons))
    if coupons:
        event_record(
            name="loyalty.coupons_issued",
            aggregate="coupon_template",
            aggregate_id=template.pk,
            actor_id=_actor_id(actor),
            payload={"count": len(coupons), "reference": reference},
        )
        from guanxi.core.audit import audit_record_many

        audit_record_many(
            actor=actor,
            action="coupon_issue",
            object_type="coupon",
            customer_ids=[c.customer_id for c in coupons],
            changes={"template": template.pk},
        )
    return coupons


def coupon_discount(template: CouponTemplate, amount: Decimal) -> Decimal:
    if template.kind == CouponTemplate.Kind.FIXED:
        return min(template.amount, amount)
    if template.kind == CouponTemplate.Kind.THRESHOLD:
        return min(template.amount, amount) if amount >= template.threshold else ZERO
    if template.kind == CouponTemplate.Kind.PERCENT:
        off = (amount * template.percent_off / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return min(off, template.cap) if template.cap is not None else off
    return ZERO


def coupon_check(
    coupon: Coupon | None, *, customer_id: int, amount: Decimal, now: dt.datetime | None = None
) -> Decimal:
    """The discount the coupon gives on ``amount``, or a ValidationError naming ``coupon_code``."""
    now = now or timezone.now()
    if coupon is None or coupon.customer_id != customer_id:
        raise ValidationError({"coupon_code": [_("This coupon does not belong to this customer.")]})
    if coupon.status != Coupon.Status.ISSUED:
        raise ValidationError({"coupon_code": [_("This coupon is %(s)s.") % {"s": coupon.get_status_display()}]})
    if (coupon.valid_from and now < coupon.valid_from) or (coupon.expires_at and now > coupon.expires_at):
        raise ValidationError({"coupon_code": [_("This coupon is not valid today.")]})
    template = coupon.template
    if template.kind == CouponTemplate.Kind.THRESHOLD and amount < template.threshold:
        raise ValidationError(
            {"coupon_code": [_("This coupon needs a spend of at least ¥%(t)s.") % {"t": template.threshold}]}
        )
    return coupon_discount(template, amount)


@transaction.atomic
def coupon_redeem(*, actor: Any, code: str, customer_id: int, amount: Any, order: Any = None) -> Coupon:
    """Use a coupon once; concurrent redemptions of one code serialize on its row and only one succeeds."""
    amount = to_money(amount, "amount", allow_zero=True)
    coupon = lock_coupon(code or "")
    discount = coupon_check(coupon, customer_id=customer_id, amount=amount)
    coupon.status = Coupon.Status.REDEEMED
    coupon.redeemed_at = timezone.now()
    coupon.redeemed_order = order
    coupon.discount = discount
    coupon.save(update_fields=["status", "redeemed_at", "redeemed_order", "discount"])
    timeline_record(
        customer_id=customer_id,
        kind="loyalty.coupon",
        summary=f"coupon {coupon.code}",
        data={"name": coupon.template.name, "code": coupon.code, "discount": str(discount)},
        actor=actor,
        ref_type="coupon",
        ref_id=coupon.pk,
    )
    return coupon


def coupon_expire_run(*, now: dt.datetime | None = None) -> int:
    return Coupon.objects.filter(status=Coupon.Status.ISSUED, expires_at__lt=now or timezone.now()).update(
        status=Coupon.Status.EXPIRED
    )


# ---------------------------------------------------------------- checkout


@dataclass
class Quote:
    membership: Membership
    cleaned: dict[str, Any]
    total: Decimal
    member_discount: Decimal = ZERO
    coupon: Coupon | None = None
    coupon_discount: Decimal = ZERO
    points: int = 0
    points_value: Decimal = ZERO
    points_max: int = 0
    wallet_amount: Decimal = ZERO
    other_paid: Decimal = ZERO
    points_earned: int = 0
    settings: ProgramSettings | None = None

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


def _membership_for(data: dict[str, Any], actor: Any) -> Membership:
    cid = data.get("customer_id")
    qs = Membership.objects.select_related("tier", "customer")
    member = None
    if str(cid or "").isdigit():
        visible = Customer.objects.visible_to(actor) if actor is not None else Customer.objects.all()
        member = qs.filter(customer_id=cid, customer__in=visible.values("pk")).first()
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


def checkout_price(*, actor: Any, data: dict[str, Any], locked: Membership | None = None) -> Quote:
    """Price an order: member discount → coupon → points as cash (capped) → stored value → other payment."""
    from guanxi.sales.services import order_clean

    membership = locked or _membership_for(data, actor)
    _require_active(membership, "customer_id")
    settings = program()
    cleaned = order_clean({**data, "external_ref": data.get("external_ref") or "quote", "discount_amount": "0"})
    total = cleaned["total_amount"]
    q = Quote(membership=membership, cleaned=cleaned, total=total, settings=settings)
    if membership.tier and membership.tier.discount_percent:
        q.member_discount = (total * membership.tier.discount_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    after = total - q.member_discount
    code = str(data.get("coupon_code") or "").strip().upper()
    if code:
        coupon = Coupon.objects.select_related("template").filter(code=code).first()
        q.coupon_discount = coupon_check(coupon, customer_id=membership.customer_id, amount=after)
        q.coupon = coupon
    after -= q.coupon_discount
    balance = PointsAccount.objects.filter(membership=membership).values_list("balance", flat=True).first() or 0
    rate = settings.points_per_yuan_redeemed
    cap_value = (after * settings.redeem_cap_percent / 100).quantize(CENT, rounding=ROUND_DOWN)
    q.points_max = min(balance, int((cap_value * rate).to_integral_value(rounding=ROUND_FLOOR)))
    wanted = data.get("points")
    if wanted == "max":
        q.points = q.points_max
    elif wanted not in (None, "", 0, "0"):
        q.points = to_points(wanted, "points")
        if q.points < 0 or q.points > q.points_max:
            raise ValidationError(
                {"points": [_("At most %(n)d points can be used on this order.") % {"n": q.points_max}]}
            )
    q.points_value = (Decimal(q.points) / rate).quantize(CENT, rounding=ROUND_DOWN)
    after -= q.points_value
    wallet = Wallet.objects.filter(membership=membership).first()
    wanted_wallet = data.get("wallet_amount")
    if wanted_wallet == "max":
        q.wallet_amount = min(wallet.balance, after)
    elif wanted_wallet not in (None, "", 0, "0"):
        q.wallet_amount = to_money(wanted_wallet, "wallet_amount", allow_zero=True)
        if q.wallet_amount > wallet.balance:
            raise ValidationError({"wallet_amount": [_("The stored-value balance is ¥%(b)s.") % {"b": wallet.balance}]})
        if q.wallet_amount > after:
            raise ValidationError({"wallet_amount": [_("Only ¥%(a)s is left to pay.") % {"a": after}]})
    q.other_paid = after - q.wallet_amount
    lines = [(ln["category"].pk if ln["category"] else None, ln["amount"]) for ln in cleaned["lines"]]
    q.points_earned = points_for_amount(
        paid=q.paid, total=total, lines=lines, settings=settings, tier=membership.tier, when=cleaned["ordered_at"]
    )
    return q


@transaction.atomic
def checkout_commit(*, actor: Any, data: dict[str, Any]) -> tuple[Checkout, bool]:
    """Write the order and every ledger entry of the checkout in one transaction, once per ``key``.

    Replaying the key with the same content returns the first checkout; with other content it is refused.
    """
    key = str(data.get("key") or "").strip()
    if not key or len(key) > 80:
        raise ValidationError({"key": [_("Give an idempotency key of at most 80 characters.")]})
    if not str(data.get("external_ref") or "").strip():
        raise ValidationError({"external_ref": [_("Every order needs its order number (external_ref).")]})
    member = _membership_for(data, actor)
    existing = Checkout.objects.filter(key=key).first()
    if existing:
        _replayed(existing, member)  # another member's key: refused as such
    idempotency_claim(scope="checkout", key=key, params={k: v for k, v in data.items() if k != "key"}, field="key")
    if existing:
        return existing, False
    try:
        return _checkout_write(actor=actor, data=data, key=key, member=member), True
    except IntegrityError:  # the same key committed for another member at the same moment
        existing = Checkout.objects.filter(key=key).first()
        if existing is None:
            raise
        return _replayed(existing, member), False


def _replayed(existing: Checkout, member: Membership) -> Checkout:
    if existing.membership_id != member.pk:
        raise ValidationError({"key": [_("This idempotency key was used for another checkout.")]})
    return existing


def _checkout_write(*, actor: Any, data: dict[str, Any], key: str, member: Membership) -> Checkout:
    from guanxi.sales.models import PaymentMethod
    from guanxi.sales.services import order_ingest

    with transaction.atomic():
        membership = lock_membership(member.pk)
        existing = Checkout.objects.filter(key=key).first()
        if existing:
            raise IntegrityError("checkout key taken")  # resolved by the caller as a replay
        q = checkout_price(actor=actor, data=data, locked=membership)
        method = data.get("payment_method") or PaymentMethod.OTHER
        if q.wallet_amount and q.other_paid:
            method = PaymentMethod.MIXED
        elif q.wallet_amount:
            method = PaymentMethod.WALLET
        result = order_ingest(
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
        )
        if not result.created:
            raise ValidationError({"external_ref": [_("This order number was already recorded.")]})
        order = result.order
        ref = f"checkout:{key}"  # new: the key was checked under the membership lock
        account = lock_points_account(
            PointsAccount.objects.filter(membership_id=membership.pk).values_list("pk", flat=True).get()
        )
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
            wallet = _wallet_locked(membership)
            if q.wallet_amount > wallet.balance:
                raise ValidationError(
                    {"wallet_amount": [_("The stored-value balance is ¥%(b)s.") % {"b": wallet.balance}]}
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
            coupon_redeem(
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
        points_earn_for_order(order=order, actor=actor, locked=membership, settings=q.settings)
    return checkout


@transaction.atomic
def checkout_refund(*, actor: Any, checkout: Checkout, reference: str, amount: Any = None) -> dict[str, Any]:
    """Refund (part of) a checkout: the sales refund plus exactly what the checkout applied, in proportion.

    Points used and stored value come back in the cumulative refunded share (floored; the final refund
    returns the rest); the coupon comes back only on a full refund, while it is still valid, when the
    program says so; earned points are reversed in the same proportion.
    """
    from guanxi.sales.services import refund_create

    lock_membership(checkout.membership_id)
    checkout = (
        Checkout.objects.select_for_update(of=("self",))
        .select_related("order", "membership", "coupon")
        .get(pk=checkout.pk)
    )
    order = checkout.order
    value = amount if amount not in (None, "") else str(order.paid_amount - order.refunded_amount)
    refund, created = refund_create(
        actor=actor,
        order=order,
        external_ref=reference,
        amount=value,
        channel="checkout",
        fingerprint_params={"checkout": checkout.key, "amount": None if amount in (None, "") else amount},
    )
    if created:
        order.refresh_from_db()
        cum = order.refunded_amount
        paid = checkout.paid
        full = cum >= paid
        share = Decimal(1) if full else cum / paid
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
            wallet = _wallet_locked(membership)
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
        if full and checkout.coupon_id and program().restore_coupon_on_refund:
            coupon = lock_coupon(checkout.coupon.code)
            if coupon.status == Coupon.Status.REDEEMED and (
                not coupon.expires_at or coupon.expires_at > timezone.now()
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


# ---------------------------------------------------------------- merge


def merge_loyalty(survivor: Customer, merged: Customer) -> dict[str, int]:
    """A merge moves the merged record's membership and coupons; two memberships are refused."""
    members = dict(Membership.objects.filter(customer_id__in=[survivor.pk, merged.pk]).values_list("customer_id", "pk"))
    moved = {}
    if survivor.pk in members and merged.pk in members:
        raise ValidationError(
            {
                "merged": [
                    _("Both customers are members. Close one membership (refunding its stored value) before merging.")
                ]
            }
        )
    if merged.pk in members:
        moved["loyalty.Membership"] = Membership.objects.filter(customer_id=merged.pk).update(customer_id=survivor.pk)
    moved["loyalty.Coupon"] = Coupon.objects.filter(customer_id=merged.pk).update(customer_id=survivor.pk)
    return moved
