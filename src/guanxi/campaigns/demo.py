"""The demo's campaigns: three saved segments, two campaigns sent weeks ago with their results, one waiting
for a manager's approval, so the campaign pages show something real on the first run.

Everything goes through the services a marketer and a manager use (segments saved, campaigns drafted,
submitted, approved, materialised with their hold-out and coupons, sent through the queue). Only the clock is
moved afterwards: the sent runs, their messages and coupons are dated back to when they went out, their
messages marked delivered (the console provider would have), and some recipients bought in the weeks after,
as the demo's other orders do, through the order service.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
from django.utils import timezone

from guanxi.accounts.models import User
from guanxi.campaigns import services
from guanxi.campaigns.models import Campaign, CampaignRecipient, CampaignRun, Segment
from guanxi.campaigns.run import campaign_run_execute, campaigns_due
from guanxi.campaigns.segments import segment_create
from guanxi.loyalty.models import Coupon, CouponTemplate, Tier
from guanxi.messaging.models import Channel, Message, MessageTemplate, Purpose
from guanxi.messaging.services import template_save
from guanxi.sales.models import Product
from guanxi.sales.services import order_ingest

TEMPLATES = [
    ("member_day", "会员日代金券", "{name}您好，{store}会员日送您{coupon}，券码{coupon_code}，两周内到店使用。"),
    ("member_day_b", "会员日代金券（短版）", "{name}，会员日专享{coupon}，券码{coupon_code}，{store}等您。"),
    ("comeback", "老客唤醒", "{name}您好，好久不见！{store}为您留了{coupon}，券码{coupon_code}，30天内有效。"),
]


def _templates(actor: User) -> None:
    for code, name, body in TEMPLATES:
        template = MessageTemplate.objects.filter(code=code, channel=Channel.SMS, language="zh-hans").first()
        template = template or MessageTemplate(code=code, channel=Channel.SMS, language="zh-hans")
        template.name, template.purpose, template.body = name, Purpose.MARKETING, body
        template_save(actor=actor, template=template)


def _segments(marketer: User, today: dt.date) -> dict[str, Segment]:
    gold = list(Tier.objects.filter(name__in=["金卡会员", "钻石会员"]).values_list("pk", flat=True))
    consent = {"field": "messaging.consent", "op": "eq", "value": "sms:marketing"}
    specs = {
        "members": (
            "会员·接受短信营销",
            {"all": [{"field": "loyalty.member", "op": "is_true", "value": True}, consent]},
        ),
        "gold_lapsed": (
            "金卡以上·90天未购·接受短信营销",
            {
                "all": [
                    {"field": "loyalty.tier", "op": "in", "value": gold},
                    {"not": {"field": "sales.last_purchase", "op": "within_days", "value": 90}},
                    consent,
                ]
            },
        ),
        "at_risk": ("高价值·流失风险", {"all": [{"field": "analytics.at_risk", "op": "eq", "value": "1"}, consent]}),
        "birthday": (
            "本月生日会员",
            {
                "all": [
                    {"field": "customers.birthday_month", "op": "in", "value": [today.month]},
                    {"field": "loyalty.member", "op": "is_true", "value": True},
                ]
            },
        ),
    }
    return {
        key: segment_create(actor=marketer, data={"name": name, "rules": rules, "kind": "dynamic"})
        for key, (name, rules) in specs.items()
    }


def _send_in_the_past(
    *, campaign: Campaign, manager: User, marketer: User, sent: dt.datetime, lift: float, rng: np.random.Generator
) -> dict[str, int]:
    services.campaign_submit(actor=marketer, campaign=campaign)
    services.campaign_approve(actor=manager, campaign=campaign)
    now = timezone.now()
    campaigns_due(now)
    run = CampaignRun.objects.get(campaign=campaign, is_test=False)
    campaign_run_execute(run.pk)
    # moved back to when it went out; delivered, as the provider's receipts would have said
    CampaignRun.objects.filter(pk=run.pk).update(
        occurrence=sent, started_at=sent, finished_at=sent + dt.timedelta(minutes=9), status=CampaignRun.Status.DONE
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED, next_run_at=None)
    message_ids = CampaignRecipient.objects.filter(run=run, message__isnull=False).values("message_id")
    Message.objects.filter(pk__in=message_ids).update(
        status=Message.Status.DELIVERED,
        created_at=sent,
        sent_at=sent + dt.timedelta(minutes=5),
        delivered_at=sent + dt.timedelta(minutes=6),
        next_attempt_at=None,
    )
    coupon_ids = CampaignRecipient.objects.filter(run=run, coupon__isnull=False).values("coupon_id")
    Coupon.objects.filter(pk__in=coupon_ids).update(issued_at=sent, valid_from=sent)
    # some recipients came back to buy in the following two weeks, more of those who got the message
    rows = list(
        CampaignRecipient.objects.filter(run=run)
        .select_related("customer__home_store")
        .values_list("customer_id", "variant_id", "customer__home_store__code")
    )
    products = list(Product.objects.filter(is_active=True).values_list("sku", flat=True)[:40])
    bought = 0
    for customer_id, variant_id, store_code in rows:
        chance = 0.05 + (lift if variant_id is not None else 0.0)
        if not products or rng.random() >= chance:
            continue
        when = sent + dt.timedelta(hours=float(rng.uniform(2, 13 * 24)))
        order_ingest(
            actor=None,
            data={
                "source": "demo",
                "external_ref": f"CMP-{run.pk}-{customer_id}",
                "customer_id": customer_id,
                "store": store_code or "",
                "ordered_at": when.isoformat(),
                "payment_method": "wechat_pay",
                "lines": [{"sku": str(rng.choice(products)), "quantity": int(rng.integers(1, 3))}],
            },
            channel="import",
        )
        bought += 1
    return {"recipients": len(rows), "bought": bought}


def campaigns_demo(*, marketer: User, manager: User, rng: np.random.Generator) -> dict[str, Any]:
    now = timezone.now()
    _templates(marketer)
    segments = _segments(marketer, timezone.localdate())
    coupon = {t.name: t for t in CouponTemplate.objects.filter(active=True)}
    twenty = coupon.get("新会员见面礼 ¥20")
    comeback = coupon.get("老友回归 满200减50")
    member_day = services.campaign_save(
        actor=marketer,
        data={
            "name": "会员日 ¥20 代金券",
            "goal": "会员日拉动到店，比较两种文案",
            "segment": segments["members"].pk,
            "channel": "sms",
            "coupon_template": twenty.pk if twenty else None,
            "holdout_percent": Decimal("10"),
            "variants": [
                {"label": "A", "template_code": "member_day", "split_percent": 50},
                {"label": "B", "template_code": "member_day_b", "split_percent": 50},
            ],
        },
    )
    sent = {
        "member_day": _send_in_the_past(
            campaign=member_day,
            manager=manager,
            marketer=marketer,
            sent=now - dt.timedelta(days=35),
            lift=0.04,
            rng=rng,
        )
    }
    winback = services.campaign_save(
        actor=marketer,
        data={
            "name": "高价值老客唤醒",
            "goal": "把流失风险高的老客请回来",
            "segment": segments["at_risk"].pk,
            "channel": "sms",
            "coupon_template": comeback.pk if comeback else None,
            "holdout_percent": Decimal("20"),
            "variants": [{"label": "A", "template_code": "comeback", "split_percent": 100}],
        },
    )
    sent["winback"] = _send_in_the_past(
        campaign=winback, manager=manager, marketer=marketer, sent=now - dt.timedelta(days=20), lift=0.06, rng=rng
    )
    pending = services.campaign_save(
        actor=marketer,
        data={
            "name": "金卡老客回访礼",
            "goal": "金卡以上会员三个月没来，送满200减50",
            "segment": segments["gold_lapsed"].pk,
            "channel": "sms",
            "coupon_template": comeback.pk if comeback else None,
            "variants": [{"label": "A", "template_code": "comeback", "split_percent": 100}],
        },
    )
    services.campaign_submit(actor=marketer, campaign=pending)
    return {"segments": len(segments), "campaigns": 3, "sent": sent}
