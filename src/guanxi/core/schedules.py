"""Beat schedules that say which clock they read.

A bare ``crontab`` follows Celery's ``timezone`` setting, which falls back to Django's ``TIME_ZONE``
when unset, so "hour=19" meant 19:00 in whichever zone the deployment happened to configure. A
``zoned_crontab`` carries its zone: ``zoned_crontab(hour=3, minute=30, zone="Asia/Shanghai")`` runs at
03:30 Shanghai time whatever Celery's own setting is. Interval schedules (every 30 s) need no zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab


class zoned_crontab(crontab):  # type: ignore[misc]  # noqa: N801 — named like Celery's ``crontab`` (Celery ships no type hints)
    def __init__(
        self,
        minute: str | int = "*",
        hour: str | int = "*",
        day_of_week: str | int = "*",
        day_of_month: str | int = "*",
        month_of_year: str | int = "*",
        *,
        zone: str,
        **kwargs: Any,
    ) -> None:
        self.zone = zone
        ZoneInfo(zone)  # an unknown zone fails at start-up, not at 03:30
        super().__init__(minute, hour, day_of_week, day_of_month, month_of_year, **kwargs)

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.zone)

    def next_run_after(self, moment: datetime) -> datetime:
        """The first run strictly after ``moment`` (aware), in this schedule's zone."""
        last_run_at: datetime
        delta: timedelta
        last_run_at, delta, _now = self.remaining_delta(moment)
        return (last_run_at + delta).astimezone(self.tz)

    def __reduce__(self) -> tuple[Callable[..., zoned_crontab], tuple[str | int, ...]]:
        return (
            _rebuild,
            (
                self._orig_minute,
                self._orig_hour,
                self._orig_day_of_week,
                self._orig_day_of_month,
                self._orig_month_of_year,
                self.zone,
            ),
        )

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} {self.zone}>"

    def __eq__(self, other: object) -> bool:
        return bool(super().__eq__(other)) and getattr(other, "zone", None) == self.zone


def _rebuild(
    minute: str | int,
    hour: str | int,
    day_of_week: str | int,
    day_of_month: str | int,
    month_of_year: str | int,
    zone: str,
) -> zoned_crontab:
    return zoned_crontab(minute, hour, day_of_week, day_of_month, month_of_year, zone=zone)
