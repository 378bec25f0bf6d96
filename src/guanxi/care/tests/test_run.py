"""The care engine with a frozen clock: exactly once, catch-up, journeys, priorities, exclusions, hold-out,
the frequency cap's refusal, event rules, and query counts that do not grow with the customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.care import run
from guanxi.care.models import CareExclusion, CareJourney, CareOccurrence, CarePlan, CareRunDay, CareSpend, CareTask
from guanxi.care.tests.conftest import make_rule

SH = ZoneInfo("Asia/Shanghai")
# 00:30 in Shanghai is still the previous day in UTC: the run's date is the local one
NOW = dt.datetime(2026, 3, 10, 0, 30, tzinfo=SH)
TODAY = dt.date(2026, 3, 10)
S = CareOccurrence.Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_the_run_date_is_the_local_date_of_the_organisation():
    assert run.local_today() == TODAY


def test_a_rule_fires_once_on_its_day_across_re_runs(care_parts, customers):
    rule = make_rule([c.pk for c in customers[:3]], on=[TODAY.isoformat()])
    first = run.care_daily_run()
    again = run.care_daily_run()
    assert [d.day for d in first.ran] == [TODAY]
    assert first.ran[0].counts == {"fired": 3}
    assert again.ran[0].counts == {}  # nothing new: every occurrence already written
    assert CareOccurrence.objects.filter(rule=rule).count() == 3
    assert care_parts.customers() == sorted(c.pk for c in customers[:3])
    occ = CareOccurrence.objects.filter(rule=rule).first()
    assert occ.occasion == "2026-03-10"
    assert occ.occurred_on == TODAY
    assert {key for _a, _c, key in care_parts.rows} == {
        f"care:{o.pk}:0" for o in CareOccurrence.objects.filter(rule=rule)
    }
    assert CareRunDay.objects.get(day=TODAY).status == CareRunDay.Status.DONE


def test_a_rule_not_due_today_does_not_fire(care_parts, customers):
    make_rule([customers[0].pk], on=["2026-03-11"])
    run.care_daily_run()
    assert not CareOccurrence.objects.exists()
    assert care_parts.rows == []


def test_missed_days_inside_the_grace_period_are_caught_up_once_and_older_ones_skipped(
    care_parts, customers, frozen, settings
):
    settings.GUANXI_CARE_GRACE_DAYS = 3
    run.care_daily_run()  # 10 March ran; then the server is down until 16 March
    days = [TODAY + dt.timedelta(days=n) for n in range(1, 7)]  # 11 … 16 March
    rule = make_rule([customers[0].pk], on=[d.isoformat() for d in days])
    frozen.move_to(dt.datetime(2026, 3, 16, 8, 0, tzinfo=SH))
    report = run.care_daily_run()
    assert report.skipped == [dt.date(2026, 3, 11), dt.date(2026, 3, 12)]
    assert [d.day for d in report.ran] == [
        dt.date(2026, 3, 13),
        dt.date(2026, 3, 14),
        dt.date(2026, 3, 15),
        dt.date(2026, 3, 16),
    ]
    fired = sorted(CareOccurrence.objects.filter(rule=rule).values_list("occurred_on", flat=True))
    assert fired == [dt.date(2026, 3, 13), dt.date(2026, 3, 14), dt.date(2026, 3, 15), dt.date(2026, 3, 16)]
    assert CareRunDay.objects.get(day=dt.date(2026, 3, 11)).status == CareRunDay.Status.SKIPPED
    # later the same day: nothing is caught up twice, and the skipped days stay skipped
    frozen.move_to(dt.datetime(2026, 3, 16, 20, 0, tzinfo=SH))
    again = run.care_daily_run()
    assert again.skipped == []
    assert [d.day for d in again.ran] == [dt.date(2026, 3, 16)]
    assert CareOccurrence.objects.filter(rule=rule).count() == 4
    assert len(care_parts.customers()) == 4


def test_the_higher_priority_rule_wins_a_collision_on_one_day(care_parts, customers):
    low = make_rule([customers[0].pk, customers[1].pk], priority=10, name="节日问候")
    high = make_rule([customers[0].pk], priority=50, name="生日礼物")
    run.care_daily_run()
    assert CareOccurrence.objects.get(rule=high, customer=customers[0]).status == S.FIRED
    loser = CareOccurrence.objects.get(rule=low, customer=customers[0])
    assert (loser.status, loser.reason) == (S.SUPPRESSED, run.PRIORITY)
    assert CareOccurrence.objects.get(rule=low, customer=customers[1]).status == S.FIRED
    assert care_parts.customers() == sorted([customers[0].pk, customers[1].pk])


def test_an_excluded_customer_is_skipped_with_the_reason(care_parts, customers):
    CareExclusion.objects.create(customer=customers[1], reason=CareExclusion.Reason.COMPLAINT)
    rule = make_rule([customers[0].pk, customers[1].pk])
    run.care_daily_run()
    skipped = CareOccurrence.objects.get(rule=rule, customer=customers[1])
    assert (skipped.status, skipped.reason) == (S.SKIPPED, "excluded: complaint")
    assert care_parts.customers() == [customers[0].pk]


def test_the_hold_out_is_drawn_the_same_way_every_time(care_parts, customers, store_a):
    from guanxi.customers.tests.factories import make_customer

    people = customers + [make_customer(store=store_a, name=f"客{i}") for i in range(34)]
    rule = make_rule([c.pk for c in people], holdout="50")
    run.care_daily_run()
    held = set(CareOccurrence.objects.filter(rule=rule, status=S.HELD_OUT).values_list("customer_id", flat=True))
    assert 5 < len(held) < 35
    assert held == {c.pk for c in people if run.is_held_out(rule, c.pk)}
    assert not held & set(care_parts.customers())


def test_a_refusal_by_the_frequency_cap_is_recorded_as_suppressed(care_parts, customers):
    rule = make_rule([customers[0].pk], steps=[{"action": "zz.capped"}, {"action": "zz.note"}])
    run.care_daily_run()
    occ = CareOccurrence.objects.get(rule=rule)
    assert (occ.status, occ.reason) == (S.SUPPRESSED, "frequency cap")
    assert care_parts.customers() == []  # the steps after the refusal do not run


def test_a_plan_budget_per_customer_stops_gestures_once_spent(care_parts, customers, frozen):
    plan = CarePlan.objects.create(name="金卡关怀", budget_per_customer=Decimal("50.00"))
    rule = make_rule([customers[0].pk], steps=[{"action": "zz.gift", "params": {"cost": "30.00"}}], plan=plan)
    run.care_daily_run()
    frozen.move_to(dt.datetime(2026, 3, 11, 9, 0, tzinfo=SH))
    run.care_daily_run()
    frozen.move_to(dt.datetime(2026, 3, 12, 9, 0, tzinfo=SH))
    run.care_daily_run()
    statuses = list(CareOccurrence.objects.filter(rule=rule).order_by("occurred_on").values_list("status", "reason"))
    assert statuses == [(S.FIRED, ""), (S.FIRED, ""), (S.SUPPRESSED, run.BUDGET)]
    assert sum(CareSpend.objects.values_list("amount", flat=True)) == Decimal("60.00")


def test_a_win_back_journey_stops_when_the_customer_buys(care_parts, customers, frozen):
    from guanxi.sales.tests.factories import make_order

    buyer, silent = customers[0], customers[1]
    rule = make_rule(
        [buyer.pk, silent.pk],
        steps=[
            {"action": "zz.note"},
            {"wait_days": 7},
            {"if_no_order": True},
            {"action": "care.task", "params": {"title": "回访电话", "assign_to": "store", "due_days": 1}},
            {"wait_days": 14},
            {"if_no_order": True},
            {"action": "zz.gift"},
        ],
    )
    run.care_daily_run()
    assert CareJourney.objects.filter(rule=rule, status=CareJourney.Status.WAITING).count() == 2
    frozen.move_to(NOW + dt.timedelta(days=3))
    make_order(customer=buyer)
    assert run.care_journeys_advance() == {}  # nothing due yet
    frozen.move_to(NOW + dt.timedelta(days=7, minutes=1))
    counts = run.care_journeys_advance()
    assert counts == {"stopped": 1, "waiting": 1}
    stopped = CareJourney.objects.get(customer=buyer)
    assert (stopped.status, stopped.stopped_reason) == (CareJourney.Status.STOPPED, run.ORDERED)
    task = CareTask.objects.get()
    assert (task.customer_id, task.title, task.due_on) == (silent.pk, "回访电话", dt.date(2026, 3, 18))
    assert run.care_journeys_advance() == {}  # advanced once
    frozen.move_to(NOW + dt.timedelta(days=21, minutes=2))
    assert run.care_journeys_advance() == {"done": 1}
    assert care_parts.customers("zz.gift") == [silent.pk]
    assert CareTask.objects.count() == 1


def test_an_event_rule_fires_once_per_event(care_parts, customers):
    from django.db import transaction

    from guanxi.care.models import CareRule
    from guanxi.core.events import event_record

    rule = CareRule.objects.create(
        name="首购感谢",
        active=True,
        trigger_key="zz.paid",
        trigger_event="order.paid",
        holdout_percent=0,
        steps=[{"action": "zz.note"}],
    )
    with transaction.atomic():
        event = event_record(name="order.paid", customer_id=customers[2].pk, payload={})
    run.care_event_evaluate(event)
    run.care_event_evaluate(event)  # a redelivery
    occ = CareOccurrence.objects.get(rule=rule)
    assert occ.occasion == f"event:{event.pk}"
    assert care_parts.customers() == [customers[2].pk]


def test_the_care_subscriber_listens_to_the_events_the_triggers_name(care_parts):
    from guanxi.care.subscribers import care_event, care_subscribe
    from guanxi.core.events import subscribers_for
    from guanxi.core.events.registry import _subscribers

    care_subscribe()
    try:
        assert subscribers_for("order.paid")["care.rules"] is care_event
    finally:
        _subscribers["order.paid"].pop("care.rules", None)


def _queries_of_a_run(n: int, store) -> int:
    from guanxi.customers.tests.factories import make_customer

    people = [make_customer(store=store, name=f"客{n}-{i}") for i in range(n)]
    make_rule([c.pk for c in people], name=f"规则{n}", holdout="10")
    with CaptureQueriesContext(connection) as ctx:
        run.run_day(TODAY)
    from guanxi.care.models import CareRule

    CareRule.objects.update(active=False)
    return len(ctx.captured_queries)


def test_the_daily_run_takes_as_many_queries_for_thirty_customers_as_for_three(care_parts, store_a):
    assert _queries_of_a_run(3, store_a) == _queries_of_a_run(30, store_a)


def test_a_state_trigger_fires_once_per_lapse_not_every_day_it_holds(care_parts, customers, frozen):
    """Churn risk holds day after day; a rule on it reaches a customer once, then again only after its rearm
    period (the automations that re-fire until their condition is undone are what the issue warns about)."""
    from guanxi.core.care import CARE_TRIGGERS, CareTrigger

    CARE_TRIGGERS.register(CareTrigger(key="zz.at_risk", label="At risk", handler=_every_day_listed, rearm_days=30))
    try:
        at_risk = [c.pk for c in customers[:2]]
        rule = make_rule(at_risk)
        rule.trigger_key = "zz.at_risk"
        rule.save(update_fields=["trigger_key"])
        fired_on = []
        for offset in range(62):
            frozen.move_to(NOW + dt.timedelta(days=offset))
            day = run.run_day(TODAY + dt.timedelta(days=offset))
            if day.counts.get("fired"):
                fired_on.append((offset, day.counts["fired"]))
            run.run_day(TODAY + dt.timedelta(days=offset))  # a re-run the same day changes nothing
        assert fired_on == [(0, 2), (30, 2), (60, 2)]
        assert CareOccurrence.objects.filter(rule=rule).count() == 6
        assert len(care_parts.customers()) == 6
    finally:
        CARE_TRIGGERS.unregister("zz.at_risk")


def _every_day_listed(params, context):
    from guanxi.customers.models import Customer

    return Customer.objects.filter(pk__in=params["ids"]).values_list("id", flat=True)
