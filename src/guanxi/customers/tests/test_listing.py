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
