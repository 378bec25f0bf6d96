"""Counter (收银) benchmark, issue #15: the quote and the commit of the counter page, server time, beside floors.

``run(size, database, runs)`` works on the bench dataset (the suite passes its database). Signed in, with
Django's test ``Client``, as the store staff member ``bench-staff-000`` (as the workspace figures of
``suite.py`` are), it times

- **quote**: ``POST /loyalty/counter/quote/`` — the htmx request that re-prices the basket (two catalogue
  products, the member's 满100减20 coupon picked, 500 points, ¥50 stored value) and renders its fragment;
- **commit**: ``POST /loyalty/counter/commit/`` with a fresh idempotency key — the order, its lines and every
  ledger entry in one transaction, answered with the redirect to the receipt;
- **receipt**: ``GET /loyalty/counter/orders/<id>/`` — the page the clerk prints (no budget in issue #15);

each over ``runs`` distinct members (after 3 warm-up calls on members of their own), median and p99, with
the number of SQL queries of one request. The members are existing customers of the staff member's store
(with order histories), enrolled for the run through ``loyalty.services`` (silver tier, 10,000 points,
¥500 + ¥50 bonus stored value, one 满100减20 coupon).

Floors, on a plain psycopg connection in the same run:

- quote: the reads the quote needs — member with tier, points balance and wallet (with the visibility rule),
  the basket's products with their categories, the program settings, the coupon with its template and the
  member's open coupons — as five statements;
- commit: the same row locks, the same INSERTs (copied column for column from the rows one real counter
  commit wrote, every table it wrote to) and the same balance UPDATEs, in one transaction per order;
- receipt: the checkout with order, store, member, tier, balances and coupon, its lines and ledger rows.

Nothing stays behind: every row the run writes (ids above the high-water marks taken at the start, in every
table with an integer id) is deleted again, and the customers' purchase figures are restored.

    uv run python bench/bench_counter.py --size full --database guanxi_bench_full
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from common import DEFAULT_DATABASE, django_setup, psycopg_dsn  # noqa: E402

STAFF = "bench-staff-000"
WARMUP = 3
BUDGET_MS = 150
POINTS = "500"
WALLET = "50.00"
#: tables a run may write that are not state: left out of the commit floor's copies
NOT_COPIED = {"django_session"}


def _tables(conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t"
        " USING (table_schema, table_name) WHERE c.table_schema = 'public' AND c.column_name = 'id'"
        " AND c.data_type IN ('integer', 'bigint') AND t.table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _marks(conn, tables: list[str]) -> dict[str, int]:
    out = {}
    for table in tables:
        out[table] = conn.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0]  # noqa: S608
    return out


def _cleanup(conn, marks: dict[str, int]) -> dict[str, int]:
    """Delete every row above the marks (foreign-key triggers off: all of them go) and restore the customers."""
    deleted = {}
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for table, mark in marks.items():
            n = conn.execute(f'DELETE FROM "{table}" WHERE id > %s', [mark]).rowcount  # noqa: S608
            if n:
                deleted[table] = n
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name = 'customers_customer' AND column_name <> 'id' ORDER BY ordinal_position"
            ).fetchall()
        ]
        assignments = ", ".join(f'"{c}" = s."{c}"' for c in cols)
        conn.execute(
            f"UPDATE customers_customer c SET {assignments} FROM bench_counter_saved s WHERE s.id = c.id"  # noqa: S608
        )
    conn.execute("DROP TABLE IF EXISTS bench_counter_saved")
    return deleted


def _pick_customers(conn, store_id: int, n: int, seed: int) -> list[int]:
    """Customers of the store with a purchase history and no membership, in a seeded order."""
    rows = conn.execute(
        "SELECT id FROM customers_customer c WHERE home_store_id = %s AND order_count > 0 AND merged_into_id IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM loyalty_membership m WHERE m.customer_id = c.id)"
        " ORDER BY md5(id::text || %s) LIMIT %s",
        [store_id, str(seed), n],
    ).fetchall()
    if len(rows) < n:
        raise RuntimeError(f"only {len(rows)} customers of store {store_id} to enrol, {n} needed")
    return [r[0] for r in rows]


def _products(conn) -> list[str]:
    """Two active catalogue products worth 100–600 each: the basket (one of the first, two of the second)."""
    rows = conn.execute(
        "SELECT sku FROM sales_product WHERE is_active AND price BETWEEN 100 AND 600 ORDER BY sku LIMIT 2"
    ).fetchall()
    if len(rows) < 2:
        raise RuntimeError("the catalogue has no two products between ¥100 and ¥600")
    return [r[0] for r in rows]


def _enrol(customer_ids: list[int], tag: str) -> dict[int, str]:
    """Members with points, stored value and a coupon, through the services; returns customer id -> coupon code."""
    from guanxi.customers.models import Customer
    from guanxi.loyalty import services
    from guanxi.loyalty.models import Membership, Tier, TopUpRule

    if not Tier.objects.exists():
        Tier.objects.create(name="普通", threshold=0)
        Tier.objects.create(name="银卡", threshold=1000, points_multiplier="1.5", discount_percent="5", order=1)
    silver = Tier.objects.order_by("-threshold").first()
    TopUpRule.objects.get_or_create(min_amount="500.00", defaults={"bonus": "50.00"})
    template = services.coupon_template_create(
        actor=None, data={"name": f"满100减20 {tag}", "kind": "threshold", "amount": "20.00", "threshold": "100.00"}
    )
    for customer in Customer.objects.filter(pk__in=customer_ids).order_by("pk"):
        m, _ = services.member_enrol(actor=None, customer=customer, channel="counter")
        Membership.objects.filter(pk=m.pk).update(tier=silver)
        services.points_adjust(actor=None, membership=m, points=10000, reason="bench", reference=f"{tag}-open")
        services.wallet_top_up(actor=None, membership=m, amount="500.00", reference=f"{tag}-top-up-{m.pk}")
    coupons = services.coupon_issue(actor=None, template=template, customer_ids=customer_ids)
    return {c.customer_id: c.code for c in coupons}


def _form(customer_id: int, coupon: str, store_id: int, skus: list[str], key: str) -> dict:
    return {
        "customer": str(customer_id),
        "key": key,
        "sku": skus,
        "qty": ["1", "2"],
        "coupon_pick": coupon,
        "points": POINTS,
        "wallet_amount": WALLET,
        "payment_method": "wechat_pay",
        "store": str(store_id),
    }


def _timed(fn, args: list, cpu: list[float] | None = None) -> list[float]:
    """Wall seconds per call; ``cpu`` collects this process's CPU seconds per call (its own work, whatever
    else the machine runs: the wall time also holds the waits for PostgreSQL and for a core)."""
    out = []
    for a in args:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(a)
        out.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
    return out


def _queries(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


# ------------------------------------------------------------------------------------------------- floors


def _floor_quote(conn, customer_id: int, coupon: str, skus: list[str], staff_id: int) -> None:
    conn.execute(
        "SELECT m.*, c.name, c.home_store_id, t.*, p.balance, w.principal, w.bonus FROM loyalty_membership m"
        " JOIN customers_customer c ON c.id = m.customer_id LEFT JOIN loyalty_tier t ON t.id = m.tier_id"
        " JOIN loyalty_pointsaccount p ON p.membership_id = m.id JOIN loyalty_wallet w ON w.membership_id = m.id"
        " WHERE m.customer_id = %s AND c.merged_into_id IS NULL AND (c.home_store_id IN"
        " (SELECT store_id FROM accounts_user_stores WHERE user_id = %s) OR c.owner_id = %s)",
        [customer_id, staff_id, staff_id],
    ).fetchall()
    conn.execute(
        "SELECT p.*, pc.* FROM sales_product p LEFT JOIN sales_productcategory pc ON pc.id = p.category_id"
        " WHERE p.sku = ANY(%s) AND p.is_active",
        [skus],
    ).fetchall()
    conn.execute("SELECT * FROM loyalty_programsettings WHERE id = 1").fetchall()
    conn.execute(
        "SELECT cp.*, ct.* FROM loyalty_coupon cp JOIN loyalty_coupontemplate ct ON ct.id = cp.template_id"
        " WHERE cp.code = %s",
        [coupon],
    ).fetchall()
    conn.execute(
        "SELECT cp.*, ct.* FROM loyalty_coupon cp JOIN loyalty_coupontemplate ct ON ct.id = cp.template_id"
        " WHERE cp.customer_id = %s AND cp.status = 'issued' AND (cp.expires_at IS NULL OR cp.expires_at > now())"
        " AND (cp.valid_from IS NULL OR cp.valid_from <= now()) ORDER BY cp.expires_at, cp.id LIMIT 30",
        [customer_id],
    ).fetchall()


def _floor_receipt(conn, order_id: int) -> None:
    conn.execute(
        "SELECT k.*, o.*, s.*, m.*, c.*, t.*, p.*, w.*, cp.*, ct.* FROM loyalty_checkout k"
        " JOIN sales_order o ON o.id = k.order_id LEFT JOIN accounts_store s ON s.id = o.store_id"
        " JOIN loyalty_membership m ON m.id = k.membership_id JOIN customers_customer c ON c.id = m.customer_id"
        " LEFT JOIN loyalty_tier t ON t.id = m.tier_id JOIN loyalty_pointsaccount p ON p.membership_id = m.id"
        " JOIN loyalty_wallet w ON w.membership_id = m.id LEFT JOIN loyalty_coupon cp ON cp.id = k.coupon_id"
        " LEFT JOIN loyalty_coupontemplate ct ON ct.id = cp.template_id WHERE k.order_id = %s",
        [order_id],
    ).fetchall()
    conn.execute("SELECT * FROM sales_orderline WHERE order_id = %s ORDER BY id", [order_id]).fetchall()
    conn.execute("SELECT * FROM loyalty_pointsentry WHERE order_id = %s ORDER BY id", [order_id]).fetchall()
    conn.execute("SELECT * FROM loyalty_walletentry WHERE order_id = %s", [order_id]).fetchall()
    conn.execute("SELECT * FROM loyalty_orderaward WHERE order_id = %s", [order_id]).fetchall()


class _CommitFloor:
    """The rows of one real counter commit, copied with plain SQL for another member, in one transaction."""

    def __init__(self, conn, template: dict[str, list[int]]):
        self.conn = conn
        self.template = {t: ids for t, ids in template.items() if ids and t not in NOT_COPIED}
        self.cols = {}
        for table in self.template:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
                (table,),
            ).fetchall()
            self.cols[table] = [r[0] for r in rows]

    def _copy(self, table: str, template_id: int, overrides: dict) -> int:
        cols = self.cols[table]
        select = ", ".join("%s" if c in overrides else f'"{c}"' for c in cols)
        params = [overrides[c] for c in cols if c in overrides]
        names = ", ".join(f'"{c}"' for c in cols)
        return self.conn.execute(
            f'INSERT INTO "{table}" ({names}) SELECT {select} FROM "{table}" WHERE id = %s RETURNING id',  # noqa: S608
            [*params, template_id],
        ).fetchone()[0]

    def commit(self, member: dict, shape: dict, ref: str) -> None:
        """``member``: the ids the copied rows point to; ``shape``: the amounts of the template commit."""
        conn = self.conn
        with conn.transaction():
            conn.execute("SELECT id FROM loyalty_membership WHERE id = %s FOR UPDATE", [member["membership_id"]])
            conn.execute("SELECT id FROM customers_customer WHERE id = %s FOR UPDATE", [member["customer_id"]])
            conn.execute("SELECT balance FROM loyalty_pointsaccount WHERE id = %s FOR UPDATE", [member["account_id"]])
            conn.execute("SELECT principal, bonus FROM loyalty_wallet WHERE id = %s FOR UPDATE", [member["wallet_id"]])
            conn.execute("SELECT status FROM loyalty_coupon WHERE id = %s FOR UPDATE", [member["coupon_id"]])
            ids = {**member}
            order_id = self._copy("sales_order", self.template["sales_order"][0], {**ids, "external_ref": ref})
            ids["order_id"] = order_id
            for table, template_ids in self.template.items():
                if table == "sales_order":
                    continue
                for n, tid in enumerate(template_ids):
                    text = f"{ref}-{n}"
                    self._copy(table, tid, {**ids, "key": text, "reference": text, "external_ref": text})
            conn.execute(
                "UPDATE customers_customer SET order_count = order_count + 1, total_spent = total_spent + %s,"
                " last_order_at = now() WHERE id = %s",
                [shape["paid"], member["customer_id"]],
            )
            conn.execute(
                "UPDATE loyalty_coupon SET status = 'redeemed', redeemed_order_id = %s, discount = 20,"
                " redeemed_at = now() WHERE id = %s",
                [order_id, member["coupon_id"]],
            )
            conn.execute(
                "UPDATE loyalty_pointsentry SET remaining = remaining - %s WHERE id = (SELECT id FROM"
                " loyalty_pointsentry WHERE account_id = %s AND remaining > 0 ORDER BY expires_at, id LIMIT 1)",
                [int(POINTS), member["account_id"]],
            )
            conn.execute(
                "UPDATE loyalty_pointsaccount SET balance = balance - %s + %s WHERE id = %s",
                [int(POINTS), shape["earned"], member["account_id"]],
            )
            conn.execute(
                "UPDATE loyalty_wallet SET principal = principal - %s, bonus = bonus - %s WHERE id = %s",
                [shape["principal"], shape["bonus"], member["wallet_id"]],
            )
            conn.execute(
                "UPDATE loyalty_membership SET growth = growth + %s WHERE id = %s",
                [shape["growth"], member["membership_id"]],
            )


def _member_ids(customer_ids: list[int], coupons: dict[int, str]) -> dict[int, dict]:
    from guanxi.loyalty.models import Coupon, Membership

    coupon_ids = dict(Coupon.objects.filter(code__in=coupons.values()).values_list("customer_id", "pk"))
    out = {}
    for m in Membership.objects.filter(customer_id__in=customer_ids).select_related("points", "wallet"):
        out[m.customer_id] = {
            "customer_id": m.customer_id,
            "membership_id": m.pk,
            "account_id": m.points.pk,
            "wallet_id": m.wallet.pk,
            "coupon_id": coupon_ids[m.customer_id],
        }
    return out


# ---------------------------------------------------------------------------------------------------- run


REDIS_BROKER = "redis://127.0.0.1:6379/14"


def _broker() -> str:
    """The broker the commit hands its event kick to after COMMIT: Redis, as a deployment of this size runs.

    The embedded SQLite broker (``make run``) costs a file commit (an fsync) per sale, 30–50 ms here; a shop with
    a million customers runs PostgreSQL and Redis (docs/operations.md). Without a reachable Redis, or with
    ``GUANXI_BENCH_BROKER`` set, that broker is used instead, and the figures say which.
    """
    if not os.environ.get("GUANXI_BENCH_BROKER"):
        import redis

        try:
            redis.Redis.from_url(REDIS_BROKER, socket_connect_timeout=1).ping()
            os.environ["GUANXI_BENCH_BROKER"] = REDIS_BROKER
        except redis.RedisError:
            pass
    return os.environ.get("GUANXI_BENCH_BROKER") or "sqla+sqlite (embedded)"


def run(size: str = "small", database: str | None = None, runs: int = 30, seed: int = 7) -> dict:
    """Time the counter's quote, commit and receipt for ``runs`` members each, beside their floors."""
    import psycopg

    database = database or DEFAULT_DATABASE
    broker = _broker()
    django_setup(database)
    from django.db import connection
    from django.test import Client
    from suite import stats

    from guanxi.accounts.models import User
    from guanxi.loyalty.models import Checkout, OrderAward
    from guanxi.sales.models import Order

    runs = max(3, runs)
    floor = psycopg.connect(psycopg_dsn(database), autocommit=True)
    tables = _tables(floor)
    marks = _marks(floor, tables)
    staff = User.objects.get(username=STAFF)
    store_id = staff.stores.order_by("code").values_list("pk", flat=True).first()
    tag = f"bench-counter-{uuid.uuid4().hex[:6]}"
    # warm-up, timed, one template commit for the floor, the floor's own members
    n_members = WARMUP + runs + 1 + runs
    customer_ids = _pick_customers(floor, store_id, n_members, seed)
    floor.execute(
        "CREATE TEMP TABLE bench_counter_saved AS SELECT * FROM customers_customer WHERE id = ANY(%s)",
        [customer_ids],
    )
    client = Client()
    client.force_login(staff)
    try:
        t0 = time.perf_counter()
        coupons = _enrol(customer_ids, tag)
        setup_s = time.perf_counter() - t0
        with connection.cursor() as cur:
            for table in ("loyalty_membership", "loyalty_pointsaccount", "loyalty_wallet", "loyalty_coupon"):
                cur.execute(f"ANALYZE {table}")
        skus = _products(floor)
        warm, timed = customer_ids[:WARMUP], customer_ids[WARMUP : WARMUP + runs]
        template_customer, floor_customers = customer_ids[WARMUP + runs], customer_ids[WARMUP + runs + 1 :]

        def form(cid: int, key: str = "") -> dict:
            return _form(cid, coupons[cid], store_id, skus, key or uuid.uuid4().hex)

        load = os.getloadavg()
        # ---- quote
        quoted = {}

        def quote(cid: int) -> None:
            response = client.post("/loyalty/counter/quote/", form(cid))
            body = response.content.decode()
            if response.status_code != 200 or "¥" not in body or 'id="counter-commit" disabled' in body:
                raise AssertionError(f"quote for {cid} -> {response.status_code}: {body[:2000]}")
            quoted[cid] = body

        for cid in warm:
            quote(cid)
        quote_cpu: list[float] = []
        quote_s = _timed(quote, timed, quote_cpu)
        quote_queries = _queries(lambda: quote(timed[0]))
        staff_id = staff.pk
        for cid in warm:
            _floor_quote(floor, cid, coupons[cid], skus, staff_id)
        quote_floor_s = _timed(lambda cid: _floor_quote(floor, cid, coupons[cid], skus, staff_id), timed)

        # ---- commit
        orders: dict[int, int] = {}

        def commit(cid: int) -> None:
            key = uuid.uuid4().hex
            response = client.post("/loyalty/counter/commit/", form(cid, key))
            if response.status_code != 302:
                raise AssertionError(f"commit for {cid} -> {response.status_code}: {response.content[:3000]!r}")
            orders[cid] = int(response["Location"].rstrip("/").rsplit("/", 1)[1])

        for cid in warm:
            commit(cid)
        commit_cpu: list[float] = []
        commit_s = _timed(commit, timed, commit_cpu)
        before = _marks(floor, tables)
        commit_queries = _queries(lambda: commit(template_customer))
        after = _marks(floor, tables)
        template = {
            t: [
                r[0]
                for r in floor.execute(
                    f'SELECT id FROM "{t}" WHERE id > %s AND id <= %s ORDER BY id',  # noqa: S608
                    [before[t], after[t]],
                ).fetchall()
            ]
            for t in tables
            if after[t] > before[t]
        }
        checkout = Checkout.objects.get(order_id=orders[template_customer])
        order = Order.objects.get(pk=checkout.order_id)
        award = OrderAward.objects.get(order_id=order.pk)
        shape = {
            "paid": order.paid_amount,
            "earned": award.points,
            "growth": award.growth,
            "principal": checkout.wallet_principal,
            "bonus": checkout.wallet_bonus,
        }
        members = _member_ids(floor_customers, coupons)
        copier = _CommitFloor(floor, template)
        commit_floor_s = _timed(
            lambda cid: copier.commit(members[cid], shape, f"{tag}-floor-{cid}"),
            floor_customers,
        )

        # ---- receipt
        def receipt(cid: int) -> None:
            response = client.get(f"/loyalty/counter/orders/{orders[cid]}/")
            if response.status_code != 200:
                raise AssertionError(f"receipt {orders[cid]} -> {response.status_code}")

        for cid in warm:
            receipt(cid)
        receipt_cpu: list[float] = []
        receipt_s = _timed(receipt, timed, receipt_cpu)
        receipt_queries = _queries(lambda: receipt(timed[0]))
        for cid in warm:
            _floor_receipt(floor, orders[cid])
        receipt_floor_s = _timed(lambda cid: _floor_receipt(floor, orders[cid]), timed)

        written = {t: len(ids) for t, ids in template.items()}
        committed = Checkout.objects.filter(order_id__in=orders.values()).count()
        client.logout()
    finally:
        connection.close()
        deleted = _cleanup(floor, marks)
        if broker.startswith("redis://"):
            import redis

            redis.Redis.from_url(broker).flushdb()  # the kicks no worker consumed in this run
        floor.close()

    def row(
        key: str, title: str, g: list[float], f: list[float], cpu: list[float], queries: int, budget: int | None
    ) -> dict:
        gs, fs = stats(g), stats(f)
        out = {
            "benchmark": key,
            "title": title,
            "median_ms": round(gs["median_ms"], 2),
            "p99_ms": round(gs["p99_ms"], 2),
            "min_ms": round(gs["min_ms"], 2),
            "n": gs["n"],
            "floor_median_ms": round(fs["median_ms"], 3),
            "floor_p99_ms": round(fs["p99_ms"], 3),
            "ratio_to_floor": round(gs["median_ms"] / fs["median_ms"], 1),
            "queries": queries,
            "cpu_median_ms": round(stats(cpu)["median_ms"], 2),
        }
        if budget:
            out["budget_ms"] = budget
            out["budget_met"] = gs["median_ms"] < budget and gs["p99_ms"] < budget
        return out

    return {
        "benchmark": "counter",
        "size": size,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": " / ".join(f"{x:.1f}" for x in load) + f" (1/5/15 min, {os.cpu_count()} cores)",
        "staff": STAFF,
        "broker": broker,
        "members": runs,
        "basket": f"{skus[0]} ×1 + {skus[1]} ×2, silver member discount, 满100减20 coupon, {POINTS} points, "
        f"¥{WALLET} stored value, rest by WeChat Pay",
        "figures": [
            row(
                "counter_quote",
                "Counter quote POST /loyalty/counter/quote/ (htmx)",
                quote_s,
                quote_floor_s,
                quote_cpu,
                quote_queries,
                BUDGET_MS,
            ),
            row(
                "counter_commit",
                "Counter commit POST /loyalty/counter/commit/ (new key)",
                commit_s,
                commit_floor_s,
                commit_cpu,
                commit_queries,
                BUDGET_MS,
            ),
            row(
                "counter_receipt",
                "Counter receipt GET /loyalty/counter/orders/<id>/",
                receipt_s,
                receipt_floor_s,
                receipt_cpu,
                receipt_queries,
                None,
            ),
        ],
        "checkouts_committed": committed,
        "rows_per_commit": written,
        "population_setup_s": round(setup_s, 2),
        "rows_deleted_afterwards": sum(deleted.values()),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.size, args.database, args.runs, args.seed), ensure_ascii=False, indent=2))
