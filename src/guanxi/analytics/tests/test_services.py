"""The scores refresh end to end: orders written through the sales services (with a refund), customers
drawn from the BG/NBD story, stored scores, fits, affinity, the Celery task, the beat entry, the command."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from guanxi.analytics.btyd import BGNBD
from guanxi.analytics.models import CategoryAffinity, CustomerScore, ModelFit, Refresh, Segment
from guanxi.analytics.services import scores_refresh
from guanxi.analytics.tests.factories import at_local, customers, order, save_orders
from guanxi.core.models import AuditLog, Event

AS_OF = dt.date(2024, 6, 30)


def simulated_base(n: int = 300, seed: int = 11) -> list[int]:
    """Customers whose purchase days follow BG/NBD (in days), first purchases spread over a year."""
    rng = np.random.default_rng(seed)
    truth = BGNBD(r=0.8, alpha=40.0, a=0.6, b=2.5)
    people = customers(n)
    t = rng.integers(30, 365, n).astype(float)
    x, t_x = truth.simulate(t, rng)
    rows = []
    for person, big_t, count, last in zip(people, t, x.astype(int), t_x, strict=True):
        first = AS_OF - dt.timedelta(days=int(big_t))
        days = {0, int(round(last))} if count else {0}
        while len(days) < count + 1:
            days.add(int(rng.integers(1, max(int(round(last)), 2))))
        for offset in sorted(days):
            rows.append(order(person.pk, at_local(first + dt.timedelta(days=offset)), f"{rng.gamma(3, 30):.2f}"))
    save_orders(rows)
    return [p.pk for p in people]


@pytest.mark.django_db
def test_refresh_scores_every_customer_with_a_purchase():
    ids = simulated_base()
    customers(3)  # no purchases: no score
    result = scores_refresh(as_of=AS_OF)
    assert result.customers == len(ids) == CustomerScore.objects.count()
    assert {"sql_facts", "fit", "predict", "sql_affinity", "sql_scores_write"} <= set(result.timings)
    assert Refresh.objects.get().status == Refresh.Status.DONE

    fits = {f.model: f for f in ModelFit.objects.all()}
    assert set(fits) == {ModelFit.Kind.BGNBD, ModelFit.Kind.GAMMA_GAMMA}
    assert fits[ModelFit.Kind.BGNBD].n_customers == len(ids)
    assert fits[ModelFit.Kind.BGNBD].log_likelihood < 0

    scores = list(CustomerScore.objects.all())
    assert {s.segment for s in scores} <= set(Segment.values)
    assert all(0.0 <= s.p_alive <= 1.0 for s in scores)
    assert all(s.expected_purchases_90d >= 0 and s.clv_12m >= 0 and s.value_at_risk >= 0 for s in scores)
    one_timers = [s for s in scores if s.repeat_purchases == 0]
    repeaters = [s for s in scores if s.repeat_purchases > 0]
    assert one_timers
    assert repeaters
    # BG/NBD: a customer without a repeat purchase cannot have dropped out yet
    assert all(s.p_alive == 1.0 and s.value_at_risk == 0 and not s.is_overdue for s in one_timers)
    assert all(s.typical_interval_days is None for s in one_timers)
    assert {s.is_overdue for s in repeaters} == {True, False}
    for s in repeaters:
        interval = (s.last_purchase - s.first_purchase).days / s.repeat_purchases
        assert s.typical_interval_days == pytest.approx(interval)
        assert s.is_overdue == (s.recency_days > 1.5 * interval)
    # a long-silent frequent buyer is less likely active than a recent one with the same frequency
    risky = max(repeaters, key=lambda s: s.value_at_risk)
    assert risky.p_alive < 1.0
    assert risky.value_at_risk > 0
    assert Event.objects.filter(name="analytics.scores_refreshed").count() == 1
    assert AuditLog.objects.filter(object_type="analytics_scores", action="refresh").count() == 1


@pytest.mark.django_db
def test_refresh_reads_orders_written_by_the_sales_services(store_a):
    from guanxi.customers.tests.factories import make_customer
    from guanxi.sales.services import refund_create
    from guanxi.sales.tests.factories import CategoryFactory, ProductFactory, make_order

    tights = ProductFactory(sku="TIGHTS", category=CategoryFactory(code="tights", name="连裤袜"), price="50.00")
    customer = make_customer(store=store_a, name="李娜")
    days = [AS_OF - dt.timedelta(days=d) for d in (120, 90, 60, 5)]
    orders = [
        make_order(
            customer=customer,
            store=store_a,
            ordered_at=at_local(day).isoformat(),
            lines=[{"sku": "TIGHTS", "quantity": 2}],
        )
        for day in days
    ]
    refund_create(actor=None, order=orders[-1], external_ref="R-1", amount="40.00")
    scores_refresh(as_of=AS_OF)
    score = CustomerScore.objects.get(customer=customer)
    assert score.frequency == 4
    assert score.monetary == Decimal("360.00")  # 4 × 100 − 40 refunded
    assert score.recency_days == 5
    assert score.repeat_purchases == 3
    assert score.avg_repeat_spend == Decimal("86.67")  # (100 + 100 + 60) / 3
    assert score.typical_interval_days == pytest.approx(115 / 3)
    assert not score.is_overdue
    assert score.top_categories == [tights.category_id]
    assert CategoryAffinity.objects.get(customer=customer).rank == 1


@pytest.mark.django_db
def test_refresh_replaces_scores_of_customers_without_purchases_any_more():
    a, b = customers(2)
    first = save_orders([order(a.pk, at_local(AS_OF), "10.00"), order(b.pk, at_local(AS_OF), "20.00")])
    scores_refresh(as_of=AS_OF)
    assert CustomerScore.objects.count() == 2
    from guanxi.sales.models import Order

    Order.objects.filter(pk=first[1].pk).update(refunded_amount="20.00", status=Order.Status.REFUNDED)
    scores_refresh(as_of=AS_OF)
    assert list(CustomerScore.objects.values_list("customer_id", flat=True)) == [a.pk]
    assert Refresh.objects.count() == 2


@pytest.mark.django_db
def test_the_next_refresh_fits_from_the_last_converged_parameters(monkeypatch):
    from guanxi.analytics import btyd

    simulated_base(n=120)
    scores_refresh(as_of=AS_OF)
    first = ModelFit.objects.get(model=ModelFit.Kind.BGNBD)
    ModelFit.objects.create(
        model=ModelFit.Kind.BGNBD,
        params={"r": 9.0, "alpha": 9.0, "a": 9.0, "b": 9.0},
        log_likelihood=-1.0,
        n_customers=1,
        converged=False,  # a failed fit is never a start
        duration_seconds=0.0,
        as_of=AS_OF,
    )
    starts = []
    fit_bgnbd = btyd.fit_bgnbd

    def recording(*args, **kwargs):
        starts.append(kwargs.get("start"))
        return fit_bgnbd(*args, **kwargs)

    monkeypatch.setattr(btyd, "fit_bgnbd", recording)
    scores_refresh(as_of=AS_OF)
    assert starts == [BGNBD(**first.params)]
    again = ModelFit.objects.filter(model=ModelFit.Kind.BGNBD, converged=True).latest("fitted_at", "pk")
    assert again.pk != first.pk
    assert again.log_likelihood == pytest.approx(first.log_likelihood, abs=1e-6)


@pytest.mark.django_db
def test_refresh_on_an_empty_database_stores_nothing():
    result = scores_refresh(as_of=AS_OF)
    assert result.customers == 0
    assert not CustomerScore.objects.exists()
    assert not ModelFit.objects.exists()


@pytest.mark.django_db
def test_celery_task_runs_the_refresh(admin_user):
    from guanxi.analytics.tasks import scores_refresh_task

    simulated_base(n=40)
    assert scores_refresh_task.delay(actor_id=admin_user.pk).get() == CustomerScore.objects.count() == 40
    assert AuditLog.objects.get(object_type="analytics_scores").actor_id == admin_user.pk


def test_beat_schedules_the_nightly_refresh():
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-refresh-scores"]
    assert entry["task"] == "guanxi.analytics.tasks.scores_refresh_task"
    from guanxi.analytics import tasks

    assert tasks.scores_refresh_task.name == entry["task"]


@pytest.mark.django_db
def test_command_refreshes_with_a_progress_bar():
    simulated_base(n=60)
    out, err = StringIO(), StringIO()
    call_command("analytics_refresh", "--as-of", AS_OF.isoformat(), stdout=out, stderr=err)
    assert "60 customers scored as of 2024-06-30" in out.getvalue()
    assert "bgnbd" in out.getvalue()
    assert "store: 100%" in err.getvalue()
    assert "60/60" in err.getvalue()
    assert CustomerScore.objects.count() == 60


@pytest.mark.django_db
def test_command_rejects_a_bad_date():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--as-of"):
        call_command("analytics_refresh", "--as-of", "2024-13-01", stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.django_db
def test_refresh_rebuilds_the_score_indexes_it_drops_for_the_bulk_load():
    from django.db import connection

    def indexes(table):
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table])
            return [r[0] for r in cursor.fetchall()]

    before = {t: indexes(t) for t in ("analytics_customerscore", "analytics_categoryaffinity")}
    assert "score_value_at_risk" in before["analytics_customerscore"]
    assert "affinity_category_rank" in before["analytics_categoryaffinity"]
    simulated_base(n=30)
    scores_refresh(as_of=AS_OF)
    assert {t: indexes(t) for t in before} == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_affinity_on_a_second_connection_gives_what_the_single_connection_refresh_gives(store_a):
    """Outside a caller's transaction the affinity rebuild runs beside the facts query on its own connection
    (it can see only committed orders, which is all there is then); the stored results must not depend on it."""
    from django.db import transaction

    from guanxi.customers.tests.factories import make_customer
    from guanxi.sales.tests.factories import CategoryFactory, ProductFactory, make_order

    ProductFactory(sku="TIGHTS", category=CategoryFactory(code="tights", name="连裤袜"), price="50.00")
    ProductFactory(sku="SOCKS", category=CategoryFactory(code="socks", name="袜子"), price="10.00")
    for i, (tights, socks) in enumerate([(1, 0), (2, 9), (0, 3), (1, 1)]):
        customer = make_customer(store=store_a, name=f"顾客{i}")
        for n, day in enumerate((200, 100, 30, 2)):
            lines = [{"sku": "TIGHTS", "quantity": tights}] if tights else []
            lines += [{"sku": "SOCKS", "quantity": socks + n}] if socks + n else []
            make_order(
                customer=customer,
                store=store_a,
                ordered_at=at_local(AS_OF - dt.timedelta(days=day)).isoformat(),
                lines=lines,
            )

    def stored():
        scores = CustomerScore.objects.order_by("customer_id").values_list(
            "customer_id", "segment", "monetary", "p_alive", "clv_12m", "top_categories"
        )
        affinity = CategoryAffinity.objects.order_by("customer_id", "rank").values_list(
            "customer_id", "category_id", "rank", "spend"
        )
        return list(scores), list(affinity)

    concurrent = scores_refresh(as_of=AS_OF)
    assert "affinity_wait" in concurrent.timings
    first = stored()
    with transaction.atomic():
        single = scores_refresh(as_of=AS_OF)
    assert "affinity_wait" not in single.timings
    assert stored() == first
    assert len(first[0]) == 4
    assert len(first[1]) == 7
    assert Refresh.objects.filter(status=Refresh.Status.DONE).count() == 2
