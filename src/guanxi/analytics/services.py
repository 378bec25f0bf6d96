"""Refreshing the stored analytics: SQL aggregates -> model fits -> one bulk upsert of every score row.

``scores_refresh`` is what the Celery beat task and ``guanxi analytics_refresh`` run. Nothing loops over
customers in Python: the facts come from one set-based SQL statement (``analytics.sql``), the models
work on arrays (``analytics.btyd``), and the rows go back in batches of ``bulk_create`` upserts
(``COPY`` into a staging table on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from guanxi.analytics import btyd, sql
from guanxi.analytics.models import CustomerScore, ModelFit, Refresh
from guanxi.core.audit import audit_record
from guanxi.core.events import event_record

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

#: Days a model time unit spans. Days keep T and t_x integers, so customers collapse into few rows.
PERIOD_DAYS = 1.0
DAYS_PER_MONTH = 30.4375


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def overdue_factor() -> float:
    """A customer is overdue when the days since their last purchase exceed their own typical interval
    between purchases times this factor (``GUANXI_ANALYTICS_OVERDUE_FACTOR``, default 1.5)."""
    return float(_setting("GUANXI_ANALYTICS_OVERDUE_FACTOR", 1.5))


@dataclass
class Predictions:
    """Model outputs aligned with the facts' customers."""

    p_alive: np.ndarray | None
    expected_90d: np.ndarray | None
    clv: np.ndarray | None
    value_at_risk: np.ndarray | None
    typical_interval: np.ndarray
    overdue: np.ndarray
    fits: list[tuple[str, btyd.Fit, float]] = field(default_factory=list)


def _fit_params(fit: btyd.Fit) -> dict[str, float]:
    params = fit.params
    return {name: float(getattr(params, name)) for name in params.__dataclass_fields__}


