"""Recording a domain event: a row written in the transaction of the change it announces (the outbox)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guanxi.core.events.dispatch import dispatch_after_commit
from guanxi.core.events.registry import subscribers_for

if TYPE_CHECKING:
    from guanxi.core.models import Event


def event_record(
    *,
    name: str,
    payload: dict[str, Any] | None = None,
    customer_id: int | None = None,
    aggregate: str = "",
    aggregate_id: str | int = "",
    actor_id: int | None = None,
) -> Event:
    """Write the event; once the transaction commits, a drain delivers it (if anyone listens to it).

    Every event takes part in its transaction's kick, those nobody listens to included, so that the drain
    starts at the transaction's first event and marks them all dispatched; only a transaction without any
    listened-to event queues no drain (its events are marked by the next drain or the sweep).
    """
    from guanxi.core.models import Event

    event = Event.objects.create(
        name=name,
        payload=payload or {},
        customer_id=customer_id,
        aggregate=aggregate,
        aggregate_id=str(aggregate_id),
        actor_id=actor_id,
    )
    dispatch_after_commit(event.pk, wanted=bool(subscribers_for(name)))
    return event
