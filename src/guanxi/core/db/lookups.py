"""``field IN (values)`` for thousands of values: one array parameter on PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from django.db import connections, models
from django.db.models.expressions import RawSQL

from guanxi.core.db import is_postgres
from guanxi.core.db.copy import field_column

M = TypeVar("M", bound=models.Model)

_INTEGER_KEYS = ("BigAutoField", "BigIntegerField", "AutoField")


def filter_in(
    qs: models.QuerySet[M, Any] | models.Manager[M], field: str, values: Collection[Any]
) -> models.QuerySet[M, Any]:
    """``qs`` (a queryset or manager) filtered to ``field IN values``: ``= ANY(array)`` on PostgreSQL.

    An IN list of a thousand and more placeholders costs more to build, send and plan than the index
    look-ups it asks for; one array parameter does not. Elsewhere it is ``__in``. ``field`` is a
    concrete field of ``qs.model`` (a foreign key compares as the key it points at).
    """
    connection = connections[qs.db]
    if not is_postgres(connection):
        return qs.filter(**{f"{field}__in": values})
    meta = qs.model._meta
    model_field = meta.get_field(field)
    target = getattr(model_field, "target_field", model_field)
    cast = "bigint[]" if target.get_internal_type() in _INTEGER_KEYS else "text[]"
    quote = connection.ops.quote_name
    column = f"{quote(meta.db_table)}.{quote(field_column(model_field))}"
    # identifiers from the model's own metadata, the values as one bound parameter
    any_of = RawSQL(f"{column} = ANY(%s::{cast})", [list(values)], output_field=models.BooleanField())  # noqa: S611
    return qs.filter(any_of)
