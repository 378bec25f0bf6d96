"""Two workers running the same day's care run at once, on real threads with their own PostgreSQL connections."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.care import run
from guanxi.care.models import CareOccurrence
from guanxi.care.tests.conftest import make_rule
from guanxi.core.tests.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_two_workers_running_the_same_day_fire_each_occurrence_once(care_parts, store_a):
    from guanxi.customers.tests.factories import make_customer

    people = [make_customer(store=store_a, name=f"客{i}") for i in range(40)]
    rule = make_rule([c.pk for c in people], holdout="0")
    with time_machine.travel(NOW, tick=False):
        for _round in range(3):
            race(2, lambda i: run.care_daily_run())
    assert CareOccurrence.objects.filter(rule=rule, status=CareOccurrence.Status.FIRED).count() == 40
    assert care_parts.customers() == sorted(c.pk for c in people)  # each action ran once
    assert len({key for _a, _c, key in care_parts.rows}) == 40
