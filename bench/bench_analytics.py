"""Analytics benchmarks (self-contained; the suite calls ``run(...)``, or run this file directly).

(a) ``bench_fit_cdnow``: fitting BG/NBD + Gamma-Gamma on the CDNOW sample with Guanxi's code
    (``guanxi.analytics.btyd``) beside the ``lifetimes`` library 0.11.3 on the same summary in the same
    run. ``lifetimes`` needs old NumPy/pandas/SciPy, so it runs in its own virtual environment
    (``bench/.venv-lifetimes``, created on first use with ``uv``) through a subprocess; both sides fit the
    identical summary (written to a CSV), are timed the same way (median of N fits after a warm-up),
    and their estimates and log-likelihoods are compared.

(b) ``bench_refresh``: the full scores refresh (``guanxi.analytics.services.scores_refresh``) on a large
    PostgreSQL database (the bench generator's 1M customers / 10M orders), with the share of time spent
    in SQL (facts, GROUP BY summaries, predictions COPY, category affinity, the scores INSERT … SELECT)
    and in fitting/predicting (NumPy/SciPy).

    uv run python bench/bench_analytics.py fit [--runs 20]
    uv run python bench/bench_analytics.py refresh --database guanxi_bench_full [--apply-migrations]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
SRC_DIR = PROJECT_DIR / "src"
CDNOW_SAMPLE = SRC_DIR / "guanxi" / "analytics" / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
LIFETIMES_VENV = BENCH_DIR / ".venv-lifetimes"
LIFETIMES_PACKAGES = [
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "pandas==1.5.3",
    "scipy==1.11.4",
    "matplotlib==3.7.5",
    "setuptools<81",
]
SERVER_URL = os.environ.get("GUANXI_BENCH_SERVER", "postgres://postgres@127.0.0.1:5432/postgres")

if str(SRC_DIR) not in sys.path:
    sys.path.insert(0, str(SRC_DIR))


# ------------------------------------------------------------------------------------------- (a) CDNOW fit

LIFETIMES_SCRIPT = r"""
import json, sys, time, statistics, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter

path, runs = sys.argv[1], int(sys.argv[2])
df = pd.read_csv(path)
repeat = df[df.frequency > 0]

def fit_bg():
    return BetaGeoFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])

def fit_gg():
    return GammaGammaFitter(penalizer_coef=0.0).fit(repeat.frequency, repeat.monetary_value)

def timed(fn):
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter(); fn(); samples.append(time.perf_counter() - start)
    return samples

