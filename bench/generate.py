"""Load a believable Guanxi business into a dedicated PostgreSQL database, fast and reproducibly.

    uv run python bench/generate.py --size small [--seed 7] [--database guanxi_bench]

Sizes: tiny (2k customers / 20k orders), small (100k / 1M), full (1M / 10M). The database is dropped,
created and migrated with ``guanxi migrate``; then every large table is filled with ``COPY`` (text
format, psycopg 3 ``cursor.copy``) by two worker processes, with the secondary indexes dropped during
the load and rebuilt from their exact definitions afterwards, so the schema ends identical to the
migrations'. Contact values are really encrypted (``core.crypto.encrypt``) and their blind indexes
come from ``customers.contacts.contact_indexes``, so the app finds generated customers exactly as it
finds real ones. Every plaintext is a function of the seed; only the encryption nonces are random.

Customer purchase figures (order_count, total_spent, first/last_order_at) are computed set-based from
the generated order arrays (numpy group-by) and written with the customer rows; ``verify()`` checks
them against a SQL GROUP BY over the orders.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATABASE, PROJECT_DIR, SIZES, bench_env, django_setup, psycopg_dsn  # noqa: E402

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬斌宇浩凯健俊帆帅旭宁龙林欣怡佳"
    "琪梦雪晨阳子涵轩博文思雨诗颖婷慧倩嘉鑫淑惠珍莉"
)
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州", "天津"]
EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "outlook.com", "gmail.com", "foxmail.com"]
PHONE_PREFIXES = np.array([135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159, 186, 187, 188], dtype=np.int64)
PHONE_SPACE = len(PHONE_PREFIXES) * 10**8
PHONE_STEP = 2_654_435_761  # odd, not a multiple of 5 or 7: i -> i*STEP mod SPACE is a bijection
PAYMENT = ["wechat_pay", "alipay", "card", "cash", "wallet"]
PAYMENT_P = [0.45, 0.3, 0.15, 0.07, 0.03]
INCOME = ["", "low", "middle", "upper", "high"]
GENDER = ["", "female", "male"]
SOURCES = ["pos", "wechat", "web", "import"]
TAG_NAMES = ["VIP", "新客", "老客", "高价值", "沉睡", "会员日", "生日月", "团购", "企业客户", "小程序"] + [
    f"兴趣{k:02d}" for k in range(30)
]
BIG_TABLES = [
    "customers_customer",
    "customers_contactpoint",
    "customers_customer_tags",
    "customers_timelineentry",
    "sales_order",
    "sales_orderline",
]
END = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
YEAR = 365 * 86400
NULL = "\\N"

# Filled by plan() in the parent; forked workers inherit it.
PLAN: dict = {}


def phone_for(i: np.ndarray | int, seed: int) -> np.ndarray:
    """The E.164 national number (as int) of synthetic person ``i``: unique for i < PHONE_SPACE."""
    v = (np.asarray(i, dtype=np.int64) * PHONE_STEP + seed * 7919) % PHONE_SPACE
    return PHONE_PREFIXES[v // 10**8] * 10**8 + v % 10**8


def names_for(rng: np.random.Generator, n: int) -> list[str]:
    s = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = rng.integers(-len(GIVEN) // 2, len(GIVEN), n)  # < 0: a one-character given name
    return [SURNAMES[a] + GIVEN[b] + (GIVEN[c] if c >= 0 else "") for a, b, c in zip(s, g1, g2, strict=True)]


def ts_strings(seconds: np.ndarray) -> list[str]:
    return [s + "+00" for s in np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").tolist()]


def money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def plan(*, customers: int, orders: int, seed: int, stores: list[tuple[int, str]], tags: list[int], products):
    """Every random choice of the dataset, as numpy arrays, from the seed alone."""
    rng = np.random.default_rng(seed)
    n, m = customers, orders
    p = {"seed": seed, "n": n, "m": m, "stores": stores, "tags": tags}
    store_ids = np.array([s[0] for s in stores], dtype=np.int64)
    p["home_store"] = store_ids[rng.integers(0, len(stores), n)]
    p["gender"] = rng.choice(3, n, p=[0.2, 0.45, 0.35])
    has_bday = rng.random(n) < 0.6
    bday = np.datetime64("1950-01-01") + rng.integers(0, 55 * 365, n).astype("timedelta64[D]")
    p["birthday"] = np.where(has_bday, bday, np.datetime64("NaT"))
    p["region"] = rng.integers(0, len(CITIES), n)
    p["income"] = rng.choice(len(INCOME), n, p=[0.4, 0.15, 0.25, 0.15, 0.05])
    p["key_account"] = rng.random(n) < 0.01
    p["source"] = rng.choice(len(SOURCES), n, p=[0.5, 0.3, 0.1, 0.1])
    p["has_email"] = rng.random(n) < 0.5
    p["has_wechat"] = rng.random(n) < 0.2
    p["email_user"] = rng.integers(0, 10**6, n)
    p["email_domain"] = rng.integers(0, len(EMAIL_DOMAINS), n)
    ntags = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    p["ntags"] = ntags
    p["tag1"] = rng.integers(0, len(tags), n)
    p["tag_step"] = rng.integers(1, max(2, len(tags) // 3), n)
    p["names"] = names_for(rng, n)

    # Orders: skewed buyers (lognormal weights), times uniform over three years, ids in time order.
    weights = rng.lognormal(0.0, 1.0, n)
    cust = rng.choice(n, m, p=weights / weights.sum()).astype(np.int32)
    times = np.sort(rng.integers(END - 3 * YEAR, END, m))
    p["o_cust"] = cust
    p["o_time"] = times
    own_store = rng.random(m) < 0.85
    p["o_store"] = np.where(own_store, p["home_store"][cust], store_ids[rng.integers(0, len(stores), m)])
    nlines = 1 + (rng.random(m) < 0.3).astype(np.int64)
    p["o_lines_start"] = np.concatenate([[0], np.cumsum(nlines)])
    nl = int(nlines.sum())
    prod_ids, prod_prices = products["ids"], products["price_fen"]
    pick = rng.integers(0, len(prod_ids), nl)
    p["l_product"] = pick
    p["l_qty"] = 1 + (rng.random(nl) < 0.15).astype(np.int64)
    p["l_amount"] = prod_prices[pick] * p["l_qty"]
    p["products"] = products
    total = np.add.reduceat(p["l_amount"], p["o_lines_start"][:-1])
    discount = np.where(rng.random(m) < 0.2, (total // 2000) * 100, 0)  # 5% off, whole yuan
    p["o_total"], p["o_discount"], p["o_paid"] = total, discount, total - discount
    p["o_pay"] = rng.choice(len(PAYMENT), m, p=PAYMENT_P)

    # Purchase figures per customer, set-based.
    p["c_count"] = np.bincount(cust, minlength=n)
    p["c_spent"] = np.bincount(cust, weights=p["o_paid"].astype(np.float64), minlength=n).round().astype(np.int64)
    first = np.full(n, -1, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    uniq, idx = np.unique(cust, return_index=True)  # times are sorted: first occurrence = first order
    first[uniq] = times[idx]
    uniq_r, idx_r = np.unique(cust[::-1], return_index=True)
    last[uniq_r] = times[::-1][idx_r]
    p["c_first"], p["c_last"] = first, last
    joined = rng.integers(0, 180 * 86400, n)
    p["c_created"] = np.where(first >= 0, first - joined, rng.integers(END - 3 * YEAR, END, n))
    return p


# ---------------------------------------------------------------------------------------------- workers

_conn = None


def _worker_conn():
    global _conn
    import psycopg

    if _conn is None:
        _conn = psycopg.connect(PLAN["dsn"], autocommit=True)
        _conn.execute("SET session_replication_role = replica")  # rows are consistent by construction
        _conn.execute("SET synchronous_commit = off")
    return _conn


def _copy(table: str, columns: str, lines: list[str]) -> None:
    conn = _worker_conn()
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buf = io.StringIO()
        for k in range(0, len(lines), 20000):
            buf.write("".join(lines[k : k + 20000]))
            copy.write(buf.getvalue())
            buf.seek(0)
            buf.truncate()


CUSTOMER_COLS = (
    "id, kind, name, gender, birthday, birthday_md, occupation, income_band, education, family_size, region, "
    "organisation_name, id_number, id_number_index, interests, preferences, is_key_account, owner_id, source, "
    "home_store_id, custom_attributes, merged_into_id, first_order_at, last_order_at, order_count, total_spent, "
    "created_at, updated_at"
)
CONTACT_COLS = "customer_id, kind, value, value_index, last4_index, label, is_primary, verified_at, created_at"
TIMELINE_COLS = "customer_id, kind, occurred_at, summary, data, actor_id, event_id, ref_type, ref_id"
ORDER_COLS = (
    "id, source, external_ref, customer_id, store_id, status, ordered_at, total_amount, discount_amount, "
    "paid_amount, refunded_amount, payment_method, created_at"
)
LINE_COLS = "order_id, product_id, sku, name, category_id, quantity, unit_price, amount, refunded_quantity"


def customers_chunk(start: int, stop: int) -> dict[str, int]:
    from guanxi.core.crypto import encrypt
    from guanxi.customers.contacts import contact_indexes

    p = PLAN
    sl = slice(start, stop)
    created = ts_strings(p["c_created"][sl])
    first = ts_strings(np.maximum(p["c_first"][sl], 0))
    last = ts_strings(np.maximum(p["c_last"][sl], 0))
    bdays = p["birthday"][sl]
    bday_s = np.datetime_as_string(bdays, unit="D").tolist()
    months = bdays.astype("datetime64[M]")
    md = ((months.astype(np.int64) % 12 + 1) * 100 + (bdays - months).astype(np.int64) + 1).tolist()
    phones = phone_for(np.arange(start, stop), p["seed"]).tolist()
    cols = [p[k][sl].tolist() for k in ("home_store", "gender", "region", "income", "key_account", "source")]
    counts, spent, fidx = p["c_count"][sl].tolist(), p["c_spent"][sl].tolist(), p["c_first"][sl].tolist()
    has_email, has_wechat = p["has_email"][sl].tolist(), p["has_wechat"][sl].tolist()
    email_user, email_domain = p["email_user"][sl].tolist(), p["email_domain"][sl].tolist()
    ntags, tag1, tag_step = p["ntags"][sl].tolist(), p["tag1"][sl].tolist(), p["tag_step"][sl].tolist()
    tags = p["tags"]
    rows, contacts, tag_rows, timeline = [], [], [], []
    for k in range(stop - start):
        cid = start + k + 1
        store, gender, region, income, key, source = (c[k] for c in cols)
        has_b = bday_s[k] != "NaT"
        bought = fidx[k] >= 0
        rows.append(
            f"{cid}\tperson\t{p['names'][start + k]}\t{GENDER[gender]}\t{bday_s[k] if has_b else NULL}\t"
            f"{md[k] if has_b else NULL}\t\t{INCOME[income]}\t\t\\N\t{CITIES[region]}\t\t\t\t[]\t{{}}\t"
            f"{'t' if key else 'f'}\t\\N\t{SOURCES[source]}\t{store}\t{{}}\t\\N\t"
            f"{first[k] if bought else NULL}\t{last[k] if bought else NULL}\t{counts[k]}\t{money(spent[k])}\t"
            f"{created[k]}\t{created[k]}\n"
        )
        e164 = f"+86{phones[k]}"
        vi, l4 = contact_indexes("phone", e164)
        contacts.append(f"{cid}\tphone\t{encrypt(e164)}\t{vi}\t{l4}\t\tt\t\\N\t{created[k]}\n")
        if has_email[k]:
            email = f"u{email_user[k]}.{cid}@{EMAIL_DOMAINS[email_domain[k]]}"
            vi, l4 = contact_indexes("email", email)
            contacts.append(f"{cid}\temail\t{encrypt(email)}\t{vi}\t{l4}\t\tt\t\\N\t{created[k]}\n")
        if has_wechat[k]:
            wx = f"wx_{cid:x}_{email_user[k]:x}"
            vi, l4 = contact_indexes("wechat", wx)
            contacts.append(f"{cid}\twechat\t{encrypt(wx)}\t{vi}\t{l4}\t\tt\t\\N\t{created[k]}\n")
        t = tag1[k]
        for _j in range(ntags[k]):
            tag_rows.append(f"{cid}\t{tags[t]}\n")
            t = (t + tag_step[k]) % len(tags)
        timeline.append(
            f"{cid}\tcustomer.created\t{created[k]}\tcreated via {SOURCES[source]}\t"
            f'{{"channel": "{SOURCES[source]}"}}\t\\N\t\\N\t\t\n'
        )
    _copy("customers_customer", CUSTOMER_COLS, rows)
    _copy("customers_contactpoint", CONTACT_COLS, contacts)
    _copy("customers_customer_tags", "customer_id, tag_id", tag_rows)
    _copy("customers_timelineentry", TIMELINE_COLS, timeline)
    return {"customers": len(rows), "contacts": len(contacts), "tags": len(tag_rows), "timeline": len(timeline)}


def orders_chunk(start: int, stop: int) -> dict[str, int]:
    p = PLAN
    sl = slice(start, stop)
    times = ts_strings(p["o_time"][sl])
    cust = (p["o_cust"][sl] + 1).tolist()
    store = p["o_store"][sl].tolist()
    total, disc, paid = (p[k][sl].tolist() for k in ("o_total", "o_discount", "o_paid"))
    pay = p["o_pay"][sl].tolist()
    store_names = dict(p["stores"])
    bounds = p["o_lines_start"]
    l0, l1 = int(bounds[start]), int(bounds[stop])
    prod = p["products"]
    lp = p["l_product"][l0:l1].tolist()
    lq, la = p["l_qty"][l0:l1].tolist(), p["l_amount"][l0:l1].tolist()
    starts = (bounds[start : stop + 1] - l0).tolist()
    pid, psku, pname, pcat, pprice = prod["ids"], prod["sku"], prod["name"], prod["category"], prod["price_fen"]
    orders, lines, timeline = [], [], []
    for k in range(stop - start):
        oid = start + k + 1
        ref = f"P{oid:010d}"
        paid_s = money(paid[k])
        orders.append(
            f"{oid}\tpos\t{ref}\t{cust[k]}\t{store[k]}\tpaid\t{times[k]}\t{money(total[k])}\t{money(disc[k])}\t"
            f"{paid_s}\t0.00\t{PAYMENT[pay[k]]}\t{times[k]}\n"
        )
        for j in range(starts[k], starts[k + 1]):
            q = lp[j]
            lines.append(
                f"{oid}\t{pid[q]}\t{psku[q]}\t{pname[q]}\t{pcat[q]}\t{lq[j]}\t{money(int(pprice[q]))}\t"
                f"{money(la[j])}\t0\n"
            )
        timeline.append(
            f"{cust[k]}\torder.paid\t{times[k]}\torder {ref} ¥{paid_s}\t"
            f'{{"ref": "{ref}", "amount": "{paid_s}", "store": "{store_names[store[k]]}", '
            f'"lines": {starts[k + 1] - starts[k]}}}\t\\N\t\\N\torder\t{oid}\n'
        )
    _copy("sales_order", ORDER_COLS, orders)
    _copy("sales_orderline", LINE_COLS, lines)
    _copy("customers_timelineentry", TIMELINE_COLS, timeline)
    return {"orders": len(orders), "lines": len(lines), "timeline": len(timeline)}


def _run_task(task):
    fn, start, stop = task
    return (customers_chunk if fn == "customers" else orders_chunk)(start, stop)


# ---------------------------------------------------------------------------------------------- driver


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", flush=True)


def recreate_database(database: str) -> None:
    import psycopg

    with psycopg.connect(psycopg_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    env = bench_env(database)
    subprocess.run(  # the same command an operator runs: `guanxi migrate`
        [sys.executable, "-m", "guanxi.cli", "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=PROJECT_DIR
    )


def secondary_indexes(conn) -> list[tuple[str, str]]:
    """Indexes of the big tables that back no constraint: dropped for the load, rebuilt after."""
    return conn.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY i.indexname""",
        [BIG_TABLES],
    ).fetchall()


