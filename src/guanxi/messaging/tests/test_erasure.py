"""Erasing a customer also erases their personal data from messaging's rows (the customers erase hook)."""

import json
import re

from django.db import connection
from rest_framework.test import APIClient

from guanxi.customers.services import customer_erase
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import DeliveryReceipt, InboundMessage, Message, Suppression
from guanxi.messaging.services import message_enqueue, messages_send
from guanxi.messaging.tests.factories import make_template, webhook_url


def _row_texts(model, pk):
    """Every column of one row as the database holds it (ciphertext stays ciphertext)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 — our own table name
        return json.dumps([str(v) for v in cursor.fetchone()], ensure_ascii=False)


def test_erasing_a_customer_clears_their_name_and_number_from_messages(store_a):
    customer = make_customer(store=store_a, name="欧阳娜娜", phone="+8613912345678")
    make_template(code="hello", purpose="transactional", body="{name}您好,您的订单已发货")
    sent = message_enqueue(channel="sms", template_code="hello", customer_ids=[customer.pk], dispatch=False)
    [sent_message] = Message.objects.filter(batch_ref=sent.batch_ref)
    assert messages_send(message_ids=[sent_message.pk]).sent == 1  # the console backend
    sent_message.refresh_from_db()
    assert "欧阳娜娜" in sent_message.body
    assert sent_message.to_address == "+8613912345678"
    queued = message_enqueue(
        channel="sms", template_code="hello", customer_ids=[customer.pk], dedupe_prefix="again", dispatch=False
    )
    [queued_message] = Message.objects.filter(batch_ref=queued.batch_ref)
    assert queued_message.status == "queued"
    assert "欧阳娜娜" in queued_message.body
    receipt = [{"phone_number": "13912345678", "success": True, "err_code": "DELIVERED",
                "biz_id": sent_message.provider_message_id, "out_id": str(sent_message.pk)}]  # fmt: skip
    assert APIClient().post(webhook_url("aliyun_receipts"), receipt, format="json").status_code == 200
    reply = {"mobile": "13912345678", "nationcode": "86", "text": "TD", "time": 1}
    assert APIClient().post(webhook_url("tencent_inbound"), reply, format="json").status_code == 200
    inbound = InboundMessage.objects.get(customer=customer)

    customer_erase(actor=None, customer=customer)

    rows = [
        _row_texts(Message, sent_message.pk),
        _row_texts(Message, queued_message.pk),
        _row_texts(InboundMessage, inbound.pk),
        *[_row_texts(DeliveryReceipt, pk) for pk in DeliveryReceipt.objects.values_list("pk", flat=True)],
    ]
    for row in rows:
        # timestamps are not personal data, but their microseconds may spell 5678 (a flake seen on CI)
        row_text = re.sub(r"\d{4}-\d{2}-\d{2}[ T][0-9:.+-]+", "", row)
        for personal in ("欧阳娜娜", "13912345678", "5678"):
            assert personal not in row_text, (personal, row)
    sent_message.refresh_from_db()
    queued_message.refresh_from_db()
    inbound.refresh_from_db()
    assert (sent_message.status, sent_message.body, sent_message.to_address, sent_message.to_index) == (
        "delivered", "", "", ""
    )  # fmt: skip
    assert (queued_message.status, queued_message.reason) == ("suppressed", "customer erased")
    assert (inbound.body, inbound.from_address, inbound.raw) == ("", "", {})
    # the refusal is still honoured for the number (keyed by its blind index, not by the customer)
    assert Suppression.objects.filter(channel="sms").count() == 1
