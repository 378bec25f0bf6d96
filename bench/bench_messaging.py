"""Messaging fan-out benchmark (self-contained; the suite calls ``run(n)``, or run this file directly).

``run(n)``: ``n`` customers with an encrypted primary phone, half of them with marketing SMS consent, one
marketing SMS template; times ``message_enqueue`` for all ``n`` recipients — rendering, sign and opt-out
text, segment count, consent/suppression/frequency-cap checks per chunk, encryption of each address and
the bulk insert of one message row per recipient — on PostgreSQL. Nothing is sent (``dispatch=False``).

Then the plain-SQL floor in the same run: one ``INSERT … SELECT`` on a plain psycopg connection into the same
``messaging_message`` table writing one row per recipient with the same rules as the plainest SQL can apply
them — latest marketing consent (``DISTINCT ON``), the suppression list, the frequency cap (a ``GROUP BY``
of recent marketing messages), quiet hours (computed from the same settings), the dedupe key with
``ON CONFLICT DO NOTHING``, and the text by ``replace()`` of the template's variables between the same sign
and opt-out text. It copies the contact's ciphertext as the address (Guanxi decrypts and encrypts each one
anew) and writes no masked address (that needs the plaintext). Reports messages per second for both and
their ratio; the floor must write the same number of rows with the same statuses and reasons.

``run_send(n)``: ``n`` queued SMS sent by a real Celery worker process (Redis broker, Redis token
bucket) to the Alibaba Cloud stand-in server, which enforces its own request rate limit; reports
messages per second and how many requests the stand-in throttled (should be none).

    uv run python bench/bench_messaging.py --n 100000 [--database guanxi_bench_messaging]
    uv run python bench/bench_messaging.py --send 5000
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

from common import SERVER_URL, WORK_DIR, django_setup, psycopg_dsn  # noqa: E402

DEFAULT_DATABASE = "guanxi_bench_messaging"


def _ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(psycopg_dsn(SERVER_URL.rsplit("/", 1)[1] or "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _population(n: int) -> list[int]:
    """n customers with a primary phone each (set-based), half with marketing SMS consent; returns ids."""
    from django.db import transaction
    from django.utils import timezone

    from guanxi.customers.contacts import contact_indexes
    from guanxi.customers.models import ContactPoint, Customer
    from guanxi.messaging.models import Consent

    tag = "bench-messaging"
    existing = list(Customer.objects.filter(source=tag).order_by("id").values_list("id", flat=True)[:n])
    if len(existing) >= n:
        return existing
    now = timezone.now()
    with transaction.atomic():
        start = len(existing)
        created = Customer.objects.bulk_create(
            [Customer(name=f"会员{i:06d}", source=tag) for i in range(start, n)], batch_size=5000
        )
        contacts, consents = [], []
        for i, customer in enumerate(created, start=start):
            phone = f"+86139{i:08d}"
            index, last4 = contact_indexes("phone", phone)
            contacts.append(
                ContactPoint(
                    customer=customer, kind="phone", value=phone, value_index=index, last4_index=last4, is_primary=True
                )
            )
            if i % 2 == 0:
                consents.append(
                    Consent(customer=customer, channel="sms", purpose="marketing", granted=True, source="bench", at=now)
                )
        ContactPoint.objects.bulk_create(contacts, batch_size=5000)
        Consent.objects.bulk_create(consents, batch_size=5000)
    return list(Customer.objects.filter(source=tag).order_by("id").values_list("id", flat=True)[:n])


FLOOR_SQL = """
WITH recipient AS (
    SELECT c.id, c.name, s.name AS store
    FROM customers_customer c LEFT JOIN accounts_store s ON s.id = c.home_store_id
    WHERE c.id = ANY(%(ids)s) AND c.merged_into_id IS NULL
), address AS (
    SELECT DISTINCT ON (customer_id) customer_id, value, value_index
    FROM customers_contactpoint
    WHERE kind = 'phone' AND customer_id = ANY(%(ids)s)
    ORDER BY customer_id, is_primary DESC, id
), consent AS (
    SELECT DISTINCT ON (customer_id) customer_id, granted
    FROM messaging_consent
    WHERE channel = 'sms' AND purpose = 'marketing' AND customer_id = ANY(%(ids)s)
    ORDER BY customer_id, at DESC, id DESC
), recent AS (
    SELECT customer_id, count(*) AS n
    FROM messaging_message
    WHERE customer_id = ANY(%(ids)s) AND purpose = 'marketing' AND status = ANY(%(live)s)
      AND created_at >= %(now)s::timestamptz - make_interval(days => %(cap_days)s)
    GROUP BY customer_id
), local AS (
    SELECT (%(now)s::timestamptz AT TIME ZONE %(tz)s) AS at, %(quiet_start)s::time AS qs, %(quiet_end)s::time AS qe
), quiet AS (
    SELECT CASE
        WHEN qs = qe THEN NULL
        WHEN (qs > qe AND (at::time >= qs OR at::time < qe)) OR (qs < qe AND at::time >= qs AND at::time < qe)
        THEN ((at::date + (qs > qe AND at::time >= qs)::int) + qe) AT TIME ZONE %(tz)s
    END AS until
    FROM local
), decided AS (
    SELECT r.*, a.value, a.value_index, q.until,
        CASE
            WHEN a.value IS NULL THEN 'no address'
            WHEN sup.scope = 'all' THEN 'invalid address'
            WHEN sup.scope = 'marketing' THEN 'opted out'
            WHEN NOT coalesce(co.granted, false) THEN 'no consent'
            WHEN coalesce(rc.n, 0) >= %(cap)s THEN 'frequency cap'
        END AS suppressed_for,
        %(prefix)s || replace(replace(%(body)s, '{name}', r.name), '{store}', coalesce(r.store, '')) || %(suffix)s
            AS text
    FROM recipient r
    CROSS JOIN quiet q
    LEFT JOIN address a ON a.customer_id = r.id
    LEFT JOIN messaging_suppression sup ON sup.channel = 'sms' AND sup.address_index = a.value_index
    LEFT JOIN consent co ON co.customer_id = r.id
    LEFT JOIN recent rc ON rc.customer_id = r.id
)
INSERT INTO messaging_message (
    customer_id, channel, purpose, template_id, template_code, provider_template_code, language, subject, body,
    params, segments, to_address, to_index, to_masked, status, reason, dedupe_key, batch_ref, next_attempt_at,
    created_by_id, error, provider, provider_message_id, claim, attempts, created_at, updated_at
)
SELECT
    d.id, 'sms', 'marketing', %(template_id)s, %(template_code)s, %(provider_code)s, %(language)s, '', d.text,
    jsonb_build_object('name', d.name, 'store', coalesce(d.store, '')),
    CASE WHEN char_length(d.text) <= 70 THEN 1 ELSE ceil(char_length(d.text) / 67.0)::int END,
    coalesce(d.value, ''), coalesce(d.value_index, ''), '',
    CASE WHEN d.suppressed_for IS NULL THEN 'queued' ELSE 'suppressed' END,
    coalesce(d.suppressed_for, CASE WHEN d.until IS NOT NULL THEN 'quiet hours' ELSE '' END),
    %(batch_ref)s || ':sms:' || d.id, %(batch_ref)s,
    CASE WHEN d.suppressed_for IS NULL THEN coalesce(d.until, %(now)s::timestamptz) END,
    NULL, '', '', '', '', 0, %(now)s::timestamptz, %(now)s::timestamptz
