"""Segment test fields (registered for a test and removed after it), users and a small world of two stores."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q

from guanxi.accounts.models import Role


def _clean_region(value):
    value = str(value or "").strip()
    if value not in {"杭州", "上海", "北京"}:
        raise ValidationError(f"“{value}” is not a region.")
    return value


def _clean_amount(value):
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError("Enter an amount.") from None
    if not amount.is_finite() or not Decimal(0) <= amount <= Decimal("1000000"):
        raise ValidationError("Enter an amount from 0 to 1,000,000.")
    return amount


def _region_condition(op, value, params):
    return Q(region=value) if op == "eq" else ~Q(region=value)


def _spent_condition(op, value, params):
    return Q(total_spent__gte=value) if op == "gte" else Q(total_spent__lt=value)


@pytest.fixture
def zz_fields():
    """Two fields as an app registers them: a region (choice) and the amount spent (money)."""
    from guanxi.core.segments import SEGMENT_FIELDS, SegmentField, register_segment_field

    register_segment_field(
        SegmentField(
            key="zz.region",
            label="Region",
            type="choice",
            filter=lambda qs, op, value: qs.filter(_region_condition(op, value, {})),
            operators=("eq", "ne"),
            clean=_clean_region,
            choices=lambda: [("杭州", "杭州市"), ("上海", "上海市"), ("北京", "北京市")],
            condition=_region_condition,
            group="profile",
        )
    )
    register_segment_field(
        SegmentField(
            key="zz.spent",
            label="Total spent",
            type="money",
            filter=lambda qs, op, value: qs.filter(_spent_condition(op, value, {})),
            operators=("gte", "lt"),
            clean=_clean_amount,
            condition=_spent_condition,
            group="purchase",
        )
    )
    yield ["zz.region", "zz.spent"]
    SEGMENT_FIELDS.unregister("zz.region")
    SEGMENT_FIELDS.unregister("zz.spent")


@pytest.fixture
def manager_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="manager-a", role=Role.MANAGER, stores=[store_a])


@pytest.fixture
def marketer_b(store_b):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="marketer-b", role=Role.MARKETER, stores=[store_b])


@pytest.fixture
def analyst_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="analyst-a", role=Role.ANALYST, stores=[store_a])


@pytest.fixture
def people(store_a, store_b):
    """Customers of two stores: region and amount spent set so that each condition picks a known few."""
    from guanxi.customers.models import Customer
    from guanxi.customers.tests.factories import make_customer

    rows = {
        "a_hz_rich": (store_a, "杭州", "5000.00"),
        "a_hz_poor": (store_a, "杭州", "50.00"),
        "a_sh_rich": (store_a, "上海", "8000.00"),
        "b_hz_rich": (store_b, "杭州", "9000.00"),
        "b_bj_poor": (store_b, "北京", "10.00"),
    }
    out = {}
    for key, (store, region, spent) in rows.items():
        customer = make_customer(store=store, name=f"客户{key}", region=region)
        Customer.objects.filter(pk=customer.pk).update(total_spent=Decimal(spent))
        out[key] = customer
    return out


RICH_HZ = {
    "all": [{"field": "zz.region", "op": "eq", "value": "杭州"}, {"field": "zz.spent", "op": "gte", "value": "1000"}]
}
