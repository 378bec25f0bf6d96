"""Exact money from outside input: decimal strings (or integers), never floats, within the column's digits.

One parser for the API, the services and the imports, so every channel refuses the same things:
floats (``12.5`` as a JSON number, ``1e400``), exponents (``"1e2"``), full-width or other non-ASCII
digits, NaN and infinities, more decimal places than the column keeps, more digits than it holds.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, overload

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

#: The money columns: ``DecimalField(max_digits=14, decimal_places=2)``.
MAX_DIGITS = 14
DECIMAL_PLACES = 2

_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+", re.ASCII)

MESSAGES = {
    "float": _('Send amounts as strings such as "12.50", not as floating-point numbers.'),
    "invalid": _("Enter an amount such as 12.50."),
    "places": _("An amount has at most %(places)d decimal places."),
    "max": _("The amount is at most %(max)s."),
    "negative": _("The amount cannot be negative."),
    "zero": _("The amount must be more than zero."),
}


def max_amount(max_digits: int = MAX_DIGITS, decimal_places: int = DECIMAL_PLACES) -> Decimal:
    """The largest amount a ``DecimalField(max_digits, decimal_places)`` holds, e.g. 999999999999.99."""
    return Decimal(10) ** (max_digits - decimal_places) - Decimal(10) ** -decimal_places


def parse_money(
    value: Any,
    *,
    max_digits: int = MAX_DIGITS,
    decimal_places: int = DECIMAL_PLACES,
    allow_zero: bool = True,
    allow_negative: bool = False,
    max_value: Decimal | None = None,
) -> Decimal:
    """The amount ``value`` stands for, quantized to the column; a translated ``ValidationError`` if none."""
    if isinstance(value, float):
        raise ValidationError(MESSAGES["float"], code="float")
    if isinstance(value, bool):
        raise ValidationError(MESSAGES["invalid"], code="invalid")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(MESSAGES["invalid"], code="invalid")
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValidationError(MESSAGES["invalid"], code="invalid")
    if len(text) > 64 or not _PLAIN.fullmatch(text):
        raise ValidationError(MESSAGES["invalid"], code="invalid")
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise ValidationError(MESSAGES["invalid"], code="invalid") from None
    quantum = Decimal(10) ** -decimal_places
    if amount != amount.quantize(quantum):
        raise ValidationError(MESSAGES["places"], code="places", params={"places": decimal_places})
    amount = amount.quantize(quantum)
    if amount < 0 and not allow_negative:
        raise ValidationError(MESSAGES["negative"], code="negative")
    if amount == 0 and not allow_zero:
        raise ValidationError(MESSAGES["zero"], code="zero")
    ceiling = max_amount(max_digits, decimal_places)
    if max_value is not None:
        ceiling = min(ceiling, max_value)
    if abs(amount) > ceiling:
        raise ValidationError(MESSAGES["max"], code="max", params={"max": ceiling})
    return amount


@overload
def parse_money_field(
    value: Any,
    field: str,
    *,
    errors: None = None,
    allow_zero: bool = True,
    max_digits: int = MAX_DIGITS,
) -> Decimal: ...


@overload
def parse_money_field(
    value: Any,
    field: str,
    *,
    errors: dict[str, list[str]],
    allow_zero: bool = True,
    max_digits: int = MAX_DIGITS,
) -> Decimal | None: ...


def parse_money_field(
    value: Any,
    field: str,
    *,
    errors: dict[str, list[str]] | None = None,
    allow_zero: bool = True,
    max_digits: int = MAX_DIGITS,
) -> Decimal | None:
    """``parse_money`` for one named input, whose refusal names the field.

    Raised as ``ValidationError({field: [...]})``; or, given ``errors`` (a service that gathers every
    field's problems before refusing them together), recorded there, and None returned.
    """
    try:
        return parse_money(value, allow_zero=allow_zero, max_digits=max_digits)
    except ValidationError as exc:
        if errors is None:
            raise ValidationError({field: exc.messages}) from None
        errors[field] = exc.messages
        return None


def fits_column(amount: Decimal, max_digits: int = MAX_DIGITS, decimal_places: int = DECIMAL_PLACES) -> bool:
    """Whether a computed amount (a line's quantity × price, an order's total) fits its column."""
    return abs(amount) <= max_amount(max_digits, decimal_places)
