"""The customer 360 page as a whole: the profile from customers with the purchases panel that sales plugs in."""

import pytest
from django.urls import reverse

from guanxi.core.models import AuditLog
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.usefixtures("no_page_cache")


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


def test_360_page_shows_profile_orders_timeline_and_audits(client_a, store_a):
    c = make_customer(store=store_a, name="全景", phone="+8613700001111", interests=["茶"])
    make_order(customer=c, store=store_a, lines=[{"name": "乌龙茶", "quantity": 2, "unit_price": "50.00"}])
    response = client_a.get(reverse("customers:customer", args=[c.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "乌龙茶" in body
    assert "13700001111" in body
    assert "茶" in body
    assert AuditLog.objects.filter(action="view", object_type="customer", customer_id=c.pk).count() == 1
