"""Refreshing the stored analytics: SQL aggregates -> model fits -> one INSERT … SELECT of every score row.

``scores_refresh`` is what the Celery beat task and ``guanxi analytics_refresh`` run. Nothing loops over
customers in Python:

1. one set-based statement computes every customer's RFM values, quintile scores, segment and BTYD
   summary into a temporary table (``sql.facts_materialize``);
2. the models are fitted on ``GROUP BY`` summaries of it — customers sharing (x, t_x, T) are one weighted
   row — and P(alive), expected purchases and discounted purchase streams are predicted per distinct
   triple (``predictions_for_triples``), which go back to the database by ``COPY``;
3. category affinity is rebuilt with one INSERT … SELECT over the order lines;
4. one INSERT … SELECT joins facts, predictions and top categories into ``analytics_customerscore``.

Steps 1–2 and 4 run in one transaction: readers see the previous scores until the new ones are complete. On
PostgreSQL, when the refresh is not called inside a caller's transaction, step 3 runs at the same time on a
second connection in its own transaction (it reads only committed orders, and the affinity table is consistent
on its own); step 4 waits for it. Inside a caller's transaction (tests, or a caller that wants one atomic unit)
every step runs on the caller's connection, one after the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from guanxi.accounts.actors import actor_id
from guanxi.accounts.models import User
from guanxi.analytics import btyd, sql
from guanxi.analytics.models import ModelFit, Refresh
from guanxi.core.audit import audit_record
from guanxi.core.events import event_record

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

#: Days a model time unit spans. Days keep T and t_x integers, so customers collapse into few rows.
PERIOD_DAYS = 1.0
DAYS_PER_MONTH = 30.4375
HORIZON_DAYS = 90.0
CLV_MONTHS = 12


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def overdue_factor() -> float:
    """A customer is overdue when the days since their last purchase exceed their own typical interval
    between purchases times this factor (``GUANXI_ANALYTICS_OVERDUE_FACTOR``, default 1.5)."""
    return float(_setting("GUANXI_ANALYTICS_OVERDUE_FACTOR", 1.5))


def monthly_discount_rate() -> float:
    """Discount rate per month for CLV (``GUANXI_ANALYTICS_MONTHLY_DISCOUNT``, default 0.01)."""
    return float(_setting("GUANXI_ANALYTICS_MONTHLY_DISCOUNT", 0.01))


def predictions_for_triples(
    model: btyd.BGNBD,
    x: np.ndarray,
    t_x: np.ndarray,
    t: np.ndarray,
    *,
    horizon_days: float = HORIZON_DAYS,
    clv_months: int = CLV_MONTHS,
    discount: float | None = None,
) -> dict[str, np.ndarray]:
    """Per (x, t_x, T) in days: P(alive), purchases expected in ``horizon_days``, and per unit of spend the
    discounted purchases over ``clv_months`` (``clv_unit``) and the part of them lost if the customer has
    already dropped out, (1 − P(alive)) × the stream expected if still alive (``risk_unit``)."""
    p_alive = model.probability_alive(x, t_x, t)
    expected = model.expected_purchases(horizon_days / PERIOD_DAYS, x, t_x, t)
    clv_unit = btyd.customer_lifetime_value(
        model,
        x,
        t_x,
        t,
        np.ones(len(x)),
        months=clv_months,
        monthly_discount_rate=monthly_discount_rate() if discount is None else discount,
        periods_per_month=DAYS_PER_MONTH / PERIOD_DAYS,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        if_alive = np.where(p_alive > 0, clv_unit / p_alive, 0.0)
    return {
        "frequency": x.astype(np.int64),
        "recency": t_x.astype(np.int64),
        "t": t.astype(np.int64),
        "p_alive": p_alive,
        "expected": expected,
        "clv_unit": clv_unit,
        "risk_unit": (1.0 - p_alive) * if_alive,
    }


#: A fitted purchase (BG/NBD) or spend (Gamma-Gamma) model, as stored in ModelFit.
AnyFit = btyd.Fit[btyd.BGNBD] | btyd.Fit[btyd.GammaGamma]


def _fit_params(fit: AnyFit) -> dict[str, float]:
    params = fit.params
    return {name: float(getattr(params, name)) for name in params.__dataclass_fields__}


@dataclass
class RefreshResult:
    refresh: Refresh
    customers: int
    timings: dict[str, float]
    fits: list[ModelFit]


def _previous_bgnbd(using: str) -> btyd.BGNBD | None:
    """The last converged BG/NBD parameters in this time unit: where tonight's fit starts."""
    fit = (
        ModelFit.objects.using(using)
        .filter(model=ModelFit.Kind.BGNBD, converged=True, time_unit_days=PERIOD_DAYS)
        .order_by("-fitted_at", "-pk")
        .first()
    )
    try:
        return btyd.BGNBD(**{name: float(fit.params[name]) for name in ("r", "alpha", "a", "b")}) if fit else None
    except (KeyError, TypeError, ValueError):
        return None


