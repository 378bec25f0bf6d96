"""The outbox delivers each event to a subscriber exactly once, through a real Celery worker.

Shown once with the embedded SQLite broker and once with Redis; the worker is a separate process
reading the same test database, as in production.
"""

import time
from pathlib import Path

import pytest

from guanxi.core.models import Event, EventDelivery
from guanxi.core.tests.workers import _wait_for, producer_on, worker_on
from guanxi.customers.models import TimelineEntry
from guanxi.customers.services import note_add
from guanxi.customers.tests.factories import make_customer

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

#: Loaded into the worker (``--include``): the subscriber that leaves a visible trace.
SUBSCRIBERS = ("guanxi.customers.tests.subscribers",)


def _exactly_once_through(broker_url: str, tmp_path: Path) -> None:
    from guanxi.core.tasks import dispatch_event
    from guanxi.customers.tests import subscribers  # noqa: F401 - registers the subscriber here as well

    customer = make_customer(name="送达测试")
    with producer_on(broker_url), worker_on(broker_url, tmp_path, include=SUBSCRIBERS):
        note = note_add(actor=None, customer=customer, body="请在周五前回电")
        event = Event.objects.get(name="note.added", aggregate_id=str(note.pk))
        delivered = _wait_for(lambda: TimelineEntry.objects.filter(customer=customer, kind="test.delivered").exists())
        assert delivered, (tmp_path / "worker.log").read_text()[-3000:]
        dispatch_event.delay(event.pk)  # a redelivery, as after a broker restart, changes nothing
        dispatch_event.delay(event.pk)
        assert _wait_for(lambda: Event.objects.filter(pk=event.pk, dispatched_at__isnull=False).exists())
        time.sleep(1.5)
    assert TimelineEntry.objects.filter(customer=customer, kind="test.delivered").count() == 1
    assert EventDelivery.objects.filter(event=event, subscriber="tests.trace").count() == 1


def test_outbox_delivers_once_with_the_embedded_sqlite_broker(tmp_path):
    _exactly_once_through(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", tmp_path)


def test_outbox_delivers_once_with_redis(tmp_path):
    from guanxi.core.tests.services import redis_or_skip

    redis_or_skip("redis://127.0.0.1:6379/15")
    _exactly_once_through("redis://127.0.0.1:6379/15", tmp_path)
