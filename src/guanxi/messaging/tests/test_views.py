import re

import pytest
from django.test import Client

from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Consent, Message, MessageTemplate
from guanxi.messaging.services import message_enqueue
from guanxi.messaging.tests.factories import make_template


@pytest.fixture
def client_admin(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def logged(store_a):
    make_template(code="otp", name="验证码", purpose="transactional", body="验证码{code}")
    customers = [make_customer(store=store_a, name=f"客户{i}") for i in range(6)]
    message_enqueue(channel="sms", template_code="otp", customer_ids=[c.pk for c in customers], dispatch=False)
    return customers


def test_message_log_page_runs_constant_queries(client_admin, logged, django_assert_num_queries):
    # session, user, the workspace shell's store list, one page of messages with customer and template
    with django_assert_num_queries(4):
        response = client_admin.get("/messaging/", {"status": "queued", "channel": "sms", "template": "otp"})
    assert response.status_code == 200
    assert response.content.decode().count('data-status="queued"') == 6
    assert "验证码" in response.content.decode()


def test_message_log_keyset_pages(client_admin, logged, monkeypatch):
    from guanxi.messaging import views

    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    first = client_admin.get("/messaging/")
    assert first.context["next_query"]
    second = client_admin.get("/messaging/?" + first.context["next_query"])
    ids = [m.pk for m in first.context["rows"]] + [m.pk for m in second.context["rows"]]
    assert ids == sorted(Message.objects.values_list("id", flat=True), reverse=True)
    assert not second.context["next_query"]


def test_message_log_in_english_and_chinese(client_admin, logged):
    english = client_admin.get("/messaging/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Message log" in english
    assert "Queued" in english
    chinese = client_admin.get("/messaging/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "消息记录" in chinese
    assert "排队中" in chinese


def test_store_staff_sees_only_their_customers_messages(staff_b, logged):
    client = Client()
    client.force_login(staff_b)
    assert client.get("/messaging/").context["rows"] == []
    message = Message.objects.first()
    assert client.get(f"/messaging/messages/{message.pk}/").status_code == 404


def test_resend_a_failed_message_from_the_page(client_admin, logged):
    message = Message.objects.first()
    Message.objects.filter(pk=message.pk).update(status="failed")
    response = client_admin.post(f"/messaging/messages/{message.pk}/resend/")
    assert response.status_code == 302
    assert Message.objects.filter(resent_from=message, dedupe_key=f"resend:{message.pk}").exists()


def test_template_page_previews_and_refuses_unknown_variable(client_admin, store_a):
    make_customer(store=store_a, name="预览客户")
    data = {
        "code": "bday",
        "name": "生日",
        "purpose": "marketing",
        "channel": "sms",
        "language": "zh-hans",
        "body": "{name}生日快乐,送您{coupon_code}",
        "is_active": "on",
        "preview": "1",
    }
    response = client_admin.post("/messaging/templates/new/", data)
    page = response.content.decode()
    assert "【关系】预览客户生日快乐,送您GX8K2P回T退订" in page
    assert not MessageTemplate.objects.exists()
    data.pop("preview")
    data["body"] = "{name}生日快乐{gift}"
    response = client_admin.post("/messaging/templates/new/", data)
    assert response.status_code == 200
    assert "{gift}" in response.content.decode()
    data["body"] = "{name}生日快乐"
    assert client_admin.post("/messaging/templates/new/", data).status_code == 302
    assert MessageTemplate.objects.get().code == "bday"
    assert client_admin.get("/messaging/templates/").status_code == 200


def test_consent_page_records_a_decision(client_admin, store_a):
    customer = make_customer(store=store_a)
    url = f"/messaging/customers/{customer.pk}/consent/"
    assert client_admin.get(url).status_code == 200
    response = client_admin.post(
        url, {"channel": "sms", "purpose": "marketing", "granted": "1", "source": "paper form", "evidence": "form #12"}
    )
    assert response.status_code == 302
    row = Consent.objects.get()
    assert (row.granted, row.source, row.evidence) == (True, "paper form", "form #12")


def test_customer_panel_context_runs_constant_queries(rf, admin_user, logged, django_assert_num_queries):
    from guanxi.messaging.views import customer_panel_context

    customer = logged[0]
    with django_assert_num_queries(2):
        context = customer_panel_context(rf.get("/"), customer)
        assert len(context["recent_messages"]) == 1
        assert len(context["consents"]) == 6
    from django.template.loader import render_to_string

    html = render_to_string("messaging/panel.html", context)
    assert "验证码" in html


def test_customer_360_page_shows_messages_panel_and_timeline(client_admin, store_a, smtp_server):
    from guanxi.messaging.services import consent_record, messages_send

    make_template(code="hi", channel="email", purpose="transactional", subject="您好", body="{name}您好")
    customer = make_customer(store=store_a, name="张三", email="zs@example.com")
    consent_record(actor=None, customer=customer, channel="sms", purpose="marketing", granted=True, source="in store")
    result = message_enqueue(channel="email", template_code="hi", customer_ids=[customer.pk], dispatch=False)
    messages_send(message_ids=Message.objects.filter(batch_ref=result.batch_ref).values_list("id", flat=True))
    chinese = client_admin.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "最近消息" in chinese
    assert "授权详情" in chinese
    texts = re.findall(r'timeline-text">([^<]*)<', chinese)
    assert any(t.startswith("已通过") and "发送消息（hi）至 z***@example.com" in t for t in texts), texts
    english = client_admin.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Recent messages" in english
    assert "Message sent by E-mail (hi) to" in english
    assert "Consent to Marketing messages by SMS given (In store)" in english
    assert "已同意接收短信营销消息（门店）" in texts
