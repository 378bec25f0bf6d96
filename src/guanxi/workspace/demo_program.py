"""The configured side of the demo business: the loyalty program, message templates, consents, members.

The shop "moved to Guanxi" with its history: two years of orders, the members' points earned on them and
the consents recorded at the counter or brought over from the old till. That history is replayed
set-based with loyalty's own arithmetic (``loyalty.calculations``), so every balance is the sum of real
ledger entries; calling the services once per historical order would take minutes and send thousands of
e-bills. What happens "today" at the counter (enrolments, top-ups, coupons, a few member sales, consents
asked at the counter) goes through the real services, with their events, timeline entries and audit rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import CharField, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat, LPad
from django.utils import timezone

from guanxi.customers.models import Customer, TimelineEntry
from guanxi.loyalty.calculations import growth_for_amount, points_expiry, points_for_amount
from guanxi.loyalty.models import (
    CouponTemplate,
    Membership,
    OrderAward,
    PointsAccount,
    PointsEntry,
    ProgramSettings,
    Tier,
    TierChange,
    TopUpRule,
    Wallet,
)
from guanxi.loyalty.services import (
    CODE_ALPHABET,
    checkout_commit,
    coupon_issue,
    coupon_template_create,
    member_enrol,
    wallet_top_up,
)
from guanxi.messaging.models import Channel, Consent, MessageTemplate, Purpose
from guanxi.messaging.services import consent_record, template_save
from guanxi.messaging.subscribers import EBILL_TEMPLATE
from guanxi.sales.models import Order

if TYPE_CHECKING:
    import numpy as np

    from guanxi.accounts.models import Store, User
    from guanxi.sales.models import Product

#: The template codes other parts of Guanxi send with: the e-bill after a purchase (messaging.subscribers),
#: the birthday greeting (the home page's "greet") and the win-back offer to lapsing customers.
BIRTHDAY_TEMPLATE = "birthday"
WINBACK_TEMPLATE = "winback"

TIERS = [
    # name, growth threshold, points multiplier, member discount %, birthday gift
    ("普通会员", 0, "1.00", "0", ""),
    ("银卡会员", 2000, "1.20", "2", "生日护手霜一支"),
    ("金卡会员", 8000, "1.50", "5", "生日蛋糕券一张"),
    ("钻石会员", 20000, "2.00", "8", "生日礼盒一份与专属造型服务"),
]
TOP_UP_RULES = [("500", "50"), ("1000", "120"), ("3000", "450")]
COUPONS = [
    {"name": "新会员见面礼 ¥20", "kind": "fixed", "amount": Decimal(20), "valid_days": 30, "issue_rule": "enrol"},
    {"name": "满300减30", "kind": "threshold", "amount": Decimal(30), "threshold": Decimal(300), "valid_days": 60},
    {
        "name": "生日月9折券",
        "kind": "percent",
        "percent_off": Decimal(10),
        "cap": Decimal(100),
        "valid_days": 30,
        "issue_rule": "birthday",
    },
    {
        "name": "老友回归 满200减50",
        "kind": "threshold",
        "amount": Decimal(50),
        "threshold": Decimal(200),
        "valid_days": 30,
    },
    {"name": "到店礼 帆布袋", "kind": "gift", "gift": "品牌帆布袋一个", "valid_days": 90},
]
MESSAGE_TEMPLATES = [
    # code, name, purpose, channel, subject, body
    (
        EBILL_TEMPLATE,
        "电子账单",
        Purpose.TRANSACTIONAL,
        Channel.SMS,
        "",
        "{name}您好，您在{store}消费{amount}元（优惠{discount}元），本次获得积分{points_earned}，"
        "积分余额{points_balance}，储值余额{wallet_balance}元。订单号{order_ref}。",
    ),
    (
        EBILL_TEMPLATE,
        "电子账单",
        Purpose.TRANSACTIONAL,
        Channel.EMAIL,
        "您的电子账单 {order_ref}",
        "{name}您好：\n\n感谢您在{store}购物。实付{amount}元，优惠{discount}元；本次获得积分{points_earned}，"
        "积分余额{points_balance}；储值余额{wallet_balance}元。\n\n订单号：{order_ref}",
    ),
    (
        BIRTHDAY_TEMPLATE,
        "生日祝福",
        Purpose.MARKETING,
        Channel.SMS,
        "",
        "亲爱的{name}，生日快乐！{store}为您准备了生日礼券，生日当月到店出示即可使用。",
    ),
    (
        WINBACK_TEMPLATE,
        "老友回归",
        Purpose.MARKETING,
        Channel.SMS,
        "",
        "{name}您好，好久不见！送您一张满200减50券（券码{coupon_code}），30天内到{store}使用。",
    ),
]


def program_configure(*, actor: User) -> dict[str, Any]:
    """Tiers, earn rules, top-up bonuses, coupon templates: what a shop sets up on its first day."""
    ProgramSettings.objects.update_or_create(
        pk=1,
        defaults={
            "points_per_yuan": Decimal(1),
            "category_multipliers": {},
            "first_purchase_bonus": 100,
            "member_day": 18,
            "member_day_multiplier": Decimal(2),
            "points_per_yuan_redeemed": 100,
            "redeem_cap_percent": Decimal(30),
            "referral_referrer_points": 200,
            "referral_referee_points": 100,
        },
    )
    tiers = []
    for order, (name, threshold, multiplier, discount, gift) in enumerate(TIERS):
        tier, _created = Tier.objects.update_or_create(
            name=name,
            defaults={
                "threshold": threshold,
                "points_multiplier": Decimal(multiplier),
                "discount_percent": Decimal(discount),
                "birthday_gift": gift,
                "order": order,
            },
        )
        tiers.append(tier)
    for minimum, bonus in TOP_UP_RULES:
        TopUpRule.objects.update_or_create(min_amount=Decimal(minimum), defaults={"bonus": Decimal(bonus)})
    coupons = {}
    for spec in COUPONS:
        template = CouponTemplate.objects.filter(name=spec["name"]).first()
        coupons[spec["name"]] = template or coupon_template_create(actor=actor, data=dict(spec))
    return {"tiers": tiers, "coupons": coupons}


def message_templates_configure(*, actor: User) -> list[MessageTemplate]:
    saved = []
    for code, name, purpose, channel, subject, body in MESSAGE_TEMPLATES:
        template = MessageTemplate.objects.filter(code=code, channel=channel, language="zh-hans").first()
        if template is None:
            template = MessageTemplate(code=code, channel=channel, language="zh-hans")
        template.name, template.purpose, template.subject, template.body = name, purpose, subject, body
        saved.append(template_save(actor=actor, template=template))
    return saved


def _aware(value: Any) -> dt.datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def members_replay(
    *,
    people: list[Customer],
    orders: list[Order],
    lines: list[list[tuple[Product, int, Decimal]]],
    tiers: list[Tier],
    rng: np.random.Generator,
) -> list[Membership]:
    """Memberships for most buyers, with points, growth and tiers replayed from their orders."""
    now = timezone.now()
    settings = ProgramSettings.objects.get(pk=1)
    by_customer: dict[int, list[int]] = defaultdict(list)
    for k, order in enumerate(orders):
        by_customer[order.customer_id].append(k)
    chosen, joined = [], {}
    for customer in people:
        mine = sorted(by_customer.get(customer.pk, []), key=lambda k: orders[k].ordered_at)
        if mine and rng.random() < 0.72:
            # most joined at their first purchase; some only later, at the counter, after a few visits
            start = orders[mine[0]].ordered_at if rng.random() < 0.75 else orders[mine[len(mine) // 2]].ordered_at
            joined[customer.pk] = start - dt.timedelta(minutes=int(rng.integers(1, 30)))
            chosen.append(customer)
        elif not mine and rng.random() < 0.15:
            joined[customer.pk] = now - dt.timedelta(days=int(rng.integers(1, 120)))
            chosen.append(customer)
    base = tiers[0]
    memberships = [
        Membership(
            customer=c,
            member_no=f"D{c.pk:09d}",
            joined_at=joined[c.pk],
            store=c.home_store,
            tier=base,
            invite_code="".join(CODE_ALPHABET[int(i)] for i in rng.integers(0, len(CODE_ALPHABET), 10)),
        )
        for c in chosen
    ]
    accounts = [PointsAccount(membership=m) for m in memberships]
    window_start = now - dt.timedelta(days=round(settings.tier_review_months * 30.44))
    ordered_tiers = sorted(tiers, key=lambda t: (t.threshold, t.order))
    entries, awards, changes = [], [], []
    for m, account in zip(memberships, accounts, strict=True):
        balance, growth, window, first = 0, 0, 0, None
        lots: list[tuple[dt.datetime, int, PointsEntry]] = []
        mine = sorted(
            (k for k in by_customer.get(m.customer_id, []) if orders[k].ordered_at >= m.joined_at),
            key=lambda k: orders[k].ordered_at,
        )
        events: list[tuple[dt.datetime, int, Any]] = []
        for k in mine:
            order = orders[k]
            points = points_for_amount(
                paid=order.paid_amount,
                total=order.total_amount,
                lines=[(p.category_id, amount) for p, _q, amount in lines[k]],
                settings=settings,
                tier=base,
                when=order.ordered_at,
            )
            gained = growth_for_amount(order.paid_amount)
            awards.append(OrderAward(order=order, membership=m, points=points, growth=gained))
            growth += gained
            if order.ordered_at >= window_start:
                window += gained
            if first is None:
                first = order.ordered_at
                if settings.first_purchase_bonus:
                    events.append((order.ordered_at, 0, ("first-purchase", settings.first_purchase_bonus, order)))
            events.append((order.ordered_at, 1, (f"order:{order.pk}", points, order)))
        events.sort(key=lambda e: (e[0], e[1]))
        # points go in lot by lot and leave when their lot expires (the nightly expiry run's work)
        for when, _rank, (reference, points, order) in events:
            for expiry, _lot, lot in sorted(lots, key=lambda x: x[0]):
                if expiry <= when and lot.remaining:
                    balance -= lot.remaining
                    entries.append(_expired(account, lot, expiry, balance))
                    lot.remaining = 0
            if not points:
                continue
            balance += points
            lot = PointsEntry(
                account=account,
                kind=PointsEntry.Kind.EARN,
                points=points,
                remaining=points,
                reference=reference,
                reason="first purchase" if reference == "first-purchase" else f"order {order.external_ref}",
                order=order,
                earned_at=when,
                expires_at=points_expiry(when, settings),
                balance_after=balance,
            )
            entries.append(lot)
            if lot.expires_at is not None:
                lots.append((lot.expires_at, len(lots), lot))
        for expiry, _lot, lot in sorted(lots, key=lambda x: x[0]):
            if expiry <= now and lot.remaining:
                balance -= lot.remaining
                entries.append(_expired(account, lot, expiry, balance))
                lot.remaining = 0
        account.balance = balance
        m.growth, m.first_order_at = growth, first
        tier = base
        for candidate in ordered_tiers:
            if candidate.threshold <= window:
                tier = candidate
        changes.append(TierChange(membership=m, from_tier=None, to_tier=base, reason="enrol"))
        if tier != base:
            m.tier = tier
            changes.append(TierChange(membership=m, from_tier=base, to_tier=tier, reason="upgrade", growth=growth))
    Membership.objects.bulk_create(memberships, batch_size=1000)
    # the member number the enrolment service gives (M + the id), in one statement
    Membership.objects.filter(pk__in=[m.pk for m in memberships]).update(
        member_no=Concat(Value("M"), LPad(Cast("id", CharField()), 8, Value("0")))
    )
    for m in memberships:
        m.member_no = f"M{m.pk:08d}"
    PointsAccount.objects.bulk_create(accounts, batch_size=1000)
    Wallet.objects.bulk_create([Wallet(membership=m) for m in memberships], batch_size=1000)
    # expiry entries must point at their lot, which needs the lot's id: the lots go in first
    PointsEntry.objects.bulk_create([e for e in entries if e.kind == PointsEntry.Kind.EARN], batch_size=2000)
    for e in entries:
        if e.kind == PointsEntry.Kind.EXPIRE:
            e.reference = f"lot:{e._lot.pk}"  # type: ignore[attr-defined]
    PointsEntry.objects.bulk_create([e for e in entries if e.kind == PointsEntry.Kind.EXPIRE], batch_size=2000)
    PointsEntry.objects.filter(account__in=accounts).update(created_at=F("earned_at"))
    OrderAward.objects.bulk_create(awards, batch_size=2000)
    # an award dates from its order (the tier review reads its window by it)
    OrderAward.objects.filter(membership__in=memberships).update(
        created_at=Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("ordered_at")[:1])
    )
    TierChange.objects.bulk_create(changes, batch_size=2000)
    timeline = []
    for m in memberships:
        timeline.append(
            TimelineEntry(
                customer_id=m.customer_id,
                kind="loyalty.enrolled",
                occurred_at=m.joined_at,
                summary=f"member {m.member_no}",
                data={"member_no": m.member_no, "tier": base.name},
                ref_type="membership",
                ref_id=str(m.pk),
            )
        )
    TimelineEntry.objects.bulk_create(timeline, batch_size=2000)
    return memberships


def _expired(account: PointsAccount, lot: PointsEntry, when: dt.datetime, balance: int) -> PointsEntry:
    entry = PointsEntry(
        account=account,
        kind=PointsEntry.Kind.EXPIRE,
        points=-lot.remaining,
        reference="",
        reason="expired",
        earned_at=when,
        balance_after=balance,
    )
    entry._lot = lot  # type: ignore[attr-defined]
    return entry


def consents_recorded(*, people: list[Customer], emails: set[int], rng: np.random.Generator) -> int:
    """The consent ledger a real shop has: asked at the counter when the customer joined, or brought over
    from the old till by the import; a few later withdrew marketing by replying 回T退订."""
    rows = []
    for c in people:
        if rng.random() < 0.12:  # never asked: walk-in customers known only by a receipt
            continue
        source = "counter" if rng.random() < 0.6 else "import"
        at = c.created_at
        evidence = "门店纸质登记表" if source == "counter" else "旧收银系统会员资料导入"
        rows.append(Consent(customer=c, channel="sms", purpose="transactional", granted=True, source=source, at=at))
        if rng.random() < 0.7:
            rows.append(
                Consent(
                    customer=c,
                    channel="sms",
                    purpose="marketing",
                    granted=True,
                    source=source,
                    evidence=evidence,
                    at=at,
                )
            )
            if rng.random() < 0.06:
                rows.append(
                    Consent(
                        customer=c,
                        channel="sms",
                        purpose="marketing",
                        granted=False,
                        source="sms_reply",
                        evidence="回复T退订",
                        at=at + dt.timedelta(days=int(rng.integers(10, 300))),
                    )
                )
        if c.pk in emails and rng.random() < 0.5:
            rows.append(Consent(customer=c, channel="email", purpose="marketing", granted=True, source=source, at=at))
    Consent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def counter_today(
    *,
    clerk: User,
    store: Store,
    memberships: list[Membership],
    walk_ins: list[Customer],
    products: list[Product],
    coupons: dict[str, CouponTemplate],
    sales: int,
    rng: np.random.Generator,
) -> dict[str, int]:
    """This week's counter work through the real services: new members with consent asked at the counter,
    top-ups (with the bonus rule), coupons issued, and member sales paid with coupon, points and stored value."""
    counts = {"enrolled": 0, "top_ups": 0, "coupons": 0, "checkouts": 0}
    for c in walk_ins:
        member_enrol(actor=clerk, customer=c, store=store, channel="counter")
        consent_record(
            actor=clerk,
            customer=c,
            channel=Channel.SMS,
            purpose=Purpose.MARKETING,
            granted=True,
            source="counter",
            evidence="门店平板签字",
        )
        counts["enrolled"] += 1
    topped = [memberships[int(i)] for i in rng.choice(len(memberships), min(60, len(memberships)), replace=False)]
    for i, m in enumerate(topped):
        amount = ["500", "1000", "300", "3000", "200"][i % 5]
        wallet_top_up(actor=clerk, membership=m, amount=amount, reference=f"DEMO-TOPUP-{i + 1:04d}", store=store)
        counts["top_ups"] += 1
    by_customer = {m.customer_id: m for m in topped}
    threshold = coupons["满300减30"]
    holders = [m.customer_id for m in memberships[: min(400, len(memberships))]] + list(by_customer)
    counts["coupons"] += len(coupon_issue(actor=None, template=threshold, customer_ids=holders, reference="demo-2026"))
    lapsing = [m.customer_id for m in memberships if m.growth and m.first_order_at][-150:]
    counts["coupons"] += len(
        coupon_issue(actor=None, template=coupons["老友回归 满200减50"], customer_ids=lapsing, reference="winback")
    )
    from guanxi.loyalty.models import Coupon

    wallets = {
        w.membership_id: w.principal + w.bonus for w in Wallet.objects.filter(membership__in=[m.pk for m in topped])
    }
    held = {c.customer_id: c.code for c in Coupon.objects.filter(template=threshold, customer_id__in=list(by_customer))}
    for i in range(sales if topped else 0):
        m = topped[i % len(topped)]
        picks = rng.choice(len(products), 2, replace=False)
        data: dict[str, Any] = {
            "key": f"demo-counter-{i + 1:03d}",
            "external_ref": f"POS-{timezone.localdate():%Y%m%d}-{i + 1:03d}",
            "source": "pos",
            "customer_id": m.customer_id,
            "store": store.code,
            "lines": [{"sku": products[int(p)].sku, "quantity": 1} for p in picks],
            "points": "max" if i % 2 == 0 else "",
            "wallet_amount": "max" if wallets.get(m.pk) else "",
            "payment_method": "wechat_pay",
        }
        if i % 3 == 0 and m.customer_id in held:
            data["coupon_code"] = held[m.customer_id]
        try:
            checkout_commit(actor=clerk, data=data)
        except Exception:  # noqa: S112, BLE001 - a basket under the coupon's threshold: sell without the coupon
            data.pop("coupon_code", None)
            data["key"] += "-b"
            checkout_commit(actor=clerk, data=data)
        counts["checkouts"] += 1
    return counts


def customers_backdate(*, people: list[Customer], orders: list[Order], rng: np.random.Generator) -> None:
    """A customer was registered at their first purchase (or, for those who never bought, some time ago):
    the home page's "new this month" counts real newcomers, not the moment the demo was loaded."""
    now = timezone.now()
    buyers = {order.customer_id for order in orders}
    Customer.objects.filter(pk__in=buyers).update(
        created_at=Subquery(
            Order.objects.filter(customer_id=OuterRef("pk")).order_by("ordered_at").values("ordered_at")[:1]
        )
    )
    others = [c for c in people if c.pk not in buyers]
    for c in others:
        c.created_at = now - dt.timedelta(days=int(rng.integers(0, 400)), hours=int(rng.integers(0, 24)))
    Customer.objects.bulk_update(others, ["created_at"], batch_size=1000)
    first: dict[int, dt.datetime] = {}
    for order in orders:  # the same dates on the objects in hand (the consents are dated by them)
        if order.customer_id not in first or order.ordered_at < first[order.customer_id]:
            first[order.customer_id] = order.ordered_at
    for c in people:
        c.created_at = first.get(c.pk, c.created_at)
