"""Shared setup of the campaign tests: staff of two stores, a segment each, SMS templates, a coupon."""

from __future__ import annotations

import pytest

from guanxi.accounts.models import Role
from guanxi.accounts.tests.factories import UserFactory
from guanxi.campaigns.models import Campaign, Segment
from guanxi.campaigns.services import campaign_save
from guanxi.loyalty.services.coupons import coupon_template_create
from guanxi.messaging.tests.factories import make_template

WINBACK_BODY = "{name}您好,{store}送您{coupon},券码{coupon_code},30天内有效"


@pytest.fixture
def people(store_a, store_b, marketer_a, staff_a):
    return {
        "marketer": marketer_a,
        "manager": UserFactory(username="manager-a", role=Role.MANAGER, stores=[store_a], phone="13800138000"),
        "manager2": UserFactory(username="manager-a2", role=Role.MANAGER, stores=[store_a]),
        "analyst": UserFactory(username="analyst-a", role=Role.ANALYST, stores=[store_a]),
        "staff": staff_a,
        "marketer_b": UserFactory(username="marketer-b", role=Role.MARKETER, stores=[store_b]),
        "manager_b": UserFactory(username="manager-b", role=Role.MANAGER, stores=[store_b]),
        "store_a": store_a,
        "store_b": store_b,
    }


@pytest.fixture
def setup(people):
    segment_a = Segment.objects.create(
        name="金卡沉睡会员", rules={"all": []}, created_by=people["marketer"], store=people["store_a"]
    )
    segment_b = Segment.objects.create(
        name="乙店人群", rules={"all": []}, created_by=people["marketer_b"], store=people["store_b"]
    )
    winback = make_template(code="winback", body=WINBACK_BODY)
    plain = make_template(code="hello", body="{name}您好,本周会员日全场8折")
    coupon = coupon_template_create(actor=None, data={"name": "20元代金券", "kind": "fixed", "amount": "20.00"})
    return {
        **people,
        "segment": segment_a,
        "segment_b": segment_b,
        "winback": winback,
        "plain": plain,
        "coupon": coupon,
    }


def campaign_data(setup, **overrides):
    data = {
        "name": "沉睡会员唤醒",
        "goal": "让90天未购的金卡会员回店",
        "segment": setup["segment"].pk,
        "channel": "sms",
        "purpose": "marketing",
        "coupon_template": setup["coupon"].pk,
        "schedule": "now",
        "holdout_percent": "10",
        "attribution_days": 14,
        "variants": [
            {"label": "A", "template_code": "winback", "split_percent": 50},
            {"label": "B", "template_code": "hello", "split_percent": 50},
        ],
    }
    data.update(overrides)
    return data


def draft(setup, actor=None, **overrides) -> Campaign:
    return campaign_save(actor=actor or setup["marketer"], data=campaign_data(setup, **overrides))
