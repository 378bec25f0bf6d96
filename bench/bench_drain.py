"""The embedded mode under a busy shop: how fast `guanxi serve`'s worker drains the event outbox.

A fresh SQLite directory (database and the kombu SQLAlchemy broker beside it, as `guanxi serve` keeps them)
gets the background processes `guanxi serve` starts (``cli.background_processes()``: the short-task worker,
the long-job worker and beat). ``writers`` threads record paid orders through ``sales.services.order_ingest``
for ``seconds`` seconds — each order an ``order.paid`` event with a subscriber, published after commit — and
the clock runs until every event is dispatched. A warm-up order, delivered before the clock starts, makes sure the
short-task worker is consuming (on a loaded host its start-up alone takes longer than a fixed wait).

Figures: events written, events/s delivered over the whole run (first write to last dispatch), and the
backlog's drain time after the writers stop. Floor: the same events dispatched in this process by
``event_dispatch`` in a loop, with no broker (what the subscriber work itself costs).

    uv run python bench/bench_drain.py [--writers 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "src"))
WORK = Path(os.environ.get("GUANXI_BENCH_WORK", "/tmp/guanxi-bench")) / "drain"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        GUANXI_VAR_DIR=str(WORK),
        DJANGO_SETTINGS_MODULE="guanxi.settings.base",
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_LOG_LEVEL="WARNING",
    )
    return env


def _setup() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.environ.update(_env())
    subprocess.run([sys.executable, "-m", "guanxi.cli", "migrate", "-v", "0"], env=_env(), check=True)  # noqa: S603
    import django

    django.setup()
    from guanxi.accounts.models import Store
    from guanxi.sales.models import Product

    Store.objects.create(code="s1", name="一号店")
    Product.objects.create(sku="TEA-1", name="龙井", price="88.00")


def _order(i: int, writer: int) -> dict:
    return {
        "external_ref": f"W{writer}-{i}",
        "source": "pos",
        "ordered_at": "2026-05-01T14:30:00+08:00",
        "store": "s1",
        "payment_method": "wechat_pay",
        "customer": {"name": f"顾客{writer}-{i}", "phone": f"139{writer:02d}{i:06d}"},
        "lines": [{"sku": "TEA-1", "quantity": 1}],
    }


def _pending(after: int = 0) -> int:
    from guanxi.core.models import Event

    return Event.objects.filter(dispatched_at__isnull=True, id__gt=after).count()


def _warm_up(timeout: float) -> int:
    """One order, waited for until the worker has delivered it; returns the last event id before the run.

    Without it a loaded host measures the workers' start-up (Django and Celery imports), not the drain.
    """
    from guanxi.core.models import Event
    from guanxi.sales.services import order_ingest

    order_ingest(actor=None, data=_order(0, 99), channel="pos")
    paid = Event.objects.get(name="order.paid")
    deadline = time.monotonic() + timeout
    while Event.objects.filter(pk=paid.pk, dispatched_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not deliver the warm-up order")
        time.sleep(0.2)
    return Event.objects.order_by("-id").values_list("id", flat=True)[0]


def run(writers: int = 20, seconds: float = 30.0, timeout: float = 300.0) -> dict:
    _setup()
    from django.db import connection

    from guanxi.cli import background_processes
    from guanxi.core.models import Event
    from guanxi.sales.services import order_ingest

    children = [subprocess.Popen(c.argv, env=_env()) for c in background_processes()]  # noqa: S603
    try:
        baseline = _warm_up(timeout)
        stop = time.monotonic() + seconds
        written = [0] * writers
        errors: list[str] = []

        def write(w: int) -> None:
            i = 0
            try:
                while time.monotonic() < stop:
                    order_ingest(actor=None, data=_order(i, w), channel="pos")
                    i += 1
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                written[w] = i
                connection.close()

        load = os.getloadavg()[0]
        started = time.monotonic()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writes_done = time.monotonic()
        backlog = _pending(baseline)
        while _pending(baseline) and time.monotonic() - writes_done < timeout:
            time.sleep(0.2)
        drained = time.monotonic()
        events = Event.objects.filter(id__gt=baseline).count()
        left = _pending(baseline)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
    result = {
        "writers": writers,
        "load_1m": round(load, 1),
        "write_seconds": round(writes_done - started, 1),
        "orders": sum(written),
        "events": events,
        "write_errors": len(errors),
        "first_write_error": errors[0][:200] if errors else "",
        "backlog_when_writers_stopped": backlog,
        "drain_after_writers_s": round(drained - writes_done, 1),
        "delivered_per_s": round((events - left) / (drained - started), 1),
        "undelivered": left,
    }
    result["floor_per_s"] = _floor()
    return result


def _floor(n: int = 300) -> float:
    """The subscriber work alone: re-dispatch ``n`` events in-process (deliveries reset first)."""
    from guanxi.core.events import event_dispatch
    from guanxi.core.models import Event, EventDelivery

    ids = list(Event.objects.order_by("id").values_list("id", flat=True)[:n])
    EventDelivery.objects.filter(event_id__in=ids).delete()
    t0 = time.perf_counter()
    for pk in ids:
        event_dispatch(pk)
    return round(len(ids) / (time.perf_counter() - t0), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(run(writers=args.writers, seconds=args.seconds), ensure_ascii=False))


if __name__ == "__main__":
    main()
