import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from guanxi.core.models import AuditLog, Event
from guanxi.customers.models import (
    ContactPoint,
    CustomAttribute,
    Customer,
    TimelineEntry,
)
from guanxi.customers.selectors import (
    customer_by_email,
    customer_by_last4,
    customer_by_phone,
    customer_search,
)
from guanxi.customers.services import (
    ContactInput,
    contact_point_add,
    customer_create,
    customer_update,
)
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db


def test_phone_written_any_common_way_is_stored_as_e164(store_a):
    result = customer_create(
        actor=None,
        data={"name": "张三", "home_store": store_a.pk},
        contacts=[ContactInput(kind="phone", value="0086 138 0013 8000")],
    )
    assert result.created
    assert result.customer.contact_points.get().value == "+8613800138000"
    for raw in ["138 0013 8000", "8613800138000", "+86 138-0013-8000"]:
        again = customer_create(actor=None, data={"name": "张三"}, contacts=[ContactInput(kind="phone", value=raw)])
        assert not again.created
        assert again.customer.pk == result.customer.pk
        assert again.matched_by == "phone"


def test_invalid_phone_is_refused_naming_the_field_and_nothing_is_written(store_a):
    before = (Customer.objects.count(), ContactPoint.objects.count(), Event.objects.count())
    with pytest.raises(ValidationError) as exc:
        customer_create(actor=None, data={"name": "李四"}, contacts=[ContactInput(kind="phone", value="1234")])
    assert "contacts[0].value" in exc.value.message_dict
    assert "1234" in exc.value.message_dict["contacts[0].value"][0]
    assert (Customer.objects.count(), ContactPoint.objects.count(), Event.objects.count()) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "A", "birthday": "1990-02-30"}, "birthday"),
        ({"name": "A", "birthday": "2999-01-01"}, "birthday"),
        ({"name": "A", "gender": "robot"}, "gender"),
        ({"name": "A", "family_size": "0"}, "family_size"),
        ({"name": "A", "id_number": "11010519491231002Y"}, "id_number"),
        ({"name": "A", "id_number": "110105194912310020"}, "id_number"),
    ],
)
def test_invalid_profile_values_are_refused_with_field_named_errors(data, field):
    with pytest.raises(ValidationError) as exc:
        customer_create(actor=None, data=data, contacts=[ContactInput(kind="email", value="a@example.com")])
    assert field in exc.value.message_dict
    assert not Customer.objects.exists()


def test_invalid_email_is_refused():
    with pytest.raises(ValidationError) as exc:
        customer_create(actor=None, data={"name": "A"}, contacts=[ContactInput(kind="email", value="no-at-sign")])
    assert "contacts[0].value" in exc.value.message_dict


def test_custom_attributes_are_typed_and_validated():
    CustomAttribute.objects.create(key="shoe_size", label="鞋码", type="integer", min_value=30, max_value=50)
    CustomAttribute.objects.create(key="vip_since", label="VIP since", type="date")
    CustomAttribute.objects.create(key="skin", label="Skin", type="choice", choices=["dry", "oily"], required=True)
    with pytest.raises(ValidationError) as exc:
        customer_create(
            actor=None,
            data={"name": "A", "custom_attributes": {"shoe_size": "38.5", "vip_since": "yesterday", "colour": "red"}},
        )
    errors = exc.value.message_dict
    assert set(errors) == {
        "custom_attributes.shoe_size",
        "custom_attributes.vip_since",
        "custom_attributes.colour",
        "custom_attributes.skin",
    }
    assert not Customer.objects.exists()
    ok = customer_create(
        actor=None,
        data={"name": "A", "custom_attributes": {"shoe_size": "38", "vip_since": "2020-01-02", "skin": "dry"}},
    ).customer
    assert ok.custom_attributes == {"shoe_size": 38, "vip_since": "2020-01-02", "skin": "dry"}


