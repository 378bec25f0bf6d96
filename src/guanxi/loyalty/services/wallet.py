"""Stored value: top-ups with their bonus, spending (principal and bonus split by the program's rule) and
refunds of unspent principal. Every change is made on a locked ``Wallet``."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import audit_record
from guanxi.core.idempotency import idempotency_claim
from guanxi.core.money import parse_money_field
from guanxi.customers.services import timeline_record
from guanxi.loyalty.calculations import (
    bonus_forfeited,
    top_up_bonus,
    wallet_split,
)
from guanxi.loyalty.lock_objects import (
    lock_member_wallet,
)
from guanxi.loyalty.models import (
    Membership,
    Wallet,
    WalletEntry,
)
from guanxi.loyalty.services.common import (
    MONEY_DIGITS,
    _actor,
    _require_active,
    program,
)

if TYPE_CHECKING:
    from guanxi.accounts.models import Store, User
    from guanxi.sales.models import Order


def _wallet_post(
    wallet: Wallet,
    *,
    kind: str,
    principal: Decimal,
    bonus: Decimal,
    reference: str,
    note: str = "",
    order: Order | None = None,
    store: Store | None = None,
    actor: User | None = None,
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


@transaction.atomic
def wallet_top_up(
    *,
    actor: User | None,
    membership: Membership,
    amount: Any,
    reference: str,
    store: Store | None = None,
    channel: str = "web",
) -> tuple[WalletEntry, bool]:
    """Add paid principal plus the bonus of the best matching rule; idempotent by reference."""
    amount = parse_money_field(amount, "amount", allow_zero=False, max_digits=MONEY_DIGITS)
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every top-up needs a reference (the payment number).")]})
    membership = Membership.objects.get(pk=membership.pk)
    wallet = lock_member_wallet(membership)
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


@transaction.atomic
def wallet_spend(
    *,
    actor: User | None,
    membership: Membership,
    amount: Any,
    reference: str,
    order: Order | None = None,
    store: Store | None = None,
) -> tuple[WalletEntry, bool]:
    amount = parse_money_field(amount, "wallet_amount", allow_zero=False, max_digits=MONEY_DIGITS)
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every payment needs a reference.")]})
    membership = Membership.objects.get(pk=membership.pk)
    _require_active(membership)
    wallet = lock_member_wallet(membership)
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
    *, actor: User | None, membership: Membership, reference: str, amount: Any = None, channel: str = "web"
) -> tuple[WalletEntry, bool]:
    """Pay back unspent principal (never bonus). The bonus is forfeited in the same proportion."""
    if not (reference or "").strip():
        raise ValidationError({"reference": [_("Every refund needs a reference.")]})
    membership = Membership.objects.get(pk=membership.pk)
    wallet = lock_member_wallet(membership)
    asked = (
        None if amount in (None, "") else parse_money_field(amount, "amount", allow_zero=False, max_digits=MONEY_DIGITS)
    )
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
    bonus = bonus_forfeited(wallet, value)
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
