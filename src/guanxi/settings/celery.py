"""Celery configuration: the embedded default keeps its queue in a SQLite file beside the database."""

import os
from pathlib import Path

_var = Path(os.environ.get("GUANXI_VAR_DIR", Path(__file__).resolve().parents[3] / "var"))

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", f"sqla+sqlite:///{_var / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "dispatch-pending-events": {"task": "guanxi.core.tasks.dispatch_pending_events", "schedule": 30.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(_var / "celerybeat-schedule")

# analytics: nightly recompute of customer scores (RFM, P(alive), CLV, affinity). Celery's clock is UTC unless
# CELERY_TIMEZONE is set: 19:30 UTC is 03:30 in Asia/Shanghai.
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["analytics-refresh-scores"] = {
    "task": "guanxi.analytics.tasks.scores_refresh_task",
    "schedule": crontab(hour=int(os.environ.get("GUANXI_ANALYTICS_REFRESH_HOUR_UTC", "19")), minute=30),
}

# customers: delete import uploads and rejected-row reports past their retention (they hold personal data).
CELERY_BEAT_SCHEDULE["customers-import-files-cleanup"] = {
    "task": "guanxi.customers.tasks.import_files_cleanup_task",
    "schedule": 3600.0,
}
