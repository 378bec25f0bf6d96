"""Celery tasks of the campaign engine: thin, they take ids and call ``campaigns.run``."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from guanxi.campaigns import run


@shared_task
def campaigns_due_task() -> int:
    """Every minute (beat): runs for the occurrences that are due, and runs to continue or take over."""
    return len(run.campaigns_due())


@shared_task(acks_late=True)
def campaign_run_task(run_id: int) -> str:
    """Execute one run. Idempotent: a redelivery or a second copy finds the run claimed or already sent.

    A run stopped by its throttle or the send window comes back by itself at its resume time (and the due
    sweep queues it then anyway, should this scheduled copy be lost).
    """
    result = run.campaign_run_execute(run_id)
    if result.claimed and result.resume_at is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        campaign_run_task.apply_async((run_id,), eta=result.resume_at)
    return result.status