def all_indexes(conn) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
    ).fetchall()


def seed_small_tables(*, customers: int, seed: int) -> dict:
    """Stores, staff (with API tokens), categories, products and tags through the ORM."""
    from django.contrib.auth.hashers import make_password

    from guanxi.accounts.models import Role, Store, User
    from guanxi.accounts.services import api_token_create
    from guanxi.customers.models import Tag
    from guanxi.sales.models import Product, ProductCategory

    rng = np.random.default_rng([seed, 1])
    n_stores = 5 if customers < 50_000 else 50
    stores = Store.objects.bulk_create(
        Store(code=f"bench-{k:03d}", name=f"{CITIES[k % len(CITIES)]}{k + 1}号店", city=CITIES[k % len(CITIES)])
        for k in range(n_stores)
    )
    password = make_password("bench-password")
    admin = User.objects.create(
        username="bench-admin", password=password, role=Role.ADMIN, is_staff=True, is_superuser=True
    )
    staff = User.objects.bulk_create(
        User(username=f"bench-staff-{k:03d}", password=password, role=Role.STORE_STAFF) for k in range(n_stores)
    )
    through = User.stores.through
    through.objects.bulk_create(through(user_id=u.pk, store_id=s.pk) for u, s in zip(staff, stores, strict=True))
    # A bench dataset is kept for many runs: its tokens outlive the default 90 days.
    ten_years = dt.timedelta(days=3650)
    tokens = {
        "admin": api_token_create(user=admin, name="bench", expires_in=ten_years)[1],
        "staff": api_token_create(user=staff[0], name="bench", expires_in=ten_years)[1],
    }
    categories = ProductCategory.objects.bulk_create(
        ProductCategory(code=f"cat-{k:02d}", name=f"品类{k:02d}", warranty_months=int(rng.integers(0, 25)))
        for k in range(40)
    )
    n_products = 200 if customers < 50_000 else 2000
    prices = (rng.lognormal(5.0, 1.2, n_products) * 100).round().astype(np.int64) + 990
    products = Product.objects.bulk_create(
        Product(
            sku=f"SKU{k:06d}",
            name=f"商品{k:05d}",
            category=categories[k % len(categories)],
            price=f"{prices[k] // 100}.{prices[k] % 100:02d}",
        )
        for k in range(n_products)
    )
    tags = Tag.objects.bulk_create(Tag(name=name) for name in TAG_NAMES)
    return {
        "stores": [(s.pk, s.name) for s in stores],
        "tags": [t.pk for t in tags],
        "tokens": tokens,
        "products": {
            "ids": [p.pk for p in products],
            "sku": [p.sku for p in products],
            "name": [p.name for p in products],
            "category": [p.category_id for p in products],
            "price_fen": prices,
        },
    }


