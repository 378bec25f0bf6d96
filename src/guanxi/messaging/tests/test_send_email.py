"""The send path end to end against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

import datetime as dt
from email import message_from_bytes

import pytest
from django.utils import timezone

from guanxi.customers.tests.factories import make_customer
from guanxi.messaging import services
from guanxi.messaging.models import Message
from guanxi.messaging.services import message_enqueue, messages_due, messages_reconcile_stale, messages_send
from guanxi.messaging.tasks import message_send_task
from guanxi.messaging.tests.factories import make_template


@pytest.fixture
def receipt_template(db):
    return make_template(
        code="receipt",
        channel="email",
        purpose="transactional",
        subject="{store}的电子账单",
        body="{name}您好,您本次消费{amount}元。",
    )


def _enqueue(customer, **kw):
    result = message_enqueue(
        channel="email",
        template_code="receipt",
        customer_ids=[customer.pk],
        context={"amount": "99.00"},
        dispatch=False,
        **kw,
    )
    return Message.objects.get(batch_ref=result.batch_ref)


def test_email_is_sent_as_html_and_text_with_store_reply_to(smtp_server, store_a, receipt_template):
    store_a.reply_to_email = "shop-a@example.com"
    store_a.save()
    customer = make_customer(store=store_a, name="李雷", email="lilei@example.com")
    message = _enqueue(customer)
    summary = messages_send(message_ids=[message.pk])
    assert summary.sent == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.provider == "smtp"
    assert message.provider_message_id
    assert len(smtp_server.received) == 1
    envelope = smtp_server.received[0]
    assert envelope.rcpt_tos == ["lilei@example.com"]
    mail = message_from_bytes(envelope.original_content)
    assert mail["Reply-To"] == "shop-a@example.com"
    assert mail["X-Guanxi-Message"] == str(message.pk)
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert "李雷您好,您本次消费99.00元。" in parts["text/plain"]
    assert "李雷您好" in parts["text/html"]
    assert "<p>" in parts["text/html"]
    assert message.customer.timeline.filter(kind="message.sent.email").count() == 1


def test_enqueue_dispatches_after_commit_through_the_task(
    smtp_server, store_a, receipt_template, django_capture_on_commit_callbacks
):
    customers = [make_customer(store=store_a, email=f"c{i}@example.com") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        message_enqueue(channel="email", template_code="receipt", customer_ids=[c.pk for c in customers])
    assert sorted(e.rcpt_tos[0] for e in smtp_server.received) == ["c0@example.com", "c1@example.com", "c2@example.com"]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_temporary_failure_is_retried_with_exponential_backoff(smtp_server, store_a, receipt_template):
    smtp_server.busy_until = 2  # two 451s, then accepted
    customer = make_customer(store=store_a, email="busy@example.com")
    message = _enqueue(customer)
    t0 = timezone.now()
    assert messages_send(message_ids=[message.pk], now=t0).retry == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.next_attempt_at == pytest.approx(t0 + dt.timedelta(seconds=30), abs=dt.timedelta(seconds=5))
    assert "451" in message.error
    # not due yet: running the task again sends nothing
    message_send_task.delay([message.pk])
    assert smtp_server.rcpt_calls == 1
    t1 = message.next_attempt_at
    assert messages_send(message_ids=[message.pk], now=t1).retry == 1
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.next_attempt_at == pytest.approx(t1 + dt.timedelta(seconds=60), abs=dt.timedelta(seconds=5))
    assert messages_due(now=message.next_attempt_at) == {"email": [message.pk]}
    assert messages_send(message_ids=[message.pk], now=message.next_attempt_at).sent == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 3)
    assert len(smtp_server.received) == 1


def test_temporary_failures_give_up_after_max_attempts(smtp_server, store_a, receipt_template, settings):
    settings.GUANXI_MESSAGING_MAX_ATTEMPTS = 2
    smtp_server.busy_until = 10
    customer = make_customer(store=store_a, email="busy@example.com")
    message = _enqueue(customer)
    messages_send(message_ids=[message.pk])
    message.refresh_from_db()
    messages_send(message_ids=[message.pk], now=message.next_attempt_at)
    message.refresh_from_db()
    assert (message.status, message.reason, message.attempts) == ("failed", "retries exhausted", 2)


def test_permanent_failure_is_not_retried(smtp_server, store_a, receipt_template):
    customer = make_customer(store=store_a, email="nobody@example.com")
    message = _enqueue(customer)
    assert messages_send(message_ids=[message.pk]).failed == 1
    message.refresh_from_db()
    assert (message.status, message.reason) == ("failed", "invalid address")
    assert "550" in message.error
    far = timezone.now() + dt.timedelta(days=30)
    assert messages_due(now=far) == {}
    message_send_task.delay([message.pk])
    assert smtp_server.rcpt_calls == 1
    assert message.customer.timeline.filter(kind="message.failed.email").count() == 1
    # the mailbox does not exist: even transactional mail to it is suppressed from now on
    again = message_enqueue(channel="email", template_code="receipt", customer_ids=[customer.pk], dispatch=False)
    assert again.suppressed == {"invalid address": 1}


def test_no_duplicate_when_the_worker_dies_after_the_provider_accepted(
    smtp_server, store_a, receipt_template, monkeypatch
):
    customer = make_customer(store=store_a, email="once@example.com")
    message = _enqueue(customer)

    def killed(**kwargs):
        raise SystemExit("worker killed between the provider's answer and recording it")

    with monkeypatch.context() as m:
        m.setattr(services, "_record_results", killed)
        with pytest.raises(SystemExit):
            message_send_task.delay([message.pk])
    assert len(smtp_server.received) == 1  # the provider accepted it
    message.refresh_from_db()
    assert message.status == "sending"
    # the broker redelivers the task (acks_late), the sweeper runs, the task runs again
    message_send_task.delay([message.pk])
    from guanxi.messaging.tasks import messages_dispatch_task

    messages_dispatch_task.delay()
    message_send_task.delay([message.pk])
    assert len(smtp_server.received) == 1
    # after the lease the sweeper marks it for checking, never for sending
    later = timezone.now() + dt.timedelta(seconds=301)
    assert messages_reconcile_stale(now=later) == 1
    message.refresh_from_db()
    assert (message.status, message.reason) == ("unknown", "worker lost after hand-over")
    message_send_task.delay([message.pk])
    assert len(smtp_server.received) == 1
    assert smtp_server.rcpt_calls == 1


def test_smtp_server_down_is_a_temporary_failure(settings, store_a, receipt_template):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    customer = make_customer(store=store_a, email="x@example.com")
    message = _enqueue(customer)
    assert messages_send(message_ids=[message.pk]).retry == 1
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.error.startswith("connect")


def test_sending_keeps_to_the_channel_rate_limit(smtp_server, store_a, receipt_template, settings):
    import time

    settings.GUANXI_MESSAGING_RATE_LIMITS = {"email": 4}
    settings.GUANXI_MESSAGING_BATCH_SIZE = {"email": 2}
    customers = [make_customer(store=store_a, email=f"r{i}@example.com") for i in range(12)]
    result = message_enqueue(
        channel="email", template_code="receipt", customer_ids=[c.pk for c in customers], dispatch=False
    )
    ids = list(Message.objects.filter(batch_ref=result.batch_ref).values_list("id", flat=True))
    started = time.monotonic()
    assert messages_send(message_ids=ids).sent == 12
    # a burst of 4, then 8 more at 4 per second
    assert time.monotonic() - started >= 1.8
    assert len(smtp_server.received) == 12


def test_a_batch_that_cannot_get_rate_tokens_goes_back_to_the_queue_unsent(
    smtp_server, store_a, receipt_template, settings
):
    settings.GUANXI_MESSAGING_RATE_LIMITS = {"email": 0.5}  # one token every two seconds, burst of one
    settings.GUANXI_MESSAGING_BATCH_SIZE = {"email": 1}
    settings.GUANXI_MESSAGING_RATE_MAX_WAIT = 0.3
    first, second = (make_customer(store=store_a, email=f"later{i}@example.com") for i in range(2))
    result = message_enqueue(
        channel="email", template_code="receipt", customer_ids=[first.pk, second.pk], dispatch=False
    )
    ids = sorted(Message.objects.filter(batch_ref=result.batch_ref).values_list("id", flat=True))
    summary = messages_send(message_ids=ids)
    assert (summary.sent, summary.retry) == (1, 1)
    waiting = Message.objects.get(pk=ids[1])
    assert (waiting.status, waiting.attempts, waiting.claim) == ("queued", 0, "")
    assert len(smtp_server.received) == 1
    assert smtp_server.rcpt_calls == 1
    settings.GUANXI_MESSAGING_RATE_MAX_WAIT = 5
    assert messages_send(message_ids=ids).sent == 1
    assert len(smtp_server.received) == 2
