"""A customer merge moves the merged record's orders with everything else."""

import pytest
from django.core.exceptions import ValidationError

from guanxi.customers.models import Customer, CustomerMerge, Note, TimelineEntry
from guanxi.customers.services import customer_merge, customer_tag, note_add
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_merge_keeps_every_order_note_tag_contact_and_timeline_entry(admin_user, store_a):
    survivor = make_customer(store=store_a, name="王芳", phone="13900000011")
    twin = make_customer(store=store_a, name="王芳", phone="13900000022", email="wf@example.com", occupation="教师")
    make_order(customer=survivor)
    make_order(customer=twin, lines=[{"name": "大衣", "quantity": 1, "unit_price": "899.00"}])
    make_order(customer=twin)
    note_add(actor=admin_user, customer=twin, body="喜欢红色")
    customer_tag(actor=admin_user, customer_ids=[twin.pk], tag_name="VIP")
    twin_timeline = TimelineEntry.objects.filter(customer=twin).count()
    survivor_timeline = TimelineEntry.objects.filter(customer=survivor).count()

    record = customer_merge(actor=admin_user, survivor=survivor, merged=twin)

    survivor.refresh_from_db()
    twin.refresh_from_db()
    assert twin.merged_into == survivor
    assert survivor.orders.count() == 3
    assert survivor.order_count == 3
    assert str(survivor.total_spent) == "1099.00"
    assert Note.objects.get().customer == survivor
    assert list(survivor.tags.values_list("name", flat=True)) == ["VIP"]
    assert {c.value for c in survivor.contact_points.all()} == {"+8613900000011", "+8613900000022", "wf@example.com"}
    assert survivor.contact_points.filter(kind="phone", is_primary=True).count() == 1
    assert survivor.occupation == "教师"
    assert TimelineEntry.objects.filter(customer=survivor).count() == twin_timeline + survivor_timeline + 1
    assert TimelineEntry.objects.filter(customer=survivor, kind="customer.merged").exists()
    assert record.moved["sales.Order"] == 2
    assert CustomerMerge.objects.get().merged == twin
    assert not Customer.objects.visible_to(admin_user).filter(pk=twin.pk).exists()
    with pytest.raises(ValidationError):
        customer_merge(actor=admin_user, survivor=survivor, merged=twin)
