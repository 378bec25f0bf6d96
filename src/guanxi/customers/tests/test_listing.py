"""The customer list's filter bar."""

from __future__ import annotations

import pytest
from django import forms
from django.test.html import parse_html


@pytest.mark.django_db
def test_the_filter_bar_lists_the_users_stores_without_querying_again(store_a, store_b, django_assert_num_queries):
    from guanxi.accounts.models import Store
    from guanxi.customers.listing import CustomerFilterForm

    stores = list(Store.objects.order_by("code"))
    form = CustomerFilterForm({"store": str(store_b.pk)}, stores=stores)
    assert form.is_valid()
    assert form.cleaned_data["store"] == store_b
    with django_assert_num_queries(0):
        html = str(form["store"])
    reference = forms.ModelChoiceField(
        queryset=Store.objects.order_by("code"), empty_label=form.fields["store"].empty_label
    )
    expected = forms.Select(choices=reference.choices).render("store", str(store_b.pk), {"id": "id_store"})
    assert parse_html(html) == parse_html(expected)


@pytest.fixture
def region_field():
    """A segment field as an app above customers registers it (``core.segments``), removed after the test."""
    from django.core.exceptions import ValidationError

    from guanxi.core.segments import SEGMENT_FIELDS, SegmentField, register_segment_field

    def clean(value):
        if not str(value).strip():
            raise ValidationError("Name a region.")
        return str(value).strip()

    register_segment_field(
        SegmentField(
            key="zz.region",
            label="Region of record",
            type="choice",
            filter=lambda qs, op, value: qs.filter(region=value),
            clean=clean,
            choices=lambda: [("杭州", "杭州市"), ("上海", "上海市")],
        )
    )
    yield "zz.region"
    SEGMENT_FIELDS.unregister("zz.region")


@pytest.mark.django_db
def test_a_registered_segment_field_filters_the_list_within_the_users_stores(
    region_field, store_a, store_b, client, staff_a
):
    from django.urls import reverse

    from guanxi.customers.tests.factories import make_customer

    mine = make_customer(store=store_a, name="杭州甲", region="杭州")
    make_customer(store=store_a, name="上海乙", region="上海")
    make_customer(store=store_b, name="杭州丙", region="杭州")  # another store: never listed to staff A
    client.force_login(staff_a)
    response = client.get(reverse("customers:customers") + "?seg.zz.region=杭州&q=", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert [c.pk for c in response.context["page"].rows] == [mine.pk]
    html = response.content.decode()
    assert "Region of record: 杭州市" in html  # the chip: the field's label and the value's
    assert 'href="?q="' in html  # removing it keeps the other parameters
    assert 'name="seg.zz.region"' in html


@pytest.mark.django_db
def test_an_unknown_segment_field_is_refused_with_a_clear_message_and_lists_nobody(
    region_field, store_a, client, staff_a
):
    from django.urls import reverse

    from guanxi.customers.tests.factories import make_customer

    make_customer(store=store_a, name="杭州甲", region="杭州")
    client.force_login(staff_a)
    response = client.get(reverse("customers:customers") + "?seg.zz.nothing=1", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert response.context["page"].rows == []
    assert "没有“zz.nothing”这个筛选条件" in response.content.decode()
    response = client.get(reverse("customers:customers") + "?seg.zz.region=", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Region of record: Name a region." in response.content.decode()
    # the export and the bulk tag refuse rather than act on every customer
    export = client.get(reverse("customers:customers_export") + "?seg.zz.nothing=1")
    assert export.status_code == 302
    tagged = client.post(reverse("customers:customers_tag") + "?seg.zz.nothing=1", {"tag": "x"})
    assert tagged.status_code == 302
    from guanxi.customers.models import Customer

    assert not Customer.objects.filter(tags__name="x").exists()


def test_a_chip_of_several_values_joins_them_as_the_language_writes_a_list():
    from django.utils import translation

    from guanxi.customers.listing import _chip_value

    def choices():
        return [("f", "女"), ("m", "男"), ("x", "Other")]

    with translation.override("zh-hans"):
        assert _chip_value(choices, ["f", "m"]) == "女、男"
    with translation.override("en"):
        assert _chip_value(choices, ["f", "x"]) == "女, Other"
