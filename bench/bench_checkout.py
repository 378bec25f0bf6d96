"""Loyalty checkout commit benchmark (self-contained; the suite may call ``run(n_orders)``).

``run(n_orders)`` on PostgreSQL: ``2 × n_orders + 1`` members, each with 10,000 points, ¥550 stored value and
one 满100减20 coupon. It times ``n_orders`` calls of ``loyalty.services.checkout_commit`` (one order each,
with member discount, the coupon, points as cash and stored-value payment: the order through
``sales.order_ingest``, ledger entries under row locks, points earned, outbox events, timeline, audit — one
transaction per order), then the plain-SQL floor: the same row locks, the same INSERTs (copied column for
column from the rows one real commit wrote) and the same balance UPDATEs, one transaction per order, through
psycopg with no ORM. Reports orders per second for both and their ratio.

    uv run python bench/bench_checkout.py --n 1000 [--database guanxi_bench_loyalty]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from common import SERVER_URL, django_setup, psycopg_dsn  # noqa: E402

DEFAULT_DATABASE = "guanxi_bench_loyalty"
#: tables whose new rows one checkout commit writes, copied by the floor
INSERT_TABLES = [
    "sales_order",
    "sales_orderline",
    "loyalty_pointsentry",
    "loyalty_walletentry",
    "loyalty_checkout",
    "loyalty_orderaward",
    "core_event",
    "customers_timelineentry",
    "core_auditlog",
]


def _ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(psycopg_dsn(SERVER_URL.rsplit("/", 1)[1] or "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _members(count: int, tag: str) -> list:
    from guanxi.customers.models import Customer
    from guanxi.loyalty import services
    from guanxi.loyalty.models import Membership, Tier, TopUpRule

    if not Tier.objects.exists():
        Tier.objects.create(name="普通", threshold=0)
        Tier.objects.create(name="银卡", threshold=1000, points_multiplier="1.5", discount_percent="5", order=1)
    TopUpRule.objects.get_or_create(min_amount="500.00", defaults={"bonus": "50.00"})
    customers = Customer.objects.bulk_create([Customer(name=f"会员{i:06d}", source=tag) for i in range(count)])
    template = services.coupon_template_create(
        actor=None, data={"name": f"满100减20 {tag}", "kind": "threshold", "amount": "20.00", "threshold": "100.00"}
    )
    members = []
    for c in customers:
        m, _ = services.member_enrol(actor=None, customer=c)
        services.points_adjust(actor=None, membership=m, points=10000, reason="bench", reference="bench")
        services.wallet_top_up(actor=None, membership=m, amount="500.00", reference="bench")
        members.append(m)
    coupons = services.coupon_issue(actor=None, template=template, customer_ids=[c.pk for c in customers])
    by_customer = {c.customer_id: c for c in coupons}
    return [
        (m, by_customer[m.customer_id])
        for m in Membership.objects.filter(pk__in=[m.pk for m in members])
        .select_related("points", "wallet")
        .order_by("pk")
    ]


def _order_data(member, coupon, key: str) -> dict:
    return {
        "customer_id": member.customer_id,
        "key": key,
        "external_ref": key,
        "source": "bench",
        "payment_method": "wechat_pay",
        "lines": [
            {"name": "外套", "quantity": 1, "unit_price": "300.00"},
            {"name": "围巾", "quantity": 2, "unit_price": "49.50"},
        ],
        "coupon_code": coupon.code,
        "points": "2000",
        "wallet_amount": "100.00",
    }


def _max_ids(cursor) -> dict[str, int]:
    out = {}
    for table in INSERT_TABLES:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - fixed table names
        out[table] = cursor.fetchone()[0]
    return out


def _floor(dsn: str, targets: list, templates: dict[str, list[int]], tag: str) -> float:
    """The same locks, inserts and updates per order in plain SQL; returns seconds."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        cols = {}
        for table in INSERT_TABLES:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id'"
                " ORDER BY ordinal_position",
                (table,),
            ).fetchall()
            cols[table] = [r[0] for r in rows]
        conn.commit()

        def copy(table: str, template_id: int, overrides: dict) -> int:
            select = ", ".join("%s" if c in overrides else c for c in cols[table])
            params = [overrides[c] for c in cols[table] if c in overrides]
            return conn.execute(
                f"INSERT INTO {table} ({', '.join(cols[table])}) SELECT {select} FROM {table} WHERE id = %s"  # noqa: S608
                " RETURNING id",
                [*params, template_id],
            ).fetchone()[0]

        start = time.perf_counter()
        for i, (m, coupon) in enumerate(targets):
            ref = f"{tag}-floor-{i}"
            with conn.transaction():
                conn.execute("SELECT id FROM loyalty_membership WHERE id = %s FOR UPDATE", (m.pk,))
                conn.execute("SELECT id FROM customers_customer WHERE id = %s FOR UPDATE", (m.customer_id,))
                conn.execute("SELECT balance FROM loyalty_pointsaccount WHERE id = %s FOR UPDATE", (m.points.pk,))
                conn.execute("SELECT principal, bonus FROM loyalty_wallet WHERE id = %s FOR UPDATE", (m.wallet.pk,))
                conn.execute("SELECT status FROM loyalty_coupon WHERE id = %s FOR UPDATE", (coupon.pk,))
                order_id = copy(
                    "sales_order", templates["sales_order"][0], {"external_ref": ref, "customer_id": m.customer_id}
                )
                for t in templates["sales_orderline"]:
                    copy("sales_orderline", t, {"order_id": order_id})
                conn.execute(
                    "UPDATE customers_customer SET order_count = order_count + 1, total_spent = total_spent"
                    " + 174.00, last_order_at = now() WHERE id = %s",
                    (m.customer_id,),
                )
                conn.execute(
                    "UPDATE loyalty_coupon SET status = 'redeemed', redeemed_order_id = %s, discount = 20,"
                    " redeemed_at = now() WHERE id = %s",
                    (order_id, coupon.pk),
                )
                conn.execute(
                    "UPDATE loyalty_pointsentry SET remaining = remaining - 2000 WHERE id = ("
                    "SELECT id FROM loyalty_pointsentry WHERE account_id = %s AND remaining > 0 ORDER BY"
                    " expires_at, id LIMIT 1)",
                    (m.points.pk,),
                )
                for n, t in enumerate(templates["loyalty_pointsentry"]):
                    copy(
                        "loyalty_pointsentry",
                        t,
                        {"account_id": m.points.pk, "reference": f"{ref}-{n}", "order_id": order_id},
                    )
                conn.execute(
                    "UPDATE loyalty_pointsaccount SET balance = balance - 2000 + 261 WHERE id = %s", (m.points.pk,)
                )
                for t in templates["loyalty_walletentry"]:
                    copy("loyalty_walletentry", t, {"wallet_id": m.wallet.pk, "reference": ref, "order_id": order_id})
                conn.execute(
                    "UPDATE loyalty_wallet SET principal = principal - 90.91, bonus = bonus - 9.09 WHERE id = %s",
                    (m.wallet.pk,),
                )
                copy(
                    "loyalty_checkout",
                    templates["loyalty_checkout"][0],
                    {"key": ref, "membership_id": m.pk, "order_id": order_id, "coupon_id": coupon.pk},
                )
                copy(
                    "loyalty_orderaward",
                    templates["loyalty_orderaward"][0],
                    {"membership_id": m.pk, "order_id": order_id},
                )
                conn.execute(
                    "UPDATE loyalty_membership SET growth = growth + 174, first_order_at = now() WHERE id = %s", (m.pk,)
                )
                for table in ("core_event", "customers_timelineentry", "core_auditlog"):
                    for t in templates[table]:
                        copy(table, t, {"customer_id": m.customer_id})
        return time.perf_counter() - start


