"""Celery tasks of the queue: thin, they take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from guanxi.messaging import channels, services


@shared_task(acks_late=True)
def message_send_task(message_ids: list[int]) -> dict:
    """Send one provider batch. Safe to run twice: only still-queued messages are claimed.

    Temporary failures are put back in the queue with an exponential back-off and this task is
    scheduled again for the earliest of them.
    """
    summary = services.messages_send(message_ids=message_ids)
    if summary.retry and summary.retry_at and not settings.CELERY_TASK_ALWAYS_EAGER:
        message_send_task.apply_async((list(message_ids),), eta=summary.retry_at)
    return {"sent": summary.sent, "retry": summary.retry, "failed": summary.failed, "unknown": summary.unknown}


@shared_task
def messages_dispatch_task(batch_ref: str = "") -> int:
    """Split due queued messages into provider-sized batches and queue a send task for each."""
    due = services.messages_due(batch_ref=batch_ref)
    tasks = 0
    for channel, ids in due.items():
        size = channels.batch_size(channel)
        for start in range(0, len(ids), size):
            message_send_task.delay(ids[start : start + size])
            tasks += 1
    return tasks


@shared_task
def messages_reconcile_task() -> int:
    return services.messages_reconcile_stale()
