"""Every beat entry states its zone: the nightly jobs run at night in the organisation's time zone."""

import pickle
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from guanxi.core.schedules import zoned_crontab

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_every_beat_entry_is_an_interval_or_a_crontab_in_the_organisations_zone():
    assert settings.TIME_ZONE == "Asia/Shanghai"
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        schedule = entry["schedule"]
        if isinstance(schedule, int | float | timedelta):
            continue
        assert isinstance(schedule, zoned_crontab), name
        assert schedule.zone == settings.TIME_ZONE, name


@pytest.mark.parametrize(
    ("entry", "local_next_run"),
    [
        ("analytics-refresh-scores", datetime(2026, 3, 2, 3, 30, tzinfo=SHANGHAI)),
        ("loyalty-points-expire", datetime(2026, 3, 2, 1, 10, tzinfo=SHANGHAI)),
        ("loyalty-coupons-expire", datetime(2026, 3, 2, 1, 20, tzinfo=SHANGHAI)),
        ("loyalty-birthdays", datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)),
        ("loyalty-tier-review", datetime(2027, 1, 1, 2, 0, tzinfo=SHANGHAI)),
    ],
)
def test_nightly_entries_run_at_their_local_hour(entry, local_next_run):
    """At 14:00 Shanghai time (06:00 UTC) each job next runs at its stated local time, not 8 hours off."""
    now = datetime(2026, 3, 1, 14, 0, tzinfo=SHANGHAI)
    with time_machine.travel(now, tick=False):
        schedule = settings.CELERY_BEAT_SCHEDULE[entry]["schedule"]
        assert schedule.next_run_after(now) == local_next_run
        # What beat itself computes: not due now, due in exactly the gap to the local time.
        due, _next = schedule.is_due(now)
        assert not due
        assert schedule.remaining_estimate(now) == local_next_run - now


def test_the_analytics_refresh_is_due_at_0330_shanghai_not_1930():
    schedule = settings.CELERY_BEAT_SCHEDULE["analytics-refresh-scores"]["schedule"]
    last_run = datetime(2026, 3, 1, 3, 30, tzinfo=SHANGHAI)
    with time_machine.travel(datetime(2026, 3, 1, 19, 31, tzinfo=SHANGHAI), tick=False):
        assert not schedule.is_due(last_run)[0]
    with time_machine.travel(datetime(2026, 3, 2, 3, 30, 5, tzinfo=SHANGHAI), tick=False):
        assert schedule.is_due(last_run)[0]


def test_a_zoned_crontab_keeps_its_zone_through_beats_schedule_file():
    schedule = zoned_crontab(minute=30, hour=3, zone="Asia/Shanghai")
    copy = pickle.loads(pickle.dumps(schedule))  # noqa: S301 — our own object, as beat's shelve stores it
    assert copy == schedule
    assert copy.zone == "Asia/Shanghai"
    noon = datetime(2026, 3, 1, 12, tzinfo=SHANGHAI)
    assert copy.next_run_after(noon) == datetime(2026, 3, 2, 3, 30, tzinfo=SHANGHAI)
    assert schedule != zoned_crontab(minute=30, hour=3, zone="UTC")
