"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

import copy
from typing import Any, ClassVar, TypeVar

from django.db import models
from rest_framework import serializers

from guanxi.core.api import fields

_MT = TypeVar("_MT", bound=models.Model)


class ModelSerializer(serializers.ModelSerializer[_MT]):
    """DRF's ``ModelSerializer`` with the strict fields: every app's model serializers derive from this one.

    Decimal columns take exact decimal strings within their ``max_digits``/``decimal_places`` (no floats,
    exponents, NaN; not negative unless the column allows it through ``allow_negative_decimals``); integer
    columns take whole numbers within the column's range on every backend.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: fields.MoneyField,
        models.IntegerField: fields.IntegerField,
        models.BigIntegerField: fields.IntegerField,
        models.SmallIntegerField: fields.IntegerField,
        models.PositiveIntegerField: fields.IntegerField,
        models.PositiveSmallIntegerField: fields.IntegerField,
        models.PositiveBigIntegerField: fields.IntegerField,
    }

    def build_standard_field(
        self, field_name: str, model_field: models.Field[Any, Any]
    ) -> tuple[type[serializers.Field[Any, Any, Any, Any]], dict[str, Any]]:
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.IntegerField) and not isinstance(model_field, models.AutoField):
            low, high = fields.INTEGER_RANGES.get(
                model_field.get_internal_type(), (fields.BIGINT_MIN, fields.BIGINT_MAX)
            )
            kwargs["min_value"] = max(low, kwargs.get("min_value", low))
            kwargs["max_value"] = min(high, kwargs.get("max_value", high))
        if isinstance(model_field, models.DecimalField) and issubclass(field_class, fields.MoneyField):
            if field_name in getattr(self.Meta, "allow_negative_decimals", ()):
                kwargs["allow_negative"] = True
        return field_class, kwargs


class FieldsOnceModelSerializer(ModelSerializer[_MT]):
    """A ``ModelSerializer`` that derives its fields from the model once per class, not once per instance.

    DRF rebuilds a model serializer's fields for every new serializer: it reads each model field's
    verbose name, choices, validators and constraints again (~3 ms for the customer's 27 fields, a
    tenth of a lookup request). The fields come out the same every time, so they are built once and each
    serializer gets a deep copy (what DRF does with declared fields), bound to it as usual. Only for
    serializers whose fields do not depend on the request or the instance.
    """

    _fields_built_once: ClassVar[dict[str, serializers.Field[Any, Any, Any, Any]]]  # set on each class by get_fields

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built
        return copy.deepcopy(built)
