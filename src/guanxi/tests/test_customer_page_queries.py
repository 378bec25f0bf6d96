"""List, 360 and home pages run the same number of queries for a customer with one row of everything as with many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from guanxi.customers.services import contact_point_add, customer_tag, important_date_add, note_add
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.usefixtures("no_page_cache")


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


def _enrich(customer, store, n: int) -> None:
    for i in range(n):
        make_order(
            customer=customer,
            store=store,
            lines=[{"name": f"商品{i}-{j}", "quantity": 1, "unit_price": "10.00"} for j in range(2)],
        )
        note_add(actor=None, customer=customer, body=f"备注{i}")
        customer_tag(actor=None, customer_ids=[customer.pk], tag_name=f"标签{i}")
        important_date_add(
            actor=None, customer=customer, kind="other", date=f"2020-0{1 + i % 9}-1{i % 9}", label=f"纪念{i}"
        )
        contact_point_add(actor=None, customer=customer, kind="email", value=f"c{customer.pk}-{i}@example.com")


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_360_page_queries_do_not_grow_with_orders_timeline_or_contacts(client_a, store_a, django_assert_num_queries):
    one = make_customer(store=store_a, name="一单")
    many = make_customer(store=store_a, name="多单")
    _enrich(one, store_a, 1)
    _enrich(many, store_a, 6)
    baseline = _count(client_a, reverse("customers:customer", args=[one.pk]))
    with django_assert_num_queries(baseline):
        response = client_a.get(reverse("customers:customer", args=[many.pk]))
    body = response.content.decode()
    assert "商品5-1" in body
    assert "备注5" in body
    assert "纪念5" in body


def test_list_page_queries_do_not_grow_with_rows_tags_or_contacts(client_a, store_a, django_assert_num_queries):
    first = make_customer(store=store_a, name="甲")
    _enrich(first, store_a, 1)
    baseline = _count(client_a, reverse("customers:customers"))
    for i in range(8):
        _enrich(make_customer(store=store_a, name=f"乙{i}"), store_a, 3)
    with django_assert_num_queries(baseline):
        response = client_a.get(reverse("customers:customers"))
    assert len(response.context["page"].rows) == 9
    with django_assert_num_queries(baseline):
        client_a.get(reverse("customers:customers"), {"q": "乙", "sort": "name"})


def test_home_queries_do_not_grow_with_orders(client_a, store_a, django_assert_num_queries):
    _enrich(make_customer(store=store_a, name="甲"), store_a, 1)
    baseline = _count(client_a, reverse("workspace:home"))
    for i in range(5):
        _enrich(make_customer(store=store_a, name=f"乙{i}"), store_a, 2)
    with django_assert_num_queries(baseline):
        client_a.get(reverse("workspace:home"))
