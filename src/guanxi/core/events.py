"""The transactional outbox: domain events are rows written with the change they announce.

``event_record`` is called inside a service's transaction, so an event exists exactly when its
change was committed. After commit a Celery task hands it to every subscriber registered for its
name; each (event, subscriber) pair is delivered once, recorded in the same transaction as the
subscriber's own writes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

logger = logging.getLogger(__name__)

Handler = Callable[["Event"], None]  # noqa: F821
_subscribers: dict[str, dict[str, Handler]] = defaultdict(dict)


def subscriber(*event_names: str, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``handler`` for events by name ("order.paid") or family ("order.*", "*")."""

    def register(handler: Handler) -> Handler:
        key = name or f"{handler.__module__}.{handler.__qualname__}"
        for event_name in event_names:
            _subscribers[event_name][key] = handler
        return handler

    return register


def subscribers_for(event_name: str) -> dict[str, Handler]:
    family = event_name.split(".", 1)[0] + ".*"
    found: dict[str, Handler] = {}
    for pattern in ("*", family, event_name):
        found.update(_subscribers.get(pattern, {}))
    return found


def event_record(
    *,
    name: str,
    payload: dict[str, Any] | None = None,
    customer_id: int | None = None,
    aggregate: str = "",
    aggregate_id: str | int = "",
    actor_id: int | None = None,
):
    from guanxi.core.models import Event

    event = Event.objects.create(
        name=name,
        payload=payload or {},
        customer_id=customer_id,
        aggregate=aggregate,
        aggregate_id=str(aggregate_id),
        actor_id=actor_id,
    )
    if subscribers_for(name):
        from guanxi.core.tasks import dispatch_event

        dispatch_event.delay_on_commit(event.pk)
    return event


def event_dispatch(event_id: int) -> int:
    """Deliver one event to each of its subscribers that has not had it yet; returns deliveries."""
    from django.utils import timezone

    from guanxi.core.models import Event, EventDelivery

    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    delivered = 0
    done = set(EventDelivery.objects.filter(event_id=event_id).values_list("subscriber", flat=True))
    for key, handler in subscribers_for(event.name).items():
        if key in done:
            continue
        try:
            with transaction.atomic():
                EventDelivery.objects.create(event_id=event_id, subscriber=key)
                handler(event)
        except IntegrityError:
            continue
        delivered += 1
    Event.objects.filter(pk=event_id, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return delivered
