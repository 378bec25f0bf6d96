"""Orders by store staff are checked against what they may see BEFORE anything is written (#13 items 2, 11)."""

import pytest

from guanxi.accounts.tests.factories import UserFactory
from guanxi.conftest import api_client_for
from guanxi.core.models import Event
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.models import Order
from guanxi.sales.services import order_ingest

pytestmark = pytest.mark.django_db

B_PHONE = "+8613911112222"


@pytest.fixture
def b_customer(store_b):
    return make_customer(store=store_b, name="乙店秘密客户", phone=B_PHONE, email="zeta@example.com")


def _order(**extra):
    return {"external_ref": "A-0001", "lines": [{"name": "外套", "quantity": 1, "unit_price": "100.00"}], **extra}


def _b_state(customer):
    customer.refresh_from_db()
    return (
        customer.order_count,
        customer.total_spent,
        Order.objects.filter(customer=customer).count(),
        Event.objects.filter(customer_id=customer.pk).count(),
        TimelineEntry.objects.filter(customer=customer).count(),
    )


@pytest.mark.parametrize("contact", [{"phone": "13911112222"}, {"email": "ZETA@example.com"}])
def test_an_order_by_another_stores_customers_contact_goes_to_a_customer_of_ones_own_store(
    api_a, store_a, b_customer, contact
):
    before = _b_state(b_customer)
    response = api_a.post("/api/orders/", _order(customer={"name": "顾客", **contact}), format="json")
    assert response.status_code == 201, response.content
    assert _b_state(b_customer) == before  # no order, points event, timeline or figures for store B
    order = Order.objects.get(external_ref="A-0001")
    assert order.customer_id != b_customer.pk
    assert order.customer.home_store_id == store_a.pk
    body = response.content.decode()
    assert "乙店秘密客户" not in body
    assert str(b_customer.pk) != str(response.json()["customer"])


def test_an_order_in_another_store_is_refused_before_anything_is_written(api_a, store_b):
    response = api_a.post("/api/orders/", _order(store=store_b.code, customer={"phone": "13700001111"}), format="json")
    assert response.status_code == 400
    assert "store" in response.json()
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def test_another_stores_order_number_is_refused_without_saying_whose_and_changes_nothing(
    api_a, store_a, store_b, b_customer
):
    order_ingest(actor=None, data=_order(customer_id=b_customer.pk, store=store_b.code))
    before = _b_state(b_customer)
    mine = make_customer(store=store_a, name="甲店客户")
    response = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"external_ref"}
    text = response.content.decode()
    assert "乙店" not in text
    assert "store" not in text.lower()
    assert str(b_customer.pk) not in text
    assert _b_state(b_customer) == before
    assert Order.objects.count() == 1


def test_a_replay_of_ones_own_order_answers_with_it(api_a, store_a):
    mine = make_customer(store=store_a, name="甲店客户")
    first = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    again = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_a_merged_away_customer_id_is_followed_only_to_a_survivor_one_may_see(store_a, store_b, staff_a):
    survivor = make_customer(store=store_b, name="乙店")
    merged = make_customer(store=store_a, name="甲店")
    Customer.objects.filter(pk=merged.pk).update(merged_into=survivor)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        order_ingest(actor=staff_a, data=_order(customer_id=merged.pk))
    assert "customer_id" in exc.value.message_dict
    assert not Order.objects.exists()


def test_the_system_still_matches_any_customer_by_phone(store_b, b_customer):
    result = order_ingest(actor=None, data=_order(customer={"phone": "13911112222"}))
    assert result.order.customer_id == b_customer.pk


def test_an_admin_order_by_phone_finds_the_customer_in_any_store(admin_user, b_customer):
    result = order_ingest(actor=admin_user, data=_order(customer={"phone": "13911112222"}))
    assert result.order.customer_id == b_customer.pk


def test_staff_of_several_stores_name_the_store_for_a_new_buyer(store_a, store_b):
    staff = UserFactory(username="both", stores=[store_a, store_b])
    client = api_client_for(staff)
    response = client.post("/api/orders/", _order(customer={"phone": "13700001111"}), format="json")
    assert response.status_code == 400
    assert "store" in response.json()
    ok = client.post("/api/orders/", _order(store=store_b.code, customer={"phone": "13700001111"}), format="json")
    assert ok.status_code == 201
    assert Customer.objects.get().home_store_id == store_b.pk
