"""Loyalty's care triggers and actions, on a frozen clock (Asia/Shanghai local days)."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import translation

from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS
from guanxi.core.models import Event
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services
from guanxi.loyalty.models import Coupon, PointsEntry
from guanxi.loyalty.services.membership import _tier_set
from guanxi.loyalty.tests.factories import CouponTemplateFactory, make_member

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
JOINED = dt.datetime(2026, 1, 1, 23, 30, tzinfo=SH)  # late in the local day: still 1 January there


def fired(key, on, **params):
    trigger = CARE_TRIGGERS.get(key)
    return set(trigger.handler(trigger.validate_params(params), {"today": on}))


@pytest.fixture
def joined(store_a, tiers, program):
    with time_machine.travel(JOINED, tick=False):
        return make_member(store=store_a, name="李娜")


def test_day_100_as_member_fires_on_the_hundredth_local_day_only(joined, django_assert_num_queries):
    trigger = CARE_TRIGGERS.get("member_day_n")
    params = trigger.validate_params({"day": "100"})
    with django_assert_num_queries(1):  # the active memberships that joined on that local day
        assert list(trigger.handler(params, {"today": dt.date(2026, 4, 10)})) == [joined.customer_id]
    assert fired("member_day_n", dt.date(2026, 4, 9), day=100) == set()
    assert fired("member_day_n", dt.date(2026, 4, 11), day=100) == set()
    assert fired("member_day_n", dt.date(2026, 1, 1), day=1) == {joined.customer_id}


def test_membership_anniversary_fires_yearly_but_not_on_the_joining_day(joined):
    assert fired("membership_anniversary", dt.date(2026, 1, 1)) == set()
    assert fired("membership_anniversary", dt.date(2027, 1, 1)) == {joined.customer_id}
    assert fired("membership_anniversary", dt.date(2028, 1, 1)) == {joined.customer_id}
    assert fired("membership_anniversary", dt.date(2027, 12, 29), days_before=3) == {joined.customer_id}
    assert fired("membership_anniversary", dt.date(2027, 1, 2)) == set()


def test_tier_change_records_an_event_that_fires_by_direction(joined, tiers):
    with time_machine.travel(JOINED, tick=False):
        _tier_set(joined, tiers["gold"], "upgrade")
    event = Event.objects.get(name="loyalty.tier_changed")
    assert event.customer_id == joined.customer_id
    assert event.payload["direction"] == "up"
    trigger = CARE_TRIGGERS.get("tier_changed")
    assert trigger.event == "loyalty.tier_changed"
    assert list(trigger.handler(trigger.validate_params({"direction": "up"}), {"event": event})) == [joined.customer_id]
    assert list(trigger.handler(trigger.validate_params({}), {"event": event})) == [joined.customer_id]
    assert list(trigger.handler(trigger.validate_params({"direction": "down"}), {"event": event})) == []


def test_points_expiring_fires_the_given_days_before_the_expiry_day(joined, django_assert_num_queries):
    with time_machine.travel(JOINED, tick=False):
        services.points_adjust(actor=None, membership=joined, points=500, reason="welcome")
    expires = PointsEntry.objects.get(reason="welcome").expires_at.astimezone(SH).date()
    trigger = CARE_TRIGGERS.get("points_expiring")
    with django_assert_num_queries(1):  # memberships with an unspent credit expiring that day
        found = list(trigger.handler({"days": 7}, {"today": expires - dt.timedelta(days=7)}))
    assert found == [joined.customer_id]
    assert fired("points_expiring", expires - dt.timedelta(days=6), days=7) == set()
    PointsEntry.objects.filter(reason="welcome").update(remaining=0)  # spent: nothing left to expire
    assert fired("points_expiring", expires - dt.timedelta(days=7), days=7) == set()


def test_coupon_expiring_fires_for_unused_coupons_only(joined, django_assert_num_queries):
    template = CouponTemplateFactory(name="生日券", valid_days=10)
    with time_machine.travel(JOINED, tick=False):
        coupon = services.coupon_issue(actor=None, template=template, customer_ids=[joined.customer_id])[0]
    expires = coupon.expires_at.astimezone(SH).date()
    trigger = CARE_TRIGGERS.get("coupon_expiring")
    with django_assert_num_queries(1):
        found = list(trigger.handler({"days": 3}, {"today": expires - dt.timedelta(days=3)}))
    assert found == [joined.customer_id]
    Coupon.objects.filter(pk=coupon.pk).update(status=Coupon.Status.REDEEMED)
    assert fired("coupon_expiring", expires - dt.timedelta(days=3), days=3) == set()


def test_wallet_low_fires_the_morning_after_the_balance_fell_below(joined, django_assert_num_queries):
    with time_machine.travel(dt.datetime(2026, 2, 1, 10, 0, tzinfo=SH), tick=False):
        services.wallet_top_up(actor=None, membership=joined, amount="100.00", reference="pay-1")
    with time_machine.travel(dt.datetime(2026, 2, 3, 15, 0, tzinfo=SH), tick=False):
        services.wallet_spend(actor=None, membership=joined, amount="85.00", reference="spend-1")
    trigger = CARE_TRIGGERS.get("wallet_low")
    params = trigger.validate_params({"below": "20"})
    assert params == {"below": "20.00"}
    with django_assert_num_queries(1):  # wallets below the amount with an entry that crossed it that day
        assert list(trigger.handler(params, {"today": dt.date(2026, 2, 4)})) == [joined.customer_id]
    assert fired("wallet_low", dt.date(2026, 2, 5), below="20") == set()  # told once, not every day
    assert fired("wallet_low", dt.date(2026, 2, 4), below="10") == set()  # ¥15 left: not below ¥10


def test_coupon_issue_action_is_idempotent_on_the_dedupe_key(joined):
    template = CouponTemplateFactory(name="关怀券", per_customer_limit=5)
    action = CARE_ACTIONS.get("coupon_issue")
    params = action.validate_params({"template": template.pk})
    customer = joined.customer
    with time_machine.travel(JOINED, tick=False):
        first = action.handler(customer, params, {"dedupe_key": "care:7:42:2026-01-01"})
        again = action.handler(customer, params, {"dedupe_key": "care:7:42:2026-01-01"})
        other = action.handler(customer, params, {"dedupe_key": "care:7:42:2027-01-01"})
    assert first["coupon"]
    assert first["cost"] == Decimal("10.00")  # the face value, charged to the rule's care plan
    assert first == again
    assert other["coupon"] != first["coupon"]
    assert Coupon.objects.filter(customer=customer, template=template).count() == 2


def test_points_grant_action_is_idempotent_and_skips_non_members(joined):
    action = CARE_ACTIONS.get("points_grant")
    params = action.validate_params({"points": "200", "reason": "第100天感谢"})
    with time_machine.travel(JOINED, tick=False):
        first = action.handler(joined.customer, params, {"dedupe_key": "care:1:2:day100"})
        again = action.handler(joined.customer, params, {"dedupe_key": "care:1:2:day100"})
        stranger = action.handler(make_customer(name="路人"), params, {"dedupe_key": "care:1:3:day100"})
    assert first == again
    assert first["points"] == 200
    joined.points.refresh_from_db()
    assert joined.points.balance == 200
    assert stranger == {"points": 0, "skipped": "not_member"}


@pytest.mark.parametrize(
    ("key", "params", "field"),
    [
        ("member_day_n", {"day": 0}, "day"),
        ("member_day_n", {"day": 3651}, "day"),
        ("membership_anniversary", {"days_before": 61}, "days_before"),
        ("tier_changed", {"direction": "sideways"}, "direction"),
        ("points_expiring", {"days": 366}, "days"),
        ("coupon_expiring", {"days": -1}, "days"),
        ("wallet_low", {"below": "0"}, "below"),
        ("wallet_low", {"below": "1.234"}, "below"),
    ],
)
def test_trigger_params_are_checked_naming_the_field(db, key, params, field):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_TRIGGERS.get(key).validate_params(params)
    assert list(caught.value.message_dict) == [field]


@pytest.mark.parametrize(
    ("key", "params", "field"),
    [
        ("coupon_issue", {"template": 999999}, "template"),
        ("points_grant", {"points": 100_001, "reason": "x"}, "points"),
        ("points_grant", {"points": 0, "reason": "x"}, "points"),
        ("points_grant", {"points": 10, "reason": " "}, "reason"),
    ],
)
def test_action_params_are_checked_naming_the_field(db, key, params, field):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_ACTIONS.get(key).validate_params(params)
    assert list(caught.value.message_dict) == [field]
    assert not any(m.isascii() for m in caught.value.message_dict[field])  # translated
