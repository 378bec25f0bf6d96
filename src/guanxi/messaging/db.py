"""Writing many message rows fast: COPY (``core.db.copy``) into a scratch table then INSERT … ON CONFLICT on PostgreSQL,
``bulk_create(ignore_conflicts=True)`` elsewhere (SQLite). Both skip rows whose dedupe key exists.

Rows are plain dicts of column values (``to_address`` in plaintext; it is encrypted here).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from guanxi.core.crypto import encrypt
from guanxi.core.db.copy import copy_from
from guanxi.core.db.lookups import filter_in

__all__ = ["COLUMNS", "DEFAULTS", "filter_in", "messages_insert"]  # filter_in: core.db's, for services/selectors

#: Columns a new message row sets; every other column keeps its database-side meaning (NULL / '' / 0).
COLUMNS = [
    "customer_id", "channel", "purpose", "template_id", "template_code", "provider_template_code", "language",
    "subject", "body", "params", "segments", "to_address", "to_index", "to_masked", "status", "reason",
    "dedupe_key", "batch_ref", "next_attempt_at", "created_by_id",
]  # fmt: skip
DEFAULTS = {
    "error": "", "provider": "", "provider_message_id": "", "claim": "", "attempts": 0,
}  # fmt: skip


def messages_insert(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        _insert_copy(rows)
    else:
        from guanxi.messaging.models import Message

        Message.objects.bulk_create([Message(**row) for row in rows], batch_size=1000, ignore_conflicts=True)


def _insert_copy(rows: list[dict[str, Any]]) -> None:
    now = timezone.now()
    columns = COLUMNS + list(DEFAULTS) + ["created_at", "updated_at"]
    column_sql = ", ".join(f'"{c}"' for c in columns)
    tail = [*DEFAULTS.values(), now, now]

    def values(row: dict[str, Any]) -> list[Any]:
        values = [row.get(c) for c in COLUMNS]
        values[COLUMNS.index("params")] = json.dumps(row.get("params") or {}, cls=DjangoJSONEncoder)
        address = row.get("to_address") or ""
        values[COLUMNS.index("to_address")] = encrypt(address) if address else ""
        for name in ("reason", "subject", "body", "template_code", "provider_template_code", "language",
                     "to_index", "to_masked", "batch_ref"):  # fmt: skip
            if values[COLUMNS.index(name)] is None:
                values[COLUMNS.index(name)] = ""
        return values + tail

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS messaging_message_in AS SELECT {column_sql} "  # noqa: S608
            "FROM messaging_message WITH NO DATA"
        )
        cursor.execute("TRUNCATE messaging_message_in")
        copy_from(cursor, "messaging_message_in", columns, (values(row) for row in rows))
        cursor.execute(
            f"INSERT INTO messaging_message ({column_sql}) SELECT {column_sql} FROM messaging_message_in "  # noqa: S608
            "ON CONFLICT (dedupe_key) DO NOTHING"
        )
        cursor.execute("TRUNCATE messaging_message_in")
