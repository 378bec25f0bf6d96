"""RFM and the BTYD order summary computed in SQL: hand-checked values, refunds, time zones, and equality
with the NumPy summary (``analytics.summary``) on the same orders. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from guanxi.analytics import sql
from guanxi.analytics.models import Segment
from guanxi.analytics.summary import summarize_transactions
from guanxi.analytics.tests.factories import at_local, customers, order, save_orders

AS_OF = dt.date(2024, 6, 30)

# Ten customers with distinct values, so every quintile holds exactly two of them.
#            days since last purchase, orders, net spend
HAND = [
    (10, 3, 500),
    (20, 7, 800),
    (30, 1, 900),
    (40, 9, 200),
    (50, 5, 1000),
    (60, 2, 100),
    (70, 10, 300),
    (80, 4, 400),
    (90, 8, 700),
    (100, 6, 600),
]
# R: most recent two score 5 ... F and M: largest two score 5; a score is high above the average (3).
EXPECTED = [
    (5, 2, 3, Segment.GENERAL_DEVELOP),
    (5, 4, 4, Segment.IMPORTANT_VALUE),
    (4, 1, 5, Segment.IMPORTANT_DEVELOP),
    (4, 5, 1, Segment.GENERAL_VALUE),
    (3, 3, 5, Segment.IMPORTANT_RETAIN),
    (3, 1, 1, Segment.GENERAL_RETAIN),
    (2, 5, 2, Segment.GENERAL_KEEP),
    (2, 2, 2, Segment.GENERAL_RETAIN),
    (1, 4, 4, Segment.IMPORTANT_KEEP),
    (1, 3, 3, Segment.GENERAL_RETAIN),
]


def hand_dataset():
    people = customers(len(HAND))
    rows = []
    for person, (since_last, n, total) in zip(people, HAND, strict=True):
        for k in range(n):
            day = AS_OF - dt.timedelta(days=since_last + 3 * k)
            amount = Decimal("10.00") if k < n - 1 else Decimal(total) - 10 * (n - 1)
            rows.append(order(person.pk, at_local(day), amount))
    # Customer 5 paid 200 more on their last order and got it back: RFM is net of refunds.
    rows.append(order(people[4].pk, at_local(AS_OF - dt.timedelta(days=50), 15), "200.00", refunded="50.00"))
    rows.append(order(people[4].pk, at_local(AS_OF - dt.timedelta(days=400)), "150.00", refunded="150.00"))
    # Customer 6 returned a large recent order in full: it is not a purchase at all.
    rows.append(order(people[5].pk, at_local(AS_OF - dt.timedelta(days=1)), "5000.00", refunded="5000.00"))
    # After as_of: ignored.
    rows.append(order(people[9].pk, at_local(AS_OF + dt.timedelta(days=1)), "99.00"))
    save_orders(rows)
    return people


@pytest.mark.django_db
def test_rfm_quintiles_and_segments_on_a_hand_checked_dataset():
    people = hand_dataset()
    rows = {r["customer_id"]: r for r in sql.rfm_rows(as_of=AS_OF)}
    assert len(rows) == 10
    for person, (since_last, n, total), (r, f, m, segment) in zip(people, HAND, EXPECTED, strict=True):
        row = rows[person.pk]
        # customer 5's partly refunded order adds one purchase and 150 net
        extra_orders, extra_spend = (1, 150) if person == people[4] else (0, 0)
        assert row["recency_days"] == since_last
        assert row["frequency"] == n + extra_orders
        assert row["monetary"] == Decimal(total + extra_spend).quantize(Decimal("0.01"))
        assert (row["r"], row["f"], row["m"], row["segment"]) == (r, f, m, segment), person.name


@pytest.mark.django_db
def test_equal_values_share_the_lowest_quintile_they_reach():
    people = customers(5)
    spends = ["10.00", "20.00", "20.00", "20.00", "90.00"]
    save_orders([order(p.pk, at_local(AS_OF), s) for p, s in zip(people, spends, strict=True)])
    rows = {r["customer_id"]: r for r in sql.rfm_rows(as_of=AS_OF)}
    assert [rows[p.pk]["m"] for p in people] == [1, 2, 2, 2, 5]
    # everyone bought once on the same day: one frequency and one recency value, one score each
    assert {rows[p.pk]["f"] for p in people} == {1}
    assert {rows[p.pk]["r"] for p in people} == {1}


@pytest.mark.django_db
def test_rfm_can_be_restricted_to_a_customer_subquery():
    from guanxi.customers.models import Customer

    people = hand_dataset()
    subset = Customer.objects.filter(pk__in=[p.pk for p in people[:4]]).values("id").query.sql_with_params()
    rows = sql.rfm_rows(as_of=AS_OF, customer_sql=subset)
    assert sorted(r["customer_id"] for r in rows) == sorted(p.pk for p in people[:4])


def synthetic_orders(n_customers: int = 60, seed: int = 3):
    """Random orders around local midnight, several a day, some refunded, spanning a holdout period."""
    rng = np.random.default_rng(seed)
    people = customers(n_customers)
    rows, truth = [], []
    start = dt.date(2023, 1, 1)
    for person in people:
        first = start + dt.timedelta(days=int(rng.integers(0, 300)))
        for _ in range(int(rng.integers(1, 12))):
            day = first + dt.timedelta(days=int(rng.integers(0, 420)))
            hour, minute = [(23, 50), (0, 10), (12, 0), (8, 30)][int(rng.integers(0, 4))]
            cents = int(rng.integers(100, 100_000))
            paid = Decimal(cents) / 100
            kind = rng.random()
            refunded = paid if kind < 0.05 else (paid / 4).quantize(Decimal("0.01")) if kind < 0.15 else Decimal(0)
            rows.append(order(person.pk, at_local(day, hour, minute), paid, refunded=refunded))
            if refunded != paid:
                truth.append((person.pk, day, float(paid - refunded)))
    save_orders(rows)
    return truth


@pytest.mark.django_db
def test_sql_summary_equals_the_numpy_summary_on_the_same_orders():
    truth = synthetic_orders()
    ids, days, amounts = (np.array(col) for col in zip(*truth, strict=True))
    as_of, holdout_end = dt.date(2023, 12, 31), dt.date(2024, 3, 31)
    expected = summarize_transactions(
        ids, days.astype("datetime64[D]"), amounts, calibration_end=as_of, holdout_end=holdout_end, period_days=1
    )
    built = sql.order_summary(as_of=as_of, holdout_end=holdout_end)
    np.testing.assert_array_equal(built.customer_id, expected.customer_id)
    np.testing.assert_array_equal(built.first_purchase, expected.first_purchase)
    np.testing.assert_array_equal(built.frequency, expected.frequency)
    np.testing.assert_array_equal(built.recency, expected.recency)
    np.testing.assert_array_equal(built.T, expected.T)
    np.testing.assert_allclose(built.monetary_value, expected.monetary_value, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(built.holdout_frequency, expected.holdout_frequency)
    np.testing.assert_allclose(built.holdout_monetary_value, expected.holdout_monetary_value, rtol=1e-12, atol=1e-9)
    assert built.frequency.sum() > 50  # the data do exercise repeat purchases


@pytest.mark.django_db
def test_purchase_days_are_local_calendar_days():
    (person,) = customers(1)
    day = dt.date(2024, 5, 1)
    # 23:50 and 00:10 local are 15:50 and 16:10 UTC on the same UTC day, but two local days.
    save_orders(
        [
            order(person.pk, at_local(day, 23, 50), "10.00"),
            order(person.pk, at_local(day + dt.timedelta(days=1), 0, 10), "30.00"),
            order(person.pk, at_local(day + dt.timedelta(days=1), 20, 0), "20.00"),
        ]
    )
    summary = sql.order_summary(as_of=dt.date(2024, 5, 10))
    assert summary.frequency.tolist() == [1]
    assert summary.recency.tolist() == [1.0]
    assert summary.T.tolist() == [9.0]
    assert summary.monetary_value.tolist() == [50.0]


@pytest.mark.django_db
def test_cohort_counts_by_month_of_first_purchase():
    a, b, c = customers(3)
    save_orders(
        [
            order(a.pk, at_local(dt.date(2024, 1, 5)), "10.00"),
            order(a.pk, at_local(dt.date(2024, 2, 5)), "10.00"),
            order(a.pk, at_local(dt.date(2024, 2, 20)), "10.00"),
            order(b.pk, at_local(dt.date(2024, 1, 31), 23, 30), "10.00"),  # still January locally
            order(b.pk, at_local(dt.date(2024, 3, 1)), "10.00"),
            order(c.pk, at_local(dt.date(2024, 2, 1)), "10.00"),
            order(c.pk, at_local(dt.date(2024, 3, 1)), "10.00", refunded="10.00"),  # not a purchase
        ]
    )
    jan, feb = 2024 * 12, 2024 * 12 + 1
    assert sql.cohort_counts() == [(jan, 0, 2), (jan, 1, 1), (jan, 2, 1), (feb, 0, 1)]
    assert sql.cohort_counts(since=dt.date(2024, 2, 1)) == [(feb, 0, 1)]


@pytest.mark.django_db
def test_category_affinity_weights_recent_spend():
    from guanxi.analytics.models import CategoryAffinity
    from guanxi.sales.tests.factories import CategoryFactory

    old, new, small = CategoryFactory(code="tights"), CategoryFactory(code="shoes"), CategoryFactory(code="socks")
    (person,) = customers(1)
    now = at_local(AS_OF, 18)
    save_orders(
        [
            order(person.pk, at_local(AS_OF - dt.timedelta(days=360)), "300.00", category=old),
            order(person.pk, at_local(AS_OF - dt.timedelta(days=5)), "100.00", category=new),
            order(person.pk, at_local(AS_OF - dt.timedelta(days=4)), "5.00", category=small),
            order(person.pk, at_local(AS_OF - dt.timedelta(days=3)), "999.00", refunded="999.00", category=old),
        ]
    )
    assert sql.category_affinity_rebuild(as_of=AS_OF, now=now, half_life_days=90) == 3
    rows = list(CategoryAffinity.objects.order_by("rank").values_list("category_id", "rank", "spend"))
    # 300 a year ago weighs 300 / 2^4 ≈ 19 < 100 five days ago; the refunded 999 counts for nothing
    assert rows == [(new.pk, 1, Decimal("100.00")), (old.pk, 2, Decimal("300.00")), (small.pk, 3, Decimal("5.00"))]


@pytest.mark.django_db
def test_category_affinity_counts_every_line_of_the_year_whatever_the_order_ids():
    # The rebuild bounds the lines by the first and last order id of the year's orders; orders written out of
    # time order (an import of history after today's sales) must neither be lost nor let older lines in.
    from guanxi.analytics.models import CategoryAffinity
    from guanxi.sales.tests.factories import CategoryFactory

    shoes, socks, hats = CategoryFactory(code="shoes"), CategoryFactory(code="socks"), CategoryFactory(code="hats")
    a, b = customers(2)
    now = at_local(AS_OF, 18)
    year_ago = AS_OF - dt.timedelta(days=400)
    save_orders([order(a.pk, at_local(AS_OF - dt.timedelta(days=200)), "50.00", category=shoes)])  # lowest id
    save_orders([order(b.pk, at_local(year_ago), "900.00", category=hats)])  # history, between the year's ids
    save_orders([order(b.pk, at_local(AS_OF - dt.timedelta(days=1)), "20.00", category=socks)])
    save_orders([order(a.pk, at_local(year_ago), "700.00", category=hats)])  # history, after the year's ids
    assert sql.category_affinity_rebuild(as_of=AS_OF, now=now, half_life_days=90) == 2
    rows = set(CategoryAffinity.objects.values_list("customer_id", "category_id", "spend"))
    assert rows == {(a.pk, shoes.pk, Decimal("50.00")), (b.pk, socks.pk, Decimal("20.00"))}

    later = AS_OF + dt.timedelta(days=800)  # no order in the year before: nothing left
    assert sql.category_affinity_rebuild(as_of=later, now=at_local(later), half_life_days=90) == 0
    assert not CategoryAffinity.objects.exists()


def _ntile_lowest(values: list, descending: bool = False) -> list[int]:
    """Reference: NTILE(5) over (value, customer order), each value taking the lowest bucket it reaches."""
    n = len(values)
    order = sorted(range(n), key=lambda i: (-values[i] if descending else values[i], i))
    size, larger = divmod(n, 5)
    bucket, lowest = {}, {}
    for position, i in enumerate(order):
        bucket[i] = position // (size + 1) + 1 if position < larger * (size + 1) else (position - larger) // size + 1
        lowest.setdefault(values[i], bucket[i])
    return [lowest[v] for v in values]


@pytest.mark.django_db
def test_quintiles_match_ntile_when_the_customers_do_not_divide_by_five():
    # 13 customers (quintiles of 3, 3, 3, 2, 2) with repeated spends, order counts and recencies
    people = customers(13)
    spends = [50, 20, 20, 70, 10, 20, 90, 50, 30, 30, 80, 10, 60]
    counts = [1, 2, 2, 3, 1, 1, 4, 2, 1, 5, 1, 2, 3]
    silences = [5, 5, 9, 1, 30, 9, 2, 5, 60, 1, 9, 3, 5]
    rows = []
    for person, spend, count, silence in zip(people, spends, counts, silences, strict=True):
        for k in range(count):
            amount = Decimal(spend) - Decimal(count - 1) if k == 0 else Decimal(1)
            rows.append(order(person.pk, at_local(AS_OF - dt.timedelta(days=silence + 7 * k)), amount))
    save_orders(rows)
    found = {r["customer_id"]: r for r in sql.rfm_rows(as_of=AS_OF)}
    assert [found[p.pk]["m"] for p in people] == _ntile_lowest(spends)
    assert [found[p.pk]["f"] for p in people] == _ntile_lowest(counts)
    assert [found[p.pk]["r"] for p in people] == _ntile_lowest(silences, descending=True)


@pytest.mark.django_db
def test_predictions_load_stores_every_triple_exactly():
    from django.db import connection

    rng = np.random.default_rng(3)
    n = 2500
    columns = {
        "frequency": rng.integers(0, 400, n),
        "recency": rng.integers(0, 1100, n),
        "t": rng.integers(1100, 2000, n),
        "p_alive": rng.random(n),
        "expected": rng.gamma(2.0, 0.3, n),
        "clv_unit": rng.gamma(2.0, 3.0, n),
        "risk_unit": np.where(rng.random(n) < 0.1, 0.0, rng.gamma(1.0, 1e-9, n)),
    }
    sql.predictions_load(columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(sql.PREDICTION_COLUMNS)} FROM {sql.PREDICTIONS_TABLE}")  # noqa: S608
        stored = np.asarray(cursor.fetchall(), dtype=np.float64)
    expected = np.column_stack([columns[name].astype(np.float64) for name in sql.PREDICTION_COLUMNS])
    assert stored.shape == (n, 7)
    # bit for bit, floats included (PostgreSQL: binary COPY; SQLite: executemany)
    assert np.array_equal(stored[np.lexsort(stored.T[::-1])], expected[np.lexsort(expected.T[::-1])])
