"""Delivery receipts and SMS replies arriving through the webhooks."""

import pytest
from rest_framework.test import APIClient

from guanxi.customers.contacts import contact_indexes
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Consent, DeliveryReceipt, InboundMessage, Message, Suppression
from guanxi.messaging.selectors import consent_current
from guanxi.messaging.services import consent_record, message_enqueue
from guanxi.messaging.tests.factories import make_template, webhook_url


@pytest.fixture
def promo(db):
    return make_template(code="promo", purpose="marketing", body="{name}您好,会员日8折")


def _sent_message(customer, provider_id="biz-1"):
    make_template(code="code", purpose="transactional", body="验证码{code}")
    result = message_enqueue(
        channel="sms", template_code="code", customer_ids=[customer.pk], context={"code": "1"}, dispatch=False
    )
    message = Message.objects.get(batch_ref=result.batch_ref)
    Message.objects.filter(pk=message.pk).update(status="sent", provider="aliyun", provider_message_id=provider_id)
    return message


def test_aliyun_sms_report_marks_delivered_and_failed(store_a):
    ok = _sent_message(make_customer(store=store_a), "900001")
    bad = Message.objects.create(
        customer=ok.customer,
        channel="sms",
        purpose="transactional",
        status="sent",
        dedupe_key="x",
        provider_message_id="900002",
    )
    payload = [
        {
            "phone_number": "13900000000",
            "send_time": "2026-03-01 10:00:00",
            "report_time": "2026-03-01 10:00:05",
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": "900001",
            "out_id": str(ok.pk),
        },
        {"phone_number": "13900000001", "success": False, "err_code": "MK:0001", "err_msg": "空号", "biz_id": "900002"},
    ]
    response = APIClient().post(webhook_url("aliyun_receipts"), payload, format="json")
    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "接收成功"}
    ok.refresh_from_db()
    bad.refresh_from_db()
    assert ok.status == "delivered"
    assert ok.delivered_at is not None
    assert (bad.status, bad.reason) == ("failed", "undelivered")
    assert "MK:0001" in bad.error
    assert DeliveryReceipt.objects.count() == 2


def test_receipt_settles_a_message_left_for_checking_by_our_id(store_a):
    message = _sent_message(make_customer(store=store_a), "")
    Message.objects.filter(pk=message.pk).update(status="unknown", provider_message_id="")
    payload = [
        {"phone_number": "139", "success": "true", "err_code": "DELIVERED", "biz_id": "777", "out_id": str(message.pk)}
    ]
    APIClient().post(webhook_url("aliyun_receipts"), payload, format="json")
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("delivered", "777")


def test_tencent_callback_replies_result_zero(store_a):
    message = _sent_message(make_customer(store=store_a), "sid-42")
    payload = [
        {
            "user_receive_time": "2026-03-01 10:00:05",
            "nationcode": "86",
            "mobile": "13900000000",
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": "sid-42",
        }
    ]
    response = APIClient().post(webhook_url("tencent_receipts"), payload, format="json")
    assert response.status_code == 200
    assert response.json()["result"] == 0
    message.refresh_from_db()
    assert message.status == "delivered"


def test_late_failure_report_never_undoes_delivered(store_a):
    message = _sent_message(make_customer(store=store_a), "sid-1")
    client = APIClient()
    report = {
        "user_receive_time": "2026-03-01 10:00:05", "nationcode": "86", "mobile": "13900000000",
        "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功", "sid": "sid-1",
    }  # fmt: skip
    assert client.post(webhook_url("tencent_receipts"), [report], format="json").status_code == 200
    late = {**report, "report_status": "FAIL", "errmsg": "MK:0001", "description": "失败"}
    assert client.post(webhook_url("tencent_receipts"), [late], format="json").status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_aliyun_receipts_for_one_call_share_a_biz_id_and_are_told_apart_by_phone(store_a):
    first = _sent_message(make_customer(store=store_a, phone="+8613911110001"), "biz-shared")
    second = Message.objects.create(
        customer=make_customer(store=store_a, phone="+8613911110002"),
        channel="sms",
        purpose="transactional",
        status="sent",
        dedupe_key="y",
        provider_message_id="biz-shared",
        to_address="+8613911110002",
        to_index=contact_indexes("phone", "+8613911110002")[0],
    )
    payload = [{"phone_number": "13911110002", "success": False, "err_code": "MK:0001", "err_msg": "空号",
                "biz_id": "biz-shared", "report_time": "2026-03-01 10:00:05"}]  # fmt: skip
    assert APIClient().post(webhook_url("aliyun_receipts"), payload, format="json").status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("sent", "failed")


def test_malformed_report_is_refused(db):
    response = APIClient().post(webhook_url("tencent_receipts"), {"nope": 1}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("reply", ["T", " td ", "退订", "n", "T D"])
def test_opt_out_reply_withdraws_marketing_sms_consent_at_once(store_a, promo, reply):
    customer = make_customer(store=store_a, phone="+8613912345678")
    consent_record(actor=None, customer=customer, channel="sms", purpose="marketing", granted=True, source="in store")
    consent_record(actor=None, customer=customer, channel="email", purpose="marketing", granted=True, source="in store")
    queued = message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], dispatch=False)
    assert queued.queued == 1
    payload = [
        {
            "phone_number": "13912345678",
            "send_time": "2026-03-01 10:00:00",
            "content": reply,
            "sign_name": "关系",
            "dest_code": "1234",
            "sequence_id": 1,
        }
    ]
    response = APIClient().post(webhook_url("aliyun_inbound"), payload, format="json")
    assert response.status_code == 200
    assert consent_current(customer_ids=[customer.pk], channel="sms", purpose="marketing") == {customer.pk: False}
    assert consent_current(customer_ids=[customer.pk], channel="email", purpose="marketing") == {customer.pk: True}
    row = Consent.objects.filter(customer=customer).latest("id")
    assert (row.granted, row.source) == (False, "sms reply")
    inbound = InboundMessage.objects.get()
    assert inbound.is_opt_out
    assert inbound.customer == customer
    assert inbound.from_masked == "139****5678"
    assert customer.timeline.filter(kind="message.reply").exists()
    assert customer.timeline.filter(kind="consent.withdrawn.sms.marketing").exists()
    assert Suppression.objects.filter(channel="sms").count() == 1
    # what was still waiting is stopped, and the next campaign does not reach them
    assert Message.objects.get(batch_ref=queued.batch_ref).status == "suppressed"
    again = message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], dispatch=False)
    assert again.queued == 0
    assert sum(again.suppressed.values()) == 1


def test_opted_out_phone_still_gets_transactional_messages(store_a):
    customer = make_customer(store=store_a, phone="+8613912345679")
    APIClient().post(
        webhook_url("tencent_inbound"),
        {"extend": "", "mobile": "13912345679", "nationcode": "86", "sign": "关系", "text": "TD", "time": 1700000000},
        format="json",
    )
    make_template(code="otp", purpose="transactional", body="验证码{code}")
    result = message_enqueue(channel="sms", template_code="otp", customer_ids=[customer.pk], dispatch=False)
    assert result.queued == 1


def test_an_ordinary_reply_is_recorded_but_changes_no_consent(store_a):
    customer = make_customer(store=store_a, phone="+8613912345670")
    APIClient().post(
        webhook_url("tencent_inbound"),
        {"mobile": "13912345670", "nationcode": "86", "text": "谢谢"},
        format="json",
    )
    assert InboundMessage.objects.get().is_opt_out is False
    assert not Consent.objects.exists()
    assert customer.timeline.filter(kind="message.reply").count() == 1
