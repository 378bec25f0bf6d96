"""Analytics' segment fields in rule trees: each keeps exactly the customers a Python reading of the stored scores
(or of the purchase figures on the customer row) keeps, alone and combined, as one query; bad values are refused
naming their place in the tree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation

from guanxi.analytics.btyd import BGNBD
from guanxi.analytics.models import CustomerScore, Segment
from guanxi.analytics.segments import CHURN_BANDS, _month_bounds, clv_bands
from guanxi.analytics.services import overdue_factor, scores_refresh
from guanxi.analytics.tests.factories import at_local, customers, order, save_orders
from guanxi.core.segments import SEGMENT_FIELDS, segment_apply, segment_filter, segment_rules_clean
from guanxi.customers.models import Customer
from guanxi.sales.models import Order
from guanxi.sales.services import customer_order_stats_refresh

NOW = dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _local(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _build() -> list[int]:
    """Customers whose purchase days follow BG/NBD, first purchases spread over a year before today, written in
    bulk; the purchase figures on the customer rows are recomputed by sales' own service, then scored by the
    real refresh. One customer bought twice at the same moment: no typical interval."""
    today = timezone.localdate()
    rng = np.random.default_rng(7)
    truth = BGNBD(r=0.8, alpha=40.0, a=0.6, b=2.5)
    people = customers(160)
    t = rng.integers(30, 365, len(people)).astype(float)
    x, t_x = truth.simulate(t, rng)
    rows = []
    for person, big_t, count, last in zip(people, t, x.astype(int), t_x, strict=True):
        first = today - dt.timedelta(days=int(big_t))
        days = {0, int(round(last))} if count else {0}
        while len(days) < count + 1:
            days.add(int(rng.integers(1, max(int(round(last)), 2))))
        for offset in sorted(days):
            rows.append(order(person.pk, at_local(first + dt.timedelta(days=offset)), f"{rng.gamma(3, 30):.2f}"))
    twice = Customer.objects.create(name="同时两单")
    moment = at_local(today - dt.timedelta(days=40))
    rows += [order(twice.pk, moment, "80.00"), order(twice.pk, moment, "90.00")]
    customers(2)  # never bought: no score
    save_orders(rows)
    ids = list(Customer.objects.values_list("id", flat=True))
    customer_order_stats_refresh(customer_ids=ids)
    scores_refresh()
    return ids


@pytest.fixture(scope="module")
def _built_once(django_db_setup, django_db_blocker):
    """The base, built once at 23:30 local for this module's tests, which only read it (rolled back at the end)."""
    with time_machine.travel(NOW, tick=False), django_db_blocker.unblock(), transaction.atomic():
        yield _build()
        transaction.set_rollback(True)


@pytest.fixture
def base(_built_once, db):
    with time_machine.travel(NOW, tick=False):
        yield _built_once


def _ids(tree) -> set[int]:
    return set(segment_apply(Customer.objects.all(), segment_rules_clean(tree)).values_list("id", flat=True))


def _scores() -> dict[int, CustomerScore]:
    return {s.customer_id: s for s in CustomerScore.objects.all()}


def _all() -> set[int]:
    return set(Customer.objects.values_list("id", flat=True))


def test_the_base_has_predictions_to_select_on(base):
    scores = _scores()
    assert len(scores) == Customer.objects.count() - 2  # the two who never bought have no score
    assert all(s.p_alive is not None and s.clv_12m is not None for s in scores.values())
    assert len({round(s.p_alive, 2) for s in scores.values()}) > 20


