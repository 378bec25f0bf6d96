from celery import shared_task

from guanxi.core.events import event_dispatch, events_dispatch_pending


@shared_task(acks_late=True)
def dispatch_event(event_id: int) -> int:
    """Deliver one event (kept for tasks queued before batching; new commits queue ``dispatch_events_from``)."""
    return event_dispatch(event_id)


@shared_task(acks_late=True)
def dispatch_events_from(first_event_id: int, limit: int = 5000) -> int:
    """After a commit: deliver the pending events from that commit's first one on, in batches.

    Later commits' events are taken along, so under load one task drains what many commits recorded and
    the tasks queued by those commits find little or nothing left to do.
    """
    return events_dispatch_pending(from_id=first_event_id, limit=limit)


@shared_task
def dispatch_pending_events(limit: int = 10_000) -> int:
    """Sweep for events whose after-commit dispatch was lost (worker down, broker restart), in batches."""
    from datetime import timedelta

    from django.utils import timezone

    return events_dispatch_pending(older_than=timezone.now() - timedelta(seconds=10), limit=limit)
