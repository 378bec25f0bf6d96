"""The SMS queue end to end against the Alibaba Cloud and Tencent Cloud stand-in servers on 127.0.0.1.

The stand-ins check each request's signature (ACS3-HMAC-SHA256 / TC3-HMAC-SHA256) from the raw bytes
and answer with the providers' documented bodies; ``sent`` records what a carrier would have received.
"""

import datetime as dt
import json
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from guanxi.customers.tests.factories import make_customer
from guanxi.messaging import services
from guanxi.messaging.models import Message, Suppression
from guanxi.messaging.services import message_enqueue, messages_reconcile_stale, messages_send
from guanxi.messaging.standins import AliyunSmsStandIn, TencentSmsStandIn
from guanxi.messaging.tasks import message_send_task, messages_dispatch_task
from guanxi.messaging.tests.factories import make_template, webhook_url


@pytest.fixture
def aliyun(settings, db):
    with AliyunSmsStandIn(access_key_secret="s3cret", sign_names={"关系"}) as server:
        settings.GUANXI_SMS_BACKEND = "aliyun"
        settings.GUANXI_SMS_SIGN_NAME = "关系"
        settings.GUANXI_SMS_ALIYUN = {
            "access_key_id": server.access_key_id, "access_key_secret": "s3cret", "endpoint": server.base_url,
        }  # fmt: skip
        yield server


@pytest.fixture
def tencent(settings, db):
    with TencentSmsStandIn(secret_key="tc-s3cret", sign_names={"关系"}) as server:
        settings.GUANXI_SMS_BACKEND = "tencent"
        settings.GUANXI_SMS_SIGN_NAME = "关系"
        settings.GUANXI_SMS_TENCENT = {
            "secret_id": server.secret_id, "secret_key": "tc-s3cret", "sdk_app_id": "1400000000",
            "region": "ap-guangzhou", "endpoint": server.base_url,
        }  # fmt: skip
        yield server


@pytest.fixture
def otp(db):
    return make_template(
        code="otp", purpose="transactional", body="您的验证码{code},5分钟内有效", provider_template_code="SMS_100"
    )


def _queue(customers, code="123456", **kw):
    result = message_enqueue(
        channel="sms", template_code="otp", customer_ids=[c.pk for c in customers], context={"code": code},
        dispatch=False, **kw,
    )  # fmt: skip
    return list(Message.objects.filter(batch_ref=result.batch_ref).order_by("id"))


def test_signed_aliyun_request_reaches_the_stand_in(aliyun, otp, store_a):
    customer = make_customer(store=store_a, phone="+8613800138001")
    [message] = _queue([customer])
    assert messages_send(message_ids=[message.pk]).sent == 1
    [request] = aliyun.requests
    assert (request.status, request.code) == (200, "OK")  # signature and parameters accepted
    assert request.incoming.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI-standin")
    [sent] = aliyun.sent
    assert (sent.template, sent.sign_name, sent.out_id) == ("SMS_100", "关系", str(message.pk))
    assert sent.params == {"code": "123456"}
    message.refresh_from_db()
    assert (message.status, message.provider, message.provider_message_id) == (
        "sent",
        "aliyun",
        sent.provider_message_id,
    )


def test_signed_tencent_request_reaches_the_stand_in(tencent, otp, store_a):
    customers = [make_customer(store=store_a, phone=f"+861380013800{i}") for i in range(3)]
    messages = _queue(customers)
    assert messages_send(message_ids=[m.pk for m in messages]).sent == 3
    assert all(r.status == 200 for r in tencent.requests)
    assert tencent.requests[0].incoming.headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=")
    assert sorted(m.to for m in tencent.sent) == sorted(f"+861380013800{i}" for i in range(3))
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_wrong_credentials_are_refused_by_the_stand_in_and_fail_permanently(aliyun, otp, store_a, settings):
    settings.GUANXI_SMS_ALIYUN = {**settings.GUANXI_SMS_ALIYUN, "access_key_secret": "wrong"}
    [message] = _queue([make_customer(store=store_a)])
    assert messages_send(message_ids=[message.pk]).failed == 1
    assert aliyun.sent == []
    assert aliyun.requests[0].status != 200
    message.refresh_from_db()
    assert message.status == "failed"
    assert "Signature" in message.error


def test_temporary_provider_error_is_retried_with_backoff(aliyun, otp, store_a):
    aliyun.fail_next(1, code="isv.BUSINESS_LIMIT_CONTROL")
    [message] = _queue([make_customer(store=store_a, phone="+8613800138002")])
    t0 = timezone.now()
    assert messages_send(message_ids=[message.pk], now=t0).retry == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.next_attempt_at - t0 == dt.timedelta(seconds=30)
    message_send_task.delay([message.pk])  # too early: nothing happens
    assert len(aliyun.requests) == 1
    assert messages_send(message_ids=[message.pk], now=message.next_attempt_at).sent == 1
    assert len(aliyun.requests) == 2
    assert len(aliyun.sent) == 1


