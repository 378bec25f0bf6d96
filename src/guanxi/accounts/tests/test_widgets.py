"""QuickSelect renders what Django's Select renders, without a template per option."""

from __future__ import annotations

import pytest
from django import forms
from django.test.html import parse_html

from guanxi.core.widgets import QuickSelect


@pytest.mark.parametrize(
    ("choices", "value", "attrs"),
    [
        ([("", "所有门店"), ("1", "静安店"), ("2", "徐汇 & <浦东>")], "2", {"id": "id_store", "class": "x"}),
        ([("", "Any"), ("a", "A"), ("b", "B")], None, {"id": "id_tag", "required": True, "disabled": False}),
        ([("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("other", "Other")], "pear", {}),
        ([(1, "one"), (2, "two")], 1, {"data-x": '"quoted"'}),
    ],
)
def test_quick_select_renders_the_same_html_as_django(choices, value, attrs):
    ours = QuickSelect(choices=choices).render("field", value, dict(attrs))
    django = forms.Select(choices=choices).render("field", value, dict(attrs))
    assert parse_html(ours) == parse_html(django), (ours, django)


@pytest.mark.django_db
def test_a_model_choice_field_selects_the_bound_store(store_a, store_b):
    from guanxi.accounts.models import Store

    field = forms.ModelChoiceField(queryset=Store.objects.order_by("pk"), widget=QuickSelect, empty_label="All")
    ours = field.widget.render("store", store_b.pk, {"id": "id_store"})
    django = forms.Select(choices=field.choices).render("store", store_b.pk, {"id": "id_store"})
    assert parse_html(ours) == parse_html(django)
    assert f'<option value="{store_b.pk}" selected>' in ours
