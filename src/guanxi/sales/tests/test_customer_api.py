"""The customer API where orders are involved: the list with orders, merge and erase keep the purchase history."""

import pytest

from guanxi.customers.services import customer_tag, note_add
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_list_runs_constant_queries_whatever_the_related_rows(api_a, store_a, django_assert_num_queries):
    for i in range(3):
        c = make_customer(store=store_a, email=f"c{i}@example.com")
        customer_tag(actor=None, customer_ids=[c.pk], tag_name="VIP")
        make_order(customer=c)
        note_add(actor=None, customer=c, body="note")
    # token auth, the page (store and owner by id: no join), primary contacts, tags
    with django_assert_num_queries(4):
        assert len(api_a.get("/api/customers/").json()["results"]) == 3
    for i in range(6):
        c = make_customer(store=store_a, email=f"d{i}@example.com")
        customer_tag(actor=None, customer_ids=[c.pk], tag_name=f"T{i}")
    with django_assert_num_queries(4):
        assert len(api_a.get("/api/customers/").json()["results"]) == 9


def test_merge_and_timeline_endpoints(api_a, store_a):
    a = make_customer(store=store_a, name="甲")
    b = make_customer(store=store_a, name="甲")
    make_order(customer=b)
    response = api_a.post(f"/api/customers/{a.pk}/merge/", {"merged": b.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["order_count"] == 1
    kinds = [e["kind"] for e in api_a.get(f"/api/customers/{a.pk}/timeline/").json()]
    assert "customer.merged" in kinds
    assert "order.paid" in kinds
    assert api_a.get(f"/api/customers/{b.pk}/").status_code == 404


def test_delete_erases_personal_data_but_keeps_orders(api_admin, store_a):
    customer = make_customer(store=store_a, name="要删除", email="gone@example.com")
    order = make_order(customer=customer)
    assert api_admin.delete(f"/api/customers/{customer.pk}/").status_code == 204
    customer.refresh_from_db()
    assert customer.name != "要删除"
    assert not customer.contact_points.exists()
    assert order.customer_id == customer.pk
