"""The segment fields loyalty offers (``core.segments``): membership, tier, points, stored value, coupons, growth.

Registered in ``LoyaltyConfig.ready()``, group "loyalty". Each field's ``condition`` is one ``Exists`` over the
customer's ``pk`` (or a column of ``customers.Customer``), so a rule tree of any shape stays one SQL statement;
``filter`` (the customer list's ``?seg.`` links) is ``queryset.filter(condition(...))``.

What the fields read:

* Only an **active** membership takes part: a suspended or closed member is no member, has no tier, no points,
  no stored value and no growth value for a segment (the counter refuses to use them too). Coupons are held by
  the customer (``Coupon.customer``), whatever the membership.
* "is none of" (``not_in``) keeps the members whose tier is none of those named; customers without one (not a
  member) are not kept. Put a condition under ``not`` for "everyone except".
* Numbers take ``gte`` / ``lte`` with one number, ``between`` with ``[from, to]`` (both included). A single
  number with ``between`` means exactly that number; a pair with ``gte`` uses its first, with ``lte`` its last.
* "in the last N days" is N local calendar days (``settings.TIME_ZONE``) ending today: N = 1 is today since
  local midnight.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.money import parse_money
from guanxi.core.segments import choice_field, date_field, days_field, flag_field, number_field, register_segment_field
from guanxi.loyalty.models import Coupon, CouponTemplate, Membership, PointsAccount, Tier, Wallet

MEMBER = "loyalty.member"
TIER = "loyalty.tier"
POINTS = "loyalty.points"
WALLET = "loyalty.wallet"
COUPONS = "loyalty.coupons"
JOINED = "loyalty.joined"
JOINED_DAYS = "loyalty.joined_days"
GROWTH = "loyalty.growth"

MAX_POINTS = 1_000_000_000
MAX_COUPONS = 1000
MAX_DAYS = 3650
MAX_TIERS = 50
WALLET_DIGITS = 12  # Wallet.principal / bonus: DecimalField(max_digits=12, decimal_places=2)

NUMBER_OPS = ("gte", "lte", "between")
GROUP = "loyalty"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# --- cleaning ------------------------------------------------------------------------------------


def _whole(value: Any, *, low: int, high: int) -> int:
    """A whole number within [low, high] from an int or a string of ASCII digits; else a translated error."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(_("Enter a whole number."))
    text = str(value).strip()
    if not text.lstrip("-").isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        raise ValidationError(_("Enter a whole number."))
    number = int(text)
    if not low <= number <= high:
        raise ValidationError(_("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high})
    return number


def _range(value: Any, one: Any) -> Any:
    """One cleaned number, or ``(from, to)`` from a two-item list (``from`` at most ``to``)."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValidationError(_("Give two numbers, from and to."))
        low, high = one(value[0]), one(value[1])
        if low > high:
            raise ValidationError(_("The first number must not be larger than the second."))
        return (low, high)
    return one(value)


def clean_count(value: Any) -> Any:
    return _range(value, lambda v: _whole(v, low=0, high=MAX_POINTS))


def clean_amount(value: Any) -> Any:
    return _range(value, lambda v: parse_money(v, max_digits=WALLET_DIGITS))


def clean_coupon_count(value: Any) -> int:
    return _whole(value, low=0, high=MAX_COUPONS)


def clean_days(value: Any) -> int:
    return _whole(value, low=1, high=MAX_DAYS)


def clean_flag(value: Any) -> bool:
    """Yes/no fields carry their meaning in the operator; the value may be left out."""
    if value is None or isinstance(value, bool) or str(value).strip().lower() in {"", "1", "true", "yes", "0"}:
        return True
    raise ValidationError(_("This condition takes no value."))


def clean_date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    text = str(value or "").strip()
    if _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise ValidationError(_("“%(value)s” is not a date; write it as 2026-03-31.") % {"value": text[:40]})


def clean_tiers(value: Any) -> tuple[int, ...]:
    """Tier ids (one, or a list); each must be a tier that exists."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValidationError(_("Choose at least one tier."))
    if len(items) > MAX_TIERS:
        raise ValidationError(_("Choose at most %(n)d tiers.") % {"n": MAX_TIERS})
    ids = []
    for item in items:
        try:
            ids.append(_whole(item, low=1, high=2_147_483_647))
        except ValidationError:
            raise ValidationError(_("“%(value)s” is not a tier.") % {"value": str(item)[:40]}) from None
    known = set(Tier.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValidationError(_("“%(value)s” is not a tier.") % {"value": unknown[0]})
    return tuple(sorted(set(ids)))


def clean_coupon_params(params: dict[str, Any]) -> dict[str, Any]:
    """``template``: count only coupons of this template (its id); left out, coupons of every template."""
    raw = params.get("template")
    if raw in (None, ""):
        return {}
    try:
        template = _whole(raw, low=1, high=2_147_483_647)
    except ValidationError:
        template = 0
    if not template or not CouponTemplate.objects.filter(pk=template).exists():
        raise ValidationError({"template": [_("“%(value)s” is not a coupon template.") % {"value": str(raw)[:40]}]})
    return {"template": template}


# --- conditions ----------------------------------------------------------------------------------


def _bounds(operator: str, value: Any) -> tuple[Any, Any]:
    """(at least, at most) of a number condition; None where open."""
    low, high = value if isinstance(value, list | tuple) else (value, value)
    if operator == "gte":
        return low, None
    if operator == "lte":
        return None, high
    return low, high


def _within(field: str, operator: str, value: Any) -> dict[str, Any]:
    low, high = _bounds(operator, value)
    lookups: dict[str, Any] = {}
    if low is not None:
        lookups[f"{field}__gte"] = low
    if high is not None:
        lookups[f"{field}__lte"] = high
    return lookups


def _members(**lookups: Any) -> Exists:
    return Exists(Membership.objects.filter(customer_id=OuterRef("pk"), status=Membership.Status.ACTIVE, **lookups))


def window_start(days: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """The first instant of the local calendar day ``days - 1`` days before today (``days`` = 1: today)."""
    today = timezone.localdate(now)
    first = today - dt.timedelta(days=days - 1)
    return timezone.make_aware(dt.datetime.combine(first, dt.time.min))


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def member_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    q = Q(_members())
    return ~q if operator == "is_false" else q


def tier_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    ids = list(value)
    if operator == "not_in":
        return Q(
            Exists(
                Membership.objects.filter(
                    customer_id=OuterRef("pk"), status=Membership.Status.ACTIVE, tier__isnull=False
                ).exclude(tier_id__in=ids)
            )
        )
    return Q(_members(tier_id__in=ids))


def points_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    return Q(
        Exists(
            PointsAccount.objects.filter(
                membership__customer_id=OuterRef("pk"),
                membership__status=Membership.Status.ACTIVE,
                **_within("balance", operator, value),
            )
        )
    )


def wallet_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    low, high = _bounds(operator, value)
    wallets = Wallet.objects.filter(
        membership__customer_id=OuterRef("pk"), membership__status=Membership.Status.ACTIVE
    ).alias(total=F("principal") + F("bonus"))
    if low is not None:
        wallets = wallets.filter(total__gte=Decimal(low))
    if high is not None:
        wallets = wallets.filter(total__lte=Decimal(high))
    return Q(Exists(wallets))


def held_coupons(*, template: int | None = None, now: dt.datetime | None = None) -> QuerySet[Coupon]:
    """Coupons the customer (``OuterRef("pk")``) holds unused: issued, not redeemed, not past their end."""
    now = now or timezone.now()
    coupons = Coupon.objects.filter(customer_id=OuterRef("pk"), status=Coupon.Status.ISSUED).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    if template:
        coupons = coupons.filter(template_id=template)
    return coupons


def coupons_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    coupons = held_coupons(template=params.get("template"))
    n = int(value)
    if operator == "gte" and n <= 1:
        return Q(Exists(coupons)) if n == 1 else Q(pk__isnull=False)
    if operator == "lte" and n == 0:
        return ~Q(Exists(coupons))
    counted = Coalesce(
        Subquery(coupons.order_by().values("customer_id").annotate(n=Count("pk")).values("n")[:1]), Value(0)
    )
    lookup = GreaterThanOrEqual if operator == "gte" else LessThanOrEqual
    return Q(lookup(counted, n))


def joined_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    if operator == "before":
        return Q(_members(joined_at__lt=_local_midnight(value)))
    return Q(_members(joined_at__gte=_local_midnight(value + dt.timedelta(days=1))))


def joined_days_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    return Q(_members(joined_at__gte=window_start(int(value))))


def growth_condition(operator: str, value: Any, params: dict[str, Any]) -> Q:
    return Q(_members(**_within("growth", operator, value)))


def _tier_choices() -> list[tuple[str, Any]]:
    return [(str(pk), name) for pk, name in Tier.objects.order_by("threshold", "order", "pk").values_list("pk", "name")]


def register() -> None:
    fields = [
        flag_field(
            MEMBER,
            gettext_lazy("Member"),
            member_condition,
            clean=clean_flag,
            group=GROUP,
            order=30,
            help=gettext_lazy("An active membership; suspended and closed members count as no member."),
        ),
        choice_field(
            TIER,
            gettext_lazy("Membership tier"),
            tier_condition,
            clean=clean_tiers,
            choices=_tier_choices,
            group=GROUP,
            order=31,
        ),
        number_field(
            POINTS,
            gettext_lazy("Points balance"),
            points_condition,
            operators=NUMBER_OPS,
            clean=clean_count,
            group=GROUP,
            order=32,
        ),
        number_field(
            WALLET,
            gettext_lazy("Stored value balance"),
            wallet_condition,
            type="money",
            operators=NUMBER_OPS,
            clean=clean_amount,
            group=GROUP,
            order=33,
            help=gettext_lazy("Principal and bonus together, in yuan."),
        ),
        number_field(
            COUPONS,
            gettext_lazy("Unused coupons held"),
            coupons_condition,
            clean=clean_coupon_count,
            params=("template",),
            clean_params=clean_coupon_params,
            group=GROUP,
            order=34,
            help=gettext_lazy("Issued coupons not yet used and not past their end; optionally of one template."),
        ),
        date_field(
            JOINED, gettext_lazy("Joined the membership"), joined_condition, clean=clean_date, group=GROUP, order=35
        ),
        days_field(
            JOINED_DAYS,
            gettext_lazy("Joined the membership recently"),
            joined_days_condition,
            operators=("within_days",),
            clean=clean_days,
            group=GROUP,
            order=36,
            help=gettext_lazy("Calendar days ending today; 1 is today."),
        ),
        number_field(
            GROWTH,
            gettext_lazy("Growth value"),
            growth_condition,
            operators=NUMBER_OPS,
            clean=clean_count,
            group=GROUP,
            order=37,
        ),
    ]
    for field in fields:
        register_segment_field(field)
