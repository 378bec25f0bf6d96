"""The seed's care rules built from the real triggers and actions the apps register, through the real engine,
with a frozen clock: the birthday (on the day, once, yearly; 29 February; lunar), day 100 as a member, the
catch-up after a missed day, the frequency cap shared with campaigns, and the win-back journey."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.care import run
from guanxi.care.models import CareJourney, CareOccurrence, CarePlan, CareSpend, CareTask
from guanxi.core.care import CARE_ACTIONS
from guanxi.customers.models import Customer, Tag
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty.models import Coupon
from guanxi.loyalty.tests.factories import CouponTemplateFactory, make_member
from guanxi.messaging.models import Message, Purpose
from guanxi.messaging.services import consent_record, message_enqueue
from guanxi.messaging.tests.factories import make_template

SH = ZoneInfo("Asia/Shanghai")
S = CareOccurrence.Status

pytestmark = pytest.mark.django_db


def noon(day: dt.date) -> dt.datetime:
    """12:00 local: outside the messaging quiet hours."""
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=SH)


@pytest.fixture
def frozen():
    with time_machine.travel(noon(dt.date(2026, 6, 1)), tick=False) as traveller:
        yield traveller


@pytest.fixture
def sms_templates(frozen):
    return [
        make_template(code="birthday", channel="sms", purpose="care", body="{name}生日快乐"),
        make_template(code="winback", channel="sms", purpose="care", body="{name}好久不见"),
        make_template(code="promo", channel="sms", purpose="marketing", body="{name}新品上市"),
    ]


def reachable(customer: Customer) -> Customer:
    consent_record(actor=None, customer=customer, channel="sms", purpose="marketing", granted=True, source="in store")
    return customer


def step(action: str, **params: object) -> dict[str, object]:
    return {"action": action, "params": CARE_ACTIONS.get(action).validate_params(params)}


def rule(trigger: str, steps: list[dict[str, object]], *, name: str = "生日祝福", **params: object):
    from guanxi.care.models import CareRule
    from guanxi.core.care import CARE_TRIGGERS

    return CareRule.objects.create(
        name=name,
        active=True,
        priority=100,
        trigger_key=trigger,
        trigger_params=CARE_TRIGGERS.get(trigger).validate_params(params),
        steps=steps,
        holdout_percent="0",
    )


def run_on(frozen, day: dt.date) -> run.DailyReport:
    frozen.move_to(noon(day))
    return run.care_daily_run()


def fired_on(care_rule) -> list[dt.date]:
    return sorted(CareOccurrence.objects.filter(rule=care_rule, status=S.FIRED).values_list("occurred_on", flat=True))


def tag_step(name: str) -> dict[str, object]:
    tag, _ = Tag.objects.get_or_create(name=name)
    return step("tag_add", tag=tag.pk)


def test_the_birthday_rule_fires_on_the_day_once_and_again_next_year(frozen, sms_templates):
    customer = reachable(make_customer(name="王芳", birthday="1990-06-15"))
    gift = CouponTemplateFactory(name="生日券", amount="20.00", per_customer_limit=5)
    plan = CarePlan.objects.create(name="普通会员关怀")
    birthday = rule(
        "birthday", [step("message_send", template="birthday", channel="sms"), step("coupon_issue", template=gift.pk)]
    )
    birthday.plan = plan
    birthday.save(update_fields=["plan"])

    run_on(frozen, dt.date(2026, 6, 14))
    assert fired_on(birthday) == []  # not a day early
    run_on(frozen, dt.date(2026, 6, 15))
    run_on(frozen, dt.date(2026, 6, 15))  # a re-run the same day
    assert fired_on(birthday) == [dt.date(2026, 6, 15)]
    occ = CareOccurrence.objects.get(rule=birthday)
    assert occ.result["0"] == {"channel": "sms", "queued": True}
    assert occ.result["1"]["cost"] == "20.00"
    assert Message.objects.filter(customer=customer, purpose=Purpose.CARE, status=Message.Status.QUEUED).count() == 1
    assert Coupon.objects.filter(customer=customer, template=gift).count() == 1
    assert list(CareSpend.objects.filter(plan=plan).values_list("amount", flat=True)) == [Decimal("20.00")]
    run_on(frozen, dt.date(2026, 6, 16))
    assert fired_on(birthday) == [dt.date(2026, 6, 15)]  # not the day after either

    run_on(frozen, dt.date(2027, 6, 15))  # next year
    assert fired_on(birthday) == [dt.date(2026, 6, 15), dt.date(2027, 6, 15)]
    assert Coupon.objects.filter(customer=customer, template=gift).count() == 2
    assert Message.objects.filter(customer=customer, purpose=Purpose.CARE).count() == 2


def test_a_29_february_birthday_fires_on_28_february_in_a_common_year(frozen):
    leap = make_customer(name="闰日", birthday="1992-02-29")
    birthday = rule("birthday", [tag_step("生日")])
    run_on(frozen, dt.date(2027, 2, 27))
    assert fired_on(birthday) == []
    run_on(frozen, dt.date(2027, 2, 28))
    run_on(frozen, dt.date(2027, 3, 1))
    assert fired_on(birthday) == [dt.date(2027, 2, 28)]
    assert CareOccurrence.objects.get(rule=birthday).customer_id == leap.pk
    assert list(leap.tags.values_list("name", flat=True)) == ["生日"]


def test_a_lunar_birthday_fires_on_its_solar_date_this_year(frozen):
    # born 3 October 1990 = 八月十五; in 2026 八月十五 is 25 September
    lunar = make_customer(name="中秋", birthday="1990-10-03", birthday_is_lunar=True)
    solar = make_customer(name="公历", birthday="1990-10-03")
    birthday = rule("birthday", [tag_step("生日")])
    run_on(frozen, dt.date(2026, 9, 25))
    assert list(CareOccurrence.objects.filter(rule=birthday).values_list("customer_id", flat=True)) == [lunar.pk]
    run_on(frozen, dt.date(2026, 10, 3))
    on_solar_day = CareOccurrence.objects.filter(rule=birthday, occurred_on=dt.date(2026, 10, 3))
    assert list(on_solar_day.values_list("customer_id", flat=True)) == [solar.pk]


def test_the_day_100_thanks_fires_on_the_hundredth_day_of_membership(frozen):
    frozen.move_to(noon(dt.date(2026, 3, 1)))
    member = make_member(name="新会员")  # day 1: 1 March; day 100: 8 June
    thanks = rule("member_day_n", [step("points_grant", points=100, reason="第100天感谢")], name="百日感谢", day=100)
    run_on(frozen, dt.date(2026, 6, 7))
    assert fired_on(thanks) == []
    run_on(frozen, dt.date(2026, 6, 8))
    run_on(frozen, dt.date(2026, 6, 9))
    assert fired_on(thanks) == [dt.date(2026, 6, 8)]
    member.points.refresh_from_db()
    assert member.points.balance == 100


def test_a_birthday_on_a_missed_day_is_caught_up_once(frozen, settings):
    settings.GUANXI_CARE_GRACE_DAYS = 3
    customer = make_customer(name="错过", birthday="1985-06-16")
    birthday = rule("birthday", [tag_step("生日")])
    run_on(frozen, dt.date(2026, 6, 15))  # then the server is down on 16 and 17 June
    report = run_on(frozen, dt.date(2026, 6, 18))
    assert [d.day for d in report.ran] == [dt.date(2026, 6, 16), dt.date(2026, 6, 17), dt.date(2026, 6, 18)]
    run_on(frozen, dt.date(2026, 6, 18))
    run_on(frozen, dt.date(2026, 6, 19))
    assert fired_on(birthday) == [dt.date(2026, 6, 16)]
    assert CareOccurrence.objects.get(rule=birthday).customer_id == customer.pk


def test_the_frequency_cap_counts_campaign_messages_and_suppresses_the_care_message(frozen, sms_templates):
    capped = reachable(make_customer(name="已打扰", birthday="1990-06-15"))
    fresh = reachable(make_customer(name="未打扰", birthday="1990-06-15"))
    frozen.move_to(noon(dt.date(2026, 6, 12)))
    for n in (1, 2):  # the weekly cap (2) used up by two campaign sends
        message_enqueue(
            channel="sms",
            template_code="promo",
            customer_ids=[capped.pk],
            purpose=Purpose.MARKETING,
            dedupe_prefix=f"campaign:{n}",
        )
    gift = CouponTemplateFactory(name="生日券", amount="20.00")
    birthday = rule(
        "birthday", [step("message_send", template="birthday", channel="sms"), step("coupon_issue", template=gift.pk)]
    )
    run_on(frozen, dt.date(2026, 6, 15))
    refused = CareOccurrence.objects.get(rule=birthday, customer=capped)
    assert (refused.status, refused.reason) == (S.SUPPRESSED, "frequency cap")
    assert refused.result["0"]["suppressed"] == "frequency cap"
    assert "1" not in refused.result  # the coupon after the refused message is not issued
    assert not Coupon.objects.filter(customer=capped).exists()
    care = Message.objects.get(customer=capped, purpose=Purpose.CARE)
    assert (care.status, care.reason) == (Message.Status.SUPPRESSED, "frequency cap")
    assert CareOccurrence.objects.get(rule=birthday, customer=fresh).status == S.FIRED
    assert Coupon.objects.filter(customer=fresh).count() == 1


@pytest.fixture
def drifting(frozen):
    """A customer who bought every 10 days and stopped: overdue (factor 1.5) on 16 March."""
    frozen.move_to(noon(dt.date(2026, 3, 1)))
    customer = reachable(make_customer(name="老顾客"))
    Customer.objects.filter(pk=customer.pk).update(
        order_count=3,
        first_order_at=dt.datetime(2026, 2, 9, 10, 0, tzinfo=SH),
        last_order_at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=SH),
    )
    return customer


def winback():
    return rule(
        "repurchase_overdue",
        [
            step("message_send", template="winback", channel="sms"),
            {"wait_days": 7},
            {"if_no_order": True},
            step("care.task", title="回访电话", assign_to="owner", due_days=2),
            {"wait_days": 14},
            {"if_no_order": True},
            tag_step("流失"),
        ],
        name="流失挽回",
        factor="1.5",
    )


def test_the_win_back_journey_calls_then_tags_the_customer_lost(frozen, sms_templates, drifting):
    journey_rule = winback()
    run_on(frozen, dt.date(2026, 3, 16))
    assert fired_on(journey_rule) == [dt.date(2026, 3, 16)]
    assert Message.objects.filter(customer=drifting, purpose=Purpose.CARE, status=Message.Status.QUEUED).count() == 1
    journey = CareJourney.objects.get(rule=journey_rule)
    frozen.move_to(noon(dt.date(2026, 3, 22)))
    assert run.care_journeys_advance() == {}  # day 6: still waiting
    frozen.move_to(noon(dt.date(2026, 3, 23)))
    run.care_journeys_advance()
    task = CareTask.objects.get(customer=drifting)
    assert (task.title, task.due_on) == ("回访电话", dt.date(2026, 3, 25))
    frozen.move_to(noon(dt.date(2026, 4, 6)))
    run.care_journeys_advance()
    journey.refresh_from_db()
    assert journey.status == CareJourney.Status.DONE
    assert list(drifting.tags.values_list("name", flat=True)) == ["流失"]
    assert CareTask.objects.filter(customer=drifting).count() == 1


def test_the_win_back_journey_stops_when_the_customer_buys(frozen, sms_templates, drifting):
    from guanxi.sales.tests.factories import make_order

    journey_rule = winback()
    run_on(frozen, dt.date(2026, 3, 16))
    frozen.move_to(noon(dt.date(2026, 3, 19)))
    make_order(customer=drifting)  # through the sales service
    frozen.move_to(noon(dt.date(2026, 3, 23)))
    run.care_journeys_advance()
    journey = CareJourney.objects.get(rule=journey_rule)
    assert (journey.status, journey.stopped_reason) == (CareJourney.Status.STOPPED, run.ORDERED)
    frozen.move_to(noon(dt.date(2026, 4, 6)))
    run.care_journeys_advance()
    assert not CareTask.objects.filter(customer=drifting).exists()
    assert not drifting.tags.filter(name="流失").exists()


def test_a_coupon_issued_after_a_wait_is_charged_to_the_plan(frozen, sms_templates, drifting):
    gift = CouponTemplateFactory(name="回归券", amount="15.00")
    plan = CarePlan.objects.create(name="挽回")
    journey_rule = rule(
        "repurchase_overdue",
        [{"wait_days": 7}, {"if_no_order": True}, step("coupon_issue", template=gift.pk)],
        name="等待后发券",
        factor="1.5",
    )
    journey_rule.plan = plan
    journey_rule.save(update_fields=["plan"])
    run_on(frozen, dt.date(2026, 3, 16))
    frozen.move_to(noon(dt.date(2026, 3, 23)))
    run.care_journeys_advance()
    run.care_journeys_advance()  # nothing left to do: charged once
    assert Coupon.objects.filter(customer=drifting, template=gift).count() == 1
    spent = CareSpend.objects.get(plan=plan)
    assert (spent.amount, spent.spent_on, spent.customer_id) == (Decimal("15.00"), dt.date(2026, 3, 23), drifting.pk)
