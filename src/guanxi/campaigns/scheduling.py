"""When a campaign's occurrences fall, in the campaign's own time zone.

``next_occurrence(campaign, after)`` is the first occurrence at or after ``after`` (an aware instant), or
None when there is no more: a one-off (NOW, ONCE) has a single occurrence, a series (WEEKLY, MONTHLY) one
per week or month at ``send_time`` local, never before ``starts_at`` and never after the local date
``ends_on``. MONTHLY on day 29–31 falls on the month's last day in shorter months (31 → 30 April, 28 or 29
February). The run engine advances a series with ``after`` just past the occurrence it has just run, so
each occurrence is one instant and one ``CampaignRun``.

``first_occurrence(campaign, now)`` is what approving schedules: NOW → now (the approval time), ONCE →
``starts_at`` even if that moment has already passed (it is then due at once), a series → its next
occurrence from ``max(now, starts_at)``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings

if TYPE_CHECKING:
    from guanxi.campaigns.models import Campaign

#: How far a series is searched for its next occurrence (a monthly series finds one within 12 months).
_SEARCH_DAYS = 400


def campaign_zone(campaign: Campaign) -> ZoneInfo:
    try:
        return ZoneInfo(campaign.time_zone or settings.TIME_ZONE)
    except (KeyError, ValueError):  # an unknown zone name: the organisation's
        return ZoneInfo(settings.TIME_ZONE)


def _monthly_date(year: int, month: int, day: int) -> dt.date:
    """Day ``day`` of the month, or its last day when the month is shorter (31 → 30 April)."""
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _series_dates(campaign: Campaign, start: dt.date):
    """Local dates of the series from ``start`` onwards (a bounded search)."""
    from guanxi.campaigns.models import Campaign as C

    if campaign.schedule == C.Schedule.WEEKLY:
        if campaign.weekday is None:
            return
        first = start + dt.timedelta(days=(campaign.weekday - start.weekday()) % 7)
        for week in range(_SEARCH_DAYS // 7 + 1):
            yield first + dt.timedelta(weeks=week)
    elif campaign.schedule == C.Schedule.MONTHLY:
        if campaign.day_of_month is None:
            return
        year, month = start.year, start.month
        for _ in range(14):
            day = _monthly_date(year, month, campaign.day_of_month)
            if day >= start:
                yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def next_occurrence(campaign: Campaign, after: dt.datetime) -> dt.datetime | None:
    """The first occurrence of ``campaign`` at or after ``after`` (aware, returned in UTC), or None."""
    from guanxi.campaigns.models import Campaign as C

    utc = dt.UTC
    if campaign.schedule == C.Schedule.NOW:
        at = campaign.approved_at
        return at.astimezone(utc) if at is not None and at >= after else None
    if campaign.schedule == C.Schedule.ONCE:
        at = campaign.starts_at
        return at.astimezone(utc) if at is not None and at >= after else None
    if campaign.send_time is None:
        return None
    zone = campaign_zone(campaign)
    floor = after if campaign.starts_at is None else max(after, campaign.starts_at)
    start = floor.astimezone(zone).date()
    for day in _series_dates(campaign, start):
        if campaign.ends_on is not None and day > campaign.ends_on:
            return None
        at = dt.datetime.combine(day, campaign.send_time, tzinfo=zone)
        if at >= floor:
            return at.astimezone(utc)
    return None


def first_occurrence(campaign: Campaign, now: dt.datetime) -> dt.datetime | None:
    """The occurrence approving ``campaign`` at ``now`` schedules (see the module doc)."""
    from guanxi.campaigns.models import Campaign as C

    if campaign.schedule == C.Schedule.NOW:
        return now.astimezone(dt.UTC)
    if campaign.schedule == C.Schedule.ONCE:
        return campaign.starts_at.astimezone(dt.UTC) if campaign.starts_at is not None else now.astimezone(dt.UTC)
    return next_occurrence(campaign, now)


def occurrence_after(campaign: Campaign, occurrence: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The occurrence after ``occurrence`` that is still ahead of ``now``: occurrences missed while nothing
    ran (the scheduler down for a week) are skipped, never sent late in a burst."""
    return next_occurrence(campaign, max(occurrence + dt.timedelta(microseconds=1), now))
