"""Store scoping reaches orders: staff of store A never see the orders of store B's customers."""

import pytest

from guanxi.customers.tests.factories import make_customer
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers(store_a, store_b):
    return (
        make_customer(store=store_a, name="甲", phone="13911110001", email="a@example.com"),
        make_customer(store=store_b, name="乙", phone="13922220002", email="b@example.com"),
    )


def test_orders_of_other_stores_customers_are_hidden(api_a, two_customers):
    _a, b = two_customers
    order = make_order(customer=b)
    assert api_a.get(f"/api/orders/{order.pk}/").status_code == 404
    assert api_a.get("/api/orders/").json()["results"] == []
