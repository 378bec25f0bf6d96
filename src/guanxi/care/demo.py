"""The demo's care: the seed's rules, active, with a month of history, so the care pages show something real.

Everything goes through the services a manager uses (templates saved, plans and rules saved and activated) and
the engine's own daily run, called once per local day of the last month with that day's clock (the run takes
``now``; the journeys advance with it), so the occurrences, journeys, coupons, messages and tasks are the ones
the engine writes. Afterwards some of the tasks are completed with their outcomes by the staff they belong to.

No maintenance reminder ships: no trigger knows a product's service interval yet (``repurchase_overdue`` is
about a customer's own buying rhythm, and drives the win-back journey instead).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from django.utils import timezone

from guanxi.accounts.models import User
from guanxi.care import services
from guanxi.care.models import CareOccurrence, CareRule, CareTask
from guanxi.care.run import care_daily_run, care_journeys_advance, local_today
from guanxi.customers.models import Tag
from guanxi.loyalty.models import CouponTemplate, Tier
from guanxi.messaging.models import Channel, MessageTemplate, Purpose
from guanxi.messaging.services import template_save

HISTORY_DAYS = 30
LOST_TAG = "流失"
TEMPLATES = [
    ("care_birthday", "生日祝福（关怀）", "{name}您好，{store}全体同事祝您生日快乐！生日礼券已放入您的会员账户。"),
    ("care_wedding", "结婚纪念日贺信", "{name}您好，今天是您的结婚纪念日，{store}祝您和家人幸福美满、岁岁相伴。"),
    ("care_day100", "入会100天感谢", "{name}您好，感谢您成为{store}会员已满100天，我们会继续用心为您服务。"),
    ("care_greeting", "会员问候", "{name}您好，{store}感谢您一直以来的支持，祝您生活愉快！"),
    ("care_winback", "老客关怀（附券）", "{name}您好，好久不见！{store}为您准备了一张回归礼券，期待您再次光临。"),
]


def _templates(actor: User) -> None:
    for code, name, body in TEMPLATES:
        template = MessageTemplate.objects.filter(code=code, channel=Channel.SMS, language="zh-hans").first()
        template = template or MessageTemplate(code=code, channel=Channel.SMS, language="zh-hans")
        template.name, template.purpose, template.body = name, Purpose.CARE, body
        template_save(actor=actor, template=template)


def _sms(code: str) -> dict[str, Any]:
    return {"action": "message_send", "params": {"template": code, "channel": "sms"}}


def _coupon(template: CouponTemplate) -> dict[str, Any]:
    return {"action": "coupon_issue", "params": {"template": template.pk}}


def _task(title: str, script: str, *, assign_to: str = "owner", due_days: int = 1) -> dict[str, Any]:
    params = {"title": title, "script": script, "assign_to": assign_to, "due_days": due_days}
    return {"action": "care.task", "params": params}


def _tier(name: str) -> dict[str, Any]:
    tier = Tier.objects.filter(name=name).values_list("pk", flat=True).first()
    return {"field": "loyalty.tier", "op": "in", "value": [tier]} if tier else {}


def _rules(manager: User) -> list[CareRule]:
    coupons = {t.name: t for t in CouponTemplate.objects.filter(active=True)}
    birthday_coupon = coupons["生日月9折券"]
    comeback = coupons["老友回归 满200减50"]
    lost, _created = Tag.objects.get_or_create(name=LOST_TAG)
    gold = services.plan_save(
        actor=manager,
        data={
            "name": "金卡关怀",
            "tier": Tier.objects.filter(name="金卡会员").first(),
            "budget_per_customer": "300",
            "budget_total": "60000",
        },
    )
    silver = services.plan_save(
        actor=manager,
        data={
            "name": "银卡关怀",
            "tier": Tier.objects.filter(name="银卡会员").first(),
            "budget_per_customer": "100",
            "budget_total": "20000",
        },
    )
    ordinary = services.plan_save(
        actor=manager,
        data={
            "name": "普通会员关怀",
            "tier": Tier.objects.filter(name="普通会员").first(),
            "budget_per_customer": "10",
            "budget_total": "5000",
        },
    )
    specs: list[dict[str, Any]] = [
        {
            "name": "生日祝福短信＋生日券",
            "trigger_key": "birthday",
            "trigger_params": {"days_before": 0},
            "conditions": {"field": "loyalty.member", "op": "is_true", "value": True},
            "steps": [_sms("care_birthday"), _coupon(birthday_coupon)],
            "priority": 100,
        },
        {
            "name": "结婚纪念日贺信",
            "trigger_key": "important_date",
            "trigger_params": {"kind": "wedding_anniversary", "days_before": 0},
            "steps": [_sms("care_wedding")],
            "priority": 90,
        },
        {
            "name": "入会第100天感谢",
            "trigger_key": "member_day_n",
            "trigger_params": {"day": 100},
            "steps": [_sms("care_day100")],
            "priority": 80,
        },
        {
            "name": "金卡：年度礼品（专属顾问）",
            "trigger_key": "membership_anniversary",
            "trigger_params": {"days_before": 3},
            "conditions": _tier("金卡会员"),
            "steps": [_task("准备并送上金卡年度礼品", "致电预约到店时间，当面送上年度礼品并致谢。", due_days=3)],
            "plan": gold.pk,
            "priority": 120,
        },
        {
            "name": "金卡：生日礼券",
            "trigger_key": "birthday",
            "trigger_params": {"days_before": 0},
            "conditions": _tier("金卡会员"),
            "steps": [_coupon(birthday_coupon), _task("金卡会员生日致电", "祝生日快乐，提醒生日礼券可到店使用。")],
            "plan": gold.pk,
            "priority": 150,
        },
        {
            "name": "银卡：节日礼品",
            "trigger_key": "membership_anniversary",
            "trigger_params": {"days_before": 0},
            "conditions": _tier("银卡会员"),
            "steps": [_task("银卡会员节日礼品", "到店时送上节日小礼品。", assign_to="store", due_days=7)],
            "plan": silver.pk,
            "priority": 60,
        },
        {
            "name": "普通会员：问候短信",
            "trigger_key": "membership_anniversary",
            "trigger_params": {"days_before": 0},
            "conditions": _tier("普通会员"),
            "steps": [_sms("care_greeting")],
            "plan": ordinary.pk,
            "priority": 50,
        },
        {
            "name": "老客唤醒旅程",
            "trigger_key": "repurchase_overdue",
            "trigger_params": {},
            "steps": [
                _sms("care_winback"),
                _coupon(comeback),
                {"wait_days": 7},
                {"if_no_order": True},
                _task("老客回访电话", "问候近况，了解未再光临的原因，提醒回归礼券。"),
                {"wait_days": 14},
                {"if_no_order": True},
                {"action": "tag_add", "params": {"tag": lost.pk}},
            ],
            "priority": 70,
        },
    ]
    rules = []
    for spec in specs:
        if not spec.get("conditions"):
            spec.pop("conditions", None)
        spec.setdefault("holdout_percent", "10")
        rule = services.rule_save(actor=manager, data=spec)
        rules.append(services.rule_set_active(actor=manager, rule=rule, active=True))
    return rules


def _history(now: dt.datetime) -> None:
    """The daily run (and the journeys) for each local day of the last month, with that day's clock."""
    for back in range(HISTORY_DAYS, -1, -1):
        moment = now - dt.timedelta(days=back)
        care_journeys_advance(moment)
        care_daily_run(moment)


