"""Provider webhooks refuse what they cannot trust: no secret configured, no or a wrong secret, a wrong
or stale WeChat signature. Refused requests change nothing; genuine ones (as the stand-ins send them) work.

Alibaba Cloud's SmsReport/SmsUp HTTP pushes and Tencent Cloud's status and reply callbacks are not
signed by the provider, so each endpoint has its own secret in the callback URL; WeChat signs its
pushes with the server-configuration Token.
"""

import datetime as dt
import hashlib
import json

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Consent, DeliveryReceipt, InboundMessage, Message, Suppression
from guanxi.messaging.selectors import consent_current
from guanxi.messaging.services import consent_record, message_enqueue
from guanxi.messaging.tests.factories import WEBHOOK_TOKENS, make_template, webhook_url

NOW = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)

OPT_OUT = {
    "aliyun_inbound": [{"phone_number": "13912345678", "content": "T", "sign_name": "关系", "sequence_id": 1}],
    "tencent_inbound": {"mobile": "13912345678", "nationcode": "86", "text": "TD", "sign": "关系", "time": 1},
}


def _receipt(endpoint, message):
    if endpoint == "aliyun_receipts":
        return [{"phone_number": "13912345678", "success": True, "err_code": "DELIVERED", "biz_id": "biz-1",
                 "out_id": str(message.pk)}]  # fmt: skip
    return [{"mobile": "13912345678", "nationcode": "86", "report_status": "SUCCESS", "errmsg": "DELIVRD",
             "sid": "biz-1", "user_receive_time": "2026-03-01 10:00:05"}]  # fmt: skip


@pytest.fixture
def subscribed(store_a):
    customer = make_customer(store=store_a, phone="+8613912345678")
    consent_record(actor=None, customer=customer, channel="sms", purpose="marketing", granted=True, source="in store")
    make_template(code="otp", purpose="transactional", body="验证码{code}")
    result = message_enqueue(
        channel="sms", template_code="otp", customer_ids=[customer.pk], context={"code": "1"}, dispatch=False
    )
    message = Message.objects.get(batch_ref=result.batch_ref)
    Message.objects.filter(pk=message.pk).update(status="sent", provider_message_id="biz-1")
    return customer, message


def _untrusted_urls(endpoint):
    path = webhook_url(endpoint).partition("?")[0]
    return {
        "unsigned": path,
        "wrong secret": f"{path}?token=guess",
        "another endpoint's secret": f"{path}?token={WEBHOOK_TOKENS['wechat']}",
        "prefix of the secret": f"{path}?token={WEBHOOK_TOKENS[endpoint][:-1]}",
    }


def _unchanged(customer, message):
    message.refresh_from_db()
    assert message.status == "sent"
    assert not DeliveryReceipt.objects.exists()
    assert not InboundMessage.objects.exists()
    assert not Suppression.objects.exists()
    assert consent_current(customer_ids=[customer.pk], channel="sms", purpose="marketing") == {customer.pk: True}
    assert Consent.objects.filter(customer=customer).count() == 1


@pytest.mark.parametrize("endpoint", ["aliyun_inbound", "tencent_inbound"])
def test_forged_opt_out_is_refused_and_withdraws_nothing(subscribed, endpoint):
    customer, message = subscribed
    client = APIClient()
    for label, url in _untrusted_urls(endpoint).items():
        response = client.post(url, OPT_OUT[endpoint], format="json")
        assert response.status_code == 403, label
        response = client.post(url, OPT_OUT[endpoint], format="json", HTTP_X_GUANXI_WEBHOOK_TOKEN="guess")
        assert response.status_code == 403, label
    _unchanged(customer, message)
    # the genuine callback, secret in the URL or in the header
    assert client.post(webhook_url(endpoint), OPT_OUT[endpoint], format="json").status_code == 200
    path = webhook_url(endpoint).partition("?")[0]
    token = WEBHOOK_TOKENS[endpoint]
    assert client.post(path, OPT_OUT[endpoint], format="json", HTTP_X_GUANXI_WEBHOOK_TOKEN=token).status_code == 200
    assert consent_current(customer_ids=[customer.pk], channel="sms", purpose="marketing") == {customer.pk: False}
    assert InboundMessage.objects.count() == 2


