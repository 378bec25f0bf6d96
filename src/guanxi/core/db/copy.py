"""Bulk writes at COPY speed on PostgreSQL, ``bulk_create`` elsewhere.

``copy_from`` is the one place that writes ``COPY … FROM STDIN``: the bulk inserts below, the importer's
prepared text, the message queue's scratch table and the analytics predictions all go through it.
``bulk_insert`` takes ids from the table's sequence first (``reserve_ids``), so callers get primary keys
back exactly as with ``bulk_create`` and can insert the rows that point at them in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from django.db import connections, models

from guanxi.core.crypto import EncryptedTextField, encrypt
from guanxi.core.db import is_postgres

M = TypeVar("M", bound=models.Model)

#: NULL in COPY's text format.
COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_escape(text: str) -> str:
    """``text`` as one field of COPY's text format (backslash, tab and line breaks escaped)."""
    return text.translate(_COPY_ESCAPES)


def copy_from(
    cursor: Any,
    table: str,
    columns: Sequence[str],
    data: str | bytes | Iterable[Sequence[Any]],
    *,
    binary: bool = False,
) -> None:
    """``COPY table (columns) FROM STDIN`` on a PostgreSQL cursor (Django's ``CursorWrapper``).

    ``data`` is either already in COPY's format (text, or with ``binary`` the binary format; an empty
    string sends nothing) or rows of Python values, which psycopg adapts one by one.
    """
    if isinstance(data, str | bytes) and not data:
        return
    quote = cursor.db.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    options = " (FORMAT binary)" if binary else ""
    with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN{options}") as copy:
        if isinstance(data, str | bytes):
            copy.write(data)
        else:
            for row in data:
                copy.write_row(row)


def column_names(model: type[models.Model], names: Iterable[str]) -> list[str]:
    """The database columns of ``model``'s concrete fields ``names`` (attribute or field names)."""
    return [field_column(model._meta.get_field(name)) for name in names]


def field_column(field: Any) -> str:
    """A concrete field's database column; anything else (a reverse relation) is a programming error."""
    column = getattr(field, "column", None)
    if not isinstance(column, str):
        raise TypeError(f"{field} has no column: name a concrete field")
    return column


def reserve_ids(cursor: Any, model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys of ``model`` from its sequence (PostgreSQL), for rows written by COPY."""
    meta = model._meta
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [meta.db_table, meta.pk.column, count],
    )
    return [pk for (pk,) in cursor.fetchall()]


def copy_converter(field: models.Field[Any, Any]) -> Callable[[Any], str] | None:
    """Python value -> COPY text for one column, as the field itself would store it; None if unknown.

    For callers that prepare COPY text away from the database (the importer's worker processes):
    encrypted fields are encrypted, JSON is dumped with the field's encoder.
    """

    def nullable(convert: Callable[[Any], str]) -> Callable[[Any], str]:
        return lambda v: COPY_NULL if v is None else convert(v)

    if isinstance(field, EncryptedTextField):  # before TextField: it is one
        return nullable(lambda v: copy_escape(encrypt(v)) if v != "" else "")
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def dump(v: Any) -> str:
            if v == {} or v == []:  # most rows: no attributes, interests or preferences
                return "{}" if isinstance(v, dict) else "[]"
            return copy_escape(json.dumps(v, cls=encoder))

        return nullable(dump)
    if isinstance(field, models.BooleanField):
        return nullable(lambda v: "t" if v else "f")
    if isinstance(field, models.CharField | models.TextField):
        return nullable(lambda v: copy_escape(str(v)))
    if isinstance(field, models.IntegerField | models.DecimalField | models.ForeignKey):
        return nullable(str)
    if isinstance(field, models.DateTimeField | models.DateField):
        return nullable(lambda v: v.isoformat())
    return None


def bulk_insert(model: type[M], objs: Sequence[M], *, using: str = "default", batch_size: int = 1000) -> Sequence[M]:
    if not objs:
        return objs
    connection = connections[using]
    if not is_postgres(connection):
        return model._default_manager.using(using).bulk_create(objs, batch_size=batch_size)
    meta = model._meta
    fields = list(meta.concrete_fields)
    with connection.cursor() as cursor:
        missing = [obj for obj in objs if obj.pk is None]
        if missing:
            for obj, pk in zip(missing, reserve_ids(cursor, model, len(missing)), strict=True):
                obj.pk = pk
        copy_from(
            cursor,
            meta.db_table,
            [field_column(f) for f in fields],
            ([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs),
        )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return objs


#: Field types whose Python values psycopg sends as they are, without the field's ``get_db_prep_save``.
_PLAIN_TYPES = frozenset(
    {
        "CharField",
        "BigIntegerField",
        "BooleanField",
        "IntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "ForeignKey",
        "BigAutoField",
        "DateTimeField",
    }
)


def bulk_insert_values(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str = "default",
    batch_size: int = 1000,
) -> int:
    """Insert plain value tuples (Python values, in ``columns`` order) without building model instances.

    For the many small rows a big import writes (contacts, timeline entries), building a model instance
    per row costs more than sending it; values still pass through each field's ``get_db_prep_save``, so
    encryption and JSON encoding are the model's own.
    """
    if not rows:
        return 0
    connection = connections[using]
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in columns]  # columns: concrete
    if not is_postgres(connection):
        objs = [model(**{f.attname: v for f, v in zip(fields, row, strict=True)}) for row in rows]
        model._default_manager.using(using).bulk_create(objs, batch_size=batch_size)
        return len(objs)
    plain = [f.get_internal_type() in _PLAIN_TYPES and not hasattr(f, "from_db_value") for f in fields]
    with connection.cursor() as cursor:
        copy_from(
            cursor,
            model._meta.db_table,
            [field_column(f) for f in fields],
            (
                [v if p else f.get_db_prep_save(v, connection) for v, f, p in zip(row, fields, plain, strict=True)]
                for row in rows
            ),
        )
    return len(rows)