def test_p_alive(base):
    scores = _scores()
    values = sorted(s.p_alive for s in scores.values())
    for threshold in (0.0, values[len(values) // 3], values[len(values) // 2], 0.999, 1.0):
        below = {pk for pk, s in scores.items() if s.p_alive < threshold}
        at_least = {pk for pk, s in scores.items() if s.p_alive >= threshold}
        assert _ids({"field": "analytics.p_alive", "op": "lt", "value": threshold}) == below
        assert _ids({"field": "analytics.p_alive", "op": "gte", "value": str(threshold)}) == at_least
    assert _ids({"field": "analytics.p_alive", "op": "lt", "value": values[len(values) // 2]})  # not trivial


def test_churn_risk(base):
    scores = _scores()

    def band(p: float) -> str:
        return next(k for k, (low, high) in CHURN_BANDS.items() if p >= low and (high is None or p < high))

    levels = {pk: band(s.p_alive) for pk, s in scores.items()}
    assert len(set(levels.values())) >= 2
    for chosen in (["high"], ["medium"], ["low"], ["high", "medium"], "low,high"):
        keys = set(chosen.split(",") if isinstance(chosen, str) else chosen)
        assert _ids({"field": "analytics.churn_risk", "op": "in", "value": chosen}) == {
            pk for pk, level in levels.items() if level in keys
        }
        assert _ids({"field": "analytics.churn_risk", "op": "not_in", "value": chosen}) == {
            pk for pk, level in levels.items() if level not in keys
        }


def test_clv(base):
    scores = _scores()
    values = sorted(s.clv_12m for s in scores.values() if s.clv_12m is not None)
    for amount in (values[0], values[len(values) // 2], values[-1], Decimal("0.00")):
        text = f"{amount:.2f}"
        assert _ids({"field": "analytics.clv", "op": "gte", "value": text}) == {
            pk for pk, s in scores.items() if s.clv_12m is not None and s.clv_12m >= amount
        }
        assert _ids({"field": "analytics.clv", "op": "lte", "value": text}) == {
            pk for pk, s in scores.items() if s.clv_12m is not None and s.clv_12m <= amount
        }


def _overdue(customer: Customer, factor: float, now: dt.datetime) -> bool:
    if customer.order_count < 2 or customer.first_order_at is None or customer.last_order_at is None:
        return False
    interval = (customer.last_order_at - customer.first_order_at).total_seconds() / (customer.order_count - 1)
    return interval > 0 and (now - customer.last_order_at).total_seconds() > factor * interval


def test_overdue_compares_the_time_since_the_last_purchase_with_the_customers_own_rhythm(base):
    now = timezone.now()
    customers = list(Customer.objects.all())
    seen = set()
    for factor in (None, 1.0, "1.5", 2, 3.25, 5):
        leaf = {"field": "analytics.overdue", "op": "is_true"}
        if factor is not None:
            leaf["factor"] = factor
        used = float(factor) if factor is not None else overdue_factor()
        expected = {c.pk for c in customers if _overdue(c, used, now)}
        seen.add(len(expected))
        assert _ids(leaf) == expected, factor
        assert _ids({**leaf, "op": "is_false"}) == _all() - expected, factor
    assert len(seen) > 2  # the factor matters
    twice = Customer.objects.get(name="同时两单")
    assert twice.order_count == 2
    assert twice.pk not in _ids({"field": "analytics.overdue", "op": "is_true", "factor": 1})


def test_the_linked_fields_read_the_same_in_trees_and_on_the_customer_list(base):
    scores = _scores()
    everyone = Customer.objects.all()
    for segment in Segment.values:
        expected = {pk for pk, s in scores.items() if s.segment == segment}
        assert _ids({"field": "analytics.rfm", "value": segment}) == expected
        listed = segment_filter(everyone, key="analytics.rfm", operator="eq", value=segment)
        assert set(listed.values_list("id", flat=True)) == expected
    for low, high in clv_bands():
        key = f"{low}-" if high is None else f"{low}-{high}"
        expected = {
            pk
            for pk, s in scores.items()
            if s.clv_12m is not None and s.clv_12m >= low and (high is None or s.clv_12m < high)
        }
        assert _ids({"field": "analytics.clv_band", "value": key}) == expected
    risky = {pk for pk, s in scores.items() if s.value_at_risk and s.value_at_risk > 0}
    assert _ids({"field": "analytics.at_risk", "value": "1"}) == risky
    assert _ids({"not": {"field": "analytics.at_risk", "value": "1"}}) == _all() - risky

    orders = list(Order.objects.exclude(status=Order.Status.REFUNDED).values_list("customer_id", "ordered_at"))
    months = sorted({timezone.localtime(at).date().replace(day=1) for _c, at in orders})
    assert len(months) > 2
    for month in months:
        start, end = _month_bounds(month)
        bought = {c for c, at in orders if start <= at < end}
        first = {c for c in bought if min(at for c2, at in orders if c2 == c) >= start}
        value = month.strftime("%Y-%m")
        assert _ids({"field": "analytics.purchase_month", "value": value}) == bought
        assert _ids({"field": "analytics.first_purchase_month", "value": value}) == first
        listed = segment_filter(everyone, key="analytics.first_purchase_month", operator="eq", value=value)
        assert set(listed.values_list("id", flat=True)) == first


def test_trees_combine_the_fields(base, django_assert_num_queries):
    scores = _scores()
    now = timezone.now()
    customers = {c.pk: c for c in Customer.objects.all()}
    median = sorted(s.p_alive for s in scores.values())[len(scores) // 2]
    tree = {
        "any": [
            {
                "all": [
                    {"field": "analytics.p_alive", "op": "lt", "value": median},
                    {"not": {"field": "analytics.overdue", "op": "is_true", "factor": 2}},
                ]
            },
            {
                "all": [
                    {"field": "analytics.churn_risk", "op": "in", "value": ["low"]},
                    {"field": "analytics.clv", "op": "gte", "value": "100"},
                ]
            },
        ]
    }

    def keeps(pk: int) -> bool:
        s = scores.get(pk)
        if s is None:
            return False
        return (s.p_alive < median and not _overdue(customers[pk], 2.0, now)) or (s.p_alive >= 0.7 and s.clv_12m >= 100)

    expected = {pk for pk in customers if keeps(pk)}
    cleaned = segment_rules_clean(tree)
    with django_assert_num_queries(1):
        found = list(segment_apply(Customer.objects.all(), cleaned).values_list("id", flat=True))
    assert set(found) == expected
    assert expected
    assert _ids({"not": tree}) == _all() - expected


@pytest.mark.parametrize(
    ("leaf", "where"),
    [
        ({"field": "analytics.p_alive", "op": "lt", "value": 1.5}, "value"),
        ({"field": "analytics.p_alive", "op": "lt", "value": -0.1}, "value"),
        ({"field": "analytics.p_alive", "op": "lt", "value": "NaN"}, "value"),
        ({"field": "analytics.p_alive", "op": "lt", "value": "1e-3"}, "value"),
        ({"field": "analytics.p_alive", "op": "lt", "value": True}, "value"),
        ({"field": "analytics.p_alive", "op": "lt", "value": [0.1]}, "value"),
        ({"field": "analytics.p_alive", "op": "between", "value": 0.5}, "op"),
        ({"field": "analytics.churn_risk", "op": "in", "value": ["dead"]}, "value"),
        ({"field": "analytics.churn_risk", "op": "in", "value": []}, "value"),
        ({"field": "analytics.clv", "op": "gte", "value": 10.5}, "value"),
        ({"field": "analytics.clv", "op": "gte", "value": "-1"}, "value"),
        ({"field": "analytics.clv", "op": "gte", "value": "1" * 20}, "value"),
        ({"field": "analytics.overdue", "op": "is_true", "factor": 0.5}, "factor"),
        ({"field": "analytics.overdue", "op": "is_true", "factor": 5.01}, "factor"),
        ({"field": "analytics.overdue", "op": "is_true", "factor": "inf"}, "factor"),
        ({"field": "analytics.overdue", "op": "is_true", "factor": "二"}, "factor"),
        ({"field": "analytics.overdue", "op": "is_true", "value": "maybe"}, "value"),
        ({"field": "analytics.rfm", "value": "nobody"}, "value"),
        ({"field": "analytics.purchase_month", "value": "2026-13"}, "value"),
    ],
)
def test_bad_values_are_refused_naming_their_place(db, leaf, where):
    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            segment_rules_clean({"all": [{"field": "analytics.at_risk", "value": "1"}, leaf]})
        label = str(SEGMENT_FIELDS.get(leaf["field"]).label)
    errors = caught.value.message_dict
    assert list(errors) == [f"rules.all.1.{where}"]
    if where != "op":
        assert errors[f"rules.all.1.{where}"][0].startswith(f"{label}: ")


def test_labels_and_errors_are_translated(db):
    with translation.override("zh-hans"):
        assert str(SEGMENT_FIELDS.get("analytics.churn_risk").label) == "流失风险"
        assert str(SEGMENT_FIELDS.get("analytics.overdue").label) == "该回购了"
        with pytest.raises(ValidationError) as caught:
            segment_rules_clean({"field": "analytics.overdue", "op": "is_true", "factor": 9})
    assert caught.value.message_dict["rules.factor"] == ["该回购了: 倍数请填 1.0 到 5.0 之间的数。"]


def test_every_analytics_field_takes_part_in_trees():
    fields = [f for f in SEGMENT_FIELDS if f.key.startswith("analytics.")]
    assert [f.key for f in fields] == [
        "analytics.rfm",
        "analytics.clv_band",
        "analytics.at_risk",
        "analytics.first_purchase_month",
        "analytics.purchase_month",
        "analytics.p_alive",
        "analytics.churn_risk",
        "analytics.clv",
        "analytics.overdue",
    ]
    assert all(f.condition is not None and f.group == "analytics" for f in fields)