def test_encrypted_columns_hold_no_plaintext_and_lookups_still_find_the_customer(admin_user, store_a):
    customer = make_customer(
        store=store_a, phone="13912345678", email="Wang@Example.COM", id_number="11010519491231002X"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, value_index, last4_index FROM customers_contactpoint")
        rows = cursor.fetchall()
        cursor.execute("SELECT id_number FROM customers_customer")
        (id_cipher,) = cursor.fetchone()
    dump = repr(rows) + id_cipher
    for plain in ("13912345678", "+8613912345678", "Wang@", "example.com", "11010519491231002X", "5678"):
        assert plain not in dump
    assert customer_by_phone(user=admin_user, phone="139-1234-5678").get() == customer
    assert customer_by_last4(user=admin_user, digits="5678").get() == customer
    assert customer_by_email(user=admin_user, email="wang@example.com").get() == customer
    assert customer_search(user=admin_user, query="5678").get() == customer
    assert Customer.objects.get(pk=customer.pk).id_number == "11010519491231002X"


def test_email_domain_case_does_not_make_a_twin():
    first = customer_create(actor=None, data={"name": "A"}, contacts=[{"kind": "email", "value": "a@Example.com"}])
    second = customer_create(actor=None, data={"name": "B"}, contacts=[{"kind": "email", "value": "a@example.COM"}])
    assert not second.created
    assert second.customer == first.customer


def test_change_writes_event_timeline_and_audit_with_before_and_after(admin_user, store_a):
    customer = make_customer(store=store_a, birthday=dt.date(1990, 5, 1))
    customer_update(actor=admin_user, customer=customer, data={"birthday": "1991-06-02", "region": "上海"})
    customer.refresh_from_db()
    assert customer.birthday == dt.date(1991, 6, 2)
    assert customer.birthday_md == 602
    entry = TimelineEntry.objects.filter(customer=customer, kind="customer.updated").get()
    assert entry.data["changes"]["birthday"] == {"from": "1990-05-01", "to": "1991-06-02"}
    assert Event.objects.filter(name="customer.updated", customer_id=customer.pk).count() == 1
    audit = AuditLog.objects.get(action="update", customer_id=customer.pk)
    assert audit.actor == admin_user
    assert set(audit.changes) == {"birthday", "region"}


def test_audit_log_is_append_only_in_the_database(admin_user, store_a):
    customer = make_customer(store=store_a)
    customer_update(actor=admin_user, customer=customer, data={"region": "北京"})
    statements = ["UPDATE core_auditlog SET action = 'view'"]
    if connection.vendor == "postgresql":
        statements.append("DELETE FROM core_auditlog")
    for statement in statements:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditLog.objects.filter(action="update").count() == 1


def test_bad_update_writes_nothing(admin_user, store_a):
    customer = make_customer(store=store_a, region="上海")
    with pytest.raises(ValidationError):
        customer_update(actor=admin_user, customer=customer, data={"region": "北京", "birthday": "1990-13-01"})
    customer.refresh_from_db()
    assert customer.region == "上海"
    assert not TimelineEntry.objects.filter(kind="customer.updated").exists()


def test_one_primary_contact_per_kind(store_a):
    customer = make_customer(store=store_a, phone="13900000001")
    second = contact_point_add(actor=None, customer=customer, kind="phone", value="13900000002", is_primary=True)
    primaries = list(customer.contact_points.filter(kind="phone", is_primary=True))
    assert primaries == [second]
    with pytest.raises(ValidationError) as exc:
        contact_point_add(actor=None, customer=customer, kind="phone", value="139 0000 0002")
    assert "value" in exc.value.message_dict


def test_timeline_names_changed_fields_in_the_viewers_language(admin_user, store_a):
    from django.utils import translation

    from guanxi.customers.timeline import render

    customer = make_customer(store=store_a)
    with translation.override("zh-hans"):
        customer_update(actor=admin_user, customer=customer, data={"birthday": "1991-06-02"})
    entry = TimelineEntry.objects.get(customer=customer, kind="customer.updated")
    with translation.override("en"):
        assert render(entry.kind, entry.data, entry.summary) == "Profile changed: birthday"
    with translation.override("zh-hans"):
        assert render(entry.kind, entry.data, entry.summary) == "资料修改:生日"
