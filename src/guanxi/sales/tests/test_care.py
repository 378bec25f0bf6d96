"""Sales' care triggers on ``order.paid``: first purchase and order over an amount."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import translation

from guanxi.core.care import CARE_TRIGGERS
from guanxi.core.models import Event
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def paid_events(customer):
    return list(Event.objects.filter(name="order.paid", customer_id=customer.pk).order_by("pk"))


def test_first_purchase_fires_on_the_first_paid_order_only(django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        customer = make_customer(name="新客")
        make_order(customer=customer, ordered_at="2026-03-01T09:00:00+00:00")
        make_order(customer=customer, ordered_at="2026-03-02T09:00:00+00:00")
    first, second = paid_events(customer)
    trigger = CARE_TRIGGERS.get("first_purchase")
    assert trigger.event == "order.paid"
    with django_assert_num_queries(2):  # the order's time; an earlier order of the buyer
        assert list(trigger.handler({}, {"event": first})) == [customer.pk]
    assert list(trigger.handler({}, {"event": second})) == []


def test_order_over_amount_compares_the_paid_amount_as_decimal(django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        customer = make_customer(name="大单")
        make_order(customer=customer, lines=[{"name": "包", "quantity": 1, "unit_price": "1000.00"}])
    (event,) = paid_events(customer)
    trigger = CARE_TRIGGERS.get("order_over_amount")
    with django_assert_num_queries(0):  # the event's payload says it all
        assert list(trigger.handler(trigger.validate_params({"amount": "1000.00"}), {"event": event})) == [customer.pk]
    assert list(trigger.handler(trigger.validate_params({"amount": "1000.01"}), {"event": event})) == []


@pytest.mark.parametrize("amount", ["", "abc", "-1", "1.001", None])
def test_order_over_amount_param_is_checked_naming_the_field(amount):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_TRIGGERS.get("order_over_amount").validate_params({"amount": amount})
    assert list(caught.value.message_dict) == ["amount"]