def run(n_orders: int = 1000, database: str = DEFAULT_DATABASE, migrate: bool = True, broker: str = "") -> dict:
    """``broker``: a Celery broker URL for the outbox hand-off (default: the bench environment's broker)."""
    _ensure_database(database)
    django_setup(database)
    if broker:
        from guanxi.celery_app import app

        app.conf.update(broker_url=broker)
        app._pool = None
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)
    from django.db import connection

    from guanxi.loyalty import services
    from guanxi.loyalty.models import Checkout, PointsAccount, PointsEntry, Wallet, WalletEntry

    tag = f"bench-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    pairs = _members(2 * n_orders + 1, tag)
    setup_s = time.perf_counter() - t0
    with connection.cursor() as cursor:
        for table in ("loyalty_pointsentry", "loyalty_walletentry", "loyalty_coupon", "sales_order"):
            cursor.execute(f"ANALYZE {table}")
    django_pairs, floor_pairs, template_pair = pairs[:n_orders], pairs[n_orders : 2 * n_orders], pairs[-1]

    start = time.perf_counter()
    for i, (m, coupon) in enumerate(django_pairs):
        services.checkout_commit(actor=None, data=_order_data(m, coupon, f"{tag}-{i}"))
    django_s = time.perf_counter() - start

    # one more real commit, whose rows the floor copies
    with connection.cursor() as cursor:
        before = _max_ids(cursor)
    checkout, _ = services.checkout_commit(actor=None, data=_order_data(*template_pair, f"{tag}-template"))
    with connection.cursor() as cursor:
        after = _max_ids(cursor)
        templates = {}
        for table in INSERT_TABLES:
            cursor.execute(
                f"SELECT id FROM {table} WHERE id > %s AND id <= %s ORDER BY id",  # noqa: S608
                (before[table], after[table]),
            )
            templates[table] = [r[0] for r in cursor.fetchall()]
    connection.close()
    floor_s = _floor(psycopg_dsn(database), floor_pairs, templates, tag)

    # the invariant holds after the run
    consistent = all(
        a.balance == sum(PointsEntry.objects.filter(account=a).values_list("points", flat=True))
        for a in PointsAccount.objects.filter(membership__in=[m for m, _ in django_pairs[:50]])
    ) and all(
        w.principal == sum(WalletEntry.objects.filter(wallet=w).values_list("principal", flat=True))
        for w in Wallet.objects.filter(membership__in=[m for m, _ in django_pairs[:50]])
    )
    return {
        "benchmark": "loyalty_checkout_commit",
        "vendor": connection.vendor,
        "orders": n_orders,
        "applied": "member discount + 满100减20 coupon + 2,000 points + ¥100 stored value",
        "checkouts_written": Checkout.objects.filter(key__startswith=tag)
        .exclude(key__contains="-floor-")
        .exclude(key__endswith="-template")
        .count(),
        "rows_per_order": {t: len(ids) for t, ids in templates.items()},
        "seconds": round(django_s, 3),
        "orders_per_s": round(n_orders / django_s, 1),
        "floor_seconds": round(floor_s, 3),
        "floor_orders_per_s": round(n_orders / floor_s, 1),
        "ratio_to_floor": round(django_s / floor_s, 2),
        "ledgers_consistent": consistent,
        "population_setup_s": round(setup_s, 2),
        "template_checkout": checkout.key,
        "broker": broker or "bench default",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--broker", default="", help="e.g. redis://127.0.0.1:6379/13 (its queue is purged after)")
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.database, broker=args.broker), ensure_ascii=False, indent=2))
    if args.broker.startswith("redis://"):
        import redis

        redis.Redis.from_url(args.broker).flushdb()