def _outcomes(rng: np.random.Generator, today: dt.date) -> int:
    """The older tasks were worked: most reached, some no answer, a few to call back; this week's stay open."""
    done = 0
    tasks = list(
        CareTask.objects.filter(status=CareTask.Status.OPEN, due_on__lt=today - dt.timedelta(days=2))
        .select_related("assignee")
        .order_by("id")
    )
    choices = [CareTask.Outcome.REACHED, CareTask.Outcome.NO_ANSWER, CareTask.Outcome.CALL_BACK]
    for task in tasks:
        if rng.random() < 0.2:
            continue  # still open, overdue
        outcome = str(rng.choice(choices, p=[0.7, 0.2, 0.1]))
        if "礼品" in task.title and outcome == CareTask.Outcome.REACHED:
            outcome = CareTask.Outcome.GIFT_HANDED
        services.task_complete(actor=task.assignee, task=task, outcome=outcome, note="")
        done += 1
    return done


def care_demo(*, manager: User, rng: np.random.Generator) -> dict[str, Any]:
    now = timezone.now()
    _templates(manager)
    rules = _rules(manager)
    _history(now)
    completed = _outcomes(rng, local_today(now))
    return {
        "rules": len(rules),
        "occurrences": CareOccurrence.objects.count(),
        "tasks": CareTask.objects.count(),
        "completed": completed,
    }
