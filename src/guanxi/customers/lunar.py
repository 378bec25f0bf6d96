"""Lunar (农历) birthdays: which lunar month-day a birthday is, and which lunar month-days fall on a solar date.

A customer with ``birthday_is_lunar`` celebrates the lunar anniversary of the (solar) date of birth kept in
``birthday``; ``birthday_lunar_md`` stores its lunar ``month * 100 + day``, so "whose lunar birthday is on
this solar date" is one indexed ``IN`` lookup. Conversion by ``lunardate`` (lunar years 1900–2099).

Two lunar dates do not exist every year, and each falls on a day that does, so a birthday comes once a year:
- born in a leap month (闰月): celebrated in the plain month of the same number (a leap month exists in few
  years; the plain one every year), and no birthday falls inside a leap month;
- born on the 30th of a month: in a year where that month has 29 days, on its 29th, the month's last day.
"""

from __future__ import annotations

import datetime as dt

from lunardate import LunarDate

ONE_DAY = dt.timedelta(days=1)


def _lunar(day: dt.date) -> LunarDate | None:
    try:
        return LunarDate.from_solar_date(day.year, day.month, day.day)
    except ValueError:  # outside the lunardate table (before 31 Jan 1900, from 2100)
        return None


def lunar_md(birthday: dt.date | None) -> int | None:
    """The lunar ``month * 100 + day`` of a date of birth (a leap month as the plain month); None if unknown."""
    lunar = _lunar(birthday) if birthday else None
    return lunar.month * 100 + lunar.day if lunar else None


def lunar_mds_on(day: dt.date) -> list[int]:
    """The lunar month-days whose birthday falls on the solar date ``day`` this year (empty in a leap month)."""
    lunar = _lunar(day)
    if lunar is None or lunar.is_leap_month:
        return []
    mds = [lunar.month * 100 + lunar.day]
    following = _lunar(day + ONE_DAY)
    if lunar.day == 29 and following is not None and following.day == 1:  # a 29-day month: the 30th falls here
        mds.append(lunar.month * 100 + 30)
    return mds
