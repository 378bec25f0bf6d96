"""The transactional outbox: domain events are rows written with the change they announce.

``event_record`` is called inside a service's transaction, so an event exists exactly when its
change was committed. After commit a Celery task hands it to every subscriber registered for its
name; each (event, subscriber) pair is delivered once, recorded in the same transaction as the
subscriber's own writes.

Dispatch is batched: a transaction publishes one task however many events it records, and that task
delivers every pending event from its first one on, ``DISPATCH_BATCH`` events per database transaction,
so that a busy shop's backlog drains in a few tasks rather than one task per event. Concurrent drains
skip each other's batches (``SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time anyway).
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
        dispatch_after_commit(event.pk)
    return event


DISPATCH_BATCH = 100
_KICK = "_guanxi_dispatch_kick"


def dispatch_after_commit(first_event_id: int) -> None:
    """Once the transaction commits, queue one drain of the pending events from ``first_event_id`` on.

    A transaction that records many events queues a single task (the first event's id is the lowest).
    Publishing is best effort: if the broker is down, the periodic sweep delivers the events.
    """
    from guanxi.core.tasks import dispatch_events_from

    connection = transaction.get_connection()
    if connection.in_atomic_block and any(getattr(cb, _KICK, False) for _sids, cb, *_ in connection.run_on_commit):
        return

    def kick() -> None:
        if dispatch_events_from.app.conf.task_always_eager:
            dispatch_events_from.publish_best_effort((first_event_id,), {})
        else:
            _kicks.kick(first_event_id, dispatch_events_from)

    setattr(kick, _KICK, True)
    transaction.on_commit(kick)


class _Coalescer:
    """At most one queued drain per process every ``KICK_INTERVAL`` seconds, the last one never dropped.

    Each drain takes along every pending event from its first id on, so the kicks of a burst of commits are
    redundant: queued one by one, they filled the embedded broker (a few tasks a second) with empty drains
    while the last events waited behind them. The first kick of a quiet period is published at once; kicks
    within the interval are folded into one trailing kick (from the lowest first id), published when the
    interval ends by a timer that the interpreter waits for at exit, so a short-lived process loses none.
    """

    KICK_INTERVAL = 0.25

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._from: int | None = None
        self._timer: Any = None
        self._last = 0.0

    def kick(self, first_event_id: int, task: Any) -> None:
        import threading
        import time

        with self._lock:
            self._from = first_event_id if self._from is None else min(self._from, first_event_id)
            if self._timer is not None:
                return  # the trailing kick already scheduled carries this one
            wait = self._last + self.KICK_INTERVAL - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._flush, args=(task,))
                self._timer.start()
                return
        self._flush(task)

    def _flush(self, task: Any) -> None:
        import time

        with self._lock:
            first, self._from, self._timer = self._from, None, None
            self._last = time.monotonic()
        if first is not None:
            task.publish_best_effort((first,), {})


_kicks = _Coalescer()


def events_dispatch_pending(
    *, from_id: int | None = None, older_than=None, limit: int = 10_000, batch: int | None = None
) -> int:
    """Deliver pending events in id order, ``batch`` per transaction, at most ``limit``; returns deliveries.

    ``from_id`` starts the drain at that event (a commit's kick); ``older_than`` takes only events created
    before that moment (the sweep, which leaves fresh events to their own kick). An event whose subscriber
    raises stays pending for the next sweep and does not hold up the others.
    """
    from guanxi.core.models import Event

    batch = batch or DISPATCH_BATCH
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
            events = list(claim[: min(batch, limit - seen)])
            if not events:
                break
            delivered += _deliver_batch(events)
        seen += len(events)
        after = events[-1].pk
    return delivered


def _deliver_batch(events) -> int:
    from django.utils import timezone

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


def _deliver(event, done: set[str]) -> int:
    delivered = 0
    for key, handler in subscribers_for(event.name).items():
        if key in done:
            continue
        from guanxi.core.models import EventDelivery

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
    from django.utils import timezone

    from guanxi.core.models import Event, EventDelivery

    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    delivered = _deliver(
        event, set(EventDelivery.objects.filter(event_id=event_id).values_list("subscriber", flat=True))
    )
    Event.objects.filter(pk=event_id, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return delivered


# ------------------------------------------------------------------ many events in one statement (imports)


class EventRow:
    """One event for ``events_record_many``: what ``event_record`` takes, as a row."""

    __slots__ = ("name", "payload", "customer_id", "aggregate", "aggregate_id", "actor_id")

    def __init__(
        self,
        *,
        name: str,
        payload: dict[str, Any] | None = None,
        customer_id: int | None = None,
        aggregate: str = "",
        aggregate_id: str | int = "",
        actor_id: int | None = None,
    ) -> None:
        self.name = name
        self.payload = payload
        self.customer_id = customer_id
        self.aggregate = aggregate
        self.aggregate_id = aggregate_id
        self.actor_id = actor_id


def events_record_many(rows: list[EventRow]) -> None:
    """``event_record`` for many events: the same columns in one bulk insert, and one dispatch kick.

    On PostgreSQL the rows go in as COPY text with ids taken from the sequence first (a batch of an
    import repeats a few payload objects, each dumped once); elsewhere through ``bulk_insert``. Called
    inside the write's transaction, like ``event_record``.
    """
    import json

    from django.db import connection
    from django.utils import timezone

    from guanxi.core.db import is_postgres
    from guanxi.core.db.copy import COPY_NULL, bulk_insert, copy_escape, copy_from, reserve_ids
    from guanxi.core.models import Event

    if not rows:
        return
    now = timezone.now()
    if is_postgres(connection):
        encoder = Event._meta.get_field("payload").encoder
        stamp = now.isoformat()
        dumped: dict[int, str] = {}  # id(payload) -> its text; the payloads live as long as ``rows``
        lines = []
        with connection.cursor() as cursor:
            ids = reserve_ids(cursor, Event, len(rows))
            for pk, row in zip(ids, rows, strict=True):
                if row.payload:
                    payload = dumped.get(id(row.payload))
                    if payload is None:
                        payload = dumped[id(row.payload)] = copy_escape(json.dumps(row.payload, cls=encoder))
                else:
                    payload = "{}"
                customer = COPY_NULL if row.customer_id is None else str(row.customer_id)
                actor = COPY_NULL if row.actor_id is None else str(row.actor_id)
                lines.append(
                    f"{pk}\t{copy_escape(row.name)}\t{copy_escape(row.aggregate)}\t{copy_escape(str(row.aggregate_id))}"
                    f"\t{customer}\t{actor}\t{payload}\t{stamp}\t{COPY_NULL}\n"
                )
            columns = ["id", "name", "aggregate", "aggregate_id", "customer_id", "actor_id", "payload"]
            copy_from(cursor, Event._meta.db_table, [*columns, "created_at", "dispatched_at"], "".join(lines))
    else:
        events = bulk_insert(
            Event,
            [
                Event(
                    name=row.name,
                    payload=row.payload or {},
                    customer_id=row.customer_id,
                    aggregate=row.aggregate,
                    aggregate_id=str(row.aggregate_id),
                    actor_id=row.actor_id,
                )
                for row in rows
            ],
        )
        ids = [event.pk for event in events]
    subscribed = {name for name in {row.name for row in rows} if subscribers_for(name)}
    if subscribed:
        first = min(
            (pk for pk, row in zip(ids, rows, strict=True) if row.name in subscribed and pk is not None),
            default=None,
        )
        if first is None:  # a database that does not return the ids of a bulk insert
            first = (
                Event.objects.filter(name__in=subscribed, created_at__gte=now)
                .order_by("id")
                .values_list("id", flat=True)
                .first()
            )
        if first is not None:
            dispatch_after_commit(first)
