"""Does care work? A rule's gestures against its hold-out, with the campaigns' uplift computation.

The **treated** group is the rule's fired occurrences (and those an action suppressed, intention to treat:
the rule chose them), the **control** its held-out ones. A response is an order in the attribution window
(``attribution_days`` after the occurrence's local date, the day itself included); revenue is the paid
amount of those orders. Both groups are aggregated in one query each (the occurrences, then the orders of
those customers in the span of all windows, matched in Python); cost is the plan spend recorded for the rule's gestures.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Sum

from guanxi.campaigns.uplift import MeanDiff, ProportionDiff, incremental_revenue, mean_diff, proportion_diff
from guanxi.care.models import CareOccurrence, CareRule, CareSpend
from guanxi.core.db.lookups import filter_in
from guanxi.sales.models import Order

S = CareOccurrence.Status


@dataclass(frozen=True)
class RuleReport:
    treated: int
    control: int
    treated_responders: int
    control_responders: int
    treated_revenue: Decimal
    control_revenue: Decimal
    response: ProportionDiff
    revenue_per_customer: MeanDiff
    incremental_revenue: Decimal | None
    cost: Decimal


def rule_report(rule: CareRule, *, attribution_days: int = 14) -> RuleReport:
    """The rule's gestures, responses, uplift over the hold-out with 95% intervals, and cost (three queries)."""
    occurrences = list(
        CareOccurrence.objects.filter(rule=rule, status__in=[S.FIRED, S.SUPPRESSED, S.HELD_OUT]).values_list(
            "customer_id", "occurred_on", "status"
        )
    )
    window = dt.timedelta(days=attribution_days)
    by_customer: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    if occurrences:
        zone = ZoneInfo(settings.TIME_ZONE)
        first = min(o[1] for o in occurrences)
        last = max(o[1] for o in occurrences) + window
        since = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
        until = dt.datetime.combine(last, dt.time.min, tzinfo=zone)
        for cid, at, paid in filter_in(
            Order.objects.filter(ordered_at__gte=since, ordered_at__lt=until),
            "customer",
            list({o[0] for o in occurrences}),
        ).values_list("customer_id", "ordered_at", "paid_amount"):
            by_customer[cid].append((at.astimezone(zone).date(), paid))
    stats: dict[str, dict[str, Any]] = {
        "t": {"n": 0, "r": 0, "sum": Decimal(0), "sq": Decimal(0)},
        "c": {"n": 0, "r": 0, "sum": Decimal(0), "sq": Decimal(0)},
    }
    for cid, day, status in occurrences:
        group = stats["c" if status == S.HELD_OUT else "t"]
        spent = sum((paid for on, paid in by_customer.get(cid, []) if day <= on < day + window), Decimal(0))
        bought = any(day <= on < day + window for on, _paid in by_customer.get(cid, []))
        group["n"] += 1
        group["r"] += int(bought)
        group["sum"] += spent
        group["sq"] += spent * spent
    t, c = stats["t"], stats["c"]
    cost = CareSpend.objects.filter(occurrence__rule=rule).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    return RuleReport(
        treated=t["n"],
        control=c["n"],
        treated_responders=t["r"],
        control_responders=c["r"],
        treated_revenue=t["sum"],
        control_revenue=c["sum"],
        response=proportion_diff(t["r"], t["n"], c["r"], c["n"]),
        revenue_per_customer=mean_diff(t["n"], t["sum"], t["sq"], c["n"], c["sum"], c["sq"]),
        incremental_revenue=incremental_revenue(t["sum"], t["n"], c["sum"], c["n"]),
        cost=cost,
    )


__all__ = ["RuleReport", "rule_report"]
