"""Analytics' behaviour triggers: overdue to buy again (once, on the day it happens), churn risk, high-value
customer drifting away. Each is one query."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import translation

from guanxi.analytics.models import CustomerScore
from guanxi.core.care import CARE_TRIGGERS
from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=SH)


def _score(customer, *, p_alive, clv, monetary):
    return CustomerScore.objects.create(
        customer_id=customer.pk,
        recency_days=30,
        frequency=3,
        monetary=Decimal(monetary),
        r_score=3,
        f_score=3,
        m_score=3,
        segment="important_value",
        first_purchase=dt.date(2025, 1, 1),
        last_purchase=dt.date(2026, 1, 30),
        repeat_purchases=2,
        avg_repeat_spend=Decimal("100.00"),
        p_alive=p_alive,
        clv_12m=None if clv is None else Decimal(clv),
        computed_at=NOW,
    )


def fired(key, on, **params):
    trigger = CARE_TRIGGERS.get(key)
    return set(trigger.handler(trigger.validate_params(params), {"today": on}))


def test_repurchase_overdue_fires_on_the_day_the_customer_becomes_overdue(django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        customer = make_customer(name="奶粉妈妈")
    # three purchases 10 days apart: a typical interval of 10 days; last one on 1 March 10:00 local
    Customer.objects.filter(pk=customer.pk).update(
        order_count=3,
        first_order_at=dt.datetime(2026, 2, 9, 10, 0, tzinfo=SH),
        last_order_at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=SH),
    )
    trigger = CARE_TRIGGERS.get("repurchase_overdue")
    params = trigger.validate_params({"factor": "1.5"})  # overdue 15 days after: 16 March 10:00
    with django_assert_num_queries(1):
        assert list(trigger.handler(params, {"today": dt.date(2026, 3, 16)})) == [customer.pk]
    assert fired("repurchase_overdue", dt.date(2026, 3, 15), factor=1.5) == set()
    assert fired("repurchase_overdue", dt.date(2026, 3, 17), factor=1.5) == set()  # once, not every day after
    assert fired("repurchase_overdue", dt.date(2026, 3, 11), factor=1) == {customer.pk}


def test_churn_risk_and_high_value_drifting_read_the_scores(django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        vip = make_customer(name="大客户")
        small = make_customer(name="小客户")
        loyal = make_customer(name="常客")
    _score(vip, p_alive=0.2, clv="8000.00", monetary="20000.00")
    _score(small, p_alive=0.1, clv="100.00", monetary="300.00")
    _score(loyal, p_alive=0.9, clv="9000.00", monetary="30000.00")
    assert fired("churn_risk", dt.date(2026, 3, 2), p_alive_below=0.3) == {vip.pk, small.pk}
    trigger = CARE_TRIGGERS.get("high_value_drifting")
    params = trigger.validate_params({"basis": "clv", "value": "5000", "p_alive_below": "0.5"})
    with django_assert_num_queries(1):
        assert list(trigger.handler(params, {"today": dt.date(2026, 3, 2)})) == [vip.pk]
    assert fired("high_value_drifting", dt.date(2026, 3, 2), basis="spend", value="200", p_alive_below=0.5) == {
        vip.pk,
        small.pk,
    }


@pytest.mark.parametrize(
    ("key", "params", "field"),
    [
        ("repurchase_overdue", {"factor": 9}, "factor"),
        ("churn_risk", {"p_alive_below": 1.5}, "p_alive_below"),
        ("high_value_drifting", {"value": "x"}, "value"),
        ("high_value_drifting", {"value": "100", "basis": "mood"}, "basis"),
        ("high_value_drifting", {"value": "100", "p_alive_below": "-1"}, "p_alive_below"),
    ],
)
def test_params_are_checked_naming_the_field(db, key, params, field):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_TRIGGERS.get(key).validate_params(params)
    assert list(caught.value.message_dict) == [field]
