"""Message batches: a batch key (dedupe_key) reused for another message is refused, not silently skipped."""

from guanxi.conftest import api_client_for
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message
from guanxi.messaging.tests.factories import make_template


def test_a_batch_key_reused_for_other_recipients_or_another_template_is_a_409(marketer_a, store_a):
    make_template(code="notice", purpose="transactional", body="{name}您好")
    make_template(code="other", purpose="transactional", body="{name}再见")
    first, second = make_customer(store=store_a), make_customer(store=store_a)
    client = api_client_for(marketer_a)
    body = {"channel": "sms", "template_code": "notice", "customer_ids": [first.pk], "dedupe_key": "batch-1"}
    assert client.post("/api/messaging/enqueue/", body, format="json").status_code == 202
    replay = client.post("/api/messaging/enqueue/", body, format="json")
    assert replay.status_code == 202
    assert replay.json()["duplicates"] == 1
    count = Message.objects.count()
    for change in ({"customer_ids": [first.pk, second.pk]}, {"template_code": "other"}):
        reused = client.post("/api/messaging/enqueue/", {**body, **change}, format="json")
        assert reused.status_code == 409
        assert "dedupe_key" in reused.json()
    assert Message.objects.count() == count


def test_query_parameters_out_of_range_or_impossible_are_a_400_naming_them(api_admin):
    for url, name in (
        ("/api/messaging/messages/?customer=99999999999999999999999", "customer"),
        ("/api/messaging/messages/?date_from=2020-13-45", "date_from"),
        ("/api/messaging/messages/?date_to=2020-02-30", "date_to"),
        ("/api/messaging/consents/?customer=99999999999999999999999", "customer"),
    ):
        response = api_admin.get(url)
        assert response.status_code == 400, url
        assert name in response.json(), url
    assert api_admin.get("/api/messaging/messages/?date_from=2020-02-28&customer=").status_code == 200
