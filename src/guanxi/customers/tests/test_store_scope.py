"""Store staff create and move customers only within their own stores, and learn nothing of other stores'."""

import pytest

from guanxi.accounts.tests.factories import UserFactory
from guanxi.conftest import api_client_for
from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_customer(store_b):
    return make_customer(store=store_b, name="乙店秘密客户", phone="+8613911112222", email="zeta@example.com")


@pytest.mark.parametrize(
    "contact", [{"kind": "phone", "value": "139 1111 2222"}, {"kind": "email", "value": "zeta@example.com"}]
)
def test_a_contact_of_another_stores_customer_answers_as_an_unknown_contact_would(api_a, store_a, b_customer, contact):
    unknown = api_a.post(
        "/api/customers/", {"name": "新客", "contacts": [{"kind": "phone", "value": "13700001111"}]}, format="json"
    )
    known_elsewhere = api_a.post("/api/customers/", {"name": "新客", "contacts": [contact]}, format="json")
    assert unknown.status_code == known_elsewhere.status_code == 201
    assert known_elsewhere.json()["matched_by"] == unknown.json()["matched_by"] == ""
    assert set(known_elsewhere.json()) == set(unknown.json())
    assert "乙店秘密客户" not in known_elsewhere.content.decode()
    created = Customer.objects.get(pk=known_elsewhere.json()["id"])
    assert created.pk != b_customer.pk
    assert created.home_store_id == store_a.pk
    b_customer.refresh_from_db()
    assert b_customer.name == "乙店秘密客户"
    assert b_customer.home_store_id != store_a.pk


def test_a_contact_of_ones_own_customer_still_finds_them(api_a, store_a):
    mine = make_customer(store=store_a, name="甲店客户", phone="+8613700002222")
    response = api_a.post(
        "/api/customers/", {"name": "x", "contacts": [{"kind": "phone", "value": "13700002222"}]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["id"] == mine.pk
    assert response.json()["matched_by"] == "phone"


def test_store_staff_cannot_create_a_customer_in_another_store(api_a, store_b):
    response = api_a.post("/api/customers/", {"name": "x", "home_store": store_b.pk}, format="json")
    assert response.status_code == 400
    assert "home_store" in response.json()
    assert not Customer.objects.exists()


def test_store_staff_cannot_move_their_customer_to_another_store(api_a, store_a, store_b):
    mine = make_customer(store=store_a, name="甲店客户")
    response = api_a.patch(f"/api/customers/{mine.pk}/", {"home_store": store_b.pk}, format="json")
    assert response.status_code == 400
    assert "home_store" in response.json()
    mine.refresh_from_db()
    assert mine.home_store_id == store_a.pk


def test_a_new_customer_of_one_store_staff_lands_in_their_store(api_a, store_a):
    response = api_a.post("/api/customers/", {"name": "x"}, format="json")
    assert response.status_code == 201
    assert Customer.objects.get().home_store_id == store_a.pk


def test_staff_of_two_stores_move_customers_between_them_and_admins_anywhere(api_admin, store_a, store_b):
    both = api_client_for(UserFactory(username="both", stores=[store_a, store_b]))
    mine = make_customer(store=store_a, name="甲店客户")
    assert both.patch(f"/api/customers/{mine.pk}/", {"home_store": store_b.pk}, format="json").status_code == 200
    assert api_admin.patch(f"/api/customers/{mine.pk}/", {"home_store": store_a.pk}, format="json").status_code == 200
    mine.refresh_from_db()
    assert mine.home_store_id == store_a.pk


def test_store_staff_cannot_make_another_stores_staff_the_owner(api_a, staff_a, staff_b, store_a):
    """An owner sees the customer from any store: naming store B's clerk would hand B the customer."""
    mine = make_customer(store=store_a, name="甲店客户")
    moved = api_a.patch(f"/api/customers/{mine.pk}/", {"owner": staff_b.pk}, format="json")
    assert moved.status_code == 400
    assert "owner" in moved.json()
    created = api_a.post("/api/customers/", {"name": "新客", "owner": staff_b.pk}, format="json")
    assert created.status_code == 400
    assert "owner" in created.json()
    assert Customer.objects.visible_to(staff_b).count() == 0
    colleague = UserFactory(username="clerk-a2", stores=[store_a])
    assert api_a.patch(f"/api/customers/{mine.pk}/", {"owner": colleague.pk}, format="json").status_code == 200
    assert api_a.patch(f"/api/customers/{mine.pk}/", {"owner": staff_a.pk}, format="json").status_code == 200
