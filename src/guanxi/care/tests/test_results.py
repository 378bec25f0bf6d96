"""A rule's report: gestures against its hold-out, responders in the attribution window, uplift and cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.care import run
from guanxi.care.models import CareOccurrence, CarePlan
from guanxi.care.results import rule_report
from guanxi.care.tests.conftest import make_rule
from guanxi.conftest import api_client_for

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def test_the_report_counts_responders_in_the_window_against_the_hold_out(care_parts, store_a, admin_user):
    from guanxi.customers.tests.factories import make_customer
    from guanxi.sales.tests.factories import make_order

    people = [make_customer(store=store_a, name=f"客{i}") for i in range(40)]
    plan = CarePlan.objects.create(name="银卡")
    rule = make_rule([c.pk for c in people], holdout="50", steps=[{"action": "zz.gift", "params": {"cost": "5.00"}}],
                     plan=plan)  # fmt: skip
    with time_machine.travel(dt.datetime(2026, 3, 10, 9, 0, tzinfo=SH), tick=False):
        run.care_daily_run()
    fired = list(CareOccurrence.objects.filter(rule=rule, status="fired").values_list("customer_id", flat=True))
    held = list(CareOccurrence.objects.filter(rule=rule, status="held_out").values_list("customer_id", flat=True))
    by_id = {c.pk: c for c in people}
    with time_machine.travel(dt.datetime(2026, 3, 15, 12, 0, tzinfo=SH), tick=False):
        for cid in fired[:4] + held[:1]:
            make_order(customer=by_id[cid], ordered_at="2026-03-15T12:00:00+08:00")
    with time_machine.travel(dt.datetime(2026, 4, 20, 12, 0, tzinfo=SH), tick=False):
        make_order(customer=by_id[fired[5]], ordered_at="2026-04-20T12:00:00+08:00")  # outside the 14 days
    report = rule_report(rule)
    assert (report.treated, report.control) == (len(fired), len(held))
    assert (report.treated_responders, report.control_responders) == (4, 1)
    assert report.treated_revenue == Decimal("400.00")
    assert report.cost == Decimal("5.00") * len(fired)
    assert report.response.diff == pytest.approx(4 / len(fired) - 1 / len(held))
    body = api_client_for(admin_user).get(f"/api/care/rules/{rule.pk}/report/").json()
    assert body["treated_responders"] == 4
    assert Decimal(body["cost"]) == report.cost