FROM decided d
ON CONFLICT (dedupe_key) DO NOTHING
"""


def _floor(dsn: str, ids: list[int], template, now) -> float:
    """The plain-SQL floor: the same message rows by one INSERT … SELECT in one transaction; seconds."""
    import psycopg
    from django.conf import settings

    from guanxi.messaging.rendering import sms_compose
    from guanxi.messaging.services import LIVE_STATUSES, _provider_template_code

    sentinel = "\x00"
    prefix, suffix = sms_compose(sentinel, purpose="marketing").split(sentinel)
    cap, cap_days = settings.GUANXI_MESSAGING_FREQUENCY_CAP
    quiet_start, quiet_end = settings.GUANXI_MESSAGING_QUIET_HOURS
    params = {
        "ids": ids,
        "live": [str(s) for s in LIVE_STATUSES],
        "now": now,
        "tz": settings.TIME_ZONE,
        "quiet_start": quiet_start,
        "quiet_end": quiet_end,
        "cap": cap,
        "cap_days": cap_days,
        "prefix": prefix,
        "suffix": suffix,
        "body": template.body.strip(),
        "template_id": template.pk,
        "template_code": template.code,
        "provider_code": _provider_template_code("sms", template),
        "language": template.language,
        "batch_ref": FLOOR_BATCH,
    }
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        conn.execute(FLOOR_SQL, params)
        conn.commit()
        return time.perf_counter() - start


FLOOR_BATCH = "bench-floor"


def run(n: int = 100_000, database: str = DEFAULT_DATABASE, migrate: bool = True, send: int = 3000) -> dict:
    _ensure_database(database)
    django_setup(database)
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)
    from django.db import connection
    from django.utils import timezone

    from guanxi.messaging.models import Message, MessageTemplate
    from guanxi.messaging.services import message_enqueue

    t0 = time.perf_counter()
    ids = _population(n)
    setup_s = time.perf_counter() - t0
    template, _ = MessageTemplate.objects.get_or_create(
        code="bench-promo",
        channel="sms",
        language="zh-hans",
        defaults={"name": "bench", "purpose": "marketing", "body": "{name}您好,会员日全场8折,{store}恭候"},
    )
    Message.objects.filter(template_code="bench-promo").delete()
    with connection.cursor() as cursor:  # steady state: no dead rows left by the previous run
        cursor.execute("VACUUM ANALYZE messaging_message")
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("ANALYZE customers_contactpoint")
        cursor.execute("ANALYZE messaging_consent")
    now = timezone.now()
    start = time.perf_counter()
    result = message_enqueue(channel="sms", template_code="bench-promo", customer_ids=ids, dispatch=False, now=now)
    elapsed = time.perf_counter() - start
    rows = Message.objects.filter(batch_ref=result.batch_ref).count()
    outcome = _outcome(result.batch_ref)
    # the floor starts from the same state: Guanxi's rows gone (they would count towards the frequency cap)
    Message.objects.filter(batch_ref__in=[result.batch_ref, FLOOR_BATCH]).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE messaging_message")
    connection.close()
    floor_s = _floor(psycopg_dsn(database), ids, template, now)
    floor_outcome = _outcome(FLOOR_BATCH)
    Message.objects.filter(batch_ref=FLOOR_BATCH).delete()
    out = {
        "benchmark": "messaging_enqueue",
        "vendor": connection.vendor,
        "recipients": len(ids),
        "rows_written": rows,
        "queued": result.queued,
        "suppressed": dict(result.suppressed),
        "seconds": round(elapsed, 3),
        "messages_per_s": round(len(ids) / elapsed, 1),
        "floor_seconds": round(floor_s, 3),
        "floor_messages_per_s": round(len(ids) / floor_s, 1),
        "ratio_to_floor": round(elapsed / floor_s, 2),
        "outcome": outcome,
        "floor_matches": floor_outcome == outcome,
        "floor_outcome": floor_outcome,
        "population_setup_s": round(setup_s, 2),
    }
    if send:
        out["send_through_standin"] = run_send(send, database=database)
    return out


def _outcome(batch_ref: str) -> dict[str, int]:
    """Rows of a batch per status and reason (and how many wait for the end of quiet hours)."""
    from django.db.models import Count

    from guanxi.messaging.models import Message

    rows = Message.objects.filter(batch_ref=batch_ref).values_list("status", "reason").annotate(n=Count("id"))
    return {f"{status}/{reason or '-'}": n for status, reason, n in sorted(rows)}


def run_send(
    n: int = 5000,
    database: str = DEFAULT_DATABASE,
    *,
    standin_requests_per_s: float = 10.0,
    batch: int = 50,
    broker: str = "redis://127.0.0.1:6379/12",
    concurrency: int = 4,
) -> dict:
    """Send ``n`` SMS through a real worker to the rate-limited Aliyun stand-in; messages per second."""
    import os
    import subprocess

    _ensure_database(database)
    django_setup(database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import redis
    from django.db.models import Count

    from guanxi.celery_app import app
    from guanxi.messaging.models import Message, MessageTemplate
    from guanxi.messaging.services import message_enqueue
    from guanxi.messaging.standins import AliyunSmsStandIn
    from guanxi.messaging.tasks import messages_dispatch_task

    redis.Redis.from_url(broker).flushdb()
    ids = _population(n)
    MessageTemplate.objects.get_or_create(
        code="bench-notice", channel="sms", language="zh-hans",
        defaults={"name": "bench", "purpose": "transactional", "body": "{name}您好,您的订单已发货",
                  "provider_template_code": "SMS_BENCH"},
    )  # fmt: skip
    Message.objects.filter(template_code="bench-notice").delete()
    # the worker keeps a little under the stand-in's limit: batch messages per request
    rate = standin_requests_per_s * batch * 0.9
    with AliyunSmsStandIn(access_key_secret="bench-secret", rate_limit=standin_requests_per_s) as standin:
        env = dict(os.environ)
        env.update(
            {
                "CELERY_BROKER_URL": broker,
                "CELERY_TASK_ALWAYS_EAGER": "0",
                "GUANXI_SMS_BACKEND": "aliyun",
                "GUANXI_ALIYUN_ACCESS_KEY_ID": standin.access_key_id,
                "GUANXI_ALIYUN_ACCESS_KEY_SECRET": "bench-secret",
                "GUANXI_ALIYUN_SMS_ENDPOINT": standin.base_url,
                "GUANXI_MESSAGING_RATE_LIMITS": json.dumps({"sms": rate}),
                "GUANXI_MESSAGING_BATCH_SIZE": json.dumps({"sms": batch}),
                "GUANXI_MESSAGING_REDIS_URL": broker,
            }
        )
        log = open(WORK_DIR / "bench-messaging-worker.log", "w")  # noqa: SIM115
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "guanxi.celery_app", "worker", "--pool", "threads",
             "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            result = message_enqueue(channel="sms", template_code="bench-notice", customer_ids=ids, dispatch=False)
            from django.conf import settings

            settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = broker, False
            os.environ["CELERY_BROKER_URL"] = broker  # Celery reads this variable before its configuration
            app.conf.update(broker_url=broker, task_always_eager=False)
            app._pool = None
            app.amqp._producer_pool = None
            started = time.perf_counter()
            messages_dispatch_task.delay(batch_ref=result.batch_ref)
            pending = Message.objects.filter(batch_ref=result.batch_ref, status__in=["queued", "sending"])
            deadline = started + max(120.0, 3 * n / rate)
            while pending.exists() and time.perf_counter() < deadline:
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(20)
            log.close()
        statuses = dict(
            Message.objects.filter(batch_ref=result.batch_ref).values_list("status").annotate(n=Count("id"))
        )
        throttled = sum(1 for r in standin.requests if r.code == standin.throttle_code)
        out = {
            "benchmark": "messaging_send_standin",
            "messages": n,
            "statuses": statuses,
            "seconds": round(elapsed, 2),
            "messages_per_s": round(n / elapsed, 1),
            "target_messages_per_s": rate,
            "standin_requests": len(standin.requests),
            "standin_throttled": throttled,
            "standin_accepted": len(standin.sent),
        }
    Message.objects.filter(batch_ref=result.batch_ref).delete()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=0, help="run the send benchmark with this many messages")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    args = parser.parse_args()
    if args.send:
        print(json.dumps(run_send(args.send, args.database), ensure_ascii=False, indent=2))
    else:
        print(json.dumps(run(args.n, args.database), ensure_ascii=False, indent=2))
