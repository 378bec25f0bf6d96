"""Shared plumbing for the benchmark suite: sizes, database URLs, Django setup, timing helpers."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
SRC_DIR = PROJECT_DIR / "src"

#: size -> (customers, orders, import CSV rows)
SIZES = {
    "tiny": (2_000, 20_000, 500),
    "small": (100_000, 1_000_000, 100_000),
    "full": (1_000_000, 10_000_000, 1_000_000),
}
DEFAULT_DATABASE = "guanxi_bench"
#: The server the bench databases live on; the database name is replaced per run.
SERVER_URL = os.environ.get("GUANXI_BENCH_SERVER", "postgres://postgres@127.0.0.1:5432/postgres")
WORK_DIR = Path(os.environ.get("GUANXI_BENCH_WORK", "/tmp/guanxi-bench"))


def database_url(name: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def psycopg_dsn(name: str) -> str:
    return database_url(name).replace("postgres://", "postgresql://", 1)


def bench_env(database: str) -> dict[str, str]:
    """Environment for every process that touches the bench database (this one, `guanxi serve`, migrate)."""
    var = WORK_DIR / "var"
    var.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(database),
            "DJANGO_SETTINGS_MODULE": "guanxi.settings.base",
            "DEBUG": "0",  # no query log, like production
            "GUANXI_VAR_DIR": str(var),  # uploads and the Celery broker file stay out of the project's var/
            # The embedded SQLite broker unless the run names another (`GUANXI_BENCH_BROKER`, e.g. Redis: what a
            # deployment at this size runs, see docs/operations.md).
            "CELERY_BROKER_URL": os.environ.get("GUANXI_BENCH_BROKER")
            or f"sqla+sqlite:///{var / 'celery-broker.sqlite3'}",
            "LOG_LEVEL": "ERROR",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        }
    )
    return env


def django_setup(database: str) -> None:
    """Point this process at the bench database and start Django (once per process)."""
    os.environ.update(bench_env(database))
    if str(SRC_DIR) not in sys.path:
        sys.path.insert(0, str(SRC_DIR))
    import django
    from django.conf import settings

    if not settings.configured or not getattr(django, "_guanxi_bench_ready", False):
        django.setup()
        django._guanxi_bench_ready = True  # type: ignore[attr-defined]
    # The settings module is read once per process: refuse to run against the wrong database.
    configured = settings.DATABASES["default"]["NAME"]
    if configured != database:
        raise RuntimeError(f"Django is configured for {configured!r}, not the bench database {database!r}")


def timed(fn, *, runs: int, warmup: int = 1) -> dict[str, float]:
    """Run ``fn`` warmup+runs times; return min and median seconds of the timed runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return {"min_s": min(samples), "median_s": statistics.median(samples), "runs": runs}


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
