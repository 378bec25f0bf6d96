import pytest

from guanxi.conftest import api_client_for
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Consent, Message, MessageTemplate
from guanxi.messaging.services import message_enqueue
from guanxi.messaging.tests.factories import make_template


@pytest.fixture
def messages_ab(store_a, store_b):
    make_template(code="otp", purpose="transactional", body="验证码{code}")
    make_template(code="otp", channel="email", purpose="transactional", subject="验证码", body="验证码{code}")
    a = [make_customer(store=store_a, email=f"a{i}@example.com") for i in range(4)]
    b = [make_customer(store=store_b) for _ in range(2)]
    message_enqueue(channel="sms", template_code="otp", customer_ids=[c.pk for c in a + b], dispatch=False)
    message_enqueue(channel="email", template_code="otp", customer_ids=[c.pk for c in a], dispatch=False)
    return a, b


def test_message_list_runs_constant_queries_and_respects_store_visibility(
    api_a, messages_ab, django_assert_num_queries
):
    # token with its user; one page of messages joined to customer and template (visibility is a subquery)
    with django_assert_num_queries(2):
        response = api_a.get("/api/messaging/messages/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 8  # store B's customers are invisible to clerk A
    assert {r["to_masked"][:3] for r in rows if r["channel"] == "sms"} == {"139"}
    assert all("to_address" not in r for r in rows)


def test_message_list_filters(api_admin, messages_ab):
    got = api_admin.get("/api/messaging/messages/", {"channel": "email"}).json()["results"]
    assert len(got) == 4
    assert {r["channel"] for r in got} == {"email"}
    assert (
        len(api_admin.get("/api/messaging/messages/", {"status": "queued", "template": "otp"}).json()["results"]) == 10
    )


def test_template_api_refuses_unknown_variable_naming_the_field(db, admin_user):
    client = api_client_for(admin_user)
    response = client.post(
        "/api/messaging/templates/",
        {"code": "x", "name": "x", "channel": "sms", "purpose": "marketing", "language": "zh-hans", "body": "{foo}"},
        format="json",
    )
    assert response.status_code == 400
    assert "body" in response.json()
    assert "{foo}" in response.json()["body"][0]
    assert not MessageTemplate.objects.exists()
    ok = client.post(
        "/api/messaging/templates/",
        {"code": "x", "name": "x", "channel": "sms", "purpose": "marketing", "language": "zh-hans", "body": "{name}好"},
        format="json",
    )
    assert ok.status_code == 201


def test_store_staff_cannot_write_templates_or_enqueue(api_a, store_a):
    response = api_a.post("/api/messaging/templates/", {"code": "y", "name": "y", "body": "hi"}, format="json")
    assert response.status_code == 403
    assert api_a.post("/api/messaging/enqueue/", {}, format="json").status_code == 403


def test_enqueue_api_for_a_marketer(marketer_a, store_a, store_b):
    make_template(code="promo", purpose="marketing", body="{name}周末8折")
    mine = make_customer(store=store_a)
    theirs = make_customer(store=store_b)
    client = api_client_for(marketer_a)
    refused = client.post(
        "/api/messaging/enqueue/",
        {"channel": "sms", "template_code": "promo", "customer_ids": [mine.pk, theirs.pk]},
        format="json",
    )
    assert refused.status_code == 400
    assert "customer_ids" in refused.json()
    assert not Message.objects.exists()
    response = client.post(
        "/api/messaging/enqueue/",
        {"channel": "sms", "template_code": "promo", "customer_ids": [mine.pk]},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["suppressed"] == {"no consent": 1}


def test_consent_api_appends_to_the_ledger(api_a, store_a, store_b):
    customer = make_customer(store=store_a)
    response = api_a.post(
        "/api/messaging/consents/",
        {"customer": customer.pk, "channel": "sms", "purpose": "marketing", "granted": True, "source": "in store"},
        format="json",
    )
    assert response.status_code == 201
    other = make_customer(store=store_b)
    response = api_a.post(
        "/api/messaging/consents/",
        {"customer": other.pk, "channel": "sms", "purpose": "marketing", "granted": True, "source": "in store"},
        format="json",
    )
    assert response.status_code == 400
    assert Consent.objects.count() == 1
    listed = api_a.get("/api/messaging/consents/", {"customer": customer.pk}).json()["results"]
    assert [row["granted"] for row in listed] == [True]


def test_resend_via_api_makes_a_new_message_with_a_derived_key(api_admin, messages_ab):
    failed = Message.objects.filter(channel="sms").first()
    Message.objects.filter(pk=failed.pk).update(status="failed", reason="rejected by provider")
    response = api_admin.post(f"/api/messaging/messages/{failed.pk}/resend/")
    assert response.status_code == 201
    copy = Message.objects.get(pk=response.json()["id"])
    assert copy.dedupe_key == f"resend:{failed.pk}"
    assert copy.resent_from_id == failed.pk
    assert copy.to_address == failed.to_address
    again = api_admin.post(f"/api/messaging/messages/{failed.pk}/resend/")
    assert again.json()["id"] == copy.pk  # resending twice does not send twice
    queued = Message.objects.filter(status="queued").first()
    assert api_admin.post(f"/api/messaging/messages/{queued.pk}/resend/").status_code == 400