@pytest.mark.parametrize("endpoint", ["aliyun_receipts", "tencent_receipts"])
def test_forged_delivery_receipt_is_refused_and_marks_nothing(subscribed, endpoint):
    customer, message = subscribed
    for label, url in _untrusted_urls(endpoint).items():
        assert APIClient().post(url, _receipt(endpoint, message), format="json").status_code == 403, label
    _unchanged(customer, message)
    assert APIClient().post(webhook_url(endpoint), _receipt(endpoint, message), format="json").status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


@pytest.mark.parametrize("endpoint", ["aliyun_receipts", "aliyun_inbound", "tencent_receipts", "tencent_inbound"])
def test_an_endpoint_without_a_secret_refuses_everything(subscribed, settings, endpoint):
    customer, message = subscribed
    settings.GUANXI_MESSAGING_WEBHOOK_TOKENS = {**WEBHOOK_TOKENS, endpoint: ""}
    body = OPT_OUT.get(endpoint) or _receipt(endpoint, message)
    path = webhook_url(endpoint).partition("?")[0]
    for url in (path, f"{path}?token=", f"{path}?token={WEBHOOK_TOKENS[endpoint]}"):
        response = APIClient().post(url, body, format="json")
        assert response.status_code == 403
        assert response.json()["errmsg"] == "webhook not configured"
    _unchanged(customer, message)


# ------------------------------------------------------------------------------ WeChat


WECHAT_URL = "/api/messaging/webhooks/wechat/events/"


def _wechat_signed(token, timestamp, nonce="123456"):
    signature = hashlib.sha1("".join(sorted([token, str(timestamp), nonce])).encode()).hexdigest()  # noqa: S324
    return {"timestamp": str(timestamp), "nonce": nonce, "signature": signature}


def _event(openid, msgid, status="success"):
    return (
        f"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(NOW.timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID>"
        f"<Status><![CDATA[{status}]]></Status></xml>"
    )


@pytest.fixture
def wechat_message(store_a):
    return Message.objects.create(
        customer=make_customer(store=store_a), channel="wechat", purpose="transactional", status="sent",
        dedupe_key="w-1", provider="wechat", provider_message_id="200163836",
    )  # fmt: skip


def _post_event(params, body):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return APIClient().post(f"{WECHAT_URL}?{query}", body, content_type="text/xml")


@time_machine.travel(NOW, tick=False)
def test_wechat_url_check_answers_echostr_only_when_signed(db):
    token = WEBHOOK_TOKENS["wechat"]
    client = APIClient()
    good = client.get(WECHAT_URL, {**_wechat_signed(token, int(NOW.timestamp())), "echostr": "e-42"})
    assert good.status_code == 200
    assert good.content == b"e-42"
    forged = client.get(WECHAT_URL, {**_wechat_signed("guess", int(NOW.timestamp())), "echostr": "e-42"})
    assert forged.status_code == 403
    assert b"e-42" not in forged.content


@time_machine.travel(NOW, tick=False)
def test_wechat_event_needs_a_fresh_valid_signature(wechat_message, settings):
    token = WEBHOOK_TOKENS["wechat"]
    now = int(NOW.timestamp())
    body = _event("o-alice", wechat_message.provider_message_id)
    refused = {
        "unsigned": {},
        "wrong token": _wechat_signed("guess", now),
        "tampered nonce": {**_wechat_signed(token, now), "nonce": "999"},
        "stale": _wechat_signed(token, now - 301),
        "from the future": _wechat_signed(token, now + 301),
    }
    for label, params in refused.items():
        assert _post_event(params, body).status_code == 403, label
    settings.GUANXI_MESSAGING_WEBHOOK_TOKENS = {**WEBHOOK_TOKENS, "wechat": ""}
    assert _post_event(_wechat_signed("", now), body).status_code == 403  # no Token configured
    wechat_message.refresh_from_db()
    assert wechat_message.status == "sent"
    assert not DeliveryReceipt.objects.exists()
    settings.GUANXI_MESSAGING_WEBHOOK_TOKENS = dict(WEBHOOK_TOKENS)
    response = _post_event(_wechat_signed(token, now - 10), body)
    assert response.status_code == 200
    assert response.content == b"success"
    wechat_message.refresh_from_db()
    assert wechat_message.status == "delivered"


# ------------------------------------------------------------------------------ the stand-ins, over HTTP


