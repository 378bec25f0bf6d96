"""Campaign results benchmark (self-contained; the suite may call ``run(size=...)``, or run this file directly).

Loads, into its own PostgreSQL database (``guanxi_bench_campaigns`` unless told), a sent campaign of
``RECIPIENTS[size]`` recipients (500,000 at ``full``) with ORM-free ``COPY``: as many customers, each with a
background purchase history around the send (Poisson(4) orders over the 300 days before and 60 days after,
2% refunded), two variants A and B (45% each) and a 10% control; variant recipients have one SMS each (95%
delivered, 3% failed, 2% suppressed without a message), a ¥20 coupon (8% redeemed), extra in-window orders
(the known effect: +3 points for A, +5 for B), and 0.5% opt-outs within the window. Then it times
``guanxi.campaigns.results.campaign_results`` (visibility, variants, runs and the one aggregate statement,
plus the uplift arithmetic) beside the SQL floor: the same ``GROUP BY`` statement run once through psycopg,
without Django. Budget: < 5 s at ``full``.

    uv run python bench/bench_campaign_results.py --size tiny
    uv run python bench/bench_campaign_results.py --size full [--database guanxi_bench_campaigns]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from common import SERVER_URL, django_setup, psycopg_dsn  # noqa: E402

DEFAULT_DATABASE = "guanxi_bench_campaigns"
RECIPIENTS = {"tiny": 2_000, "small": 50_000, "full": 500_000}
RUNS = {"tiny": 5, "small": 5, "full": 3}
RUN_START = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
BUDGET_S = 5.0


def _ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(psycopg_dsn(SERVER_URL.rsplit("/", 1)[1] or "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _template_row(model, **values) -> tuple[list[str], list]:
    """Every concrete column but the primary key, with the values an unsaved instance would store."""
    from django.db import connection

    obj = model(**values)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return [f.column for f in fields], [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _copy(cursor, model, base: dict, columns: dict[str, list], *, ids: list[int] | None = None) -> None:
    """COPY ``len(next(iter(columns.values())))`` rows of ``model``: ``base`` for every row, ``columns`` per row."""
    from guanxi.core.db.copy import copy_from

    names, template = _template_row(model, **base)
    n = len(next(iter(columns.values())))
    positions = {name: names.index(name) for name in columns}
    if ids is not None:
        names = ["id", *names]

    def rows():
        row = list(template)
        for i in range(n):
            for name, pos in positions.items():
                row[pos] = columns[name][i]
            yield [ids[i], *row] if ids is not None else row

    copy_from(cursor, model._meta.db_table, names, rows())


def _load(size: str, seed: int, tag: str) -> dict:
    """The campaign and its population; returns counts and the load time."""
    from django.db import connection, transaction

    from guanxi.accounts.models import Role, User
    from guanxi.campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignVariant, Segment
    from guanxi.core.db.copy import reserve_ids
    from guanxi.customers.models import Customer
    from guanxi.loyalty.models import Coupon, CouponTemplate
    from guanxi.messaging.models import Consent, Message
    from guanxi.sales.models import Order

    rng = np.random.default_rng(seed)
    n = RECIPIENTS[size]
    start = time.perf_counter()
    admin, _ = User.objects.get_or_create(
        username="bench-results-admin", defaults={"role": Role.ADMIN, "is_superuser": True, "is_staff": True}
    )
    segment = Segment.objects.create(name=f"{tag} 人群", created_by=admin)
    template = CouponTemplate.objects.create(name=f"{tag} ¥20", kind=CouponTemplate.Kind.FIXED, amount="20.00")
    campaign = Campaign.objects.create(
        name=tag, segment=segment, created_by=admin, coupon_template=template, status=Campaign.Status.COMPLETED
    )
    variant_a = CampaignVariant.objects.create(campaign=campaign, label="A", split_percent=50)
    variant_b = CampaignVariant.objects.create(campaign=campaign, label="B", split_percent=50)
    run_row = CampaignRun.objects.create(
        campaign=campaign,
        occurrence=RUN_START,
        started_at=RUN_START,
        finished_at=RUN_START + dt.timedelta(hours=1),
        status=CampaignRun.Status.DONE,
        recipients=n,
    )
    group = rng.choice(np.array([0, 1, 2]), size=n, p=[0.45, 0.45, 0.10])  # 0 = A, 1 = B, 2 = control
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # foreign keys consistent by construction
        customer_ids = reserve_ids(cur, Customer, n)
        _copy(
            cur,
            Customer,
            {"name": "x", "source": "bench"},
            {"name": [f"收件人{i:07d}" for i in range(n)]},
            ids=customer_ids,
        )
        cid = np.array(customer_ids)
        # background orders: Poisson(4) per customer from 300 days before to 60 days after the send
        per = rng.poisson(4, n)
        owner = np.repeat(cid, per)
        span = 360 * 86400
        offsets = rng.integers(-300 * 86400, 60 * 86400, owner.size)
        # the known effect: extra orders inside the 14-day window for the variants
        extra = ((group == 0) & (rng.random(n) < 0.03)) | ((group == 1) & (rng.random(n) < 0.05))
        owner = np.concatenate([owner, cid[extra]])
        offsets = np.concatenate([offsets, rng.integers(0, 14 * 86400, int(extra.sum()))])
        amounts = np.round(rng.lognormal(np.log(180), 0.6, owner.size), 2)
        refunded = rng.random(owner.size) < 0.02
        times = [RUN_START + dt.timedelta(seconds=int(s)) for s in offsets]
        money = [Decimal(f"{a:.2f}") for a in amounts]
        _copy(
            cur,
            Order,
            {
                "source": f"bench-{tag}",
                "external_ref": "",
                "customer_id": 0,
                "ordered_at": RUN_START,
                "total_amount": 0,
                "paid_amount": 0,
                "payment_method": "cash",
            },
            {
                "external_ref": [f"R{i:08d}" for i in range(owner.size)],
                "customer_id": owner.tolist(),
                "ordered_at": times,
                "total_amount": money,
                "paid_amount": money,
                "refunded_amount": [m if r else Decimal("0.00") for m, r in zip(money, refunded, strict=True)],
                "status": ["refunded" if r else "paid" for r in refunded],
            },
        )
        del span
        # messages and coupons of the variant recipients
        treated = np.flatnonzero(group < 2)
        suppressed = rng.random(treated.size) < 0.02
        messaged = treated[~suppressed]
        message_ids = reserve_ids(cur, Message, messaged.size)
        status = np.where(rng.random(messaged.size) < 0.97, "delivered", "failed")
        _copy(
            cur,
            Message,
            {"channel": "sms", "purpose": "marketing", "dedupe_key": "", "status": "delivered", "sent_at": RUN_START},
            {
                "customer_id": cid[messaged].tolist(),
                "dedupe_key": [f"{tag}-{c}" for c in cid[messaged]],
                "status": status.tolist(),
            },
            ids=message_ids,
        )
        coupon_ids = reserve_ids(cur, Coupon, messaged.size)
        redeemed = rng.random(messaged.size) < 0.08
        _copy(
            cur,
            Coupon,
            {
                "code": "",
                "template_id": template.pk,
                "customer_id": 0,
                "issued_at": RUN_START,
                "reference": f"campaign-run-{run_row.pk}",
            },
            {
                "code": [f"B{run_row.pk:03d}{i:09d}"[:16] for i in range(messaged.size)],
                "customer_id": cid[messaged].tolist(),
                "status": np.where(redeemed, "redeemed", "issued").tolist(),
                "discount": [Decimal("20.00") if r else Decimal("0.00") for r in redeemed],
                "redeemed_at": [RUN_START + dt.timedelta(days=3) if r else None for r in redeemed],
            },
            ids=coupon_ids,
        )
        message_of = dict(zip(messaged.tolist(), message_ids, strict=True))
        coupon_of = dict(zip(messaged.tolist(), coupon_ids, strict=True))
        variant_ids = [variant_a.pk, variant_b.pk, None]
        statuses = ["queued", "queued", "control"]
        _copy(
            cur,
            CampaignRecipient,
            {"run_id": run_row.pk, "customer_id": 0, "status": "queued"},
            {
                "customer_id": customer_ids,
                "variant_id": [variant_ids[g] for g in group],
                "status": ["suppressed" if g < 2 and i not in message_of else statuses[g] for i, g in enumerate(group)],
                "reason": ["no consent" if g < 2 and i not in message_of else "" for i, g in enumerate(group)],
                "message_id": [message_of.get(i) for i in range(n)],
                "coupon_id": [coupon_of.get(i) for i in range(n)],
            },
        )
        opted = np.flatnonzero(rng.random(n) < 0.005)
        _copy(
            cur,
            Consent,
            {
                "channel": "sms",
                "purpose": "marketing",
                "granted": False,
                "source": "sms reply",
                "at": RUN_START,
                "customer_id": 0,
            },
            {
                "customer_id": cid[opted].tolist(),
                "at": [RUN_START + dt.timedelta(hours=int(h)) for h in rng.integers(1, 300, opted.size)],
            },
        )
    with connection.cursor() as cur:
        for model in (Customer, Order, Message, Coupon, CampaignRecipient, Consent):
            cur.execute(f"ANALYZE {model._meta.db_table}")  # noqa: S608 - model table names
    return {
        "campaign_id": campaign.pk,
        "admin_id": admin.pk,
        "recipients": n,
        "orders": int(owner.size),
        "messages": int(messaged.size),
        "load_s": round(time.perf_counter() - start, 2),
    }


def run(size: str = "tiny", database: str = DEFAULT_DATABASE, seed: int = 7, repeat: int | None = None) -> dict:
    """Load (once per database, size and seed) and time the results of the synthetic campaign."""
    _ensure_database(database)
    django_setup(database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import psycopg
    from django.db import connection

    from guanxi.accounts.models import User
    from guanxi.campaigns import results as r
    from guanxi.campaigns.models import Campaign

    runs = repeat or RUNS[size]
    tag = f"bench-results-{size}-{seed}"
    campaign = Campaign.objects.filter(name=tag).first()
    if campaign is None:
        loaded = _load(size, seed, tag)
        campaign = Campaign.objects.get(pk=loaded["campaign_id"])
    else:
        loaded = {"campaign_id": campaign.pk, "reused": True, "recipients": RECIPIENTS[size]}
    admin = User.objects.get(username="bench-results-admin")

    r.campaign_results(campaign, user=admin)  # warm-up (plans, caches)
    samples, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = r.campaign_results(campaign, user=admin)
        samples.append(time.perf_counter() - t)
    assert result is not None
    sql, params = r.results_sql(connection.vendor), r.results_params(campaign.pk)
    connection.close()
    floor = []
    with psycopg.connect(psycopg_dsn(database)) as conn:
        conn.execute(sql, params).fetchall()
        for _ in range(runs):
            t = time.perf_counter()
            conn.execute(sql, params).fetchall()
            floor.append(time.perf_counter() - t)
    groups = {g.key: g for g in result.total.groups}
    median, floor_median = statistics.median(samples), statistics.median(floor)
    return {
        "benchmark": "campaign_results",
        "size": size,
        "dataset": loaded,
        "runs": runs,
        "seconds": round(median, 4),  # the median, as the suite's summary reads it
        "floor_seconds": round(floor_median, 4),
        "seconds_median": round(median, 4),
        "seconds_min": round(min(samples), 4),
        "floor_seconds_median": round(floor_median, 4),
        "floor_seconds_min": round(min(floor), 4),
        "ratio_to_floor": round(median / floor_median, 2) if floor_median else None,
        "budget_s": BUDGET_S,
        "within_budget": median < BUDGET_S,
        "groups": {
            key: {
                "recipients": g.recipients,
                "delivered": g.delivered,
                "converters": g.converters,
                "conversion_rate": round(g.conversion_rate or 0, 4),
                "revenue_per_recipient": str(g.revenue_per_recipient),
                "uplift_points": None if g.conversion is None else round((g.conversion.diff or 0) * 100, 2),
                "uplift_ci_points": None
                if g.conversion is None or not g.conversion.computable
                else [round(g.conversion.low * 100, 2), round(g.conversion.high * 100, 2)],  # type: ignore[operator]
            }
            for key, g in groups.items()
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(RECIPIENTS), default="tiny")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=None, help="timed calls (default: 5, or 3 at full)")
    args = parser.parse_args()
    print(json.dumps(run(args.size, args.database, args.seed, args.repeat), ensure_ascii=False, indent=2))
