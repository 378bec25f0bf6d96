"""The shared money and integer fields refuse what the columns cannot hold, with a translated message."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from rest_framework import serializers

from guanxi.core.api import fields
from guanxi.core.money import max_amount, parse_money


@pytest.mark.parametrize(
    "value",
    [
        12.5,
        float("inf"),
        float("nan"),
        "1e2",
        "1E400",
        "NaN",
        "Infinity",
        "１２.５０",
        "12.5.0",
        "",
        " ",
        "¥12",
        True,
        None,
        [],
        {},
        "12.505",
        "-1",
        "1000000000000.00",
        10**13,
    ],
)
def test_parse_money_refuses_floats_exponents_foreign_digits_and_what_the_column_cannot_hold(value):
    with pytest.raises(ValidationError):
        parse_money(value)


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("12.50", Decimal("12.50")),
        ("12.5", Decimal("12.50")),
        (" 7 ", Decimal("7.00")),
        (12, Decimal("12.00")),
        (Decimal("0.1"), Decimal("0.10")),
        ("999999999999.99", max_amount()),
    ],
)
def test_parse_money_takes_decimal_strings_and_integers(value, amount):
    assert parse_money(value) == amount


def test_money_messages_are_translated():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as exc:
        parse_money(12.5)
    assert "浮点" in exc.value.messages[0]


class _Payload(serializers.Serializer):
    amount = fields.MoneyField(max_digits=12)
    quantity = fields.IntegerField(min_value=1, max_value=100_000)
    customer = fields.IdField()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": 1e400, "quantity": 1, "customer": 1}, "amount"),
        ({"amount": "10000000000.00", "quantity": 1, "customer": 1}, "amount"),
        ({"amount": "1.00", "quantity": 100_001, "customer": 1}, "quantity"),
        ({"amount": "1.00", "quantity": "１２", "customer": 1}, "quantity"),
        ({"amount": "1.00", "quantity": 1.5, "customer": 1}, "quantity"),
        ({"amount": "1.00", "quantity": True, "customer": 1}, "quantity"),
        ({"amount": "1.00", "quantity": 1, "customer": 10**30}, "customer"),
        ({"amount": "1.00", "quantity": 1, "customer": 0}, "customer"),
    ],
)
def test_strict_fields_name_the_refused_field(data, field):
    payload = _Payload(data=data)
    assert not payload.is_valid()
    assert list(payload.errors) == [field]
