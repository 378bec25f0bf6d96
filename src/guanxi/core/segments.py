"""Segment fields: what a segment (campaigns, care conditions, the customer list) can filter customers on.

An app that knows something about customers registers a field in its ``AppConfig.ready()``: the customers
app their gender and region, loyalty the tier and the points balance, analytics the churn risk. A segment is
then a list of ``(field key, operator, value)`` conditions that the segment engine turns into one SQL query
by calling each field's ``filter`` in turn; it never loads customers into Python.

``filter(queryset, operator, value) -> queryset`` narrows a queryset of ``customers.Customer`` that is
already limited to what the user may see: it only adds conditions (``filter``, ``exclude``, ``Exists``
subqueries), never widens the set or starts from ``Customer.objects``, never evaluates it, and adds no
per-customer query. ``operator`` is one of the field's ``operators``; ``value`` has been through ``clean``
(which raises ``ValidationError`` naming the problem).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi.core.registry import Registry

FieldType = Literal["text", "number", "money", "date", "boolean", "choice", "tag"]


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class SegmentField:
    key: str
    label: Any
    type: FieldType
    filter: Callable[[Any, str, Any], Any]  # (QuerySet[Customer], operator, value) -> QuerySet[Customer]
    operators: tuple[str, ...] = ("eq",)
    clean: Callable[[Any], Any] = _as_is
    choices: Callable[[], list[tuple[str, Any]]] | None = None  # for "choice": [(value, label)]
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)  # empty: everyone who may build segments


SEGMENT_FIELDS: Registry[SegmentField] = Registry("segment fields")


def register_segment_field(segment_field: SegmentField) -> None:
    SEGMENT_FIELDS.register(segment_field)


def segment_fields() -> list[SegmentField]:
    return SEGMENT_FIELDS.entries()


def segment_filter(queryset: Any, *, key: str, operator: str, value: Any) -> Any:
    """Apply one condition through its registered field; unknown fields or operators are refused."""
    found = SEGMENT_FIELDS.get(key)
    if found is None:
        raise ValidationError({"field": [_("There is no segment field “%(key)s”.") % {"key": key}]})
    if operator not in found.operators:
        raise ValidationError(
            {"operator": [_("“%(op)s” cannot be used with “%(key)s”.") % {"op": operator, "key": key}]}
        )
    return found.filter(queryset, operator, found.clean(value))
