"""Idempotency keys remember what they were used for: a replay with the same content returns the first
result, a reuse with different content is refused (409) instead of silently answering the first result.

The services that take a key (checkout, top-up, orders by number, refunds, redemptions, coupon issues,
message batches) call :func:`idempotency_claim` inside their transaction with the key and the request's
parameters; the fingerprint is a SHA-256 of the parameters in canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotencyConflict(ValidationError):
    """The key was used before with different parameters; ``field`` names the key in the request.

    A ``ValidationError`` naming the key field, so every caller that reports refused input (imports, forms)
    reports this too; the API answers it with 409 rather than 400.
    """

    def __init__(self, field: str, key: str):
        self.field = field
        self.key = key
        self.conflict_message = _(
            "This key (%(field)s) was already used with different parameters; use a new key for a new request."
        ) % {"field": field}
        super().__init__({field: [self.conflict_message]})


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "pk"):
        return value.pk
    return str(value)


def fingerprint(params: dict[str, Any]) -> str:
    """SHA-256 of the parameters in canonical JSON (sorted keys, decimals normalised, models by pk)."""
    text = json.dumps(_canonical(params), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_claim(*, scope: str, key: str, params: dict[str, Any], field: str, replay: bool = False) -> bool:
    """Record ``key`` for ``params`` in ``scope``; True the first time, False for a replay of the same content.

    Raises :class:`IdempotencyConflict` when the key was used with other parameters. Call it inside the
    transaction that does the write, so a failed write leaves no claim behind. ``replay``: the caller already
    found what the key wrote, so only the fingerprint is compared (one statement either way).
    """
    from guanxi.core.models import IdempotencyKey

    digest = fingerprint(params)
    if not replay and _insert_unless_taken(scope=scope, key=key, digest=digest):
        return True
    existing = IdempotencyKey.objects.filter(scope=scope, key=key).values_list("fingerprint", flat=True).first()
    if existing is None and replay:  # written before its key was recorded: the key is recorded for this content
        _insert_unless_taken(scope=scope, key=key, digest=digest)
        return False
    if existing != digest:
        raise IdempotencyConflict(field, key)
    return False


def _insert_unless_taken(*, scope: str, key: str, digest: str) -> bool:
    """One statement, no savepoint: ``INSERT … ON CONFLICT DO NOTHING RETURNING``; True when this call inserted.

    A claim of the same key by a transaction still open waits for it (PostgreSQL's speculative insert; SQLite
    has one writer), then inserts if that one rolled back, or does nothing if it committed.
    """
    from guanxi.core.models import IdempotencyKey

    meta, qn = IdempotencyKey._meta, connection.ops.quote_name
    columns = ", ".join(qn(name) for name in ("scope", "key", "fingerprint", "created_at"))  # columns = names
    sql = (
        f"INSERT INTO {qn(str(meta.db_table))} ({columns}) VALUES (%s, %s, %s, %s) "  # noqa: S608 (names from the model)
        f"ON CONFLICT ({qn('scope')}, {qn('key')}) DO NOTHING RETURNING {qn('id')}"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [scope, key, digest, now])
        return cursor.fetchone() is not None
