"""What a drain covers: the whole committing transaction, what its subscribers record, what is past its limit.

The embedded bench left the last events of a run to the 30-second sweep: a transaction's kick started at its
first *listened-to* event, so an unheard event written before it in the same transaction (``customer.created``
before ``order.paid``) lay below every later drain's start.
"""

import threading
from collections import Counter

import pytest
from django.db import transaction

from guanxi.core.events import event_record, events_drain, subscriber
from guanxi.core.events.dispatch import _Coalescer, _Kick, dispatch_events_from
from guanxi.core.events.registry import _subscribers
from guanxi.core.models import Event, EventDelivery
from guanxi.core.tests.concurrency import race

HEARD, ECHO, UNHEARD = "drain.heard", "drain.echo", "drain.unheard"


@pytest.fixture
def heard():
    """Subscribers for ``drain.heard`` (which records a ``drain.echo`` when the payload asks) and ``drain.echo``."""
    calls: list[int] = []
    lock = threading.Lock()

    @subscriber(HEARD, ECHO, name="tests.drain")
    def listen(event) -> None:
        with lock:
            calls.append(event.pk)
        if event.payload.get("echo"):
            event_record(name=ECHO, payload={"of": event.pk})

    yield calls
    for name in (HEARD, ECHO):
        _subscribers[name].pop("tests.drain", None)


def _pending(*events) -> list[int]:
    ids = [e.pk for e in events] or list(Event.objects.values_list("pk", flat=True))
    return list(Event.objects.filter(pk__in=ids, dispatched_at__isnull=True).values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_kick_starts_at_the_transactions_first_event_and_marks_unheard_ones_before_a_heard_one(
    heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        unheard = event_record(name=UNHEARD)
        heard_event = event_record(name=HEARD)
        later_unheard = event_record(name=UNHEARD)
    assert [type(c) for c in callbacks].count(_Kick) == 1  # one drain for the transaction
    assert _pending(unheard, heard_event, later_unheard) == []
    assert heard == [heard_event.pk]


@pytest.mark.django_db
def test_a_transaction_of_unheard_events_queues_no_drain(heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        unheard = event_record(name=UNHEARD)
    assert _pending(unheard) == [unheard.pk]  # left for the next drain or the sweep, as before


@pytest.mark.django_db
def test_a_drain_takes_along_the_events_its_subscribers_record(heard):
    first = Event.objects.create(name=HEARD, payload={"echo": True})
    second = Event.objects.create(name=HEARD)
    drained = events_drain(from_id=first.pk)
    echo = Event.objects.get(name=ECHO)
    assert echo.pk > second.pk
    assert (drained.events, drained.delivered, drained.resume_from) == (3, 3, None)
    assert heard == [first.pk, second.pk, echo.pk]
    assert _pending() == []


@pytest.mark.django_db
def test_a_drain_that_reaches_its_limit_queues_the_rest_at_once(heard):
    events = [Event.objects.create(name=HEARD) for _ in range(5)]
    assert dispatch_events_from(events[0].pk, limit=2) == 2  # this drain's share; its continuations did the rest
    assert heard == [e.pk for e in events]
    assert _pending(*events) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_deliver_each_event_once(heard):
    events = [Event.objects.create(name=HEARD) for _ in range(40)]
    race(3, lambda _i: events_drain(from_id=events[0].pk, batch=5))
    assert Counter(heard) == Counter({e.pk: 1 for e in events})
    assert EventDelivery.objects.filter(subscriber="tests.drain").count() == 40
    assert _pending(*events) == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now

    def timer(self, wait, callback):
        self.timers.append((self.now + wait, callback))
        return object()

    def advance_to(self, moment: float) -> None:
        """Move the clock and fire the timers due by then."""
        self.now = moment
        due = [cb for at, cb in self.timers if at <= moment]
        self.timers = [(at, cb) for at, cb in self.timers if at > moment]
        for callback in due:
            callback()


class Published:
    def __init__(self) -> None:
        self.drains: list[int] = []

    def publish_best_effort(self, args, kwargs):
        self.drains.append(args[0])
        return True


def test_the_coalescer_publishes_the_first_kick_at_once_and_folds_the_rest_into_one_trailing_kick():
    clock, task = FakeClock(), Published()
    kicks = _Coalescer(clock=clock, timer=clock.timer)
    kicks.kick(100, task)
    assert task.drains == [100]
    clock.advance_to(1000.1)
    for first_id in (140, 120, 180):
        kicks.kick(first_id, task)
    assert task.drains == [100]
    assert len(clock.timers) == 1
    clock.advance_to(1000.25)  # the interval since the first drain has passed
    assert task.drains == [100, 120]
    clock.advance_to(1000.3)
    kicks.kick(200, task)  # within the interval of the trailing drain: waits for the next one
    assert task.drains == [100, 120]
    clock.advance_to(1000.5)
    assert task.drains == [100, 120, 200]
    clock.advance_to(1010.0)
    kicks.kick(300, task)  # a quiet period: at once again
    assert task.drains == [100, 120, 200, 300]
    assert clock.timers == []


@pytest.mark.django_db
def test_a_drain_that_cannot_get_the_database_is_retried(heard, monkeypatch):
    """SQLite answers "database is locked" to a drain starved by busy writers; later kicks start above its events."""
    from django.db import OperationalError

    from guanxi.core.events import dispatch

    events = [Event.objects.create(name=HEARD) for _ in range(3)]
    real, attempts = dispatch.events_drain, []

    def locked_once(**kwargs):
        attempts.append(kwargs["from_id"])
        if len(attempts) == 1:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(dispatch, "events_drain", locked_once)
    result = dispatch_events_from.apply((events[0].pk,), throw=False)  # run here, retries included
    assert result.get() == 3
    assert attempts == [events[0].pk, events[0].pk]
    assert heard == [e.pk for e in events]
    assert _pending(*events) == []