def predictions_compute(
    facts: sql.CustomerFacts,
    *,
    horizon_days: float = 90.0,
    clv_months: int = 12,
    monthly_discount_rate: float | None = None,
    progress: Progress | None = None,
) -> Predictions:
    """Fit BG/NBD and Gamma-Gamma on the facts and predict every customer's P(alive), purchases in the
    next ``horizon_days``, discounted CLV over ``clv_months`` and the value at risk.

    Customers with the same (x, t_x, T) share every purchase-model prediction, so predictions are made
    once per distinct triple and spread back: at a million customers that is a few hundred thousand rows.
    Value at risk is (1 − P(alive)) × the CLV the customer would have if still active (CLV / P(alive)).
    """
    rate = float(
        _setting("GUANXI_ANALYTICS_MONTHLY_DISCOUNT", 0.01) if monthly_discount_rate is None else monthly_discount_rate
    )
    x = facts.frequency.astype(np.float64)
    t_x = facts.recency_days.astype(np.float64) / PERIOD_DAYS
    big_t = facts.t_days.astype(np.float64) / PERIOD_DAYS
    interval = np.divide(t_x * PERIOD_DAYS, x, out=np.full(len(x), np.nan), where=x > 0)
    overdue = (x > 0) & (facts.since_last_days > overdue_factor() * np.nan_to_num(interval, nan=np.inf))
    empty = Predictions(None, None, None, None, interval, overdue)
    if len(facts) == 0 or not (x > 0).any():
        return empty

    triples = np.column_stack([x, t_x, big_t])
    unique, inverse = np.unique(triples, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    weights = np.bincount(inverse, minlength=len(unique))
    ux, utx, ut = unique[:, 0], unique[:, 1], unique[:, 2]

    fits: list[tuple[str, btyd.Fit, float]] = []
    start = time.perf_counter()
    try:
        bg = btyd.fit_bgnbd(ux, utx, ut, weights=weights)
    except ValueError as exc:  # too little data to fit: keep RFM, no predictions
        logger.warning("BG/NBD fit skipped: %s", exc)
        return empty
    fits.append((ModelFit.Kind.BGNBD, bg, time.perf_counter() - start))
    if progress:
        progress("fit", 1, 3)
    model = bg.params
    p_alive_u = model.probability_alive(ux, utx, ut)
    expected_u = model.expected_purchases(horizon_days / PERIOD_DAYS, ux, utx, ut)
    per_unit_clv_u = btyd.customer_lifetime_value(
        model,
        ux,
        utx,
        ut,
        np.ones(len(ux)),
        months=clv_months,
        monthly_discount_rate=rate,
        periods_per_month=DAYS_PER_MONTH / PERIOD_DAYS,
    )
    if progress:
        progress("fit", 2, 3)

    spend = _expected_spend(facts, fits)
    if progress:
        progress("fit", 3, 3)
    p_alive = p_alive_u[inverse]
    clv = per_unit_clv_u[inverse] * spend
    with np.errstate(divide="ignore", invalid="ignore"):
        if_alive = np.where(p_alive > 1e-12, clv / p_alive, 0.0)
    value_at_risk = (1.0 - p_alive) * if_alive
    return Predictions(p_alive, expected_u[inverse], clv, value_at_risk, interval, overdue, fits)


def _expected_spend(facts: sql.CustomerFacts, fits: list) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase; without a usable fit, the customer's own mean order value."""
    x = facts.frequency.astype(np.float64)
    m = facts.monetary_value
    own = np.asarray([float(v) for v in facts.monetary]) / np.maximum(facts.orders, 1)
    start = time.perf_counter()
    try:
        gg = btyd.fit_gamma_gamma(x, m)
    except ValueError as exc:
        logger.warning("Gamma-Gamma fit skipped: %s", exc)
        return own
    fits.append((ModelFit.Kind.GAMMA_GAMMA, gg, time.perf_counter() - start))
    if gg.params.q <= 1.0 or not gg.converged:
        return own
    return gg.params.expected_spend(x, m)


def _money(values: np.ndarray | None, i: int) -> Decimal | None:
    if values is None:
        return None
    return Decimal(f"{max(float(values[i]), 0.0):.2f}")


SCORE_FIELDS = [
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "first_purchase",
    "last_purchase",
    "repeat_purchases",
    "avg_repeat_spend",
    "p_alive",
    "expected_purchases_90d",
    "clv_12m",
    "value_at_risk",
    "typical_interval_days",
    "is_overdue",
    "top_categories",
    "computed_at",
]


def _score_rows(facts: sql.CustomerFacts, pred: Predictions, *, as_of: dt.date, computed_at: dt.datetime):
    """CustomerScore instances for a slice of the facts; called per batch so memory stays bounded."""
    first = [as_of - dt.timedelta(days=int(v)) for v in facts.t_days]
    last = [as_of - dt.timedelta(days=int(v)) for v in facts.since_last_days]
    mean_spend = facts.monetary_value

    def opt(values: np.ndarray | None, i: int) -> float | None:
        if values is None:
            return None
        v = float(values[i])
        return None if np.isnan(v) else v

    for i in range(len(facts)):
        yield CustomerScore(
            customer_id=int(facts.customer_id[i]),
            recency_days=int(facts.since_last_days[i]),
            frequency=int(facts.orders[i]),
            monetary=facts.monetary[i],
            r_score=int(facts.r_score[i]),
            f_score=int(facts.f_score[i]),
            m_score=int(facts.m_score[i]),
            segment=facts.segment[i],
            first_purchase=first[i],
            last_purchase=last[i],
            repeat_purchases=int(facts.frequency[i]),
            avg_repeat_spend=Decimal(f"{mean_spend[i]:.2f}"),
            p_alive=opt(pred.p_alive, i),
            expected_purchases_90d=opt(pred.expected_90d, i),
            clv_12m=_money(pred.clv, i),
            value_at_risk=_money(pred.value_at_risk, i),
            typical_interval_days=opt(pred.typical_interval, i),
            is_overdue=bool(pred.overdue[i]),
            top_categories=[],
            computed_at=computed_at,
        )


def _upsert(rows, *, batch_size: int, using: str, progress: Progress | None, total: int) -> None:
    batch: list[CustomerScore] = []
    done = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            CustomerScore.objects.using(using).bulk_create(
                batch, update_conflicts=True, unique_fields=["customer"], update_fields=SCORE_FIELDS
            )
            done += len(batch)
            batch = []
            if progress:
                progress("store", done, total)
    if batch:
        CustomerScore.objects.using(using).bulk_create(
            batch, update_conflicts=True, unique_fields=["customer"], update_fields=SCORE_FIELDS
        )
        done += len(batch)
        if progress:
            progress("store", done, total)


@dataclass
class RefreshResult:
    refresh: Refresh
    customers: int
    timings: dict[str, float]
    fits: list[ModelFit]


def scores_refresh(
    *,
    actor: Any = None,
    as_of: dt.date | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    using: str = "default",
) -> RefreshResult:
    """Recompute every customer's scores as of ``as_of`` (default: today, local) and store them.

    One transaction: readers see the old scores until the new ones are complete. Rows of customers who
    no longer have a purchase (merged away, fully refunded) are removed. Records a ``Refresh`` with the
    time spent in SQL, fitting and storing, one ``ModelFit`` per model, an audit row and an
    ``analytics.scores_refreshed`` event that care rules can subscribe to.
    """
    now = timezone.now()
    as_of = as_of or timezone.localdate(now)
    timings: dict[str, float] = {}
    refresh = Refresh.objects.using(using).create(as_of=as_of)
    try:
        with transaction.atomic(using=using):
            start = time.perf_counter()
            facts = sql.customer_facts(as_of=as_of, using=using)
            timings["sql_facts"] = time.perf_counter() - start
            if progress:
                progress("sql", 1, 3)

            start = time.perf_counter()
            pred = predictions_compute(facts, progress=progress)
            timings["fit_predict"] = time.perf_counter() - start

            start = time.perf_counter()
            _upsert(
                _score_rows(facts, pred, as_of=as_of, computed_at=now),
                batch_size=batch_size,
                using=using,
                progress=progress,
                total=len(facts),
            )
            CustomerScore.objects.using(using).filter(computed_at__lt=now).delete()
            timings["store"] = time.perf_counter() - start

            start = time.perf_counter()
            sql.category_affinity_rebuild(
                as_of=as_of,
                now=now,
                half_life_days=float(_setting("GUANXI_ANALYTICS_AFFINITY_HALF_LIFE_DAYS", 90)),
                using=using,
            )
            timings["sql_affinity"] = time.perf_counter() - start
            if progress:
                progress("sql", 3, 3)

            fits = [
                ModelFit.objects.using(using).create(
                    model=kind,
                    params=_fit_params(fit),
                    log_likelihood=fit.log_likelihood,
                    n_customers=fit.n_customers,
                    converged=fit.converged,
                    duration_seconds=seconds,
                    as_of=as_of,
                    time_unit_days=PERIOD_DAYS,
                )
                for kind, fit, seconds in pred.fits
            ]
            timings = {k: round(v, 4) for k, v in timings.items()}
            refresh.status = Refresh.Status.DONE
            refresh.customers = len(facts)
            refresh.timings = timings
            refresh.finished_at = timezone.now()
            refresh.save(using=using)
            event_record(
                name="analytics.scores_refreshed",
                aggregate="analytics_refresh",
                aggregate_id=refresh.pk,
                actor_id=getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None,
                payload={"as_of": as_of.isoformat(), "customers": len(facts)},
            )
            audit_record(actor=actor, action="refresh", object_type="analytics_scores", object_id=refresh.pk)
    except Exception as exc:
        Refresh.objects.using(using).filter(pk=refresh.pk).update(
            status=Refresh.Status.FAILED, error=repr(exc)[:2000], finished_at=timezone.now()
        )
        raise
    return RefreshResult(refresh=refresh, customers=len(facts), timings=timings, fits=fits)