def test_stand_ins_push_callbacks_our_webhooks_accept(live_server, transactional_db, store_a):
    from guanxi.messaging.standins import AliyunSmsStandIn, TencentSmsStandIn, WechatStandIn
    from guanxi.messaging.standins.base import SentMessage

    customer = make_customer(store=store_a, phone="+8613912345678")
    messages = [
        Message.objects.create(customer=customer, channel=channel, purpose="transactional", status="sent",
                               dedupe_key=f"s-{channel}-{i}", provider_message_id=f"pm-{i}")
        for i, channel in enumerate(["sms", "sms", "wechat"])
    ]  # fmt: skip

    def sent(i, to):
        return SentMessage(provider_message_id=f"pm-{i}", to=to, template="T", sign_name="关系", params={},
                           out_id=str(messages[i].pk), at=timezone.now().timestamp())  # fmt: skip

    with AliyunSmsStandIn() as aliyun, TencentSmsStandIn() as tencent, WechatStandIn() as wechat:
        reply = aliyun.push_receipts(live_server.url + webhook_url("aliyun_receipts"), [sent(0, "13912345678")])
        assert reply.status_code == 200
        assert reply.json()["code"] == 0
        reply = tencent.push_receipts(live_server.url + webhook_url("tencent_receipts"), [sent(1, "+8613912345678")])
        assert reply.status_code == 200
        assert reply.json()["result"] == 0
        # the same pushes without Guanxi's secret are refused
        path = live_server.url + webhook_url("aliyun_receipts").partition("?")[0]
        assert aliyun.push_receipts(path, [sent(0, "13912345678")]).status_code == 403
        [reply] = wechat.push_events(live_server.url + WECHAT_URL, [sent(2, "o-alice")], token=WEBHOOK_TOKENS["wechat"])
        assert reply.status_code == 200
        assert reply.text == "success"
        [forged] = wechat.push_events(live_server.url + WECHAT_URL, [sent(2, "o-alice")], token="not-ours")
        assert forged.status_code == 403
    assert [m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk")] == [
        "delivered"
    ] * 3
    assert json.dumps(list(DeliveryReceipt.objects.values_list("provider", flat=True).order_by("id"))) == json.dumps(
        ["aliyun", "tencent", "wechat"]
    )


# ------------------------------------------------------------------------------ what is kept


def test_stored_payloads_keep_no_phone_number_in_clear(subscribed):
    customer, message = subscribed
    APIClient().post(webhook_url("aliyun_receipts"), _receipt("aliyun_receipts", message), format="json")
    reply = {"mobile": "13912345678", "nationcode": "86", "text": "T 新号 13800001111 a.b@example.com", "time": 1}
    APIClient().post(webhook_url("tencent_inbound"), reply, format="json")
    receipt = DeliveryReceipt.objects.get()
    inbound = InboundMessage.objects.get()
    stored = json.dumps([receipt.raw, inbound.raw], ensure_ascii=False)
    for clear in ("13912345678", "13800001111", "a.b@example.com"):
        assert clear not in stored
    assert receipt.raw["phone_number"] == "139****5678"
    assert receipt.raw["biz_id"] == "biz-1"
    assert inbound.raw["mobile"] == "139****5678"
    assert inbound.raw["text"] == "T 新号 138****1111 a***@example.com"
    # what the product needs is still there: the sender (encrypted) matched the customer, and the message settled
    assert inbound.customer == customer
    assert inbound.from_address == "+8613912345678"
    message.refresh_from_db()
    assert message.status == "delivered"


def test_migration_masks_payloads_stored_before(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("guanxi.messaging.migrations.0002_redact_stored_payloads")
    old = DeliveryReceipt.objects.create(provider="aliyun", delivered=True, raw={"phone_number": "13912345678"})
    reply = InboundMessage.objects.create(provider="tencent", raw={"mobile": "13912345678", "text": "TD"})
    empty = DeliveryReceipt.objects.create(provider="aliyun", delivered=False, raw={})
    migration.redact(apps, None)
    old.refresh_from_db()
    reply.refresh_from_db()
    empty.refresh_from_db()
    assert old.raw == {"phone_number": "139****5678"}
    assert reply.raw == {"mobile": "139****5678", "text": "TD"}
    assert empty.raw == {}
