"""Campaign materialising benchmark (self-contained; call ``run(size, database)`` or run this file directly).

``run(size)``: a campaign over every customer of the population (``bench_messaging``'s: customers with an
encrypted primary phone, half with marketing SMS consent; the size's customer count), a snapshot segment of
them, a coupon template, a 10% hold-out and two variants. It times ``campaigns.run.campaign_run_materialise``
on PostgreSQL — the audience query, the global and campaign hold-out and the variant draw (BLAKE2b per
customer), the coupon per non-control recipient through ``loyalty.coupons_issue_bulk`` (limit and budget
check, ids reserved from the sequence, COPY of the coupons and of one audit row each, the event) and the
COPY of one recipient row per customer — and reports recipients per second (the issue's target: ≥ 10,000/s
at 500,000 recipients).

The plain-SQL floor in the same run: the same rows (the same customers in the same variants, read back
from Guanxi's run) written by one ``INSERT … SELECT`` on a plain psycopg connection — coupons with an
``md5`` code ``RETURNING`` their ids, then the recipient rows joined to them — with no draw, no limit or
budget check and no audit rows. Reports both rates and their ratio.

    uv run python bench/bench_campaigns.py --size tiny [--database guanxi_bench_campaigns]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from bench_messaging import _ensure_database, _population  # noqa: E402
from common import SIZES, django_setup, psycopg_dsn  # noqa: E402

DEFAULT_DATABASE = "guanxi_bench_campaigns"

FLOOR_SQL = """
WITH r AS (
    SELECT * FROM unnest(%(customers)s::bigint[], %(variants)s::bigint[]) AS t(customer_id, variant_id)
), c AS (
    INSERT INTO loyalty_coupon (code, template_id, customer_id, status, issued_at, discount, reference)
    SELECT upper(substr(md5(random()::text || r.customer_id::text), 1, 12)), %(template)s, r.customer_id,
           'issued', %(now)s::timestamptz, 0, %(reference)s
    FROM r WHERE r.variant_id IS NOT NULL
    RETURNING id, customer_id
)
INSERT INTO campaigns_campaignrecipient (run_id, customer_id, variant_id, status, reason, coupon_id)
SELECT %(run)s, r.customer_id, r.variant_id,
       CASE WHEN r.variant_id IS NULL THEN 'control' ELSE 'pending' END, '', c.id
FROM r LEFT JOIN c ON c.customer_id = r.customer_id
"""


def _floor(dsn: str, run_id: int, rows: list[tuple[int, int | None]], template_id: int, now) -> float:
    import psycopg

    params = {
        "customers": [c for c, _v in rows],
        "variants": [v for _c, v in rows],
        "template": template_id,
        "reference": f"bench-floor:{run_id}",
        "run": run_id,
        "now": now,
    }
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        conn.execute(FLOOR_SQL, params)
        conn.commit()
        return time.perf_counter() - start


def run(size: str = "tiny", database: str = DEFAULT_DATABASE, migrate: bool = True, n: int | None = None) -> dict:
    _ensure_database(database)
    django_setup(database)
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from guanxi.accounts.permissions import Role
    from guanxi.campaigns import run as _engine
    from guanxi.campaigns.models import (
        Campaign,
        CampaignRecipient,
        CampaignRun,
        CampaignVariant,
        Segment,
        SegmentMember,
    )
    from guanxi.core.db.copy import bulk_insert_values
    from guanxi.loyalty.models import Coupon, CouponTemplate

    count = n or SIZES[size][0]
    t0 = time.perf_counter()
    ids = _population(count)
    setup_s = time.perf_counter() - t0
    user, _ = get_user_model().objects.get_or_create(
        username="bench-campaigns", defaults={"role": Role.ADMIN, "is_staff": True, "is_superuser": True}
    )
    segment = Segment.objects.create(name="bench", kind=Segment.Kind.SNAPSHOT, created_by=user)
    bulk_insert_values(SegmentMember, ["segment", "customer"], [[segment.pk, cid] for cid in ids])
    template = CouponTemplate.objects.create(
        name="满100减20 bench", kind="threshold", amount="20.00", threshold="100.00"
    )
    campaign = Campaign.objects.create(
        name="bench", segment=segment, coupon_template=template, status=Campaign.Status.RUNNING, created_by=user
    )
    for label in ("A", "B"):
        CampaignVariant.objects.create(campaign=campaign, label=label, template_code="bench-promo", split_percent=50)
    now = timezone.now()
    run = CampaignRun.objects.create(campaign=campaign, occurrence=now)
    with connection.cursor() as cursor:
        for table in ("campaigns_campaignrecipient", "loyalty_coupon", "campaigns_segmentmember", "core_auditlog"):
            cursor.execute(f"ANALYZE {table}")  # noqa: S608 — fixed names
    start = time.perf_counter()
    _engine.campaign_run_materialise(run, now=now)
    elapsed = time.perf_counter() - start
    run.refresh_from_db()
    rows = list(CampaignRecipient.objects.filter(run=run).order_by("customer_id").values_list("customer_id", "variant"))
    coupons = Coupon.objects.filter(reference=f"campaign-run:{run.pk}").count()
    floor_run = CampaignRun.objects.create(campaign=campaign, occurrence=now.replace(microsecond=1))
    connection.close()
    floor_s = _floor(psycopg_dsn(database), floor_run.pk, rows, template.pk, now)
    floor_rows = CampaignRecipient.objects.filter(run=floor_run).count()
    floor_coupons = Coupon.objects.filter(reference=f"bench-floor:{floor_run.pk}").count()
    out = {
        "benchmark": "campaign_materialise",
        "vendor": connection.vendor,
        "recipients": run.recipients,
        "control": run.control,
        "coupons": coupons,
        "seconds": round(elapsed, 3),
        "recipients_per_s": round(run.recipients / elapsed, 1),
        "floor_seconds": round(floor_s, 3),
        "floor_recipients_per_s": round(floor_rows / floor_s, 1),
        "ratio_to_floor": round(elapsed / floor_s, 2),
        "floor_matches": (floor_rows, floor_coupons) == (run.recipients, coupons),
        "population_setup_s": round(setup_s, 2),
    }
    # leave the database as it was (the coupons and audit rows stay: they are history like any other)
    CampaignRecipient.objects.filter(run__campaign=campaign).delete()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES))
    parser.add_argument("--n", type=int, default=None, help="customers (default: the size's)")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    args = parser.parse_args()
    print(json.dumps(run(args.size, database=args.database, n=args.n), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
