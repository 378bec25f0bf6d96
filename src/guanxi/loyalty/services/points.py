"""The points ledger: lots credited and debited (those that expire first go first), adjustments,
redemptions and expiry. Every change is made on a locked ``PointsAccount``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import audit_record
from guanxi.core.idempotency import idempotency_claim
from guanxi.customers.services import timeline_record
from guanxi.loyalty.calculations import (
    points_expiry,
)
from guanxi.loyalty.lock_objects import (
    lock_points_account,
)
from guanxi.loyalty.models import (
    Membership,
    PointsAccount,
    PointsEntry,
    ProgramSettings,
)
from guanxi.loyalty.services.common import (
    POINTS_MAX,
    _actor,
    _require_active,
    program,
    to_points,
)

if TYPE_CHECKING:
    from guanxi.accounts.models import User
    from guanxi.sales.models import Order


def _points_credit(
    account: PointsAccount,
    *,
    kind: str,
    points: int,
    reference: str,
    reason: str = "",
    order: Order | None = None,
    actor: User | None = None,
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
        expires_at=points_expiry(now, settings or program()),
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
    order: Order | None = None,
    actor: User | None = None,
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
def points_adjust(
    *, actor: User | None, membership: Membership, points: Any, reason: str, reference: str = ""
) -> PointsEntry:
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
    *,
    actor: User | None,
    membership: Membership,
    points: Any,
    reference: str,
    reason: str = "",
    order: Order | None = None,
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


def _points_timeline(membership: Membership, entry: PointsEntry, actor: User | None) -> None:
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
