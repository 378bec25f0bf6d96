"""Query-parameter filters with bounds: a value out of range is a 400 naming the parameter, never a 500."""

from __future__ import annotations

from typing import Any

from django import forms
from django_filters import rest_framework as filters

from guanxi.core.api.fields import BIGINT_MAX, BIGINT_MIN


class AsciiIntegerField(forms.IntegerField):
    """Django's ``IntegerField`` without the digits of other scripts (``int("１２")`` is 12)."""

    def to_python(self, value: Any) -> int | None:
        if isinstance(value, str) and not value.isascii():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IntegerFilter(filters.NumberFilter):  # type: ignore[misc]  # django-filter ships no type hints
    """A whole number within ``min_value``/``max_value`` (a 64-bit column's range unless narrower)."""

    field_class = AsciiIntegerField

    def __init__(self, *args: Any, min_value: int = BIGINT_MIN, max_value: int = BIGINT_MAX, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", min_value)
        kwargs.setdefault("max_value", max_value)
        super().__init__(*args, **kwargs)
