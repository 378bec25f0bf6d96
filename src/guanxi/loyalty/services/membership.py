"""Membership and tiers: enrolment, status, the tier upgrades and the yearly review, birthday gifts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import audit_record
from guanxi.core.events import event_record
from guanxi.customers.care import birthday_on_q
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.customers.services import timeline_record
from guanxi.loyalty.lock_objects import (
    lock_membership,
)
from guanxi.loyalty.models import (
    CouponTemplate,
    Membership,
    OrderAward,
    PointsAccount,
    ProgramSettings,
    Tier,
    TierChange,
    Wallet,
)
from guanxi.loyalty.services.common import (
    _actor_id,
    _code,
    program,
)
from guanxi.loyalty.services.coupons import coupon_issue

if TYPE_CHECKING:
    from guanxi.accounts.models import Store, User


def _base_tier() -> Tier | None:
    return Tier.objects.order_by("threshold", "order").first()


@transaction.atomic
def member_enrol(
    *, actor: User | None, customer: Customer, store: Store | None = None, invite_code: str = "", channel: str = "web"
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
def member_set_status(*, actor: User | None, membership: Membership, status: str, reason: str = "") -> Membership:
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


def member_suspend(*, actor: User | None, membership: Membership, reason: str = "") -> Membership:
    return member_set_status(actor=actor, membership=membership, status=Membership.Status.SUSPENDED, reason=reason)


def member_close(*, actor: User | None, membership: Membership, reason: str = "") -> Membership:
    return member_set_status(actor=actor, membership=membership, status=Membership.Status.CLOSED, reason=reason)


def review_window_growth(
    membership: Membership, *, now: dt.datetime | None = None, settings: ProgramSettings | None = None
) -> int:
    """Growth earned inside the review window (what a tier must be re-earned with)."""
    months = (settings or program()).tier_review_months
    since = (now or timezone.now()) - dt.timedelta(days=round(months * 30.44))
    agg = OrderAward.objects.filter(membership=membership, created_at__gte=since).aggregate(
        g=Sum(F("growth") - F("growth_reversed"))
    )
    return max(0, agg["g"] or 0)


def _qualifying_tier(growth: int) -> Tier | None:
    return Tier.objects.filter(threshold__lte=growth).order_by("-threshold", "-order").first() or _base_tier()


def _tier_rank(tier: Tier | None) -> tuple[int, int]:
    return (-1, -1) if tier is None else (tier.threshold, tier.order)


def tier_recompute(*, membership: Membership, settings: ProgramSettings | None = None) -> Membership:
    """Upgrade at once when the window growth reaches a higher tier; never downgrades (see tier_review)."""
    target = _qualifying_tier(review_window_growth(membership, settings=settings))
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
    event = event_record(
        name="loyalty.tier_changed",
        customer_id=membership.customer_id,
        aggregate="membership",
        aggregate_id=membership.pk,
        payload={
            "from_tier_id": old.pk if old else None,
            "to_tier_id": target.pk if target else None,
            "direction": "up" if _tier_rank(target) > _tier_rank(old) else "down",
            "reason": reason,
        },
    )
    timeline_record(
        customer_id=membership.customer_id,
        kind="loyalty.tier",
        summary=f"tier {old} -> {target}",
        data={"from": old.name if old else "—", "to": target.name if target else "—"},
        event_id=event.pk,
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
    """Members whose birthday is today (a lunar birthday on its solar date this year, 29 February on 28 February
    of a common year; ``customers.care.birthday_on_q``): the tier's birthday gift goes on the timeline and out as
    an event (``loyalty.birthday``), and coupon templates marked "on the member's birthday" are issued — once a year."""
    today = today or timezone.localdate()
    members = list(
        Membership.objects.filter(birthday_on_q(today, "customer__"), status=Membership.Status.ACTIVE)
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
