"""The care triggers and actions of loyalty (``core.care``), registered in ``LoyaltyConfig.ready()``.

Daily triggers (``context["today"]``, the local date); each is one query over active memberships:
- ``member_day_n`` (``day`` 1–3650): day N of membership, the day of joining being day 1 (day 100: "thanks for
  your first 100 days");
- ``membership_anniversary`` (``days_before`` 0–60): a whole number of years since joining (a member who
  joined on 29 February is remembered on 28 February in common years);
- ``points_expiring`` (``days`` 0–365): points that expire on the local day ``today + days``, so a member is
  told once per expiry date, ``days`` ahead;
- ``coupon_expiring`` (``days`` 0–365): an unused coupon that expires on the local day ``today + days``;
- ``wallet_low`` (``below``, yuan): the stored-value balance fell below the amount during the day before
  ``today`` and is still below it (told once per fall, the morning after, not every day it stays low).

Event trigger ``tier_changed`` (``loyalty.tier_changed``; ``direction`` up, down or any): the member whose tier
changed, from the event alone (no query).

Actions: ``coupon_issue`` (``template``) issues one coupon with the care run's dedupe key as the issue's
reference, so a repeated run issues nothing more, and reports its face value as ``{"cost": Decimal}`` (the
amount off of a fixed or spend-and-save coupon; a percentage or gift coupon reports no cost);
``points_grant`` (``points`` 1–100,000, ``reason``) credits
points as an adjustment keyed by the same dedupe key. A customer who is not an active member gets no points
(the result says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import DecimalField, Exists, ExpressionWrapper, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import CareAction, CareTrigger, register_care_action, register_care_trigger
from guanxi.customers.care import days_schema, param_choice, param_id, param_int, param_money, today_of
from guanxi.customers.models import Customer
from guanxi.loyalty.models import Coupon, CouponTemplate, Membership, PointsEntry, Wallet, WalletEntry

MEMBER_DAY_N = "member_day_n"
MEMBERSHIP_ANNIVERSARY = "membership_anniversary"
TIER_CHANGED = "tier_changed"
POINTS_EXPIRING = "points_expiring"
COUPON_EXPIRING = "coupon_expiring"
WALLET_LOW = "wallet_low"
COUPON_ISSUE = "coupon_issue"
POINTS_GRANT = "points_grant"
TIER_EVENT = "loyalty.tier_changed"
MAX_GRANT = 100_000
DIRECTIONS = ("up", "down", "any")
MONEY = DecimalField(max_digits=14, decimal_places=2)


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The start of the local day and of the next one, as aware times."""
    zone = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)


def _active_members() -> Any:
    return Membership.objects.filter(status=Membership.Status.ACTIVE, customer__merged_into__isnull=True)


# --- membership dates ----------------------------------------------------------------------------------------


def clean_member_day_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"day": param_int(params, "day", low=1, high=3650)}


def member_day_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Members on their day N: joined on the local day ``today − (N − 1)``."""
    start, end = _day_bounds(today_of(context) - dt.timedelta(days=int(params["day"]) - 1))
    return _active_members().filter(joined_at__gte=start, joined_at__lt=end).values_list("customer_id", flat=True)


def clean_anniversary_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"days_before": param_int(params, "days_before", low=0, high=60, default=0)}


def anniversary_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Members who joined on this local month-day in an earlier year (29 Feb counts on 28 Feb of common years)."""
    target = today_of(context) + dt.timedelta(days=int(params.get("days_before") or 0))
    days = [target.day]
    if target.month == 2 and target.day == 28 and (target + dt.timedelta(days=1)).month == 3:
        days.append(29)
    start, _end = _day_bounds(target.replace(month=1, day=1))  # joined in an earlier year
    return (
        _active_members()
        .filter(joined_at__month=target.month, joined_at__day__in=days, joined_at__lt=start)
        .values_list("customer_id", flat=True)
    )


# --- tier ----------------------------------------------------------------------------------------------------


def clean_tier_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"direction": param_choice(params, "direction", DIRECTIONS, default="any")}


def _event_field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


def tier_changed_customers(params: dict[str, Any], context: dict[str, Any]) -> list[int]:
    """The member of a ``loyalty.tier_changed`` event, when its direction matches; no query."""
    event = context["event"]
    payload = _event_field(event, "payload") or {}
    customer_id = _event_field(event, "customer_id")
    direction = params.get("direction") or "any"
    if _event_field(event, "name") != TIER_EVENT or customer_id is None:
        return []
    if direction != "any" and payload.get("direction") != direction:
        return []
    return [int(customer_id)]


