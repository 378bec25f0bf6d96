"""Core's Celery tasks, here for autodiscovery; they live with the outbox in ``core.events.dispatch``."""

from guanxi.core.events.dispatch import dispatch_event, dispatch_events_from, dispatch_pending_events

__all__ = ["dispatch_event", "dispatch_events_from", "dispatch_pending_events"]
