from decimal import Decimal

import pytest
from django.template import Context, Template

from guanxi.core.templatetags.money import format_money


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("3556"), "¥3,556.00"),
        (Decimal("0"), "¥0.00"),
        (Decimal("-0.00"), "¥0.00"),
        (0, "¥0.00"),
        (Decimal("-12.5"), "-¥12.50"),
        ("-1234567.891", "-¥1,234,567.89"),
        (Decimal("999999999999.99"), "¥999,999,999,999.99"),
        (Decimal("0.005"), "¥0.01"),
        (12, "¥12.00"),
        ("88.80", "¥88.80"),
        (None, "—"),
        ("", "—"),
        ("abc", "—"),
        (Decimal("NaN"), "—"),
    ],
)
def test_money_format(value, shown):
    assert format_money(value) == shown


def test_money_filter_ignores_the_locale(settings):
    from django.utils import translation

    with translation.override("zh-hans"):
        html = Template("{% load money %}{{ a|money }} {{ b|money }}").render(
            Context({"a": Decimal("3556.00"), "b": Decimal("-0.5")})
        )
    assert html == "¥3,556.00 -¥0.50"
