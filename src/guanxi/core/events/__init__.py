"""The transactional outbox: domain events are rows written with the change they announce.

``event_record`` is called inside a service's transaction, so an event exists exactly when its change was
committed. After commit a Celery task hands it to every subscriber registered for its name; each (event,
subscriber) pair is delivered once, recorded in the same transaction as the subscriber's own writes.

Four modules, each importing only the ones before it: ``registry`` (who listens), ``delivery`` (draining
pending events to their subscribers), ``dispatch`` (the Celery tasks and the after-commit kick that queues
them), and ``recording`` (``event_record``, ``events_record_many``). Callers import from here.
"""

from guanxi.core.events.delivery import DISPATCH_BATCH, Drained, event_dispatch, events_dispatch_pending, events_drain
from guanxi.core.events.dispatch import dispatch_after_commit
from guanxi.core.events.recording import EventRow, event_record, events_record_many
from guanxi.core.events.registry import Handler, subscriber, subscribers_for

__all__ = [
    "DISPATCH_BATCH",
    "Drained",
    "EventRow",
    "Handler",
    "dispatch_after_commit",
    "event_dispatch",
    "event_record",
    "events_dispatch_pending",
    "events_record_many",
    "events_drain",
    "subscriber",
    "subscribers_for",
]
