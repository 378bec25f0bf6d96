"""Strict serializer fields every app's API uses: money as exact decimal strings, integers within their column.

The bounds come from the database columns (``max_digits``/``decimal_places``, the integer ranges of
``IntegerField``/``PositiveIntegerField``/``BigIntegerField``), so a value the API accepts can always be
written and read back; ``ModelSerializer`` in :mod:`guanxi.core.api.serializers` maps model fields to these.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from guanxi.core import money

#: Integer ranges of the columns, the same on every backend (SQLite would store more than PostgreSQL).
INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges
BIGINT_RANGE = INTEGER_RANGES["BigIntegerField"]
BIGINT_MIN, BIGINT_MAX = BIGINT_RANGE


def integer_range(model: type[models.Model], field_name: str) -> tuple[int, int]:
    """The values the model's integer column holds, e.g. ``(0, 2147483647)`` for a ``PositiveIntegerField``."""
    field = model._meta.get_field(field_name)
    return INTEGER_RANGES.get(field.get_internal_type(), BIGINT_RANGE)


class MoneyField(serializers.DecimalField):
    """An amount as a decimal string ("12.50"); floats, exponents, non-ASCII digits, NaN/Inf are refused.

    Within ``max_digits``/``decimal_places`` (the money column by default). Shown in the schema as a
    decimal string with its pattern; answered as a string.
    """

    max_digits: int  # always given here, unlike DRF's field
    decimal_places: int

    def __init__(
        self,
        *,
        max_digits: int = money.MAX_DIGITS,
        decimal_places: int = money.DECIMAL_PLACES,
        allow_negative: bool = False,
        allow_zero: bool = True,
        allow_blank: bool = False,
        **kwargs: Any,
    ) -> None:
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero
        self.allow_blank = allow_blank
        if not allow_negative and "min_value" not in kwargs:
            kwargs["min_value"] = Decimal(0)
        kwargs.setdefault("max_value", money.max_amount(max_digits, decimal_places))
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal | None:  # type: ignore[override]  # blank is None when allow_blank
        if self.allow_blank and isinstance(data, str) and not data.strip():
            return None
        try:
            amount = money.parse_money(
                data,
                max_digits=self.max_digits,
                decimal_places=self.decimal_places,
                allow_zero=self.allow_zero,
                allow_negative=self.allow_negative,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None
        self.run_validators(amount)
        return amount


class IntegerField(serializers.IntegerField):
    """An integer within a 64-bit column unless narrower bounds are given; booleans, floats and '1e3' refused."""

    default_error_messages = {"invalid": _("Enter a whole number.")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", BIGINT_MIN)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool | float):
            self.fail("invalid")
        if isinstance(data, str):
            text = data.strip()
            if not text.lstrip("+-").isascii() or len(text) > 32:
                self.fail("invalid")
        return super().to_internal_value(data)


class IdField(IntegerField):
    """The id of a row: a positive 64-bit integer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


def model_integer_field(model: type[models.Model], field_name: str, **kwargs: Any) -> IntegerField:
    """An ``IntegerField`` bounded by the model column's range (and any narrower ``min_value``/``max_value``)."""
    low, high = integer_range(model, field_name)
    kwargs["min_value"] = max(low, kwargs.get("min_value", low))
    kwargs["max_value"] = min(high, kwargs.get("max_value", high))
    return IntegerField(**kwargs)


def model_money_field(model: type[models.Model], field_name: str, **kwargs: Any) -> MoneyField:
    """A ``MoneyField`` with the model column's ``max_digits`` and ``decimal_places``."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, models.DecimalField):
        raise TypeError(f"{model.__name__}.{field_name} is not a DecimalField")
    return MoneyField(max_digits=field.max_digits, decimal_places=field.decimal_places, **kwargs)
