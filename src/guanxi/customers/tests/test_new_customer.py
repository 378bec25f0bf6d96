"""新建客户 and contact editing on the 360 page, through the test client; the sections other apps add are
tested with their apps in guanxi/tests/test_new_customer_page.py (customers may not import them)."""

from __future__ import annotations

import io

import pytest
import time_machine
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from guanxi.accounts.models import Role
from guanxi.accounts.tests.factories import UserFactory
from guanxi.core.customer_create import (
    CUSTOMER_CREATE_SECTIONS,
    CustomerCreateSection,
    customer_create_sections,
    register_customer_create_section,
)
from guanxi.core.models import AuditLog
from guanxi.customers.models import ContactPoint, Customer, ImportJob, TimelineEntry
from guanxi.customers.services import ContactInput, customer_create_with_sections
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.usefixtures("no_page_cache", "frozen_clock")


@pytest.fixture
def frozen_clock():
    with time_machine.travel("2025-06-10 10:00 +0800", tick=False):
        yield


NEW = "customers:customer_new"


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


class _NoteForm(forms.Form):
    remark = forms.CharField(required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)


def _refuse(customer, cleaned, actor):
    if cleaned.get("remark") == "refuse":
        raise ValidationError({"remark": ["refused by the section"]})
    Customer.objects.filter(pk=customer.pk).update(region=cleaned.get("remark") or "")


@pytest.fixture
def test_section():
    section = CustomerCreateSection(
        key="zz.test", label="Test", form_class=_NoteForm, template="customers/_match.html", save=_refuse, order=999
    )
    register_customer_create_section(section)
    yield section
    CUSTOMER_CREATE_SECTIONS.unregister("zz.test")


def _post(client, **data):
    body = {"name": "王芳", "mobile": "13812341234", "email": "", "birthday": "", "gender": "", "tags": ""}
    body.update(data)
    return client.post(reverse(NEW), body)


def test_registry_by_role_and_the_apps_sections():
    keys = [s.key for s in customer_create_sections(UserFactory.build(role=Role.STORE_STAFF))]
    assert keys == ["loyalty.enrol", "messaging.consent"]  # registered by loyalty and messaging in ready()