bg_t, gg_t = timed(fit_bg), timed(fit_gg)
both_t = timed(lambda: (fit_bg(), fit_gg()))
bg, gg = fit_bg(), fit_gg()
print(json.dumps({
    "version": lifetimes.__version__,
    "numpy": np.__version__,
    "bgnbd_seconds": bg_t, "gamma_gamma_seconds": gg_t, "both_seconds": both_t,
    "bgnbd": {k: float(v) for k, v in bg.params_.items()},
    "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
    "bgnbd_neg_mean_log_likelihood": float(getattr(bg, "_negative_log_likelihood_", float("nan"))),
}))
"""


def lifetimes_python() -> Path:
    """The Python of the ``lifetimes`` virtual environment, created with ``uv`` if it is missing."""
    python = LIFETIMES_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["uv", "venv", "--python", "3.11", str(LIFETIMES_VENV)], check=True, capture_output=True)
        subprocess.run(
            ["uv", "pip", "install", "--python", str(python), *LIFETIMES_PACKAGES], check=True, capture_output=True
        )
    return python


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def bench_fit_cdnow(*, runs: int = 20) -> dict:
    """Fit BG/NBD and Gamma-Gamma on the CDNOW calibration summary (weeks 1–39) with Guanxi's code and with
    ``lifetimes``; return median seconds of each side, the speed-up, and both sides' estimates."""
    import numpy as np

    from guanxi.analytics import btyd
    from guanxi.analytics.summary import read_cdnow, summarize_transactions

    rows = read_cdnow(CDNOW_SAMPLE)
    summary = summarize_transactions(rows.customer_id, rows.date, rows.amount, calibration_end="1997-09-30")
    x, t_x, t, m = summary.frequency, summary.recency, summary.T, summary.monetary_value

    def fit_bg():
        return btyd.fit_bgnbd(x, t_x, t)

    def fit_gg():
        return btyd.fit_gamma_gamma(x, m)

    def timed(fn) -> list[float]:
        fn()
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return samples

    ours = {"bgnbd": timed(fit_bg), "gamma_gamma": timed(fit_gg), "both": timed(lambda: (fit_bg(), fit_gg()))}
    bg, gg = fit_bg(), fit_gg()

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "cdnow_summary.csv"
        np.savetxt(
            csv,
            np.column_stack([summary.customer_id, x, t_x, t, m]),
            delimiter=",",
            header="ID,frequency,recency,T,monetary_value",
            comments="",
            fmt=["%d", "%d", "%.17g", "%.17g", "%.17g"],
        )
        python = lifetimes_python()
        out = subprocess.run([str(python), "-c", LIFETIMES_SCRIPT, str(csv), str(runs)], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"lifetimes run failed: {out.stderr[-2000:]}")
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    their_bg = btyd.BGNBD(**{k: theirs["bgnbd"][k] for k in ("r", "alpha", "a", "b")})
    their_gg = btyd.GammaGamma(
        p=theirs["gamma_gamma"]["p"], q=theirs["gamma_gamma"]["q"], gamma=theirs["gamma_gamma"]["v"]
    )
    used = (x > 0) & (m > 0)

    guanxi_both, lifetimes_both = _median(ours["both"]), _median(theirs["both_seconds"])
    return {
        "runs": runs,
        "customers": int(len(x)),
        "guanxi": {
            "bgnbd_seconds": _median(ours["bgnbd"]),
            "gamma_gamma_seconds": _median(ours["gamma_gamma"]),
            "both_seconds": guanxi_both,
            "bgnbd": {"r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b},
            "bgnbd_log_likelihood": bg.log_likelihood,
            "gamma_gamma": {"p": gg.params.p, "q": gg.params.q, "gamma": gg.params.gamma},
            "gamma_gamma_log_likelihood": gg.log_likelihood,
        },
        "lifetimes": {
            "version": theirs["version"],
            "bgnbd_seconds": _median(theirs["bgnbd_seconds"]),
            "gamma_gamma_seconds": _median(theirs["gamma_gamma_seconds"]),
            "both_seconds": lifetimes_both,
            "bgnbd": theirs["bgnbd"],
            # evaluated with Guanxi's likelihood so the two totals are comparable
            "bgnbd_log_likelihood": float(their_bg.log_likelihood(x, t_x, t).sum()),
            "gamma_gamma": theirs["gamma_gamma"],
            "gamma_gamma_log_likelihood": float(their_gg.log_likelihood(x[used], m[used]).sum()),
        },
        "speedup_both": lifetimes_both / guanxi_both,
        "published": {
            "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4},
            "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
        },
    }


# ------------------------------------------------------------------------------- (b) refresh on PostgreSQL


def database_url(name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _django_for(database: str) -> str:
    """Set Django up for ``database`` (a name on the bench server or a URL) unless it already is; return
    the connection alias to use."""
    import django
    from django.conf import settings

    if settings.configured and getattr(django, "apps", None) and django.apps.apps.ready:
        configured = settings.DATABASES["default"]["NAME"]
        name = database.rsplit("/", 1)[-1] if "://" in database else database
        if configured != name:
            raise RuntimeError(f"Django is configured for {configured!r}, not {name!r}")
        return "default"
    os.environ["DATABASE_URL"] = database if "://" in database else database_url(database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings.base")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    django.setup()
    return "default"


def bench_refresh(*, database: str, apply_migrations: bool = False, using: str | None = None) -> dict:
    """Run the full scores refresh on ``database`` and report its timings and the SQL/fit/store shares.

    The analytics tables must exist (``guanxi migrate analytics``); with ``apply_migrations`` they are
    created first. The refresh writes only the analytics tables.
    """
    alias = using or _django_for(database)
    from django.core.management import call_command
    from django.db import connections

    if apply_migrations:
        call_command("migrate", "analytics", database=alias, verbosity=0)
    from guanxi.analytics.services import scores_refresh

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM customers_customer")
        customers = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'sales_order'")
        orders = cursor.fetchone()[0]
    # Floor: the plainest SQL over the same rows — one GROUP BY customer of the net purchases (RFM values only,
    # no purchase days, scores, models, affinity or writes).
    start = time.perf_counter()
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT customer_id, count(*), sum(paid_amount - refunded_amount), "
            "min(ordered_at), max(ordered_at) FROM sales_order WHERE status <> 'refunded' GROUP BY customer_id) f"
        )
        cursor.fetchone()
    floor = time.perf_counter() - start
    from guanxi.analytics.services import _previous_bgnbd

    warm = _previous_bgnbd(alias) is not None  # every refresh after the first starts from the last fit
    start = time.perf_counter()
    result = scores_refresh(using=alias)
    total = time.perf_counter() - start
    t = result.timings
    # With "affinity_wait" the affinity rebuild ran on a second connection beside the facts query: its own time
    # overlaps the rest, and only the wait for it lies on the refresh's path.
    concurrent = "affinity_wait" in t
    on_path = {k: v for k, v in t.items() if not (concurrent and k == "sql_affinity")}
    sql = sum(v for k, v in on_path.items() if k.startswith("sql_") or k == "affinity_wait")
    fit = t.get("fit", 0.0) + t.get("predict", 0.0)
    return {
        "customers_in_database": customers,
        "orders_in_database_estimate": orders,
        "customers_scored": result.customers,
        "seconds": total,
        "floor_seconds": floor,
        "ratio_to_floor": total / floor if floor else None,
        "timings": t,
        "share_sql": sql / total,
        "share_fit": fit / total,
        "share_other": 1.0 - (sql + fit) / total,
        "affinity_concurrent_seconds": t.get("sql_affinity") if concurrent else None,
        "bgnbd_started_from_previous_fit": warm,
        "fits": [
            {"model": f.model, "params": f.params, "log_likelihood": f.log_likelihood, "seconds": f.duration_seconds}
            for f in result.fits
        ],
        "target_seconds": 60,
    }


# ------------------------------------------------------------------------------------------- entry points


def run(size: str | None = None, database: str | None = None, runs: int | None = None, **_: object) -> dict:
    """What ``bench/suite.py`` calls: (a) always; (b) when the database holds the data and the analytics
    tables (the suite's database is migrated by ``guanxi migrate``, which includes them)."""
    out: dict = {"fit_cdnow": bench_fit_cdnow(runs=max(5, min(runs or 20, 30)))}
    if database:
        try:
            # the analytics tables are created if the bench database predates them (additive, idempotent)
            out["refresh"] = bench_refresh(database=database, apply_migrations=True)
        except Exception as exc:  # noqa: BLE001 - report, do not sink the suite
            out["refresh"] = {"error": repr(exc)}
    return out


def _print_fit(r: dict) -> None:
    g, lt = r["guanxi"], r["lifetimes"]
    print(f"CDNOW ({r['customers']} customers), median of {r['runs']} fits")
    print(f"{'':14}{'BG/NBD s':>10}{'Gamma-Gamma s':>15}{'both s':>10}")
    print(f"{'Guanxi':14}{g['bgnbd_seconds']:>10.4f}{g['gamma_gamma_seconds']:>15.4f}{g['both_seconds']:>10.4f}")
    lt_name = f"lifetimes {lt['version']}"
    print(f"{lt_name:14}{lt['bgnbd_seconds']:>10.4f}{lt['gamma_gamma_seconds']:>15.4f}{lt['both_seconds']:>10.4f}")
    print(f"speed-up (both): {r['speedup_both']:.1f}x")
    print("BG/NBD   Guanxi   ", {k: round(v, 4) for k, v in g["bgnbd"].items()}, f"LL {g['bgnbd_log_likelihood']:.2f}")
    print(
        "BG/NBD   lifetimes", {k: round(v, 4) for k, v in lt["bgnbd"].items()}, f"LL {lt['bgnbd_log_likelihood']:.2f}"
    )
    print("GammaGam Guanxi   ", {k: round(v, 4) for k, v in g["gamma_gamma"].items()})
    print("GammaGam lifetimes", {k: round(v, 4) for k, v in lt["gamma_gamma"].items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    fit = sub.add_parser("fit", help="(a) CDNOW fit: Guanxi vs lifetimes")
    fit.add_argument("--runs", type=int, default=20)
    fit.add_argument("--json", action="store_true")
    refresh = sub.add_parser("refresh", help="(b) full refresh on a PostgreSQL database")
    refresh.add_argument("--database", required=True, help="database name on the bench server, or a URL")
    refresh.add_argument("--apply-migrations", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "fit":
        result = bench_fit_cdnow(runs=args.runs)
        print(json.dumps(result, indent=2)) if args.json else _print_fit(result)
    else:
        print(json.dumps(bench_refresh(database=args.database, apply_migrations=args.apply_migrations), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
