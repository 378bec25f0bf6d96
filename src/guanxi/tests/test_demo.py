"""The demo business arrives configured: every page has something real on the first run (issue #15, item 6)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum

from guanxi.analytics.models import CustomerScore
from guanxi.customers.models import Customer
from guanxi.loyalty.models import (
    Checkout,
    Coupon,
    CouponTemplate,
    Membership,
    PointsAccount,
    PointsEntry,
    Tier,
    TopUpRule,
    Wallet,
    WalletEntry,
)
from guanxi.messaging.models import Consent, Message, MessageTemplate
from guanxi.messaging.rendering import render
from guanxi.workspace.demo_program import BIRTHDAY_TEMPLATE, WINBACK_TEMPLATE

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC), tick=True):
        call_command("demo", customers=300, orders=3000, verbosity=0)
        yield


def test_demo_configures_the_loyalty_program(demo):
    assert Tier.objects.count() == 4
    assert TopUpRule.objects.count() == 3
    assert CouponTemplate.objects.count() == 5
    assert Coupon.objects.count() > 50
    assert Membership.objects.count() > 150
    assert Checkout.objects.count() == 20
    assert Membership.objects.exclude(tier__threshold=0).exists()


def test_demo_balances_are_the_sums_of_their_ledgers(demo):
    assert PointsAccount.objects.filter(balance__gt=0).count() > 100
    for account in PointsAccount.objects.all():
        assert account.balance == (PointsEntry.objects.filter(account=account).aggregate(s=Sum("points"))["s"] or 0)
    assert Wallet.objects.filter(principal__gt=0).count() > 20
    for wallet in Wallet.objects.filter(principal__gt=0):
        assert wallet.balance == sum(e.amount for e in WalletEntry.objects.filter(wallet=wallet))


def test_demo_records_consents_and_message_templates_that_render(demo):
    assert Consent.objects.values("customer").distinct().count() > 200
    assert set(Consent.objects.values_list("source", flat=True)) >= {"counter", "import"}
    for code in ("ebill", BIRTHDAY_TEMPLATE, WINBACK_TEMPLATE):
        template = MessageTemplate.objects.get(code=code, channel="sms")
        text = render(template.body, {"name": "王芳", "store": "静安旗舰店", "amount": "268.00", "coupon_code": "X"})
        assert "王芳" in text
        assert "{" not in text
    # the counter sales' e-bills are in the message log, rendered with the shipped template
    assert Message.objects.filter(template_code="ebill").exclude(status=Message.Status.SUPPRESSED).count() > 0


def test_demo_computes_scores_for_buyers(demo):
    buyer = Customer.objects.filter(order_count__gt=5).first()
    assert CustomerScore.objects.filter(customer=buyer).exists()
    assert CustomerScore.objects.count() >= Customer.objects.filter(order_count__gt=0).count() - 5
    # "new this month" counts newcomers, not the moment the demo was loaded
    assert Customer.objects.filter(created_at__gte=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)).count() < 100


def test_demo_ships_active_care_rules_with_a_month_of_history(demo):
    from guanxi.accounts.models import User
    from guanxi.care.models import CareJourney, CareOccurrence, CarePlan, CareRule, CareRunDay, CareTask
    from guanxi.care.selectors import week_calendar

    rules = CareRule.objects.filter(active=True)
    assert set(rules.values_list("trigger_key", flat=True)) >= {
        "birthday",
        "important_date",
        "member_day_n",
        "membership_anniversary",
        "repurchase_overdue",
    }
    assert CarePlan.objects.filter(budget_per_customer__isnull=False).count() == 3
    assert CareRunDay.objects.filter(status="done").count() == 31
    fired = CareOccurrence.objects.filter(status=CareOccurrence.Status.FIRED)
    assert fired.values("occurred_on").distinct().count() > 15
    assert fired.filter(rule__trigger_key="birthday").exists()
    assert CareJourney.objects.exists()
    # the care templates render and the birthday greetings went into the message log
    for template in MessageTemplate.objects.filter(code__startswith="care_"):
        assert "{" not in render(template.body, {"name": "王芳", "store": "静安旗舰店"})
    assert Message.objects.filter(template_code="care_birthday").exists()
    assert CareTask.objects.filter(status=CareTask.Status.OPEN).exists()
    assert CareTask.objects.filter(status=CareTask.Status.DONE).exclude(outcome="").exists()
    admin = User.objects.get(username="admin")
    start = dt.date(2026, 11, 16)  # the week of the frozen day
    week = week_calendar(admin, start=start)
    assert week["tasks"] or week["fired"]