def _fit_models(
    using: str, timings: dict[str, float]
) -> tuple[list[tuple[str, AnyFit, float]], btyd.BGNBD | None, tuple[float, float, float] | None]:
    """Fit BG/NBD and Gamma-Gamma on weighted GROUP BY summaries; None for a model the data cannot support."""
    fits: list[tuple[str, AnyFit, float]] = []
    start = time.perf_counter()
    x, t_x, t, w = sql.facts_triples(using=using)
    gx, gm, gw = sql.facts_spend(using=using)
    timings["sql_summaries"] = time.perf_counter() - start
    start = time.perf_counter()
    model = None
    if len(x) and (x > 0).any():
        try:
            began = time.perf_counter()
            bg = btyd.fit_bgnbd(x, t_x, t, weights=w, start=_previous_bgnbd(using))
            fits.append((ModelFit.Kind.BGNBD, bg, time.perf_counter() - began))
            model = bg.params
        except ValueError as exc:
            logger.warning("BG/NBD fit skipped: %s", exc)
    spend = None
    if len(gx):
        try:
            began = time.perf_counter()
            gg = btyd.fit_gamma_gamma(gx, gm, weights=gw)
            fits.append((ModelFit.Kind.GAMMA_GAMMA, gg, time.perf_counter() - began))
            if gg.converged and gg.params.q > 1.0:
                spend = (gg.params.p, gg.params.q, gg.params.gamma)
        except ValueError as exc:
            logger.warning("Gamma-Gamma fit skipped: %s", exc)
    timings["fit"] = time.perf_counter() - start
    if model is not None:
        start = time.perf_counter()
        columns = predictions_for_triples(model, x, t_x, t)
        timings["predict"] = time.perf_counter() - start
        start = time.perf_counter()
        sql.predictions_load(columns, using=using)
        timings["sql_predictions_load"] = time.perf_counter() - start
    return fits, model, spend


def _affinity_rebuild(
    *, as_of: dt.date, now: dt.datetime, using: str, timings: dict[str, float], parallel: bool = True
) -> int:
    start = time.perf_counter()
    written = sql.category_affinity_rebuild(
        as_of=as_of,
        now=now,
        half_life_days=float(_setting("GUANXI_ANALYTICS_AFFINITY_HALF_LIFE_DAYS", 90)),
        lookback_days=int(_setting("GUANXI_ANALYTICS_AFFINITY_LOOKBACK_DAYS", 365)),
        parallel=parallel,
        using=using,
    )
    timings["sql_affinity"] = time.perf_counter() - start
    return written


def _affinity_on_second_connection(*, as_of: dt.date, now: dt.datetime, using: str, timings: dict[str, float]) -> int:
    """Run in a worker thread: Django gives the thread its own connection, closed when done."""
    try:
        with transaction.atomic(using=using):
            return _affinity_rebuild(as_of=as_of, now=now, using=using, timings=timings, parallel=False)
    finally:
        connections[using].close()


def scores_refresh(
    *,
    actor: User | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    using: str = "default",
) -> RefreshResult:
    """Recompute every customer's scores as of ``as_of`` (default: today, local) and store them.

    Customers without a purchase up to ``as_of`` (never bought, merged away, fully refunded) have no row.
    Records a ``Refresh`` with the time spent in each step, one ``ModelFit`` per model, an audit row and an
    ``analytics.scores_refreshed`` event that care rules can subscribe to.
    """
    now = timezone.now()
    as_of = as_of or timezone.localdate(now)
    timings: dict[str, float] = {}
    refresh = Refresh.objects.using(using).create(as_of=as_of)

    def step(stage: str, done: int, total: int) -> None:
        if progress:
            progress(stage, done, total)

    concurrent = connections[using].vendor == "postgresql" and not connections[using].in_atomic_block
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-affinity") if concurrent else None
    affinity: Future[int] | None = None
    try:
        if pool is not None:
            affinity = pool.submit(_affinity_on_second_connection, as_of=as_of, now=now, using=using, timings=timings)
        with transaction.atomic(using=using):
            start = time.perf_counter()
            customers = sql.facts_materialize(as_of=as_of, using=using)
            timings["sql_facts"] = time.perf_counter() - start
            step("sql", 1, 3)

            fits, model, spend = _fit_models(using, timings)
            step("fit", 1, 1)

            if affinity is None:
                _affinity_rebuild(as_of=as_of, now=now, using=using, timings=timings)
            else:
                start = time.perf_counter()
                affinity.result()
                timings["affinity_wait"] = time.perf_counter() - start
            step("sql", 2, 3)

            start = time.perf_counter()
            written = sql.scores_write(
                as_of=as_of,
                computed_at=now,
                overdue_factor=overdue_factor(),
                gamma_gamma=spend,
                with_predictions=model is not None,
                using=using,
            )
            timings["sql_scores_write"] = time.perf_counter() - start
            step("sql", 3, 3)
            step("store", written, customers)

            saved = [
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
                for kind, fit, seconds in fits
            ]
            timings = {k: round(v, 4) for k, v in timings.items()}
            refresh.status = Refresh.Status.DONE
            refresh.customers = written
            refresh.timings = timings
            refresh.finished_at = timezone.now()
            refresh.save(using=using)
            event_record(
                name="analytics.scores_refreshed",
                aggregate="analytics_refresh",
                aggregate_id=refresh.pk,
                actor_id=actor_id(actor),
                payload={"as_of": as_of.isoformat(), "customers": written},
            )
            audit_record(actor=actor, action="refresh", object_type="analytics_scores", object_id=refresh.pk)
    except Exception as exc:
        if affinity is not None:
            affinity.cancel() or affinity.exception()  # never leave the second connection running
        Refresh.objects.using(using).filter(pk=refresh.pk).update(
            status=Refresh.Status.FAILED, error=repr(exc)[:2000], finished_at=timezone.now()
        )
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return RefreshResult(refresh=refresh, customers=written, timings=timings, fits=saved)
