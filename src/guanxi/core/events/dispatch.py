"""After commit, a Celery task drains the pending events: the kick, its coalescing, and the tasks.

A transaction queues one drain however many events it records, starting at the first event it recorded (so
that the events nobody listens to, written before a listened-to one, are passed over and marked too). The
drain takes along every event committed after it, so the kicks of a burst of commits are mostly redundant:
each process folds them into one immediate and one trailing kick per ``KICK_INTERVAL``. A drain that stops
at its limit queues its own continuation; the periodic sweep delivers what a lost task or a killed worker
left behind.

The tasks keep their historical names (``guanxi.core.tasks.*``): beat's schedule and tasks already queued
refer to them; ``guanxi.core.tasks`` re-exports them for Celery's autodiscovery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar, cast

from celery import shared_task
from django.db import OperationalError, transaction
from django.utils import timezone

from guanxi.core.events.delivery import event_dispatch, events_drain

logger = logging.getLogger("guanxi.core.events")

F = TypeVar("F", bound=Callable[..., Any])
#: A sweep leaves events younger than this to the kick of the commit that wrote them.
SWEEP_MIN_AGE = timedelta(seconds=10)


def _task(name: str, **options: Any) -> Callable[[F], Any]:
    """``shared_task`` under its historical name (Celery ships no type information: the task is ``Any``)."""
    return cast("Callable[[F], Any]", shared_task(name=name, **options))


@_task("guanxi.core.tasks.dispatch_event", acks_late=True)
def dispatch_event(event_id: int) -> int:
    """Deliver one event (kept for tasks queued before batching; new commits queue ``dispatch_events_from``)."""
    return event_dispatch(event_id)


@_task(
    "guanxi.core.tasks.dispatch_events_from",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_backoff_max=8,
    max_retries=6,
)
def dispatch_events_from(first_event_id: int, limit: int = 5000) -> int:
    """After a commit: deliver the pending events from that commit's first one on, in batches.

    Later commits' events are taken along, so under load one task drains what many commits recorded and
    the tasks queued by those commits find little or nothing left to do. A drain that reached ``limit``
    queues the rest at once rather than leaving it to the sweep. A drain that could not get the database
    (SQLite's "database is locked" after its timeout, when busy writers starve it) is retried within
    seconds: later kicks start above its events, which would otherwise wait for the sweep.
    """
    drained = events_drain(from_id=first_event_id, limit=limit)
    logger.debug("drain from %s: %s events, %s deliveries", first_event_id, drained.events, drained.delivered)
    if drained.resume_from is not None:
        dispatch_events_from.publish_best_effort((drained.resume_from,), {"limit": limit})
    return drained.delivered


@_task("guanxi.core.tasks.dispatch_pending_events")
def dispatch_pending_events(limit: int = 10_000) -> int:
    """Sweep for events whose after-commit dispatch was lost (worker down, broker restart), in batches."""
    return events_drain(older_than=timezone.now() - SWEEP_MIN_AGE, limit=limit).delivered


class _Publishable(Protocol):
    def publish_best_effort(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool: ...


class _Kick:
    """One transaction's after-commit callback: a drain from the lowest event id the transaction recorded."""

    def __init__(self, first_event_id: int) -> None:
        self.first_event_id = first_event_id

    def __call__(self) -> None:
        if dispatch_events_from.app.conf.task_always_eager:
            dispatch_events_from.publish_best_effort((self.first_event_id,), {})
        else:
            _kicks.kick(self.first_event_id, dispatch_events_from)


class _Unheard:
    """Marks the first event of a transaction that nobody listens to, for a later kick to start there; no-op."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id

    def __call__(self) -> None:
        return None


def dispatch_after_commit(event_id: int, *, wanted: bool = True) -> None:
    """Once the transaction commits, queue one drain of the pending events from its first event on.

    Called for every event recorded: the transaction's single kick is registered with its first ``wanted``
    event (one with subscribers) and starts at the lowest id the transaction recorded, unheard events
    before it included. Publishing is best effort: if the broker is down, the periodic sweep delivers them.
    """
    connection = transaction.get_connection()
    first = event_id
    if connection.in_atomic_block:
        for _sids, callback, *_ in connection.run_on_commit:
            if isinstance(callback, _Kick):
                callback.first_event_id = min(callback.first_event_id, event_id)
                return
            if isinstance(callback, _Unheard):
                first = min(first, callback.event_id)
                if not wanted:
                    return
    if wanted:
        transaction.on_commit(_Kick(first))
    elif connection.in_atomic_block:
        transaction.on_commit(_Unheard(event_id))


class _Coalescer:
    """At most one queued drain per process every ``KICK_INTERVAL`` seconds, the last one never dropped.

    Each drain takes along every pending event from its first id on, so the kicks of a burst of commits are
    redundant: queued one by one, they filled the embedded broker (a few tasks a second) with empty drains
    while the last events waited behind them. The first kick of a quiet period is published at once; kicks
    within the interval are folded into one trailing kick (from the lowest first id), published when the
    interval ends by a timer that the interpreter waits for at exit, so a short-lived process loses none.
    ``clock`` and ``timer`` are there for tests.
    """

    KICK_INTERVAL = 0.25

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[float, Callable[[], None]], Any] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._from: int | None = None
        self._timer: Any = None
        self._last = float("-inf")  # no kick yet: the first one goes at once
        self._clock = clock
        self._start_timer = timer or _thread_timer

    def kick(self, first_event_id: int, task: _Publishable) -> None:
        with self._lock:
            self._from = first_event_id if self._from is None else min(self._from, first_event_id)
            if self._timer is not None:
                return  # the trailing kick already scheduled carries this one
            wait = self._last + self.KICK_INTERVAL - self._clock()
            if wait > 0:
                self._timer = self._start_timer(wait, lambda: self._flush(task))
                return
        self._flush(task)

    def _flush(self, task: _Publishable) -> None:
        with self._lock:
            first, self._from, self._timer = self._from, None, None
            self._last = self._clock()
        if first is not None:
            task.publish_best_effort((first,), {})


def _thread_timer(wait: float, callback: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(wait, callback)
    timer.start()
    return timer


_kicks = _Coalescer()
