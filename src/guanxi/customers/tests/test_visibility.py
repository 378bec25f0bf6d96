"""Store scoping: staff of store A never see store B's customers, by any road."""

import pytest

from guanxi.core.models import AuditLog
from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers(store_a, store_b):
    return (
        make_customer(store=store_a, name="甲", phone="13911110001", email="a@example.com"),
        make_customer(store=store_b, name="乙", phone="13922220002", email="b@example.com"),
    )


def test_visible_to_is_the_one_rule(staff_a, staff_b, admin_user, two_customers):
    a, b = two_customers
    assert list(Customer.objects.visible_to(staff_a)) == [a]
    assert list(Customer.objects.visible_to(staff_b)) == [b]
    assert set(Customer.objects.visible_to(admin_user)) == {a, b}


def test_key_account_owner_sees_their_customer_in_another_store(staff_a, store_b):
    owned = make_customer(store=store_b, owner=staff_a.pk, is_key_account=True)
    assert Customer.objects.visible_to(staff_a).filter(pk=owned.pk).exists()


def test_api_list_search_detail_lookup_and_export_are_scoped(api_a, two_customers):
    a, b = two_customers
    listed = api_a.get("/api/customers/").json()["results"]
    assert [row["id"] for row in listed] == [a.pk]
    assert api_a.get("/api/customers/", {"q": "乙"}).json()["results"] == []
    assert api_a.get(f"/api/customers/{b.pk}/").status_code == 404
    assert api_a.patch(f"/api/customers/{b.pk}/", {"region": "x"}, format="json").status_code == 404
    assert api_a.get(f"/api/customers/{b.pk}/timeline/").status_code == 404
    assert api_a.get("/api/customers/lookup/phone/", {"phone": "13922220002"}).json() == []
    assert api_a.get("/api/customers/lookup/last4/", {"digits": "0002"}).json() == []
    assert api_a.get("/api/customers/lookup/email/", {"email": "b@example.com"}).json() == []
    body = b"".join(api_a.get("/api/customers/export/").streaming_content).decode("utf-8-sig")
    assert "甲" in body
    assert "乙" not in body


def test_detail_and_export_are_audited(api_a, staff_a, two_customers):
    a, _b = two_customers
    assert api_a.get(f"/api/customers/{a.pk}/").status_code == 200
    assert AuditLog.objects.filter(action="view", customer_id=a.pk, actor=staff_a).count() == 1
    b"".join(api_a.get("/api/customers/export/").streaming_content)
    assert AuditLog.objects.filter(action="export", customer_id=a.pk, actor=staff_a).count() == 1


def test_marketer_sees_masked_phones(marketer_a, two_customers):
    from guanxi.conftest import api_client_for

    a, _b = two_customers
    row = api_client_for(marketer_a).get(f"/api/customers/{a.pk}/").json()
    phones = [c["value"] for c in row["contact_points"] if c["kind"] == "phone"]
    assert phones == ["139****0001"]