# --- expiring points and coupons -----------------------------------------------------------------------------


def clean_expiring_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"days": param_int(params, "days", low=0, high=365, default=7)}


def points_expiring_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Members with unspent points that expire on the local day ``today + days``."""
    start, end = _day_bounds(today_of(context) + dt.timedelta(days=int(params["days"])))
    expiring = PointsEntry.objects.filter(
        account__membership=OuterRef("pk"), remaining__gt=0, expires_at__gte=start, expires_at__lt=end
    )
    return _active_members().filter(Exists(expiring)).values_list("customer_id", flat=True)


def coupon_expiring_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Customers holding an unused coupon that expires on the local day ``today + days``."""
    start, end = _day_bounds(today_of(context) + dt.timedelta(days=int(params["days"])))
    coupons = Coupon.objects.filter(
        customer_id=OuterRef("pk"), status=Coupon.Status.ISSUED, expires_at__gte=start, expires_at__lt=end
    )
    return Customer.objects.filter(Exists(coupons), merged_into__isnull=True).values_list("id", flat=True)


# --- wallet --------------------------------------------------------------------------------------------------


def clean_wallet_params(params: dict[str, Any]) -> dict[str, Any]:
    below = param_money(params, "below")
    if below <= 0:
        raise ValidationError({"below": [_("Enter an amount above ¥0.")]})
    return {"below": str(below)}


def wallet_low_customers(params: dict[str, Any], context: dict[str, Any]) -> Any:
    """Members whose balance fell below ``below`` during the day before ``today`` and is below it still."""
    below = Decimal(str(params["below"]))
    start, end = _day_bounds(today_of(context) - dt.timedelta(days=1))
    after = ExpressionWrapper(F("principal_after") + F("bonus_after"), output_field=MONEY)
    change = ExpressionWrapper(F("principal") + F("bonus"), output_field=MONEY)
    fell = (
        WalletEntry.objects.filter(wallet=OuterRef("pk"), created_at__gte=start, created_at__lt=end)
        .alias(after=after, before=after - change)
        .filter(after__lt=below, before__gte=below)
    )
    left = ExpressionWrapper(F("principal") + F("bonus"), output_field=MONEY)
    wallets = (
        Wallet.objects.filter(
            membership__status=Membership.Status.ACTIVE, membership__customer__merged_into__isnull=True
        )
        .alias(left=left)
        .filter(Exists(fell), left__lt=below)
    )
    return wallets.values_list("membership__customer_id", flat=True)


# --- actions -------------------------------------------------------------------------------------------------


def _reference(context: dict[str, Any]) -> str:
    """The care run's dedupe key as a reference (80 characters at most: longer keys are hashed)."""
    key = str(context.get("dedupe_key") or "")
    if not key:
        raise ValueError("a care action needs context['dedupe_key']")
    return key if len(key) <= 80 else "care:" + hashlib.sha256(key.encode()).hexdigest()


def clean_coupon_params(params: dict[str, Any]) -> dict[str, Any]:
    return {"template": param_id(params, "template", CouponTemplate.objects.filter(active=True))}


