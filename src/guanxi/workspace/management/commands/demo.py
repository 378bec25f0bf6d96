"""Load a believable demo business: 3 stores, 20 staff, 5,000 customers, 50,000 orders over two years."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from guanxi.accounts.models import Role, Store, User
from guanxi.analytics.services import scores_refresh
from guanxi.campaigns.demo import campaigns_demo
from guanxi.care.demo import care_demo
from guanxi.core.events.delivery import events_drain
from guanxi.customers.contacts import contact_indexes, normalize_phone
from guanxi.customers.models import ContactPoint, Customer, ImportantDate, Tag, TimelineEntry
from guanxi.sales.models import Order, OrderLine, PaymentMethod, Product, ProductCategory
from guanxi.sales.services import customer_order_stats_refresh
from guanxi.workspace import demo_program

DEMO_PASSWORD = "guanxi-demo"  # noqa: S105 - printed to the user; demo data only
STORES = [("sh-jingan", "静安旗舰店", "上海"), ("bj-chaoyang", "朝阳门店", "北京"), ("sz-nanshan", "南山门店", "深圳")]
CATEGORIES = [
    ("apparel", "服装", 0, None),
    ("shoes", "鞋靴", 0, None),
    ("beauty", "美妆护肤", 0, 60),
    ("baby", "母婴用品", 0, 30),
    ("appliance", "家用电器", 12, 180),
    ("digital", "数码产品", 12, 365),
]
PRODUCTS = {
    "apparel": [
        ("羊毛大衣", 899),
        ("真丝衬衫", 459),
        ("牛仔裤", 299),
        ("针织开衫", 359),
        ("连衣裙", 529),
        ("连裤袜", 39),
        ("羽绒服", 1299),
    ],
    "shoes": [("小羊皮短靴", 799), ("运动鞋", 599), ("乐福鞋", 689), ("凉鞋", 329)],
    "beauty": [("保湿面霜", 380), ("精华液", 560), ("防晒霜", 198), ("口红", 290), ("面膜套装", 168)],
    "baby": [("婴儿纸尿裤", 139), ("孕妇装", 369), ("婴儿推车", 1580), ("奶瓶套装", 188), ("防辐射服", 429)],
    "appliance": [("空气净化器", 2199), ("吸尘器", 1699), ("电饭煲", 699), ("净水器", 2899)],
    "digital": [("蓝牙耳机", 899), ("智能手表", 1999), ("平板电脑", 3299), ("移动电源", 199)],
}
TAGS = ["VIP", "爱好瑜伽", "新手妈妈", "价格敏感", "商务人士", "学生", "老客户介绍"]
INTERESTS = ["瑜伽", "旅行", "摄影", "烘焙", "跑步", "阅读", "美妆", "育儿", "数码", "茶艺"]
#: Relative sales by month, Jan..Dec: Spring Festival, summer lull, Double 11 and the year's end.
SEASON = np.array([1.35, 1.15, 0.9, 0.9, 1.0, 1.05, 0.85, 0.85, 0.95, 1.0, 1.6, 1.4])


class Command(BaseCommand):
    help = "Load the demo business (zh_CN names and phones)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=5000)
        parser.add_argument("--orders", type=int, default=50000)
        parser.add_argument("--seed", type=int, default=20261122)
        parser.add_argument("--if-empty", action="store_true", help="do nothing when customers exist")

    def handle(self, *args, customers: int, orders: int, seed: int, if_empty: bool, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "The demo business is refused in production (GUANXI_ENV=production): it creates staff with the "
                f"published password {DEMO_PASSWORD!r} and invented customers."
            )
        if if_empty and Customer.objects.exists():
            self.stdout.write("Demo data not loaded: there are customers already.")
            return
        from faker import Faker

        fake = Faker("zh_CN")
        Faker.seed(seed)
        rng = np.random.default_rng(seed)
        with transaction.atomic():
            stores = self._stores()
            staff = self._staff(stores, fake)
            admin = staff[0]
            products = self._catalogue()
            tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
            program = demo_program.program_configure(actor=admin)
            demo_program.message_templates_configure(actor=admin)
            people, emails = self._customers(customers, stores, staff, tags, fake, rng)
            # the last few sales are today's, rung up at the counter through the checkout
            counter_sales = min(20, orders // 10)
            order_rows, line_specs = self._orders(orders - counter_sales, people, products, stores, rng)
            demo_program.customers_backdate(people=people, orders=order_rows, rng=rng)
            demo_program.consents_recorded(people=people, emails=emails, rng=rng)
            members = demo_program.members_replay(
                people=people, orders=order_rows, lines=line_specs, tiers=program["tiers"], rng=rng
            )
            member_ids = {m.customer_id for m in members}
            clerk = next(u for u in staff if u.role == Role.STORE_STAFF)
            counter_stores = set(clerk.stores.values_list("pk", flat=True))
            counter = demo_program.counter_today(
                clerk=clerk,
                store=next(s for s in stores if s.pk in counter_stores),
                memberships=[m for m in members if m.store_id in counter_stores],
                walk_ins=[c for c in people if c.pk not in member_ids and c.home_store_id in counter_stores][-8:],
                products=products,
                coupons=program["coupons"],
                sales=counter_sales,
                rng=rng,
            )
        # the counter sales' e-bills reach the message queue now, as the worker would deliver them
        events_drain()
        scores = scores_refresh(actor=admin)
        marketer = next(u for u in staff if u.role == Role.MARKETER)
        marketer_stores = set(marketer.stores.values_list("pk", flat=True))
        manager = next(
            (
                u
                for u in staff
                if u.role == Role.MANAGER and marketer_stores & set(u.stores.values_list("pk", flat=True))
            ),
            admin,
        )
        with transaction.atomic():
            campaigns = campaigns_demo(marketer=marketer, manager=manager, rng=rng)
        events_drain()
        with transaction.atomic():
            care = care_demo(manager=admin, rng=rng)  # organisation-wide rules
        events_drain()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo loaded: {len(stores)} stores, {len(staff)} staff, {len(people)} customers, {orders} orders, "
                f"{len(members)} members, {counter['checkouts']} counter sales, {scores.customers} customers scored, "
                f"{campaigns['segments']} segments, {campaigns['campaigns']} campaigns and {care['rules']} care rules "
                f"({care['occurrences']} occurrences, {care['tasks']} care tasks). "
                f"Sign in as admin / {DEMO_PASSWORD} (or staff01…staff19, same password)."
            )
        )

    def _stores(self) -> list[Store]:
        return [
            Store.objects.update_or_create(code=code, defaults={"name": name, "city": city})[0]
            for code, name, city in STORES
        ]

    def _staff(self, stores, fake) -> list[User]:
        roles = [
            Role.MANAGER,
            Role.STORE_STAFF,
            Role.STORE_STAFF,
            Role.STORE_STAFF,
            Role.SERVICE_AGENT,
            Role.MARKETER,
            Role.ANALYST,
        ]
        password = make_password(DEMO_PASSWORD)  # hashed once: twenty hashes cost twenty seconds
        admin, created = User.objects.get_or_create(
            username="admin",
            defaults={"role": Role.ADMIN, "is_staff": True, "is_superuser": True, "first_name": "管理员"},
        )
        if created:
            admin.password = password
            admin.save()
        staff = [admin]
        for i in range(1, 20):
            user, created = User.objects.get_or_create(
                username=f"staff{i:02d}",
                defaults={
                    "role": roles[i % len(roles)],
                    "first_name": fake.first_name(),
                    "last_name": fake.last_name(),
                },
            )
            if created:
                user.password = password
                user.save()
                user.stores.set([stores[i % len(stores)]] + ([stores[(i + 1) % 3]] if i % 7 == 0 else []))
            staff.append(user)
        return staff

    def _catalogue(self) -> list[Product]:
        products = []
        for code, name, warranty, interval in CATEGORIES:
            category, _ = ProductCategory.objects.update_or_create(
                code=code, defaults={"name": name, "warranty_months": warranty, "service_interval_days": interval}
            )
            for i, (pname, price) in enumerate(PRODUCTS[code]):
                product, _ = Product.objects.update_or_create(
                    sku=f"{code.upper()[:3]}-{i + 1:03d}",
                    defaults={"name": pname, "category": category, "price": Decimal(price)},
                )
                products.append(product)
        return products

    def _customers(self, n, stores, staff, tags, fake, rng) -> tuple[list[Customer], set[int]]:
        today = timezone.localdate()
        rows, contacts, seen = [], [], set()
        owners = [u for u in staff if u.role in (Role.MANAGER, Role.STORE_STAFF)]
        for i in tqdm(range(n), desc="customers", disable=n < 2000):
            phone = None
            for _attempt in range(5):
                try:
                    candidate = normalize_phone(fake.phone_number())
                except Exception:  # noqa: S112 - Faker occasionally makes an invalid number; draw again
                    continue
                if candidate not in seen:
                    phone = candidate
                    break
            gender = "female" if rng.random() < 0.62 else "male"
            name = fake.name_female() if gender == "female" else fake.name_male()
            age = int(np.clip(rng.normal(36, 11), 16, 80))
            birthday = fake.date_between(
                today - dt.timedelta(days=365 * (age + 1)), today - dt.timedelta(days=365 * age)
            )
            key = rng.random() < 0.03
            rows.append(
                Customer(
                    name=name,
                    gender=gender,
                    birthday=birthday,
                    birthday_md=birthday.month * 100 + birthday.day,
                    occupation=fake.job()[:64],
                    region=fake.province(),
                    home_store=stores[int(rng.integers(0, 3))],
                    income_band=str(rng.choice(["low", "middle", "middle", "upper", "high"])),
                    education=str(rng.choice(["secondary", "vocational", "bachelor", "bachelor", "postgraduate"])),
                    family_size=int(rng.integers(1, 6)),
                    interests=sorted(rng.choice(INTERESTS, 2, replace=False).tolist()),
                    is_key_account=key,
                    owner=owners[int(rng.integers(0, len(owners)))] if key else None,
                    source=str(rng.choice(["store", "store", "wechat", "referral", "web"])),
                )
            )
            if phone:
                seen.add(phone)
                contacts.append((i, "phone", phone))
            if rng.random() < 0.35:
                contacts.append((i, "email", fake.email()))
        Customer.objects.bulk_create(rows, batch_size=1000)
        contact_rows = []
        for i, kind, value in contacts:
            value_index, last4 = contact_indexes(kind, value)
            contact_rows.append(
                ContactPoint(
                    customer=rows[i],
                    kind=kind,
                    value=value,
                    value_index=value_index,
                    last4_index=last4,
                    is_primary=True,
                )
            )
        ContactPoint.objects.bulk_create(contact_rows, batch_size=1000)
        through = Customer.tags.through
        tag_rows = [
            through(customer=c, tag=tags[int(t)])
            for c in rows
            if rng.random() < 0.4
            for t in set(rng.integers(0, len(tags), 2).tolist())
        ]
        through.objects.bulk_create(tag_rows, batch_size=1000)
        married = [c for c in rows if rng.random() < 0.25]
        ImportantDate.objects.bulk_create(
            [
                ImportantDate(
                    customer=c, kind="wedding_anniversary", date=fake.date_between("-20y", "-1y"), month_day=0
                )
                for c in married
            ],
            batch_size=1000,
        )
        for d in ImportantDate.objects.filter(month_day=0):
            ImportantDate.objects.filter(pk=d.pk).update(month_day=d.date.month * 100 + d.date.day)
        return rows, {rows[i].pk for i, kind, _value in contacts if kind == "email"}

    def _orders(self, n, people, products, stores, rng) -> tuple[list[Order], list]:
        now = timezone.now()
        start = now - dt.timedelta(days=730)
        m = len(people)
        joined = rng.uniform(0, 0.85, m)
        churned = rng.random(m) < 0.3
        lifetime_end = np.where(churned, np.minimum(1.0, joined + rng.uniform(0.05, 0.5, m)), 1.0)
        weight = rng.gamma(0.8, 1.0, m) * (lifetime_end - joined)
        owners = rng.choice(m, n, p=weight / weight.sum())
        frac = joined[owners] + rng.random(n) * (lifetime_end[owners] - joined[owners])
        start64 = np.datetime64(start.replace(tzinfo=None), "s")

        def month_index(fractions):
            stamps = start64 + (fractions * 730 * 86400).astype("timedelta64[s]")
            return stamps.astype("datetime64[M]").astype(int) % 12

        keep = rng.random(n) < SEASON[month_index(frac)] / SEASON.max()
        while not keep.all():
            redo = ~keep
            span = lifetime_end[owners[redo]] - joined[owners[redo]]
            frac[redo] = joined[owners[redo]] + rng.random(redo.sum()) * span
            keep[redo] = rng.random(redo.sum()) < SEASON[month_index(frac[redo])] / SEASON.max()
        times = [start + dt.timedelta(seconds=float(f) * 730 * 86400) for f in frac]
        methods = [PaymentMethod.WECHAT_PAY, PaymentMethod.ALIPAY, PaymentMethod.CARD, PaymentMethod.CASH]
        order_rows, line_specs = [], []
        for k in tqdm(range(n), desc="orders", disable=n < 5000):
            customer = people[int(owners[k])]
            items = rng.choice(len(products), int(rng.integers(1, 4)), replace=False)
            lines, total = [], Decimal("0.00")
            for idx in items:
                product = products[int(idx)]
                qty = int(rng.integers(1, 3))
                amount = product.price * qty
                total += amount
                lines.append((product, qty, amount))
            discount = (total * Decimal("0.05")).quantize(Decimal("0.01")) if rng.random() < 0.2 else Decimal("0.00")
            store = customer.home_store if rng.random() < 0.85 else stores[int(rng.integers(0, 3))]
            order_rows.append(
                Order(
                    source="demo",
                    external_ref=f"DEMO-{k + 1:06d}",
                    customer=customer,
                    store=store,
                    ordered_at=times[k],
                    total_amount=total,
                    discount_amount=discount,
                    paid_amount=total - discount,
                    payment_method=methods[int(rng.integers(0, 4))],
                )
            )
            line_specs.append(lines)
        Order.objects.bulk_create(order_rows, batch_size=2000)
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    product=p,
                    sku=p.sku,
                    name=p.name,
                    category=p.category,
                    quantity=q,
                    unit_price=p.price,
                    amount=a,
                )
                for order, lines in zip(order_rows, line_specs, strict=True)
                for p, q, a in lines
            ],
            batch_size=5000,
        )
        TimelineEntry.objects.bulk_create(
            [
                TimelineEntry(
                    customer=o.customer,
                    kind="order.paid",
                    occurred_at=o.ordered_at,
                    summary=f"order {o.external_ref}",
                    ref_type="order",
                    ref_id=str(o.pk),
                    data={
                        "ref": o.external_ref,
                        "amount": str(o.paid_amount),
                        "store": o.store.name if o.store else "",
                    },
                )
                for o in order_rows
            ],
            batch_size=5000,
        )
        customer_order_stats_refresh(customer_ids=[c.pk for c in people])
        return order_rows, line_specs
