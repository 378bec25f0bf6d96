from celery import shared_task

from guanxi.core.events import event_dispatch


@shared_task(acks_late=True)
def dispatch_event(event_id: int) -> int:
    return event_dispatch(event_id)


@shared_task
def dispatch_pending_events(limit: int = 1000) -> int:
    """Sweep for events whose after-commit dispatch was lost (worker down, broker restart)."""
    from datetime import timedelta

    from django.utils import timezone

    from guanxi.core.models import Event

    cutoff = timezone.now() - timedelta(seconds=10)
    ids = list(
        Event.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(event_dispatch(event_id) for event_id in ids)