def test_the_page_in_both_languages_defaults_to_the_clerks_store(client_a, store_a, store_b):
    response = client_a.get(reverse(NEW), HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = response.content.decode()
    assert response.status_code == 200
    assert "新建客户" in body
    assert response.context["form"]["home_store"].value() == store_a.pk
    assert [c[0] for c in response.context["form"].fields["home_store"].choices] == [store_a.pk]  # not B
    assert 'hx-get="/customers/new/check/"' in body
    body = client_a.get(reverse(NEW), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "New customer" in body
    list_page = client_a.get(reverse("customers:customers")).content.decode()
    assert reverse(NEW) in list_page


def test_the_page_runs_a_constant_number_of_queries(client_a, store_a, django_assert_max_num_queries):
    client_a.get(reverse(NEW))  # session, user warmed
    # session, user, the user's stores (switcher, default store, nav), the base tier, the shell's own reads
    with django_assert_max_num_queries(12) as captured:
        client_a.get(reverse(NEW))
    n = len(captured)
    for i in range(5):
        make_customer(store=store_a, name=f"客{i}")
    with django_assert_max_num_queries(n):
        client_a.get(reverse(NEW))


def test_create_lands_on_the_360_with_store_tags_and_contacts(client_a, store_a):
    response = _post(client_a, email="WF@Example.com", birthday="1990-05-17", gender="female", tags="VIP，新客")
    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer", args=[customer.pk])
    assert customer.home_store_id == store_a.pk
    assert customer.birthday.isoformat() == "1990-05-17"
    assert sorted(customer.tags.values_list("name", flat=True)) == ["VIP", "新客"]
    assert sorted(customer.contact_points.values_list("kind", flat=True)) == ["email", "phone"]
    assert AuditLog.objects.filter(action="create", object_type="customer", object_id=str(customer.pk)).exists()


def test_an_existing_mobile_offers_the_existing_customer_instead(client_a, store_a):
    existing = make_customer(store=store_a, name="王芳", phone="13812341234")
    response = _post(client_a, name="王芳芳")
    body = response.content.decode()
    assert response.status_code == 200
    assert Customer.objects.count() == 1
    assert "已有客户 王芳（尾号 1234）" in body or "Existing customer 王芳 (number ending 1234)" in body
    assert reverse("customers:customer", args=[existing.pk]) in body
    assert 'name="force_new"' in body
    # on purpose: a family member sharing the phone
    response = _post(client_a, name="王芳芳", force_new="1")
    assert response.status_code == 302
    assert Customer.objects.count() == 2


def test_the_mobile_check_in_both_languages(client_a, store_a):
    make_customer(store=store_a, name="王芳", phone="13812341234")
    url = reverse("customers:customer_new_check")
    body = client_a.get(url, {"mobile": "138 1234 1234"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已有客户 王芳（尾号 1234）" in body
    assert "打开" in body
    body = client_a.get(url, {"mobile": "13812341234"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Existing customer 王芳 (number ending 1234)" in body
    assert client_a.get(url, {"mobile": "13900000000"}).content.decode().strip() == ""
    assert client_a.get(url, {"mobile": "not a phone"}).content.decode().strip() == ""


def test_store_staff_see_no_other_stores_customer_and_create_only_in_their_store(client_a, store_a, store_b):
    other = make_customer(store=store_b, name="他店王芳", phone="13812341234")
    body = client_a.get(reverse("customers:customer_new_check"), {"mobile": "13812341234"}).content.decode()
    assert "他店王芳" not in body
    assert str(other.pk) not in body
    response = _post(client_a, home_store=str(store_b.pk))
    assert response.status_code == 400
    assert response.context["form"].errors["home_store"]
    assert Customer.objects.count() == 1
    response = _post(client_a)  # the same phone: to store A's clerk an unknown phone
    assert response.status_code == 302
    mine = Customer.objects.exclude(pk=other.pk).get()
    assert mine.home_store_id == store_a.pk
    assert "他店王芳" not in response.content.decode()


def test_errors_are_inline_and_translated(client_a, store_a):
    response = client_a.post(
        reverse(NEW), {"name": "", "mobile": "12", "email": "nope", "birthday": "2030-01-01"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    errors = response.context["form"].errors
    assert response.status_code == 400
    assert errors["name"] == ["Enter the customer's name."]
    assert "is not a valid phone number" in errors["mobile"][0] or "is not a phone number" in errors["mobile"][0]
    assert "e-mail" in errors["email"][0]
    response = client_a.post(reverse(NEW), {"name": "李", "mobile": "", "birthday": "2030-01-01"})
    body = response.content.decode()
    assert "请填写客户的手机号码" in body
    assert "生日不能晚于今天" in body
    assert Customer.objects.count() == 0


def test_a_failing_section_writes_nothing(staff_a, store_a, test_section):
    with pytest.raises(ValidationError) as exc:
        customer_create_with_sections(
            actor=staff_a,
            data={"name": "周一"},
            contacts=[ContactInput(kind="phone", value="13700000001")],
            tags=["VIP"],
            sections=[(test_section, {"remark": "refuse"})],
        )
    assert exc.value.message_dict == {"zz.test.remark": ["refused by the section"]}
    assert not Customer.objects.exists()
    assert not ContactPoint.objects.exists()
    assert not TimelineEntry.objects.exists()
    assert not AuditLog.objects.filter(object_type="customer").exists()
    result = customer_create_with_sections(
        actor=staff_a,
        data={"name": "周一"},
        contacts=[ContactInput(kind="phone", value="13700000001")],
        sections=[(test_section, {"remark": "杭州"})],
    )
    result.customer.refresh_from_db()
    assert result.created
    assert result.customer.region == "杭州"
    assert result.customer.home_store_id == store_a.pk


def test_a_section_error_shows_under_its_field_and_nothing_is_created(client_a, store_a, test_section):
    response = _post(client_a, **{"zz.test-remark": "refuse"})
    assert response.status_code == 400
    forms_by_key = {s["section"].key: s["form"] for s in response.context["sections"]}
    assert forms_by_key["zz.test"].errors["remark"] == ["refused by the section"]
    assert not Customer.objects.exists()


# --- contacts on the 360 page -----------------------------------------------------------------------------------


def test_contacts_added_corrected_made_primary_and_removed_with_audit(client_a, store_a):
    customer = make_customer(store=store_a, name="吴二", phone="13600000001")
    url = reverse("customers:customer_contact_add", args=[customer.pk])
    assert client_a.post(url, {"kind": "phone", "value": "13600000002", "label": "工作"}).status_code == 302
    second = customer.contact_points.get(label="工作")
    assert not second.is_primary
    change = reverse("customers:customer_contact_change", args=[customer.pk, second.pk])
    assert client_a.post(change, {"value": "136 0000 0003", "label": "工作"}).status_code == 302
    second.refresh_from_db()
    assert second.value == "+8613600000003"
    primary = reverse("customers:customer_contact_primary", args=[customer.pk, second.pk])
    assert client_a.post(primary).status_code == 302
    assert customer.contact_points.get(is_primary=True).pk == second.pk
    remove = reverse("customers:customer_contact_remove", args=[customer.pk, second.pk])
    assert client_a.post(remove).status_code == 302
    first = customer.contact_points.get()
    assert first.is_primary  # the remaining phone becomes primary again
    audited = list(
        AuditLog.objects.filter(object_type="contact_point", customer_id=customer.pk).values_list("changes", flat=True)
    )
    assert {key for c in audited for key in c} >= {"added", "changed", "primary", "removed"}  # (jsonb sorts keys)
    kinds = set(TimelineEntry.objects.filter(customer=customer).values_list("kind", flat=True))
    assert {"contact.added", "contact.changed", "contact.primary", "contact.removed"} <= kinds
    body = client_a.get(reverse("customers:customer", args=[customer.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "已更正" in body.content.decode()


def test_contact_errors_name_the_field_in_both_languages(client_a, store_a):
    customer = make_customer(store=store_a, name="吴二", phone="13600000001")
    phone = customer.contact_points.get()
    url = reverse("customers:customer_contact_add", args=[customer.pk])
    response = client_a.post(url, {"kind": "phone", "value": "136-0000-0001"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.context["contact_form"].errors["value"] == ["This customer already has this phone."]
    response = client_a.post(url, {"kind": "email", "value": "x@"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "不是有效的电子邮箱" in response.context["contact_form"].errors["value"][0]
    change = reverse("customers:customer_contact_change", args=[customer.pk, phone.pk])
    response = client_a.post(change, {"value": "123"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    row = next(r for r in response.context["contacts"] if r["contact"].pk == phone.pk)
    assert row["form"].errors["value"]
    assert f'id="contact{phone.pk}_value"' in response.content.decode()
    phone.refresh_from_db()
    assert phone.value == "+8613600000001"


def test_contacts_of_another_stores_customer_cannot_be_changed(client_a, store_a, store_b):
    other = make_customer(store=store_b, name="他店", phone="13600000009")
    contact = other.contact_points.get()
    mine = make_customer(store=store_a, name="本店")
    for name in ("customer_contact_change", "customer_contact_remove", "customer_contact_primary"):
        assert (
            client_a.post(reverse(f"customers:{name}", args=[other.pk, contact.pk]), {"value": "1"}).status_code == 404
        )
        # another customer's contact under my customer's id
        assert (
            client_a.post(reverse(f"customers:{name}", args=[mine.pk, contact.pk]), {"value": "1"}).status_code == 404
        )
    assert client_a.post(reverse("customers:customer_contact_add", args=[other.pk]), {}).status_code == 404
    contact.refresh_from_db()
    assert contact.value == "+8613600000009"


def test_a_corrected_phone_keeps_no_identity_another_customer_claims(staff_a, store_a, store_b):
    from guanxi.customers.services import contact_point_change

    make_customer(store=store_b, name="他店", phone="13600000009", actor=None)
    b_identity = ContactPoint.objects.get()
    ContactPoint.objects.filter(pk=b_identity.pk).update(is_identity=True)  # B's phone claims its identity
    mine = make_customer(store=store_a, name="本店", phone="13600000001")
    contact = mine.contact_points.get()
    ContactPoint.objects.filter(pk=contact.pk).update(is_identity=True)
    changed = contact_point_change(actor=staff_a, contact=contact, value="13600000009")
    changed.refresh_from_db()
    assert changed.value == "+8613600000009"
    assert not changed.is_identity


# --- imports: the store is always set (issue #15 item 9) ----------------------------------------------------------


def test_a_store_bound_importer_sees_the_customers_they_imported(
    client, store_a, store_b, settings, tmp_path, django_capture_on_commit_callbacks
):
    from guanxi.accounts.tests.factories import StoreFactory

    store_c = StoreFactory(code="store-c", name="C 店")
    clerk = UserFactory(username="clerk-ac", role=Role.STORE_STAFF, stores=[store_a, store_c])
    client.force_login(clerk)
    settings.MEDIA_ROOT = tmp_path
    page = client.get(reverse("customers:imports"))
    assert [c[0] for c in page.context["form"].fields["store"].choices] == [store_a.pk, store_c.pk]
    upload = io.BytesIO("姓名,手机,门店\n赵一,13500000001,\n钱二,13500000002,store-b\n".encode())
    upload.name = "members.csv"
    client.post(reverse("customers:imports"), {"file": upload, "target": "customers", "store": store_c.pk})
    job = ImportJob.objects.get()
    assert job.store_id == store_c.pk
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("customers:import_mapping", args=[job.pk]),
            {"col-0": "name", "col-1": "phone", "col-2": "home_store"},
        )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("customers:import_job", args=[job.pk]), {"action": "run"})
    job.refresh_from_db()
    assert job.created_count == 1
    assert job.rejected_count == 1  # store B is not one of the clerk's stores
    imported = Customer.objects.get()
    assert imported.home_store_id == store_c.pk
    listed = client.get(reverse("customers:customers"), {"q": "赵一"})
    assert [c.pk for c in listed.context["page"].rows] == [imported.pk]
    assert client.get(reverse("customers:customer", args=[imported.pk])).status_code == 200


def test_an_import_posted_without_a_store_gets_the_importers_own(client, store_a, store_b, settings, tmp_path):
    clerk = UserFactory(username="clerk-ab", role=Role.STORE_STAFF, stores=[store_a, store_b])
    client.force_login(clerk)
    settings.MEDIA_ROOT = tmp_path
    upload = io.BytesIO("姓名,手机\n赵一,13500000001\n".encode())
    upload.name = "members.csv"
    client.post(reverse("customers:imports"), {"file": upload, "target": "customers"})
    assert ImportJob.objects.get().store_id == store_a.pk
