"""Reads behind the workspace home page, all through ``Customer.objects.visible_to(user)``."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.customers.lunar import lunar_mds_on
from guanxi.customers.models import Customer, ImportantDate
from guanxi.loyalty.models import Membership
from guanxi.messaging.models import Message
from guanxi.sales.models import Order
from guanxi.workspace.models import BirthdayDone
from guanxi.workspace.services import BIRTHDAY_CHANNEL, birthday_dedupe_prefix

CENT = Decimal("0.01")


def month_days(start: dt.date, days: int) -> dict[int, dt.date]:
    """{month*100+day: date} for ``days`` days from ``start``; across New Year, and 29 Feb on 28 Feb off leap years."""
    out: dict[int, dt.date] = {}
    for i in range(days):
        day = start + dt.timedelta(days=i)
        out[day.month * 100 + day.day] = day
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            out[229] = day
    return out


def lunar_month_days(start: dt.date, days: int) -> dict[int, dt.date]:
    """{lunar month*100+day: solar date} for ``days`` days from ``start``: where the lunar birthdays fall."""
    out: dict[int, dt.date] = {}
    for i in range(days):
        day = start + dt.timedelta(days=i)
        for md in lunar_mds_on(day):
            out.setdefault(md, day)
    return out


def birthdays_within_q(window: dict[int, dt.date], lunar: dict[int, dt.date]) -> Q:
    """Customers with a birthday in the window: solar on ``birthday_md``, lunar on ``birthday_lunar_md`` (a lunar
    birthday outside the lunar calendar's years, with no lunar month-day, counts as solar, as the care trigger)."""
    solar = Q(birthday_md__in=list(window)) & (Q(birthday_is_lunar=False) | Q(birthday_lunar_md__isnull=True))
    return solar | Q(birthday_is_lunar=True, birthday_lunar_md__in=list(lunar))


def birthday_in(customer: Customer, window: dict[int, dt.date], lunar: dict[int, dt.date]) -> dt.date | None:
    """The day the customer's (solar or lunar) birthday falls on in the window, if it does."""
    if customer.birthday_is_lunar and customer.birthday_lunar_md is not None:
        return lunar.get(customer.birthday_lunar_md)
    return window.get(customer.birthday_md) if customer.birthday_md is not None else None


@dataclass
class Occasion:
    customer: Customer
    kind: str  # "birthday" or an ImportantDate kind
    label: str
    date: dt.date  # the day it falls on this time
    original: dt.date | None

    @property
    def is_today(self) -> bool:
        return self.date == timezone.localdate()


def occasions(
    *,
    customers: QuerySet[Customer],
    today: dt.date | None = None,
    days: int = 7,
    limit: int = 50,
    birthdays: bool = True,
) -> list[Occasion]:
    """Birthdays (unless ``birthdays=False``: the home page pages them) and important dates from today for
    ``days`` days, soonest first; two queries."""
    today = today or timezone.localdate()
    window = month_days(today, days)
    lunar = lunar_month_days(today, days)
    found: list[Occasion] = []
    for c in (
        (customers if birthdays else customers.none())
        .filter(birthdays_within_q(window, lunar))
        .select_related("home_store")
        .order_by("id")[:limit]
    ):
        day = birthday_in(c, window, lunar)
        if day is not None:  # the filter above guarantees it; the type does not know
            found.append(Occasion(c, "birthday", "", day, c.birthday))
    dates = (
        ImportantDate.objects.filter(month_day__in=list(window), customer__in=customers.values("pk"))
        .select_related("customer", "customer__home_store")
        .order_by("id")[:limit]
    )
    for d in dates:
        found.append(Occasion(d.customer, d.kind, d.label or d.get_kind_display(), window[d.month_day], d.date))
    found.sort(key=lambda o: (o.date, o.customer.name))
    return found


#: Why messaging did not send a greeting, in the staff's words (messaging records the reason as a code).
REASON_LABELS = {
    "no template": _("there is no birthday message template"),
    "no address": _("no mobile number on record"),
    "no consent": _("the customer has not agreed to receive messages"),
    "opted out": _("the customer unsubscribed"),
    "invalid address": _("the mobile number does not receive messages"),
    "frequency cap": _("the customer has had enough messages lately"),
}


def reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


BIRTHDAYS_PER_PAGE = 10
BIRTHDAY_DAYS = 7  # today and the next six days


@dataclass
class Birthday:
    customer: Customer
    date: dt.date  # the day it falls on this time (29 February on 28 February off leap years; lunar: its solar day)
    greeted: Message | None  # this year's greeting, as messaging recorded it
    done: bool

    @property
    def is_today(self) -> bool:
        return self.date == timezone.localdate()

    @property
    def not_sent_because(self) -> str:
        """Why this year's greeting was not sent ("" if it was sent, is on its way, or there is none)."""
        if self.greeted is None or self.greeted.status != Message.Status.SUPPRESSED:
            return ""
        return reason_label(self.greeted.reason)


def birthdays_page(
    *, customers: QuerySet[Customer], page: Any = 1, today: dt.date | None = None, days: int = BIRTHDAY_DAYS
) -> tuple[Page[Any], list[Birthday]]:
    """One page of the birthdays from today for ``days`` days, soonest first, with this year's greeting and
    "done" mark of each: four queries whatever the page holds (count, customers, greetings, marks)."""
    today = today or timezone.localdate()
    window = month_days(today, days)
    lunar = lunar_month_days(today, days)
    lunar_whens = [
        When(birthday_is_lunar=True, birthday_lunar_md=md, then=Value((day - today).days)) for md, day in lunar.items()
    ]
    solar_whens = [When(birthday_md=md, then=Value((day - today).days)) for md, day in window.items()]
    soonest = Case(*lunar_whens, *solar_whens, output_field=IntegerField())
    qs = (
        customers.filter(birthdays_within_q(window, lunar))
        .select_related("home_store")  # the store's name on each row
        .annotate(days_away=soonest)
        .order_by("days_away", "name", "id")
    )
    current = Paginator(qs, BIRTHDAYS_PER_PAGE).get_page(page)
    rows = list(current.object_list)
    ids = [c.pk for c in rows]
    prefix = birthday_dedupe_prefix(today.year)
    greeted = {
        m.customer_id: m
        for m in Message.objects.filter(
            dedupe_key__in=[f"{prefix}:{BIRTHDAY_CHANNEL}:{i}" for i in ids]  # the dedupe key's index serves it
        ).only("id", "customer_id", "status", "reason", "created_at")
    }
    done = set(BirthdayDone.objects.filter(customer_id__in=ids, year=today.year).values_list("customer_id", flat=True))
    items = []
    for c in rows:
        day = birthday_in(c, window, lunar)
        if day is not None:
            items.append(Birthday(c, day, greeted.get(c.pk), c.pk in done))
    return current, items


def headline_figures(
    *, customers: QuerySet[Customer], orders: QuerySet[Order], now: dt.datetime | None = None
) -> dict[str, Any]:
    """Members (memberships of the visible customers), active in 90 days, new this month (created since the
    first of the month in the local time zone) and this month's net sales."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    figures = customers.aggregate(
        active_90=Count("id", filter=Q(last_order_at__gte=now - dt.timedelta(days=90))),
        new_this_month=Count("id", filter=Q(created_at__gte=month_start)),
    )
    figures["members"] = (
        Membership.objects.filter(customer__in=customers.values("pk")).exclude(status=Membership.Status.CLOSED).count()
    )
    sales = orders.filter(ordered_at__gte=month_start).aggregate(
        paid=Sum("paid_amount"), refunded=Sum("refunded_amount")
    )
    net = (sales["paid"] or Decimal("0")) - (sales["refunded"] or Decimal("0"))
    figures["sales_this_month"] = net.quantize(CENT)
    return figures


def monthly_sales(*, orders: QuerySet[Order], months: int = 12, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Net sales per month for the last ``months`` months, oldest first, months without sales as 0."""
    local = timezone.localtime(now or timezone.now())
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _i in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    rows = (
        orders.filter(ordered_at__gte=first)
        .annotate(month=TruncMonth("ordered_at"))
        .values("month")
        .order_by("month")
        .annotate(paid=Sum("paid_amount"), refunded=Sum("refunded_amount"), n=Count("id"))
    )
    by_month = {}
    for r in rows:
        month = r["month"]
        key = (month.year, month.month)
        net = (r["paid"] or Decimal("0")) - (r["refunded"] or Decimal("0"))
        by_month[key] = (net.quantize(CENT), r["n"])
    out = []
    cursor = first.date()
    for _i in range(months):
        amount, n = by_month.get((cursor.year, cursor.month), (Decimal("0.00"), 0))
        out.append({"month": f"{cursor.year}-{cursor.month:02d}", "amount": str(amount), "orders": n})
        cursor = (cursor.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out
