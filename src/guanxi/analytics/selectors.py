"""Reads of the stored analytics. Every read is scoped by ``Customer.objects.visible_to(user)``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from guanxi.accounts.actors import Actor
from guanxi.analytics import sql
from guanxi.analytics.models import SEGMENT_EXPLANATIONS, CustomerScore, ModelFit, Refresh, Segment
from guanxi.customers.models import Customer
from guanxi.sales.models import ProductCategory

#: Upper bounds of the CLV histogram buckets (yuan); the last bucket is open.
CLV_BUCKETS = (0, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def scores_visible(*, user: Actor) -> QuerySet[CustomerScore]:
    """Scores of the customers ``user`` may see, with the customer (name, store) joined for lists."""
    return CustomerScore.objects.filter(customer__in=Customer.objects.visible_to(user).values("id")).select_related(
        "customer"
    )


def score_for_customer(*, user: Actor, customer_id: int) -> CustomerScore | None:
    return scores_visible(user=user).filter(customer_id=customer_id).first()


def customer_visible(*, user: Actor, customer_id: int) -> bool:
    return Customer.objects.visible_to(user).filter(pk=customer_id).exists()


def at_risk(*, user: Actor, max_p_alive: float | None = None) -> QuerySet[CustomerScore]:
    """High-value customers at risk of being lost, largest expected value at risk first."""
    qs = scores_visible(user=user).filter(value_at_risk__gt=0)
    if max_p_alive is not None:
        qs = qs.filter(p_alive__lte=max_p_alive)
    return qs.order_by("-value_at_risk", "-customer_id")


def segment_summary(*, user: Actor) -> list[dict[str, Any]]:
    """Customers, revenue and mean scores per RFM segment (all eight, empty ones with zeros), in one query."""
    rows = {
        r["segment"]: r
        for r in scores_visible(user=user)
        .order_by()
        .values("segment")
        .annotate(
            customers=Count("customer_id"),
            revenue=Coalesce(Sum("monetary"), Decimal("0")),
            clv=Coalesce(Sum("clv_12m"), Decimal("0")),
            value_at_risk=Coalesce(Sum("value_at_risk"), Decimal("0")),
            avg_recency=Avg("recency_days"),
            avg_frequency=Avg("frequency"),
            avg_p_alive=Avg("p_alive"),
        )
    }
    total_customers = sum(r["customers"] for r in rows.values()) or 1
    total_revenue = sum((r["revenue"] for r in rows.values()), Decimal("0")) or Decimal("1")
    out = []
    for segment in Segment:
        r: Mapping[str, Any] = rows.get(segment.value, {})
        customers = r.get("customers", 0)
        revenue = r.get("revenue", Decimal("0"))
        out.append(
            {
                "segment": segment.value,
                "label": segment.label,
                "explanation": SEGMENT_EXPLANATIONS[segment],
                "customers": customers,
                "customer_share": customers / total_customers,
                "revenue": revenue,
                "revenue_share": float(revenue / total_revenue),
                "clv": r.get("clv", Decimal("0")),
                "value_at_risk": r.get("value_at_risk", Decimal("0")),
                "avg_recency_days": r.get("avg_recency"),
                "avg_frequency": r.get("avg_frequency"),
                "avg_p_alive": r.get("avg_p_alive"),
            }
        )
    return out


def clv_distribution(*, user: Actor) -> list[dict[str, Any]]:
    """How many visible customers fall in each CLV bucket, in one query (conditional counts)."""
    bounds = list(CLV_BUCKETS) + [None]
    aggregates = {}
    for i in range(len(bounds) - 1):
        low, high = bounds[i], bounds[i + 1]
        cond = Q(clv_12m__gte=low) if high is None else Q(clv_12m__gte=low, clv_12m__lt=high)
        aggregates[f"b{i}"] = Count("customer_id", filter=cond)
    counts = scores_visible(user=user).order_by().aggregate(**aggregates)
    return [
        {
            "low": bounds[i],
            "high": bounds[i + 1],
            "customers": counts[f"b{i}"],
            # the band's value in a customer-list link (analytics.segments.CLV_BAND)
            "key": f"{bounds[i]}-" if bounds[i + 1] is None else f"{bounds[i]}-{bounds[i + 1]}",
        }
        for i in range(len(bounds) - 1)
    ]


def cohort_retention(*, user: Actor, months: int = 12, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Retention by month of first purchase for the last ``months`` cohorts: size and, for each later
    month, the share of the cohort that bought again in that month (None for months not yet reached)."""
    from django.utils import timezone

    today = today or timezone.localdate()
    first_month = today.year * 12 + today.month - 1 - (months - 1)
    since = dt.date(first_month // 12, first_month % 12 + 1, 1)
    visible = Customer.objects.visible_to(user).values("id").query.sql_with_params()
    counts = sql.cohort_counts(since=since, customer_sql=visible)
    current = today.year * 12 + today.month - 1
    by_cohort: dict[int, dict[int, int]] = {}
    for cohort, k, n in counts:
        by_cohort.setdefault(cohort, {})[k] = n
    out = []
    for cohort in sorted(by_cohort):
        size = by_cohort[cohort].get(0, 0)
        reached = current - cohort
        retention = [
            (by_cohort[cohort].get(k, 0) / size if size else 0.0) if k <= reached else None for k in range(1, months)
        ]
        out.append(
            {
                "month": dt.date(cohort // 12, cohort % 12 + 1, 1),
                "customers": size,
                "retention": retention,
                # (share, month "YYYY-MM" it counts purchases in): each cell links to the customers behind it
                "cells": [
                    (share, f"{(cohort + k) // 12}-{(cohort + k) % 12 + 1:02d}")
                    for k, share in enumerate(retention, start=1)
                ],
            }
        )
    return out


def latest_fits() -> list[ModelFit]:
    """The most recent fit of each model."""
    latest = []
    for kind in ModelFit.Kind:
        fit = ModelFit.objects.filter(model=kind).order_by("-fitted_at", "-id").first()
        if fit is not None:
            latest.append(fit)
    return latest


def latest_refresh() -> Refresh | None:
    return Refresh.objects.order_by("-started_at", "-id").first()


def category_names(ids: list[int]) -> list[str]:
    """Names of categories in the given order (one query)."""
    names = dict(ProductCategory.objects.filter(id__in=ids).values_list("id", "name"))
    return [names[i] for i in ids if i in names]
