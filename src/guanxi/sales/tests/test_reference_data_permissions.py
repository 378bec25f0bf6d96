"""Reference data is shared by every store: only the roles in ``accounts.permissions`` change it, per model."""

import pytest

from guanxi.accounts.models import Role
from guanxi.accounts.permissions import REFERENCE_DATA_ROLES, can_change
from guanxi.accounts.tests.factories import UserFactory
from guanxi.conftest import api_client_for
from guanxi.customers.models import Customer, Tag
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.models import Product, ProductCategory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(store_b):
    category = ProductCategory.objects.create(code="coats", name="外套")
    product = Product.objects.create(sku="COAT-1", name="大衣", category=category, price="899.00")
    tag = Tag.objects.create(name="VIP")
    customer = make_customer(store=store_b, name="乙店客户")
    customer.tags.add(tag)
    return {"category": category, "product": product, "tag": tag, "customer": customer}


def _user(role, store):
    return UserFactory(username=f"u-{role}", role=role, stores=[store])


@pytest.mark.parametrize("role", [Role.STORE_STAFF, Role.SERVICE_AGENT, Role.ANALYST])
def test_store_bound_roles_cannot_delete_a_shared_tag_or_change_the_catalogue(role, store_a, shared):
    client = api_client_for(_user(role, store_a))
    assert client.delete(f"/api/tags/{shared['tag'].pk}/").status_code == 403
    assert client.patch(f"/api/tags/{shared['tag'].pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.patch(f"/api/products/{shared['product'].pk}/", {"price": "1.00"}, format="json").status_code == 403
    assert client.delete(f"/api/products/{shared['product'].pk}/").status_code == 403
    assert client.post("/api/product-categories/", {"code": "x", "name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/product-categories/{shared['category'].pk}/").status_code == 403
    # Nothing changed, and the tag is still on store B's customer.
    assert Customer.objects.get(pk=shared["customer"].pk).tags.filter(name="VIP").exists()
    assert Product.objects.get(pk=shared["product"].pk).price == 899
    assert ProductCategory.objects.count() == 1


def test_the_roles_allowed_change_what_the_table_says(store_a, shared):
    manager = api_client_for(_user(Role.MANAGER, store_a))
    marketer = api_client_for(_user(Role.MARKETER, store_a))
    response = manager.patch(f"/api/products/{shared['product'].pk}/", {"price": "799.00"}, format="json")
    assert response.status_code == 200
    assert marketer.patch(f"/api/products/{shared['product'].pk}/", {"price": "1.00"}, format="json").status_code == 403
    assert marketer.patch(f"/api/tags/{shared['tag'].pk}/", {"color": "#ff0000"}, format="json").status_code == 200
    assert manager.post("/api/stores/", {"code": "c", "name": "C 店"}, format="json").status_code == 403


def test_every_reference_model_has_a_rule_and_unknown_models_are_refused(admin_user, staff_a):
    from django.apps import apps

    for label in REFERENCE_DATA_ROLES:
        assert apps.get_model(label)  # each rule names a real model
        assert can_change(admin_user, label)
        assert not can_change(staff_a, label)
    with pytest.raises(KeyError):
        can_change(admin_user, "customers.customer")
