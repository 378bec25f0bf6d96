"""Campaign results test data built straight with the ORM (bulk inserts): a campaign, a run, its recipients
split into variants and control, their messages, coupons and orders."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.utils import timezone

from guanxi.campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignVariant, Segment
from guanxi.customers.models import Customer
from guanxi.loyalty.models import Coupon, CouponTemplate
from guanxi.messaging.models import Message
from guanxi.sales.models import Order

RUN_START = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
_seq = itertools.count(1)


def make_campaign(*, store=None, created_by=None, name="春季回馈", variants=("A",), days=14, coupon=None) -> Campaign:
    segment = Segment.objects.create(name=f"{name} 人群", created_by=created_by, store=store)
    campaign = Campaign.objects.create(
        name=name,
        segment=segment,
        store=store,
        created_by=created_by,
        attribution_days=days,
        coupon_template=coupon,
        status=Campaign.Status.COMPLETED,
    )
    for label in variants:
        CampaignVariant.objects.create(campaign=campaign, label=label, split_percent=100 // len(variants))
    return campaign


def make_run(campaign: Campaign, *, start: dt.datetime = RUN_START) -> CampaignRun:
    return CampaignRun.objects.create(
        campaign=campaign, occurrence=start, started_at=start, status=CampaignRun.Status.DONE
    )


def make_customers(count: int, *, store=None) -> list[Customer]:
    n = next(_seq)
    return Customer.objects.bulk_create(
        [Customer(name=f"客户{n}-{i}", home_store=store) for i in range(count)], batch_size=500
    )


def make_orders(items: list[tuple[Customer | int, dt.datetime, Decimal]], **extra) -> list[Order]:
    """Orders of (customer, time, paid amount); ``extra`` sets status / refunded_amount for all of them."""
    rows = []
    for customer, at, amount in items:
        cid = customer if isinstance(customer, int) else customer.pk
        rows.append(
            Order(
                source="test",
                external_ref=f"T{next(_seq)}",
                customer_id=cid,
                ordered_at=at,
                total_amount=amount,
                paid_amount=amount,
                payment_method="cash",
                **extra,
            )
        )
    return Order.objects.bulk_create(rows, batch_size=500)


@dataclass
class Group:
    """What the test generated for one group (the expected answer, computed in Python)."""

    customers: list[Customer]
    revenue: list[Decimal] = field(default_factory=list)  # per recipient, in the window

    @property
    def n(self) -> int:
        return len(self.customers)

    @property
    def converters(self) -> int:
        return sum(1 for r in self.revenue if r > 0)


def add_recipients(
    run: CampaignRun,
    customers: list[Customer],
    *,
    variant: CampaignVariant | None,
    message_status: str | None = Message.Status.DELIVERED,
    coupon_template: CouponTemplate | None = None,
) -> list[CampaignRecipient]:
    """Recipients of ``run``: in ``variant`` (with a message of ``message_status`` and maybe a coupon) or control."""
    messages: list[Message | None] = [None] * len(customers)
    coupons: list[Coupon | None] = [None] * len(customers)
    if variant is not None and message_status:
        messages = list(
            Message.objects.bulk_create(
                [
                    Message(
                        customer=c,
                        channel="sms",
                        purpose="marketing",
                        status=message_status,
                        dedupe_key=f"campaign-{run.pk}-{c.pk}",
                    )
                    for c in customers
                ],
                batch_size=500,
            )
        )
    if variant is not None and coupon_template is not None:
        coupons = list(
            Coupon.objects.bulk_create(
                [
                    Coupon(
                        code=f"C{run.pk:04d}{c.pk:08d}"[:16],
                        template=coupon_template,
                        customer=c,
                        issued_at=run.started_at or timezone.now(),
                        reference=f"campaign-run-{run.pk}",
                    )
                    for c in customers
                ],
                batch_size=500,
            )
        )
    status = CampaignRecipient.Status.CONTROL if variant is None else CampaignRecipient.Status.QUEUED
    return CampaignRecipient.objects.bulk_create(
        [
            CampaignRecipient(run=run, customer=c, variant=variant, status=status, message=m, coupon=k)
            for c, m, k in zip(customers, messages, coupons, strict=True)
        ],
        batch_size=500,
    )


def known_effect(
    run: CampaignRun,
    variant: CampaignVariant,
    *,
    n_variant: int,
    n_control: int,
    rate_variant: float,
    rate_control: float,
    seed: int = 16,
    store=None,
) -> tuple[Group, Group]:
    """Recipients whose converters are drawn at the given rates, each converter with 1–2 orders in the
    window (revenue lognormal around ¥200); plus noise that must not count: orders before the run and
    after the window by everyone's first few customers."""
    rng = np.random.default_rng(seed)
    groups = []
    start = run.started_at
    assert start is not None
    days = run.campaign.attribution_days
    for n, rate, v in ((n_variant, rate_variant, variant), (n_control, rate_control, None)):
        customers = make_customers(n, store=store)
        add_recipients(run, customers, variant=v)
        group = Group(customers)
        orders = []
        for c in customers:
            total = Decimal("0.00")
            if rng.random() < rate:
                for _ in range(int(rng.integers(1, 3))):
                    amount = Decimal(str(round(float(rng.lognormal(np.log(200), 0.5)), 2)))
                    at = start + dt.timedelta(seconds=int(rng.integers(0, days * 86400)))
                    orders.append((c, at, amount))
                    total += amount
            group.revenue.append(total)
        for c in customers[:20]:  # outside the window on both sides
            orders.append((c, start - dt.timedelta(seconds=1), Decimal("99.00")))
            orders.append((c, start + dt.timedelta(days=days), Decimal("99.00")))
        make_orders(orders)
        groups.append(group)
    return groups[0], groups[1]
