"""Celery configuration: the embedded default keeps its queue in a SQLite file beside the database.

Every periodic job of every app is declared here, in ``CELERY_BEAT_SCHEDULE``: intervals in seconds,
times of day as ``zoned_crontab`` in the organisation's zone (``TIME_ZONE``), never a bare crontab
whose hour would be read in whatever zone Celery happened to be configured with.
Declared here rather than registered by each app: beat reads its schedule from settings, so one table
shows every job with its time, and ``core/tests/test_schedules.py`` checks every entry at once.
"""

import os
from pathlib import Path

from guanxi.core.schedules import zoned_crontab

_var = Path(os.environ.get("GUANXI_VAR_DIR", Path(__file__).resolve().parents[3] / "var"))
# The organisation's zone; settings.base reads the same variable for Django's TIME_ZONE.
_zone = os.environ.get("TIME_ZONE", "Asia/Shanghai")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", f"sqla+sqlite:///{_var / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
# (kombu's SQLAlchemy transport hands every transport option to create_engine: none can be set here.)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Long jobs have a queue of their own (and `guanxi serve` a worker of its own for it), so that short tasks
# (event dispatch, message sends) are never stuck behind an import or the nightly analytics refresh.
CELERY_TASK_DEFAULT_QUEUE = "celery"
GUANXI_LONG_QUEUE = "long"
CELERY_TASK_ROUTES = {
    "guanxi.customers.tasks.import_job_run": {"queue": GUANXI_LONG_QUEUE},
    "guanxi.analytics.tasks.scores_refresh_task": {"queue": GUANXI_LONG_QUEUE},
    "guanxi.loyalty.tasks.*": {"queue": GUANXI_LONG_QUEUE},
    "guanxi.campaigns.tasks.campaign_run_task": {"queue": GUANXI_LONG_QUEUE},
}
# Celery's own clock (log lines, ETAs shown) in the organisation's zone; schedules state theirs anyway.
CELERY_TIMEZONE = _zone
CELERY_ENABLE_UTC = True


def _at(hhmm: str, **kwargs) -> zoned_crontab:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return zoned_crontab(minute=minute, hour=hour, zone=_zone, **kwargs)


CELERY_BEAT_SCHEDULE = {
    # core: events whose after-commit dispatch was lost (broker down, worker killed)
    "dispatch-pending-events": {"task": "guanxi.core.tasks.dispatch_pending_events", "schedule": 30.0},
    # messaging: due messages (deferred by quiet hours, waiting for a retry) and stale claims
    "messaging-dispatch-due": {"task": "guanxi.messaging.tasks.messages_dispatch_task", "schedule": 30.0},
    "messaging-reconcile-stale": {"task": "guanxi.messaging.tasks.messages_reconcile_task", "schedule": 120.0},
    # campaigns: due occurrences become runs; throttled, windowed, resumed and orphaned runs are queued
    # (an interval, not a time of day: occurrences carry their own zone, the campaign's time_zone)
    "campaigns-due": {"task": "guanxi.campaigns.tasks.campaigns_due_task", "schedule": 60.0},
    # care: the daily run of date rules (its local date in the organisation's zone, missed days caught up
    # within GUANXI_CARE_GRACE_DAYS), and journeys whose wait is over
    "care-daily": {
        "task": "guanxi.care.tasks.care_daily_task",
        "schedule": _at(os.environ.get("GUANXI_CARE_RUN_AT", "07:30")),
    },
    "care-journeys": {"task": "guanxi.care.tasks.care_journeys_task", "schedule": 300.0},
    # customers: imports whose task was lost are queued again, those whose worker died are marked failed
    "imports-reap-stale": {
        "task": "guanxi.customers.tasks.import_jobs_reap_task",
        "schedule": float(os.environ.get("GUANXI_IMPORT_REAP_SECONDS", "60")),
    },
    # customers: delete import uploads and rejected-row reports past their retention (they hold personal data)
    "customers-import-files-cleanup": {"task": "guanxi.customers.tasks.import_files_cleanup_task", "schedule": 3600.0},
    # analytics: nightly recompute of customer scores (RFM, P(alive), CLV, affinity), out of business hours
    "analytics-refresh-scores": {
        "task": "guanxi.analytics.tasks.scores_refresh_task",
        "schedule": _at(os.environ.get("GUANXI_ANALYTICS_REFRESH_AT", "03:30")),
    },
    # loyalty: nightly expiries, the birthday gifts in the morning, the yearly tier review
    "loyalty-points-expire": {"task": "guanxi.loyalty.tasks.points_expire_task", "schedule": _at("01:10")},
    "loyalty-coupons-expire": {"task": "guanxi.loyalty.tasks.coupons_expire_task", "schedule": _at("01:20")},
    "loyalty-birthdays": {"task": "guanxi.loyalty.tasks.birthday_task", "schedule": _at("08:00")},
    "loyalty-tier-review": {
        "task": "guanxi.loyalty.tasks.tier_review_task",
        "schedule": _at("02:00", day_of_month=1, month_of_year=1),
    },
}
# An import with no sign of life for this long is taken up by the reaper above (re-queued or failed).
GUANXI_IMPORT_STALE_SECONDS = int(os.environ.get("GUANXI_IMPORT_STALE_SECONDS", "180"))
# A campaign run with no heartbeat for this long (its worker died) is taken over by the due sweep.
GUANXI_CAMPAIGN_STALE_SECONDS = int(os.environ.get("GUANXI_CAMPAIGN_STALE_SECONDS", "120"))
# Recipients a campaign run sends per chunk (between two looks at pause, cancel and the send window).
GUANXI_CAMPAIGN_CHUNK = int(os.environ.get("GUANXI_CAMPAIGN_CHUNK", "2000"))
# Missed days of the care run (downtime) caught up at most this many days back; older ones are skipped.
GUANXI_CARE_GRACE_DAYS = int(os.environ.get("GUANXI_CARE_GRACE_DAYS", "3"))
CELERY_BEAT_SCHEDULE_FILENAME = str(_var / "celerybeat-schedule")
