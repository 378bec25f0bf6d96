"""Orders over the API: what the columns cannot hold is refused before writing; nothing partial survives."""

import json

import pytest

from guanxi.core.models import IdempotencyKey
from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.models import Order, OrderLine, Product

BASE = {"external_ref": "BIG-1", "store": "store-a", "customer": {"name": "赵敏", "phone": "13900001111"}}


def _counts():
    return Order.objects.count(), OrderLine.objects.count(), Customer.objects.count(), IdempotencyKey.objects.count()


def test_an_order_too_large_for_its_columns_is_refused_and_the_lists_keep_working(api_admin, store_a):
    before = _counts()
    lines = [{"name": "金条", "quantity": 100000, "unit_price": "999999999999.99"}]
    response = api_admin.post("/api/orders/", {**BASE, "lines": lines}, format="json")
    assert response.status_code == 400
    assert "lines[0].quantity" in response.json()
    # Two lines that each fit but together do not.
    lines = [{"name": "金条", "quantity": 1, "unit_price": "999999999999.99"}] * 2
    response = api_admin.post("/api/orders/", {**BASE, "lines": lines}, format="json")
    assert response.status_code == 400
    assert "lines[1].quantity" in response.json()
    assert _counts() == before
    for url in ("/api/customers/", "/api/orders/", "/"):
        assert api_admin.get(url).status_code in (200, 302)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"name": "x", "quantity": 1, "unit_price": 12.5}, "unit_price"),
        ({"name": "x", "quantity": 1, "unit_price": "1e2"}, "unit_price"),
        ({"name": "x", "quantity": 1, "unit_price": "１２.５０"}, "unit_price"),
        ({"name": "x", "quantity": 1, "unit_price": "NaN"}, "unit_price"),
        ({"name": "x", "quantity": 10**20, "unit_price": "1.00"}, "quantity"),
    ],
)
def test_money_and_quantities_the_columns_cannot_hold_get_a_400_naming_the_field(api_admin, store_a, line, field):
    before = _counts()
    response = api_admin.post("/api/orders/", {**BASE, "lines": [line]}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["lines"]
    assert f'"{field}"' in json.dumps(response.json()["lines"])
    assert _counts() == before


def test_a_json_number_beyond_float_range_is_refused(api_admin, store_a):
    body = b'{"external_ref": "F-1", "customer_id": 1, "lines": [{"name": "x", "unit_price": 1e400}]}'
    response = api_admin.post("/api/orders/", body, content_type="application/json")
    assert response.status_code == 400
    assert "lines" in response.json()


def test_an_oversized_customer_id_is_a_400_and_an_oversized_path_id_a_json_404(api_admin, store_a):
    body = {"external_ref": "I-1", "customer_id": 10**30, "lines": [{"name": "x", "unit_price": "1.00"}]}
    response = api_admin.post("/api/orders/", body, format="json")
    assert response.status_code == 400
    assert "customer_id" in response.json()
    for path in (f"/api/orders/{10**30}/", "/api/orders/-1.5e-3/", f"/api/customers/{10**30}/"):
        response = api_admin.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path


def test_an_order_number_reused_with_other_lines_is_a_409_and_the_same_order_replays(api_admin, store_a):
    order = {**BASE, "external_ref": "POS-9", "lines": [{"name": "袜", "quantity": 2, "unit_price": "39.00"}]}
    first = api_admin.post("/api/orders/", order, format="json")
    replay = api_admin.post("/api/orders/", order, format="json")
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    before = _counts()
    other = api_admin.post(
        "/api/orders/", {**order, "lines": [{"name": "袜", "quantity": 3, "unit_price": "39.00"}]}, format="json"
    )
    assert other.status_code == 409
    assert "external_ref" in other.json()
    assert _counts() == before
    assert Order.objects.get().lines.get().quantity == 2


def test_a_refund_number_reused_for_another_amount_is_a_409(api_admin, store_a):
    customer = make_customer(store=store_a)
    order = api_admin.post(
        "/api/orders/",
        {"external_ref": "R-ORD", "customer_id": customer.pk, "lines": [{"name": "x", "unit_price": "100.00"}]},
        format="json",
    ).json()
    url = f"/api/orders/{order['id']}/refunds/"
    assert api_admin.post(url, {"external_ref": "RF-1", "amount": "10.00"}, format="json").status_code == 201
    assert api_admin.post(url, {"external_ref": "RF-1", "amount": "10.00"}, format="json").status_code == 200
    reused = api_admin.post(url, {"external_ref": "RF-1", "amount": "20.00"}, format="json")
    assert reused.status_code == 409
    assert "external_ref" in reused.json()


def test_a_negative_product_price_is_a_400_not_a_check_constraint_failure(api_admin):
    response = api_admin.post("/api/products/", {"sku": "N-1", "name": "x", "price": "-1.00"}, format="json")
    assert response.status_code == 400
    assert "price" in response.json()
    response = api_admin.post("/api/products/", {"sku": "N-1", "name": "x", "price": 1.5}, format="json")
    assert response.status_code == 400
    assert "price" in response.json()
    assert not Product.objects.exists()


def test_an_order_that_would_overflow_the_customers_running_total_is_refused(api_admin, store_a):
    customer = make_customer(store=store_a)
    Customer.objects.filter(pk=customer.pk).update(total_spent="999999999999.00")
    before = _counts()
    body = {"external_ref": "T-1", "customer_id": customer.pk, "lines": [{"name": "x", "unit_price": "5.00"}]}
    response = api_admin.post("/api/orders/", body, format="json")
    assert response.status_code == 400
    assert "paid_amount" in response.json()
    assert _counts() == before
    assert api_admin.get(f"/api/customers/{customer.pk}/").status_code == 200
