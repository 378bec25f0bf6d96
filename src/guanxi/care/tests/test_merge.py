"""A customer merge moves the merged customer's care to the survivor without breaking the exactly-once ledger."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.care import run
from guanxi.care.models import CareOccurrence, CareTask
from guanxi.care.tests.conftest import make_rule

pytestmark = pytest.mark.django_db


def test_a_merge_moves_occurrences_and_tasks_and_keeps_clashing_ones_on_the_merged_customer(care_parts, customers):
    from guanxi.customers.services import customer_merge

    survivor, merged = customers[0], customers[2]
    both = make_rule([survivor.pk, merged.pk], holdout="0", name="both")
    only_merged = make_rule([merged.pk], holdout="0", name="only")
    with time_machine.travel(dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False):
        run.care_daily_run()
        CareTask.objects.create(customer=merged, title="回访", due_on=dt.date(2026, 3, 11))
        customer_merge(actor=None, survivor=survivor, merged=merged)
    assert CareOccurrence.objects.get(rule=only_merged).customer_id == survivor.pk
    assert CareOccurrence.objects.filter(rule=both, customer=survivor).count() == 1
    assert CareOccurrence.objects.filter(rule=both, customer=merged).count() == 1  # the clash stays behind
    assert CareTask.objects.get().customer_id == survivor.pk
