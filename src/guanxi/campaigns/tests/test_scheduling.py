"""Occurrences in the campaign's zone: weekly, monthly (29–31 on short months), one-offs, start and end."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from guanxi.campaigns.models import Campaign
from guanxi.campaigns.scheduling import first_occurrence, next_occurrence, occurrence_after

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def campaign(**kw) -> Campaign:
    return Campaign(name="x", time_zone="Asia/Shanghai", **kw)


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_weekly_is_the_weekday_at_the_local_send_time():
    c = campaign(schedule="weekly", weekday=0, send_time=dt.time(10, 0))  # every Monday 10:00 Shanghai
    # Sunday 2026-03-01 23:00 Shanghai: next Monday 2 March 10:00 = 02:00 UTC
    assert next_occurrence(c, local(2026, 3, 1, 23, 0)) == dt.datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    # at the instant itself: that occurrence; just after: a week later
    at = local(2026, 3, 2, 10, 0)
    assert next_occurrence(c, at) == at
    assert occurrence_after(c, at, at) == local(2026, 3, 9, 10, 0)


def test_weekly_at_23_30_local_is_the_previous_day_in_utc():
    c = campaign(schedule="weekly", weekday=0, send_time=dt.time(23, 30))
    # Monday 23:30 Shanghai is Monday 15:30 UTC; asked on Monday 16:00 UTC (= Tuesday 00:00 local): next week
    got = next_occurrence(c, dt.datetime(2026, 3, 2, 16, 0, tzinfo=UTC))
    assert got == dt.datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    assert got.astimezone(SH).weekday() == 0
    assert next_occurrence(c, dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)) == dt.datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "after", "expected"),
    [
        (31, local(2026, 4, 1), local(2026, 4, 30, 9)),  # April has 30 days
        (31, local(2026, 2, 1), local(2026, 2, 28, 9)),
        (29, local(2028, 2, 1), local(2028, 2, 29, 9)),  # leap year: 29 February itself
        (30, local(2028, 2, 1), local(2028, 2, 29, 9)),
        (31, local(2028, 2, 29, 9, 1), local(2028, 3, 31, 9)),
        (1, local(2026, 12, 1, 9, 1), local(2027, 1, 1, 9)),  # across the year
        (15, local(2026, 5, 15, 8, 59), local(2026, 5, 15, 9)),
    ],
)
def test_monthly_day_falls_on_the_last_day_of_shorter_months(day, after, expected):
    c = campaign(schedule="monthly", day_of_month=day, send_time=dt.time(9, 0))
    assert next_occurrence(c, after) == expected


def test_monthly_on_the_31st_runs_every_month_once():
    c = campaign(schedule="monthly", day_of_month=31, send_time=dt.time(9, 0))
    at = next_occurrence(c, local(2027, 12, 31, 10))
    seen = []
    for _ in range(12):
        seen.append(at.astimezone(SH).date())
        at = occurrence_after(c, at, at)
    assert [d.month for d in seen] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert seen[1] == dt.date(2028, 2, 29)
    assert seen[3] == dt.date(2028, 4, 30)


def test_series_respects_start_and_end():
    c = campaign(
        schedule="weekly",
        weekday=4,
        send_time=dt.time(10, 0),
        starts_at=local(2026, 3, 10),
        ends_on=dt.date(2026, 3, 20),
    )
    assert next_occurrence(c, local(2026, 3, 1)) == local(2026, 3, 13, 10)
    assert next_occurrence(c, local(2026, 3, 13, 10, 1)) == local(2026, 3, 20, 10)  # the last date itself
    assert next_occurrence(c, local(2026, 3, 20, 10, 1)) is None


def test_one_offs():
    approved = dt.datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    now_campaign = campaign(schedule="now", approved_at=approved)
    assert first_occurrence(now_campaign, approved) == approved
    assert next_occurrence(now_campaign, approved) == approved
    assert occurrence_after(now_campaign, approved, approved) is None
    once = campaign(schedule="once", starts_at=local(2026, 3, 5, 20))
    assert first_occurrence(once, approved) == local(2026, 3, 5, 20)
    assert occurrence_after(once, local(2026, 3, 5, 20), local(2026, 3, 5, 20)) is None
    # approved after its time has passed: due at once, not never
    assert first_occurrence(once, local(2026, 3, 6)) == local(2026, 3, 5, 20)


def test_missed_occurrences_are_skipped_not_sent_in_a_burst():
    c = campaign(schedule="weekly", weekday=0, send_time=dt.time(10, 0))
    missed = local(2026, 3, 2, 10)
    assert occurrence_after(c, missed, local(2026, 3, 25)) == local(2026, 3, 30, 10)
