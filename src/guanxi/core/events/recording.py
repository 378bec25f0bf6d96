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
    # The batch's kick starts at its first event, as ``event_record``'s does, and is queued only if anyone
    # listens to one of its names (the unheard ones are marked by that drain, the next one or the sweep).
    wanted = any(subscribers_for(name) for name in {row.name for row in rows})
    known = [pk for pk in ids if pk is not None]
    first = min(known) if known else None
    if first is None:  # a database that does not return the ids of a bulk insert
        first = Event.objects.filter(created_at__gte=now).order_by("id").values_list("id", flat=True).first()
    if first is not None:
        dispatch_after_commit(first, wanted=wanted)
