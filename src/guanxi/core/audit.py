"""Writing the audit log: one call per read or change of personal data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from guanxi.core.models import AuditLog

# Who did it: a signed-in user, the anonymous user of a request, or nobody (a job). Core cannot name
# accounts.User (a layer up), so it names Django's base class.
Actor = AbstractBaseUser | AnonymousUser | None


def audit_record(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any = "",
    customer_id: int | None = None,
    channel: str = "",
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    actor_id = getattr(actor, "pk", None) if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditLog.objects.create(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        customer_id=customer_id,
        channel=channel,
        changes=changes or {},
    )


def audit_record_many(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    customer_ids: Iterable[int],
    channel: str = "",
    changes: dict[str, Any] | None = None,
) -> int:
    actor_id = getattr(actor, "pk", None) if actor is not None and getattr(actor, "is_authenticated", False) else None
    rows = [
        AuditLog(
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=str(cid),
            customer_id=cid,
            channel=channel,
            changes=changes or {},
        )
        for cid in customer_ids
    ]
    AuditLog.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
