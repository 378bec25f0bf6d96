"""Celery tasks of the care engine: thin, they call ``care.run``."""

from __future__ import annotations

from celery import shared_task

from guanxi.care import run


@shared_task
def care_daily_task() -> dict[str, object]:
    """Every morning (beat, organisation zone): today's run, missed days caught up within the grace period."""
    report = run.care_daily_run()
    return {"ran": [str(d.day) for d in report.ran], "skipped": [str(d) for d in report.skipped]}


@shared_task
def care_journeys_task() -> dict[str, int]:
    """Every few minutes (beat): journeys whose wait is over take their next steps."""
    return dict(run.care_journeys_advance())
