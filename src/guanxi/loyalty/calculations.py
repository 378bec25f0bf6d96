"""The loyalty program's arithmetic, apart from the writes that apply it: no locks, no ledger entries.

Rounding (stated in docs/loyalty.md and tested):
- points earned = floor(paid yuan × points per yuan × category multiplier × tier multiplier × member-day
  multiplier), computed in Decimal and floored once per order;
- growth value = floor(paid yuan);
- member discount and percentage coupons are rounded to the cent, half up; points as cash = floor to the
  cent of points ÷ points-per-¥1;
- partial refunds return points and stored value in proportion to the cumulative refunded share,
  floored, and the last refund returns the rest exactly (``services.checkout``).

Each function is a pure function of its arguments, except ``top_up_bonus``, which reads which top-up rule
applies (reference data; one query, no lock).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.utils import timezone

from guanxi.loyalty.models import ZERO, CouponTemplate, ProgramSettings, Tier, TopUpRule, Wallet

CENT = Decimal("0.01")


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


def growth_for_amount(paid: Decimal) -> int:
    """Growth value of a paid order: whole yuan, floored."""
    return int(paid.to_integral_value(rounding=ROUND_FLOOR))


def points_expiry(earned_at: dt.datetime, settings: ProgramSettings) -> dt.datetime | None:
    """When a lot earned at ``earned_at`` expires: never, after N days, or at the end of the next year."""
    if settings.points_expiry == ProgramSettings.Expiry.NEVER:
        return None
    if settings.points_expiry == ProgramSettings.Expiry.ROLLING:
        return earned_at + dt.timedelta(days=settings.points_expiry_days)
    local = timezone.localtime(earned_at)
    return dt.datetime(local.year + 2, 1, 1, tzinfo=local.tzinfo) - dt.timedelta(microseconds=1)


def member_discount(total: Decimal, tier: Tier | None) -> Decimal:
    """The tier's percentage off ``total``, to the cent, half up."""
    if tier is None or not tier.discount_percent:
        return ZERO
    return (total * tier.discount_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def points_max_for(amount: Decimal, settings: ProgramSettings, balance: int) -> int:
    """The most points usable as cash on ``amount``: the balance, within the program's cap on the order."""
    cap_value = (amount * settings.redeem_cap_percent / 100).quantize(CENT, rounding=ROUND_DOWN)
    return min(balance, int((cap_value * settings.points_per_yuan_redeemed).to_integral_value(rounding=ROUND_FLOOR)))


def points_value(points: int, settings: ProgramSettings) -> Decimal:
    """What ``points`` are worth as cash: points ÷ points-per-¥1, floored to the cent."""
    return (Decimal(points) / settings.points_per_yuan_redeemed).quantize(CENT, rounding=ROUND_DOWN)


def top_up_bonus(amount: Decimal) -> Decimal:
    """The bonus of the richest active rule whose minimum ``amount`` reaches."""
    rule = TopUpRule.objects.filter(active=True, min_amount__lte=amount).order_by("-min_amount").first()
    return rule.bonus if rule else ZERO


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


def bonus_forfeited(wallet: Wallet, principal: Decimal) -> Decimal:
    """The bonus that goes with refunding ``principal``: the same share of the bonus, to the cent, half up."""
    return min((wallet.bonus * principal / wallet.principal).quantize(CENT, rounding=ROUND_HALF_UP), wallet.bonus)


def coupon_discount(template: CouponTemplate, amount: Decimal) -> Decimal:
    """What a coupon of ``template`` takes off ``amount`` (a gift coupon takes nothing off)."""
    if template.kind == CouponTemplate.Kind.FIXED:
        return min(template.amount, amount)
    if template.kind == CouponTemplate.Kind.THRESHOLD:
        return min(template.amount, amount) if amount >= template.threshold else ZERO
    if template.kind == CouponTemplate.Kind.PERCENT:
        off = (amount * template.percent_off / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return min(off, template.cap) if template.cap is not None else off
    return ZERO


def coupon_window(template: CouponTemplate, issued_at: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When a coupon issued at ``issued_at`` is valid: the template's window, cut to its days of validity."""
    until = template.valid_until
    if template.valid_days:
        by_days = issued_at + dt.timedelta(days=template.valid_days)
        until = min(until, by_days) if until else by_days
    return template.valid_from, until
