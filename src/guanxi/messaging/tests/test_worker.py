"""Sending through a real Celery worker process with Redis as the broker, to a real SMTP server."""

import time

import pytest

from guanxi.core.tests.workers import _wait_for, producer_on, worker_on
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message
from guanxi.messaging.services import message_enqueue
from guanxi.messaging.tasks import message_send_task
from guanxi.messaging.tests.factories import make_template

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

BROKER = "redis://127.0.0.1:6379/13"


def test_messages_go_out_once_through_a_real_worker_with_redis(smtp_server, tmp_path, monkeypatch, settings):
    from guanxi.core.tests.services import redis_or_skip

    redis_or_skip(BROKER, flush=True)
    monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_PORT", str(settings.EMAIL_PORT))
    monkeypatch.setenv("GUANXI_MESSAGING_RATE_LIMITS", '{"email": 5}')
    make_template(code="notice", channel="email", purpose="transactional", subject="通知", body="{name}您好")
    customers = [make_customer(name=f"客户{i}", email=f"w{i}@example.com") for i in range(6)]
    with producer_on(BROKER), worker_on(BROKER, tmp_path, include=("guanxi.customers.tests.subscribers",)):
        started = time.monotonic()
        result = message_enqueue(channel="email", template_code="notice", customer_ids=[c.pk for c in customers])
        done = _wait_for(lambda: Message.objects.filter(batch_ref=result.batch_ref, status="sent").count() == 6, 60)
        assert done, (tmp_path / "worker.log").read_text()[-3000:]
        elapsed = time.monotonic() - started
        # a redelivered or repeated task changes nothing
        ids = list(Message.objects.filter(batch_ref=result.batch_ref).values_list("id", flat=True))
        message_send_task.delay(ids)
        message_send_task.delay(ids)
        time.sleep(2)
    assert sorted(e.rcpt_tos[0] for e in smtp_server.received) == sorted(f"w{i}@example.com" for i in range(6))
    assert elapsed < 60
