"""A committed write never answers 500 because the broker is down: publishing after commit is best effort,
and the outbox sweep delivers what could not be queued."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from guanxi.core.models import Event, EventDelivery
from guanxi.core.tests.workers import producer_on
from guanxi.sales.models import Order
from guanxi.sales.tests.factories import ProductFactory

# Nothing listens on port 1: every publish fails with "connection refused", as with a stopped Redis.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"

ORDER = {
    "external_ref": "POS-BROKER-DOWN",
    "source": "pos",
    "ordered_at": "2026-05-01T14:30:00+08:00",
    "store": "store-a",
    "payment_method": "wechat_pay",
    "customer": {"name": "赵敏", "phone": "13900009999"},
    "lines": [{"sku": "COAT-1", "quantity": 1}],
}


@pytest.mark.django_db(transaction=True)
def test_a_committed_order_answers_201_with_the_broker_down_and_the_sweep_delivers_it(api_admin, store_a, caplog):
    from guanxi.core.tasks import dispatch_pending_events

    ProductFactory(sku="COAT-1", name="羊毛大衣", price="899.00")
    with producer_on(UNREACHABLE_BROKER), caplog.at_level(logging.WARNING, logger="guanxi.tasks"):
        response = api_admin.post("/api/orders/", ORDER, format="json")
        assert response.status_code == 201, response.content
        replay = api_admin.post("/api/orders/", ORDER, format="json")  # the till retries: no second order
        assert replay.status_code == 200
    assert Order.objects.filter(external_ref="POS-BROKER-DOWN").count() == 1
    assert "could not queue guanxi.core.tasks.dispatch_events_from" in caplog.text
    event = Event.objects.get(name="order.paid")
    assert event.dispatched_at is None
    assert not EventDelivery.objects.filter(event=event).exists()

    # The broker is back (eager here); the periodic sweep picks up what was never published.
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert dispatch_pending_events() >= 1
    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert EventDelivery.objects.filter(event=event, subscriber="loyalty.earn").count() == 1


def test_publishing_reports_a_broker_error_instead_of_raising():
    from guanxi.core.tasks import dispatch_event

    with producer_on(UNREACHABLE_BROKER):
        assert dispatch_event.publish_best_effort((1,), {}) is False
