"""Delivering pending events to their subscribers, in batches; each (event, subscriber) pair at most once.

A drain takes the pending events in id order, ``DISPATCH_BATCH`` per database transaction, so that a busy
shop's backlog goes in a few transactions rather than one task per event. Each delivery is recorded in the
subscriber's own savepoint with its writes; the unique (event, subscriber) pair makes a second delivery a
no-op. Concurrent drains skip each other's batches (``SKIP LOCKED`` on PostgreSQL; SQLite has one writer at
a time anyway).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from guanxi.core.events.registry import subscribers_for

if TYPE_CHECKING:
    from guanxi.core.models import Event

logger = logging.getLogger("guanxi.core.events")

DISPATCH_BATCH = 100


@dataclass(frozen=True)
class Drained:
    """What one drain did: ``resume_from`` is set when it stopped at its limit with events maybe left."""

    events: int
    delivered: int
    resume_from: int | None = None


def events_drain(
    *, from_id: int | None = None, older_than: datetime | None = None, limit: int = 10_000, batch: int | None = None
) -> Drained:
    """Deliver pending events in id order, ``batch`` per transaction, until none is left or ``limit`` were seen.

    ``from_id`` starts the drain at that event (a commit's kick); ``older_than`` takes only events created
    before that moment (the sweep, which leaves fresh events to their own kick). An event whose subscriber
    raises stays pending for the next sweep and does not hold up the others. Events recorded while the drain
    runs (by its own subscribers, or by other commits) have higher ids and are taken along.
    """
    from guanxi.core.models import Event

    size = batch or DISPATCH_BATCH
    pending = Event.objects.filter(dispatched_at__isnull=True).order_by("id")
    if from_id is not None:
        pending = pending.filter(id__gte=from_id)
    if older_than is not None:
        pending = pending.filter(created_at__lt=older_than)
    delivered, seen, after = 0, 0, 0
    while seen < limit:
        with transaction.atomic():
            claim = pending.filter(id__gt=after)
            if transaction.get_connection().features.has_select_for_update_skip_locked:
                claim = claim.select_for_update(skip_locked=True)
            events = list(claim[: min(size, limit - seen)])
            if not events:
                return Drained(seen, delivered)
            delivered += _deliver_batch(events)
        seen += len(events)
        after = events[-1].pk
    return Drained(seen, delivered, resume_from=after + 1)


def events_dispatch_pending(
    *, from_id: int | None = None, older_than: datetime | None = None, limit: int = 10_000, batch: int | None = None
) -> int:
    """``events_drain``, counting deliveries."""
    return events_drain(from_id=from_id, older_than=older_than, limit=limit, batch=batch).delivered


def _deliver_batch(events: Sequence[Event]) -> int:
    from guanxi.core.models import Event, EventDelivery

    done: dict[int, set[str]] = defaultdict(set)
    for event_id, key in EventDelivery.objects.filter(event_id__in=[e.pk for e in events]).values_list(
        "event_id", "subscriber"
    ):
        done[event_id].add(key)
    delivered, finished = 0, []
    for event in events:
        try:
            delivered += _deliver(event, done[event.pk])
        except Exception:
            logger.exception("event %s (%s): a subscriber failed; it stays pending for the sweep", event.pk, event.name)
            continue
        finished.append(event.pk)
    Event.objects.filter(pk__in=finished, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return delivered


def _deliver(event: Event, done: set[str]) -> int:
    from guanxi.core.models import EventDelivery

    delivered = 0
    for key, handler in subscribers_for(event.name).items():
        if key in done:
            continue
        try:
            with transaction.atomic():
                EventDelivery.objects.create(event_id=event.pk, subscriber=key)
                handler(event)
        except IntegrityError:
            continue
        delivered += 1
    return delivered


def event_dispatch(event_id: int) -> int:
    """Deliver one event to each of its subscribers that has not had it yet; returns deliveries."""
    from guanxi.core.models import Event, EventDelivery

    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    delivered = _deliver(
        event, set(EventDelivery.objects.filter(event_id=event_id).values_list("subscriber", flat=True))
    )
    Event.objects.filter(pk=event_id, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return delivered