def test_permanent_provider_error_is_not_retried_and_the_number_is_suppressed(aliyun, otp, store_a):
    customer = make_customer(store=store_a, phone="+8613800138003")
    aliyun.fail_number("+8613800138003", "isv.MOBILE_NUMBER_ILLEGAL")
    [message] = _queue([customer])
    assert messages_send(message_ids=[message.pk]).failed == 1
    message.refresh_from_db()
    assert (message.status, message.reason) == ("failed", "invalid address")
    messages_dispatch_task.delay()
    message_send_task.delay([message.pk])
    assert len(aliyun.requests) == 1
    assert aliyun.sent == []
    assert Suppression.objects.get().scope == "all"


def test_no_duplicate_when_the_worker_dies_after_the_provider_accepted(aliyun, otp, store_a, monkeypatch):
    customer = make_customer(store=store_a, phone="+8613800138004")
    [message] = _queue([customer])

    def killed(**kwargs):
        raise SystemExit("worker killed after the provider accepted, before the answer was recorded")

    with monkeypatch.context() as m:
        m.setattr(services, "_record_results", killed)
        with pytest.raises(SystemExit):
            message_send_task.delay([message.pk])
    assert len(aliyun.sent) == 1
    # the broker redelivers the task, the sweeper runs, someone runs the task by hand: nothing is sent again
    message_send_task.delay([message.pk])
    messages_dispatch_task.delay()
    message_send_task.delay([message.pk])
    assert messages_reconcile_stale(now=timezone.now() + dt.timedelta(minutes=6)) == 1
    message_send_task.delay([message.pk])
    assert len(aliyun.sent) == 1
    assert len(aliyun.requests_for("/")) == 1
    message.refresh_from_db()
    assert message.status == "unknown"
    # the delivery report carries our message id as OutId and settles it
    body = json.dumps(aliyun.receipt_items(), ensure_ascii=False)
    reply = APIClient().post(webhook_url("aliyun_receipts"), body, content_type="application/json")
    assert reply.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_lost_answer_is_reconciled_not_resent(tencent, otp, store_a):
    customer = make_customer(store=store_a, phone="+8613800138005")
    [message] = _queue([customer])
    tencent.drop_next(after_processing=True)  # the message went out; only the answer is lost
    summary = messages_send(message_ids=[message.pk])
    assert (summary.sent, summary.retry, summary.unknown) == (0, 0, 1)
    message.refresh_from_db()
    assert (message.status, message.reason) == ("unknown", "provider answer lost")
    messages_send(message_ids=[message.pk], now=timezone.now() + dt.timedelta(hours=1))
    assert len(tencent.sent) == 1
    body = json.dumps(tencent.receipt_items(), ensure_ascii=False)
    reply = APIClient().post(webhook_url("tencent_receipts"), body, content_type="application/json")
    assert reply.json()["result"] == 0


def test_sending_at_the_stand_in_rate_limit_is_never_throttled(aliyun, otp, store_a, settings):
    aliyun.set_rate_limit(4)  # requests per second
    # configured a little under the provider's limit: the two clocks never agree to the millisecond
    settings.GUANXI_MESSAGING_RATE_LIMITS = {"sms": 3.5}
    settings.GUANXI_MESSAGING_BATCH_SIZE = {"sms": 1}
    customers = [make_customer(store=store_a, phone=f"+86138001381{i:02d}") for i in range(10)]
    messages = _queue(customers)
    started = time.monotonic()
    assert messages_send(message_ids=[m.pk for m in messages]).sent == 10
    assert time.monotonic() - started >= 1.5  # a burst of 3.5, then the rest at 3.5 per second
    assert all(r.code == "OK" for r in aliyun.requests)
    assert len(aliyun.sent) == 10


def test_a_failing_rate_limiter_puts_messages_back_as_not_sent_and_they_go_out_later(aliyun, otp, store_a, settings):
    # a real Redis client against a closed port: the limiter raises before anything reaches the provider
    settings.GUANXI_MESSAGING_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.GUANXI_MESSAGING_RATE_LIMITS = {"sms": 50}
    settings.GUANXI_MESSAGING_RETRY_BASE_SECONDS = 30
    customers = [make_customer(store=store_a, phone=f"+861380013810{i}") for i in range(2)]
    messages = _queue(customers)
    now = timezone.now()
    summary = messages_send(message_ids=[m.pk for m in messages], now=now)
    assert (summary.sent, summary.unknown, summary.retry) == (0, 0, 2)
    assert summary.retry_at == now + dt.timedelta(seconds=30)
    assert aliyun.requests == []  # nothing was handed over
    for message in Message.objects.filter(pk__in=[m.pk for m in messages]):
        assert (message.status, message.reason, message.claim, message.attempts) == ("queued", "", "", 0)
        assert message.next_attempt_at == now + dt.timedelta(seconds=30)
        assert message.error.startswith("rate limiter unavailable, not sent")
    # the sweeper of a lost worker finds nothing to mark "worker lost after hand-over"
    assert messages_reconcile_stale(now=now + dt.timedelta(hours=1)) == 0
    # Redis back (here: the database bucket), after the back-off: sent exactly once
    settings.GUANXI_MESSAGING_REDIS_URL = ""
    later = now + dt.timedelta(seconds=31)
    assert messages_send(message_ids=[m.pk for m in messages], now=later).sent == 2
    assert len(aliyun.sent) == 2
    assert set(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", "error")) == {("sent", "")}
