"""The segment fields analytics offers (``core.segments``): what the analytics pages link to on the customer list.

Each RFM segment, CLV band, cohort cell and the at-risk list of the analytics pages is a link to the customer
list with one of these fields in its query string (``?seg.analytics.rfm=important_value``), so the customers
list, exports and tags them without knowing analytics exists. Registered in ``AnalyticsConfig.ready()``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.analytics.models import CustomerScore, Segment
from guanxi.analytics.selectors import CLV_BUCKETS  # the dashboard's histogram bands
from guanxi.core.segments import SegmentField, register_segment_field
from guanxi.sales.models import Order

RFM = "analytics.rfm"
CLV_BAND = "analytics.clv_band"
AT_RISK = "analytics.at_risk"
FIRST_PURCHASE_MONTH = "analytics.first_purchase_month"
PURCHASE_MONTH = "analytics.purchase_month"

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


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


def _month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month's first and the next month's first instant in the local time zone, as aware datetimes."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    start = dt.datetime.combine(month, dt.time.min)
    end = dt.datetime.combine(following, dt.time.min)
    return timezone.make_aware(start), timezone.make_aware(end)


def _purchases() -> QuerySet[Order]:
    # a purchase as the cohort table counts it (analytics.sql.PURCHASE): any order not refunded in full
    return Order.objects.filter(customer_id=OuterRef("pk")).exclude(status=Order.Status.REFUNDED)


def filter_rfm(queryset: QuerySet[Any], operator: str, value: str) -> QuerySet[Any]:
    return queryset.filter(id__in=CustomerScore.objects.filter(segment=value).values("customer_id"))


def filter_clv_band(queryset: QuerySet[Any], operator: str, value: str) -> QuerySet[Any]:
    low, _sep, high = value.partition("-")
    scores = CustomerScore.objects.filter(clv_12m__gte=int(low))
    if high:
        scores = scores.filter(clv_12m__lt=int(high))
    return queryset.filter(id__in=scores.values("customer_id"))


def filter_at_risk(queryset: QuerySet[Any], operator: str, value: bool) -> QuerySet[Any]:
    # the "High value, at risk" page's rows: some expected value would be lost
    return queryset.filter(id__in=CustomerScore.objects.filter(value_at_risk__gt=0).values("customer_id"))


def filter_first_purchase_month(queryset: QuerySet[Any], operator: str, value: dt.date) -> QuerySet[Any]:
    start, end = _month_bounds(value)
    return queryset.filter(
        Exists(_purchases().filter(ordered_at__gte=start, ordered_at__lt=end)),
        ~Exists(_purchases().filter(ordered_at__lt=start)),
    )


def filter_purchase_month(queryset: QuerySet[Any], operator: str, value: dt.date) -> QuerySet[Any]:
    start, end = _month_bounds(value)
    return queryset.filter(Exists(_purchases().filter(ordered_at__gte=start, ordered_at__lt=end)))


def register() -> None:
    register_segment_field(
        SegmentField(
            key=RFM,
            label=gettext_lazy("RFM segment"),
            type="choice",
            filter=filter_rfm,
            clean=_clean_choice(list(Segment.choices), gettext_lazy("RFM segment")),
            choices=lambda: list(Segment.choices),
            order=60,
        )
    )
    register_segment_field(
        SegmentField(
            key=CLV_BAND,
            label=gettext_lazy("Lifetime value (12 months)"),
            type="choice",
            filter=filter_clv_band,
            clean=_clean_choice(_clv_choices(), gettext_lazy("lifetime value band")),
            choices=_clv_choices,
            order=61,
        )
    )
    register_segment_field(
        SegmentField(
            key=AT_RISK,
            label=gettext_lazy("High value, at risk"),
            type="boolean",
            filter=filter_at_risk,
            clean=_clean_yes,
            order=62,
        )
    )
    register_segment_field(
        SegmentField(
            key=FIRST_PURCHASE_MONTH,
            label=gettext_lazy("First purchase in"),
            type="date",
            filter=filter_first_purchase_month,
            clean=_clean_month,
            order=63,
        )
    )
    register_segment_field(
        SegmentField(
            key=PURCHASE_MONTH,
            label=gettext_lazy("Bought in"),
            type="date",
            filter=filter_purchase_month,
            clean=_clean_month,
            order=64,
        )
    )
