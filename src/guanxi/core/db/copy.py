"""Bulk inserts at COPY speed on PostgreSQL, ``bulk_create`` elsewhere.

Ids are taken from the table's sequence first, so callers get primary keys back exactly as with
``bulk_create`` and can insert the rows that point at them in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models

from guanxi.core.db import is_postgres


def bulk_insert(
    model: type[models.Model], objs: Sequence[models.Model], *, using: str = "default", batch_size: int = 1000
) -> Sequence[models.Model]:
    if not objs:
        return objs
    connection = connections[using]
    if not is_postgres(connection):
        return model.objects.using(using).bulk_create(objs, batch_size=batch_size)
    meta = model._meta
    fields = list(meta.concrete_fields)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        missing = [obj for obj in objs if obj.pk is None]
        if missing:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(missing)],
            )
            for obj, (pk,) in zip(missing, cursor.fetchall(), strict=True):
                obj.pk = pk
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return objs


def bulk_insert_values(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    using: str = "default",
    batch_size: int = 1000,
) -> int:
    """Insert plain value tuples (Python values, in ``columns`` order) without building model instances.

    For the many small rows a big import writes (contacts, timeline entries, events), building a model
    instance per row costs more than sending it; values still pass through each field's
    ``get_db_prep_save``, so encryption and JSON encoding are the model's own.
    """
    if not rows:
        return 0
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in columns]
    if not is_postgres(connection):
        objs = [model(**{f.attname: v for f, v in zip(fields, row, strict=True)}) for row in rows]
        model.objects.using(using).bulk_create(objs, batch_size=batch_size)
        return len(objs)
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    plain = [
        f.get_internal_type()
        in (
            "CharField",
            "BigIntegerField",
            "BooleanField",
            "IntegerField",
            "PositiveIntegerField",
            "PositiveSmallIntegerField",
            "ForeignKey",
            "BigAutoField",
            "DateTimeField",
        )
        and not hasattr(f, "from_db_value")
        for f in fields
    ]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(
                [v if p else f.get_db_prep_save(v, connection) for v, f, p in zip(row, fields, plain, strict=True)]
            )
    return len(rows)
