import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from guanxi.core.idempotency import IdempotencyConflict
from guanxi.core.models import Event
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.models import Order, OrderLine, Refund
from guanxi.sales.services import order_ingest, refund_create
from guanxi.sales.tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db

ORDER = {
    "external_ref": "POS-0001",
    "source": "pos",
    "ordered_at": "2026-05-01T14:30:00+08:00",
    "store": "store-a",
    "payment_method": "wechat_pay",
    "discount_amount": "10.00",
    "customer": {"name": "赵敏", "phone": "13900009999"},
    "lines": [{"sku": "COAT-1", "quantity": 1}, {"name": "连裤袜", "quantity": 2, "unit_price": "39.00"}],
}


@pytest.fixture
def coat(db):
    return ProductFactory(sku="COAT-1", name="羊毛大衣", price="899.00")


def test_order_ingest_records_lines_totals_customer_and_stats(store_a, coat):
    result = order_ingest(actor=None, data=ORDER)
    order = result.order
    assert result.created
    assert order.total_amount == Decimal("977.00")
    assert order.paid_amount == Decimal("967.00")
    assert [(ln.name, ln.quantity, ln.amount) for ln in order.lines.order_by("id")] == [
        ("羊毛大衣", 1, Decimal("899.00")),
        ("连裤袜", 2, Decimal("78.00")),
    ]
    customer = order.customer
    assert customer.home_store == store_a
    customer.refresh_from_db()
    assert customer.order_count == 1
    assert customer.total_spent == Decimal("967.00")
    assert customer.last_order_at == order.ordered_at
    assert Event.objects.filter(name="order.paid", customer_id=customer.pk).count() == 1
    assert TimelineEntry.objects.filter(customer=customer, kind="order.paid").count() == 1


def test_replaying_an_order_changes_nothing(store_a, coat):
    first = order_ingest(actor=None, data=ORDER)
    counts = (
        Order.objects.count(),
        OrderLine.objects.count(),
        Event.objects.count(),
        TimelineEntry.objects.count(),
        Customer.objects.count(),
    )
    again = order_ingest(actor=None, data=dict(ORDER))
    assert not again.created
    assert again.order.pk == first.order.pk
    # The same order number with other lines is not a replay: refused, and still nothing written.
    with pytest.raises(IdempotencyConflict):
        order_ingest(actor=None, data={**ORDER, "lines": [{"name": "x", "quantity": 9, "unit_price": "1.00"}]})
    assert (
        Order.objects.count(),
        OrderLine.objects.count(),
        Event.objects.count(),
        TimelineEntry.objects.count(),
        Customer.objects.count(),
    ) == counts
    first.order.customer.refresh_from_db()
    assert first.order.customer.order_count == 1


def test_same_number_from_another_source_is_another_order(store_a, coat):
    order_ingest(actor=None, data=ORDER)
    assert order_ingest(actor=None, data={**ORDER, "source": "webshop"}).created


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [{"name": "x", "quantity": 0, "unit_price": "1.00"}]}, "lines[0].quantity"),
        ({"lines": [{"name": "x", "quantity": 1, "unit_price": 1.5}]}, "lines[0].unit_price"),
        ({"lines": [{"name": "x", "quantity": 1, "unit_price": "1.005"}]}, "lines[0].unit_price"),
        ({"lines": [{"name": "x", "quantity": 1, "unit_price": "-3"}]}, "lines[0].unit_price"),
        ({"store": "nowhere"}, "store"),
        ({"payment_method": "shells"}, "payment_method"),
        ({"ordered_at": "next tuesday"}, "ordered_at"),
        ({"discount_amount": "5000.00"}, "discount_amount"),
        ({"external_ref": ""}, "external_ref"),
    ],
)
def test_bad_orders_are_refused_naming_the_field_and_write_nothing(store_a, coat, change, field):
    with pytest.raises(ValidationError) as exc:
        order_ingest(actor=None, data={**ORDER, **change})
    assert field in exc.value.message_dict
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def test_refund_is_idempotent_bounded_and_updates_stats(store_a):
    customer = make_customer(store=store_a)
    order = make_order(customer=customer, lines=[{"name": "鞋", "quantity": 2, "unit_price": "300.00"}])
    line = order.lines.get()
    refund, created = refund_create(
        actor=None, order=order, external_ref="R1", lines=[{"order_line": line.pk, "quantity": 1}]
    )
    assert created
    assert refund.amount == Decimal("300.00")
    again, created_again = refund_create(
        actor=None, order=order, external_ref="R1", lines=[{"order_line": line.pk, "quantity": 1}]
    )
    assert not created_again
    assert again.pk == refund.pk
    with pytest.raises(IdempotencyConflict):  # the same refund number for another amount is not a replay
        refund_create(actor=None, order=order, external_ref="R1", amount="600.00")
    with pytest.raises(ValidationError) as exc:
        refund_create(actor=None, order=order, external_ref="R2", amount="300.01")
    assert "amount" in exc.value.message_dict
    refund_create(actor=None, order=order, external_ref="R3", amount="300.00")
    order.refresh_from_db()
    customer.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert order.refunded_amount == order.paid_amount
    assert customer.total_spent == Decimal("0.00")
    assert Refund.objects.count() == 2


def test_api_order_ingest_is_idempotent_and_errors_name_the_field(api_admin, store_a, coat):
    first = api_admin.post("/api/orders/", ORDER, format="json")
    assert first.status_code == 201, first.content
    replay = api_admin.post("/api/orders/", ORDER, format="json")
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    bad = api_admin.post("/api/orders/", {**ORDER, "external_ref": "POS-2", "store": "nowhere"}, format="json")
    assert bad.status_code == 400
    assert "store" in bad.json()
    assert Order.objects.count() == 1


def test_webhook_requires_a_valid_signature_and_is_idempotent(client, settings, store_a, coat):
    settings.GUANXI_WEBHOOK_SECRET = "s3cret-webhook-key"
    body = json.dumps({**ORDER, "external_ref": "WEB-1"}).encode()
    sig = "sha256=" + hmac.new(b"s3cret-webhook-key", body, hashlib.sha256).hexdigest()
    url = "/api/webhooks/orders/"
    assert (
        client.post(url, body, content_type="application/json", HTTP_X_GUANXI_SIGNATURE="sha256=00").status_code == 401
    )
    assert client.post(url, body, content_type="application/json", HTTP_X_GUANXI_SIGNATURE=sig).status_code == 201
    assert client.post(url, body, content_type="application/json", HTTP_X_GUANXI_SIGNATURE=sig).status_code == 200
    assert Order.objects.filter(external_ref="WEB-1", source="pos").count() == 1


def test_order_list_runs_constant_queries(api_admin, store_a, django_assert_num_queries):
    customer = make_customer(store=store_a)
    for _ in range(3):
        make_order(
            customer=customer,
            lines=[
                {"name": "a", "quantity": 1, "unit_price": "1.00"},
                {"name": "b", "quantity": 1, "unit_price": "2.00"},
            ],
        )
    # session/token auth, the page of orders (with store and customer joined), their lines
    with django_assert_num_queries(3):
        assert len(api_admin.get("/api/orders/").json()["results"]) == 3
    for _ in range(5):
        make_order(customer=make_customer(store=store_a))
    with django_assert_num_queries(3):
        assert len(api_admin.get("/api/orders/").json()["results"]) == 8
