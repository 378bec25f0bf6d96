"""The timeline names a message's template by the name staff gave it, never by its code."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.core.timeline import timeline_text
from guanxi.customers.models import TimelineEntry
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message
from guanxi.messaging.services import message_enqueue, messages_send
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.usefixtures("no_page_cache")


@pytest.fixture
def ebill(db):
    return make_template(code="ebill", name="电子账单", purpose="transactional", body="{name}您好，您的消费已记账。")


def test_a_sent_message_reads_with_its_template_name(ebill, store_a, staff_a, client, django_assert_max_num_queries):
    customer = make_customer(store=store_a, name="王芳", phone="+8613800138001")
    message_enqueue(channel="sms", template_code="ebill", customer_ids=[customer.pk], dispatch=False)
    [message] = Message.objects.filter(customer=customer)
    assert messages_send(message_ids=[message.pk]).sent == 1
    entry = TimelineEntry.objects.get(customer=customer, kind="message.sent.sms")
    assert entry.data["template_name"] == "电子账单"
    with translation.override("zh-hans"), django_assert_max_num_queries(0):
        text = timeline_text(entry.kind, entry.data, entry.summary)  # prepare() reads only the entry
    assert "电子账单" in text
    assert "ebill" not in text

    client.force_login(staff_a)
    page = client.get(reverse("customers:customer", args=[customer.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert "电子账单" in html
    assert "(ebill)" not in html
    assert "（ebill）" not in html


def test_an_entry_written_before_names_were_stored_shows_the_code(db):
    data = {"channel": "sms", "template": "ebill", "to": "138****8001", "error": ""}
    with translation.override("zh-hans"):
        assert "ebill" in timeline_text("message.sent.sms", data, "fallback")
        failed = timeline_text("message.failed.sms", {**data, "error": "busy"}, "fallback")
    assert "ebill" in failed
    assert failed != "fallback"