def generate(*, size: str, seed: int = 7, database: str = DEFAULT_DATABASE, workers: int = 2) -> dict:
    """Build the dataset of ``size`` in ``database`` (dropped first); returns counts and timings."""
    import psycopg

    customers, orders, _import_rows = SIZES[size]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    log(f"creating and migrating {database}")
    recreate_database(database)
    timings["migrate_s"] = time.perf_counter() - t0

    django_setup(database)
    from django.db import connections

    from guanxi.customers.contacts import normalize_phone

    small = seed_small_tables(customers=customers, seed=seed)
    connections.close_all()

    t = time.perf_counter()
    log(f"planning {customers:,} customers / {orders:,} orders (seed {seed})")
    PLAN.clear()
    PLAN.update(
        plan(
            customers=customers,
            orders=orders,
            seed=seed,
            stores=small["stores"],
            tags=small["tags"],
            products=small["products"],
        )
    )
    PLAN["dsn"] = psycopg_dsn(database)
    for e164 in phone_for(np.arange(0, min(customers, 2000), 97), seed).tolist():
        assert normalize_phone(f"+86{e164}") == f"+86{e164}", e164  # generated phones are valid as Guanxi sees it
    timings["plan_s"] = time.perf_counter() - t

    with psycopg.connect(PLAN["dsn"], autocommit=True) as conn:
        before = all_indexes(conn)
        secondary = secondary_indexes(conn)
        for name, _def in secondary:
            conn.execute(f'DROP INDEX "{name}"')

    t = time.perf_counter()
    chunk_c = max(1000, min(50_000, customers // (workers * 4) or 1))
    chunk_o = max(5000, min(250_000, orders // (workers * 4) or 1))
    tasks = [("customers", a, min(a + chunk_c, customers)) for a in range(0, customers, chunk_c)]
    tasks += [("orders", a, min(a + chunk_o, orders)) for a in range(0, orders, chunk_o)]
    counts: dict[str, int] = {}
    with mp.get_context("fork").Pool(workers) as pool:
        for done, result in enumerate(pool.imap_unordered(_run_task, tasks), 1):
            for key, value in result.items():
                counts[key] = counts.get(key, 0) + value
            if done % max(1, len(tasks) // 20) == 0 or done == len(tasks):
                log(f"  copied {done}/{len(tasks)} chunks: {counts}")
    timings["copy_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"rebuilding {len(secondary)} indexes")

    def build(defn: str) -> None:
        with psycopg.connect(PLAN["dsn"], autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            conn.execute(defn)

    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(build, [d for _n, d in secondary]))
    timings["index_s"] = time.perf_counter() - t

    t = time.perf_counter()
    with psycopg.connect(PLAN["dsn"], autocommit=True) as conn:
        for table in ("customers_customer", "sales_order"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        after = all_indexes(conn)
        if after != before:
            raise RuntimeError(f"index set changed by the load: {set(before) ^ set(after)}")

    def vacuum(table: str) -> None:
        with psycopg.connect(PLAN["dsn"], autocommit=True) as conn:
            conn.execute(f"VACUUM (ANALYZE) {table}")

    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(vacuum, BIG_TABLES))
    with psycopg.connect(PLAN["dsn"], autocommit=True) as conn:
        conn.execute("ANALYZE")
        meta = {"size": size, "seed": seed, "customers": customers, "orders": orders, "tokens": small["tokens"]}
        conn.execute(f"COMMENT ON DATABASE \"{database}\" IS '{json.dumps(meta)}'")
    timings["vacuum_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    log(f"done in {timings['total_s']:.1f}s: {counts}")
    return {"size": size, "seed": seed, "database": database, "counts": counts, "timings": timings, **meta}


def dataset_meta(database: str) -> dict | None:
    """What generate() left in ``database`` (size, seed, tokens), or None if it holds no dataset."""
    import psycopg

    try:
        with psycopg.connect(psycopg_dsn(database), autocommit=True) as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [database]
            ).fetchone()
    except psycopg.OperationalError:
        return None
    try:
        return json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None


def verify(database: str) -> dict[str, int]:
    """Cross-check the load: aggregates equal a SQL GROUP BY; every contact decrypts; FKs hold."""
    import psycopg

    from guanxi.core.crypto import decrypt

    with psycopg.connect(psycopg_dsn(database), autocommit=True) as conn:
        bad_aggregates = conn.execute(
            """SELECT count(*) FROM customers_customer c
               LEFT JOIN (SELECT customer_id, count(*) n, sum(paid_amount - refunded_amount) s,
                                 min(ordered_at) f, max(ordered_at) l
                          FROM sales_order GROUP BY customer_id) o ON o.customer_id = c.id
               WHERE c.order_count <> coalesce(o.n, 0) OR c.total_spent <> coalesce(o.s, 0)
                  OR c.first_order_at IS DISTINCT FROM o.f OR c.last_order_at IS DISTINCT FROM o.l"""
        ).fetchone()[0]
        orphans = conn.execute(
            """SELECT (SELECT count(*) FROM sales_order o LEFT JOIN customers_customer c ON c.id = o.customer_id
                       WHERE c.id IS NULL)
                    + (SELECT count(*) FROM sales_orderline l LEFT JOIN sales_order o ON o.id = l.order_id
                       WHERE o.id IS NULL)
                    + (SELECT count(*) FROM customers_contactpoint p LEFT JOIN customers_customer c
                       ON c.id = p.customer_id WHERE c.id IS NULL)"""
        ).fetchone()[0]
        sample = conn.execute("SELECT value FROM customers_contactpoint ORDER BY id LIMIT 200").fetchall()
    decrypted = sum(1 for (v,) in sample if decrypt(v))
    return {"bad_aggregates": bad_aggregates, "orphans": orphans, "decrypted_sample": decrypted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=os.environ.get("GUANXI_BENCH_DB", DEFAULT_DATABASE))
    parser.add_argument("--verify", action="store_true", help="cross-check aggregates and FKs afterwards")
    args = parser.parse_args(argv)
    result = generate(size=args.size, seed=args.seed, database=args.database)
    if args.verify:
        log(f"verify: {verify(args.database)}")
    print(json.dumps({k: v for k, v in result.items() if k != "tokens"}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
