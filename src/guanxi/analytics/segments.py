"""The segment fields analytics offers (``core.segments``): what the analytics pages link to on the customer list,
and what campaign segments and care conditions select on. Registered in ``AnalyticsConfig.ready()``, group
"analytics".

Each RFM segment, CLV band, cohort cell and the at-risk list of the analytics pages is a link to the customer
list with one of these fields in its query string (``?seg.analytics.rfm=important_value``), so the customers
list, exports and tags them without knowing analytics exists.

Every field has a ``condition`` (an ``Exists`` over the customer's stored score or orders, or a comparison of
columns of the customer row), so a rule tree stays one SQL statement; its ``filter`` is
``queryset.filter(condition(...))``. The score fields read ``CustomerScore`` as of the last refresh: a customer
without a score row (never bought) or without a prediction (P(alive) and CLV are empty when the models could
not be fitted) matches neither "less than" nor "at least". "Overdue to buy again" is computed live from the
purchase figures on the customer row, with the factor the condition names.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, FloatField, Func, OuterRef, Q, QuerySet, Value
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.analytics.models import CustomerScore, Segment
from guanxi.analytics.selectors import CLV_BUCKETS  # the dashboard's histogram bands
from guanxi.analytics.services import overdue_factor as default_overdue_factor
from guanxi.core.money import parse_money
from guanxi.core.segments import (
    choice_field,
    date_field,
    flag_field,
    list_filter,
    number_field,
    register_segment_field,
)
from guanxi.sales.models import Order

RFM = "analytics.rfm"
CLV_BAND = "analytics.clv_band"
AT_RISK = "analytics.at_risk"
FIRST_PURCHASE_MONTH = "analytics.first_purchase_month"
PURCHASE_MONTH = "analytics.purchase_month"
P_ALIVE = "analytics.p_alive"
CHURN_RISK = "analytics.churn_risk"
CLV = "analytics.clv"
OVERDUE = "analytics.overdue"
GROUP = "analytics"

#: Churn risk bands by P(alive): [from, to) — high below 0.3, medium to 0.7, low from 0.7.
CHURN_BANDS: dict[str, tuple[float, float | None]] = {"high": (0.0, 0.3), "medium": (0.3, 0.7), "low": (0.7, None)}
OVERDUE_FACTORS = (1.0, 5.0)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def clv_band_key(low: int, high: int | None) -> str:
    """'100-200', or '10000-' for the open band: the value a CLV band carries in a link."""
    return f"{low}-" if high is None else f"{low}-{high}"


def clv_bands() -> list[tuple[int, int | None]]:
    bounds: list[int | None] = [*CLV_BUCKETS, None]
    return [(int(bounds[i] or 0), bounds[i + 1]) for i in range(len(bounds) - 1)]


def _clv_choices() -> list[tuple[str, Any]]:
    return [
        (clv_band_key(low, high), f"≥ ¥{low:,}" if high is None else f"¥{low:,} – ¥{high:,}")
        for low, high in clv_bands()
    ]


def _clean_choice(choices: list[tuple[str, Any]], what: Any):
    def clean(value: Any) -> str:
        value = str(value or "").strip()
        if value not in {v for v, _label in choices}:
            raise ValidationError(_("“%(value)s” is not a %(what)s.") % {"value": value, "what": what})
        return value

    return clean


def _clean_month(value: Any) -> dt.date:
    match = _MONTH.match(str(value or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValidationError(_("“%(value)s” is not a month; write it as 2026-03.") % {"value": value})
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _clean_yes(value: Any) -> bool:
    if str(value).strip().lower() not in {"1", "true", "yes"}:
        raise ValidationError(_("Write 1 to keep only these customers."))
    return True


def _churn_choices() -> list[tuple[str, Any]]:
    return [
        ("high", gettext_lazy("High: P(alive) below 0.3")),
        ("medium", gettext_lazy("Medium: P(alive) from 0.3 to 0.7")),
        ("low", gettext_lazy("Low: P(alive) 0.7 or more")),
    ]


def _number(value: Any) -> float:
    """A finite number from an int, a float, a Decimal or a plain decimal string (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValidationError(_("Enter a number."))
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 32 or not _DECIMAL.fullmatch(value):
            raise ValidationError(_("Enter a number."))
    try:
        number = float(value)
    except (ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise ValidationError(_("Enter a number."))
    return number


def clean_probability(value: Any) -> float:
    number = _number(value)
    if not 0.0 <= number <= 1.0:
        raise ValidationError(_("Enter a probability from 0 to 1, such as 0.3."))
    return number


def clean_money(value: Any) -> Decimal:
    return parse_money(value)


def clean_churn_bands(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    keys = tuple(sorted({str(item).strip() for item in items if str(item).strip()}))
    if not keys:
        raise ValidationError(_("Choose at least one level of churn risk."))
    for key in keys:
        if key not in CHURN_BANDS:
            raise ValidationError(_("“%(value)s” is not a level of churn risk.") % {"value": key[:40]})
    return keys


def clean_overdue_params(params: dict[str, Any]) -> dict[str, Any]:
    """``factor``: how many typical intervals make a customer overdue (1 to 5; left out, the analytics setting)."""
    raw = params.get("factor")
    if raw in (None, ""):
        return {}
    low, high = OVERDUE_FACTORS
    try:
        factor = _number(raw)
    except ValidationError as exc:
        raise ValidationError({"factor": exc.messages}) from None
    if not low <= factor <= high:
        raise ValidationError({"factor": [_("Enter a factor from %(low)s to %(high)s.") % {"low": low, "high": high}]})
    return {"factor": factor}


def _clean_flag(value: Any) -> bool:
    """Yes/no fields carry their meaning in the operator; the value may be left out."""
    if value is None or isinstance(value, bool) or str(value).strip().lower() in {"", "1", "true", "yes", "0"}:
        return True
    raise ValidationError(_("This condition takes no value."))


def _score_rows() -> QuerySet[CustomerScore]:
    return CustomerScore.objects.filter(customer_id=OuterRef("pk"))


def _scores(**lookups: Any) -> Exists:
    """The customer has a stored score matching ``lookups`` (its primary key is the customer's)."""
    return Exists(_score_rows().filter(**lookups))


def _month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month's first and the next month's first instant in the local time zone, as aware datetimes."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    start = dt.datetime.combine(month, dt.time.min)
    end = dt.datetime.combine(following, dt.time.min)
    return timezone.make_aware(start), timezone.make_aware(end)


def _purchases() -> QuerySet[Order]:
    # a purchase as the cohort table counts it (analytics.sql.PURCHASE): any order not refunded in full
    return Order.objects.filter(customer_id=OuterRef("pk")).exclude(status=Order.Status.REFUNDED)


def rfm_condition(operator: str, value: str, params: dict[str, Any]) -> Q:
    return Q(_scores(segment=value))


def clv_band_condition(operator: str, value: str, params: dict[str, Any]) -> Q:
    low, _sep, high = value.partition("-")
    lookups: dict[str, Any] = {"clv_12m__gte": int(low)}
    if high:
        lookups["clv_12m__lt"] = int(high)
    return Q(_scores(**lookups))


def at_risk_condition(operator: str, value: bool, params: dict[str, Any]) -> Q:
    # the "High value, at risk" page's rows: some expected value would be lost
    return Q(_scores(value_at_risk__gt=0))


def first_purchase_month_condition(operator: str, value: dt.date, params: dict[str, Any]) -> Q:
    start, end = _month_bounds(value)
    return Q(Exists(_purchases().filter(ordered_at__gte=start, ordered_at__lt=end))) & ~Q(
        Exists(_purchases().filter(ordered_at__lt=start))
    )


def purchase_month_condition(operator: str, value: dt.date, params: dict[str, Any]) -> Q:
    start, end = _month_bounds(value)
    return Q(Exists(_purchases().filter(ordered_at__gte=start, ordered_at__lt=end)))


def p_alive_condition(operator: str, value: float, params: dict[str, Any]) -> Q:
    return Q(_scores(**{f"p_alive__{'lt' if operator == 'lt' else 'gte'}": value}))


def churn_risk_condition(operator: str, value: tuple[str, ...], params: dict[str, Any]) -> Q:
    """Customers whose P(alive) falls in one of the named bands (``not_in``: scored, in none of them)."""
    bands = Q()
    for key in value:
        low, high = CHURN_BANDS[key]
        band = Q(p_alive__gte=low) if low else Q(p_alive__isnull=False)
        if high is not None:
            band &= Q(p_alive__lt=high)
        bands |= band
    if operator == "not_in":
        return Q(Exists(_score_rows().filter(p_alive__isnull=False).exclude(bands)))
    return Q(Exists(_score_rows().filter(bands)))


def clv_condition(operator: str, value: Decimal, params: dict[str, Any]) -> Q:
    return Q(_scores(**{f"clv_12m__{operator}": value}))


class _Days(Func):
    """A timestamp as a number of days on a fixed scale: differences of two are days, fractions included.

    SQLite keeps Django's UTC text and reads it with ``julianday``; PostgreSQL counts seconds since the epoch.
    """

    arity = 1
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="julianday(%(expressions)s)", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="(date_part('epoch', %(expressions)s) / 86400.0)", **extra)


def overdue_condition(operator: str, value: bool, params: dict[str, Any]) -> Q:
    """Overdue to buy again: the time since the last purchase exceeds ``factor`` × the customer's own typical
    interval, (last − first) / (orders − 1), read from the purchase figures sales keeps on the customer row.

    Compared without dividing, ``(now − last) × (orders − 1) > factor × (last − first)``, in days; a customer
    needs two orders at two different moments to have a typical interval. "no" is everyone else.
    """
    factor = float(params.get("factor") or default_overdue_factor())
    now, first, last = (
        _Days(Value(timezone.now(), output_field=DateTimeField())),
        _Days(F("first_order_at")),
        _Days(F("last_order_at")),
    )
    since = ExpressionWrapper((now - last) * (F("order_count") - 1), output_field=FloatField())
    allowed = ExpressionWrapper(Value(factor) * (last - first), output_field=FloatField())
    overdue = Q(order_count__gte=2, last_order_at__gt=F("first_order_at")) & Q(GreaterThan(since, allowed))
    return ~overdue if operator == "is_false" else overdue


filter_rfm = list_filter(rfm_condition)
filter_clv_band = list_filter(clv_band_condition)
filter_at_risk = list_filter(at_risk_condition)
filter_first_purchase_month = list_filter(first_purchase_month_condition)
filter_purchase_month = list_filter(purchase_month_condition)


def register() -> None:
    fields = [
        choice_field(
            RFM,
            gettext_lazy("RFM segment"),
            rfm_condition,
            operators=("eq",),
            clean=_clean_choice(list(Segment.choices), gettext_lazy("RFM segment")),
            choices=lambda: list(Segment.choices),
            order=60,
        ),
        choice_field(
            CLV_BAND,
            gettext_lazy("Lifetime value (12 months)"),
            clv_band_condition,
            operators=("eq",),
            clean=_clean_choice(_clv_choices(), gettext_lazy("lifetime value band")),
            choices=_clv_choices,
            order=61,
        ),
        flag_field(
            AT_RISK,
            gettext_lazy("High value, at risk"),
            at_risk_condition,
            operators=("eq",),
            clean=_clean_yes,
            order=62,
        ),
        date_field(
            FIRST_PURCHASE_MONTH,
            gettext_lazy("First purchase in"),
            first_purchase_month_condition,
            operators=("eq",),
            clean=_clean_month,
            order=63,
        ),
        date_field(
            PURCHASE_MONTH,
            gettext_lazy("Bought in"),
            purchase_month_condition,
            operators=("eq",),
            clean=_clean_month,
            order=64,
        ),
        number_field(
            P_ALIVE,
            gettext_lazy("Probability still active"),
            p_alive_condition,
            operators=("lt", "gte"),
            clean=clean_probability,
            help=gettext_lazy("From 0 to 1, as of the last analytics refresh."),
            order=65,
        ),
        choice_field(
            CHURN_RISK,
            gettext_lazy("Churn risk"),
            churn_risk_condition,
            clean=clean_churn_bands,
            choices=_churn_choices,
            order=66,
        ),
        number_field(
            CLV,
            gettext_lazy("Predicted value, next 12 months"),
            clv_condition,
            type="money",
            clean=clean_money,
            order=67,
        ),
        flag_field(
            OVERDUE,
            gettext_lazy("Overdue to buy again"),
            overdue_condition,
            clean=_clean_flag,
            params=("factor",),
            clean_params=clean_overdue_params,
            help=gettext_lazy(
                "Longer since the last purchase than the factor times the customer's usual time between purchases."
            ),
            order=68,
        ),
    ]
    for field in fields:
        register_segment_field(replace(field, group=GROUP))