def coupon_issue_action(customer: Customer, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """One coupon of the template; the dedupe key is the issue's reference, so a second run issues none."""
    from guanxi.loyalty.services import coupon_issue

    template = CouponTemplate.objects.get(pk=params["template"])
    reference = _reference(context)
    coupons = coupon_issue(
        actor=None, template=template, customer_ids=[customer.pk], reference=reference, skip_ineligible=True
    )
    if not coupons:  # at the per-customer limit, or issued already by this occurrence
        coupons = list(Coupon.objects.filter(template=template, customer=customer, reference=reference))
    if not coupons:
        return {"coupon": None, "template": template.name}
    result: dict[str, Any] = {"coupon": coupons[0].code, "template": template.name}
    value = coupon_face_value(template)
    if value:
        result["cost"] = value
    return result


def coupon_face_value(template: CouponTemplate) -> Decimal:
    """What a coupon of the template is worth for the care budget: the amount off of a fixed or spend-and-save
    coupon; zero for a percentage or a gift (no fixed value)."""
    if template.kind in (CouponTemplate.Kind.FIXED, CouponTemplate.Kind.THRESHOLD):
        return Decimal(template.amount)
    return Decimal(0)


def clean_points_params(params: dict[str, Any]) -> dict[str, Any]:
    points = param_int(params, "points", low=1, high=MAX_GRANT)
    reason = str(params.get("reason") or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the points are granted.")]})
    if len(reason) > 200:
        raise ValidationError({"reason": [_("At most 200 characters.")]})
    return {"points": points, "reason": reason}


def points_grant_action(customer: Customer, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Credit the points to an active member, keyed by the dedupe key (a second run credits nothing)."""
    from guanxi.loyalty.services import points_adjust

    membership = Membership.objects.filter(customer=customer, status=Membership.Status.ACTIVE).first()
    if membership is None:
        return {"points": 0, "skipped": "not_member"}
    entry = points_adjust(
        actor=None,
        membership=membership,
        points=int(params["points"]),
        reason=str(params["reason"]),
        reference=_reference(context),
    )
    return {"points": entry.points, "entry": entry.pk}


def register() -> None:
    def schema(**properties: Any) -> dict[str, Any]:
        return {"type": "object", "properties": properties, "required": list(properties)}

    days = {"type": "integer", "title": gettext_lazy("Days ahead"), "minimum": 0, "maximum": 365, "default": 7}
    triggers = [
        CareTrigger(
            key=MEMBER_DAY_N,
            label=gettext_lazy("Day N as a member"),
            handler=member_day_customers,
            validate_params=clean_member_day_params,
            params_schema=schema(
                day={"type": "integer", "title": gettext_lazy("Day"), "minimum": 1, "maximum": 3650, "default": 100}
            ),
            order=20,
        ),
        CareTrigger(
            key=MEMBERSHIP_ANNIVERSARY,
            label=gettext_lazy("Membership anniversary"),
            handler=anniversary_customers,
            validate_params=clean_anniversary_params,
            params_schema=schema(days_before=days_schema(gettext_lazy("Days before"), low=0, high=60, default=0)),
            order=21,
        ),
        CareTrigger(
            key=TIER_CHANGED,
            label=gettext_lazy("Tier changed"),
            handler=tier_changed_customers,
            validate_params=clean_tier_params,
            params_schema=schema(
                direction={
                    "type": "string",
                    "title": gettext_lazy("Direction"),
                    "enum": list(DIRECTIONS),
                    "enumNames": [gettext_lazy("Upgraded"), gettext_lazy("Downgraded"), gettext_lazy("Either")],
                    "default": "any",
                }
            ),
            event=TIER_EVENT,
            order=22,
        ),
        CareTrigger(
            key=POINTS_EXPIRING,
            label=gettext_lazy("Points about to expire"),
            handler=points_expiring_customers,
            validate_params=clean_expiring_params,
            params_schema=schema(days=days),
            order=23,
        ),
        CareTrigger(
            key=COUPON_EXPIRING,
            label=gettext_lazy("Unused coupon about to expire"),
            handler=coupon_expiring_customers,
            validate_params=clean_expiring_params,
            params_schema=schema(days=days),
            order=24,
        ),
        CareTrigger(
            key=WALLET_LOW,
            label=gettext_lazy("Stored-value balance low"),
            handler=wallet_low_customers,
            validate_params=clean_wallet_params,
            params_schema=schema(
                below={"type": "string", "format": "decimal", "title": gettext_lazy("Balance below (¥)")}
            ),
            order=25,
        ),
    ]
    for trigger in triggers:
        register_care_trigger(trigger)
    register_care_action(
        CareAction(
            key=COUPON_ISSUE,
            label=gettext_lazy("Issue a coupon"),
            handler=coupon_issue_action,
            validate_params=clean_coupon_params,
            params_schema=schema(
                template={"type": "integer", "title": gettext_lazy("Coupon"), "x-choices": "loyalty.coupon_template"}
            ),
            order=20,
        )
    )
    register_care_action(
        CareAction(
            key=POINTS_GRANT,
            label=gettext_lazy("Grant points"),
            handler=points_grant_action,
            validate_params=clean_points_params,
            params_schema=schema(
                points={"type": "integer", "title": gettext_lazy("Points"), "minimum": 1, "maximum": MAX_GRANT},
                reason={"type": "string", "title": gettext_lazy("Reason"), "maxLength": 200},
            ),
            order=21,
        )
    )
