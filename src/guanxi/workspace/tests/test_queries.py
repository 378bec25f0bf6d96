"""The home page runs the same number of queries for a customer with one row of everything as with many."""

import pytest
from django.urls import reverse

from guanxi.customers.tests.factories import make_customer
from guanxi.customers.tests.test_queries import _count, _enrich


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


def test_home_queries_do_not_grow_with_orders(client_a, store_a, django_assert_num_queries):
    _enrich(make_customer(store=store_a, name="甲"), store_a, 1)
    baseline = _count(client_a, reverse("workspace:home"))
    for i in range(5):
        _enrich(make_customer(store=store_a, name=f"乙{i}"), store_a, 2)
    with django_assert_num_queries(baseline):
        client_a.get(reverse("workspace:home"))
