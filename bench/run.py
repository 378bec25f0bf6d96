"""Run the Guanxi benchmark suite and write bench/RESULTS.md.

    uv run python bench/run.py                       # small: 100k customers / 1M orders
    uv run python bench/run.py --size full           # 1M customers / 10M orders
    uv run python bench/run.py --size tiny --out /tmp/r.md

The dataset is (re)generated in the bench database when it does not hold this size and seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, DEFAULT_DATABASE, SIZES, WORK_DIR, django_setup  # noqa: E402

WHY = {
    "lookup_phone_api": (
        "Both sides use the same B-tree on the keyed blind index; the API adds token authentication, "
        "the store-visibility rule, decrypting the returned contacts and JSON rendering, which at a "
        "sub-millisecond SQL floor is most of the difference."
    ),
    "lookup_last4_api": (
        "The last-four blind index narrows the million customers to the ~1 in 10,000 that share those digits "
        "(about 100 at 1M); the API then decrypts and renders up to 50 rows with their contacts and tags, which "
        "is per-row Python work the SQL floor (ciphertext only) does not do."
    ),
    "lookup_last4_api_staff": (
        "As above, but the store-visibility rule (home store in the staff member's stores, or owner) is added "
        "to both sides; fewer rows come back, so the fixed per-request cost weighs more in the ratio."
    ),
    "list_first_api": (
        "Keyset pagination reads the newest 51 rows off the primary key; the API adds token authentication and "
        "two prefetch queries (primary contacts, tags; store and owner go out as ids, without a join), "
        "decryption of 50-odd contacts and serialisation."
    ),
    "list_filtered_api": (
        "The staff member sees one store: both sides walk the (home_store, -id) index and semi-join the tag; "
        "the API adds the same per-page prefetch, decryption and rendering as the first page."
    ),
    "list_deep_api": (
        "A cursor in the middle of the table costs what the first page costs (id < position on the primary key), "
        "so the ratio matches the first page: no OFFSET, no COUNT(*)."
    ),
    "search_name_api": (
        "Name search is a substring match (icontains, UPPER(name) LIKE '%…%'); with the trigram index "
        "cust_name_trgm a three-character name is a GIN lookup on both sides, so the API's fixed costs dominate."
    ),
    "search_name2_api": (
        "Two characters yield no trigram; both sides ask the GIN index cust_name_grams (every one- and "
        "two-character piece of UPPER(name)) for names containing them, or, for very common characters, walk the "
        "primary key backwards until 51 match, as the planner judges from the index's statistics."
    ),
    "list_first_web": "The workspace page does the list query plus HTML rendering of 50 rows.",
    "list_filtered_web": "The workspace page filtered by tag for one store, HTML included.",
    "search_last4_web": "The workspace search box with four digits goes through the last-four blind index.",
    "customer_360_api": (
        "Two requests (detail, timeline) against four SQL statements; each request pays authentication, the "
        "visibility check, an audit-log insert for the detail view (a write the floor does not do), decryption "
        "of every contact and rendering of 50 timeline entries in the viewer's language."
    ),
    "customer_360_web": "The 360 page renders the profile, contacts, timeline and every registered panel.",
    "lookup_phone_http": (
        "One connection at a time: the in-process cost plus the WSGI server, HTTP parsing and the socket "
        "round trip; the floor is one SQL statement. With 8 connections one gunicorn process per core renders "
        "them (each process has its own GIL), so requests/s grows to what the cores can render, shared here "
        "with PostgreSQL and the load generator, and p50 grows by the queue beyond that."
    ),
    "lookup_last4_http": ("As for the phone lookup over HTTP, with up to 50 rows decrypted and rendered per response."),
    "import_csv_before": (
        "The same import through the importer as it was before commit eedbd35: a Django form built per row "
        "and bulk_create batches (see the profile notes)."
    ),
    "import_csv": (
        "COPY only parses text into a bare table; the importer parses each row, validates it with the API's "
        "rules (phone numbers via libphonenumber, e-mail, dates, store codes), dedups against existing contacts "
        "by blind index, encrypts every contact (AES-GCM), writes customers, contacts, tags, timeline entries and "
        "outbox events batch by batch with COPY, and records progress. The rows are cleaned and encrypted in one "
        "forked worker per core while the importing process writes; PostgreSQL meanwhile checks every foreign key "
        "and maintains the customer table's indexes (both GIN name indexes among them) for each row, on the same "
        "two cores: that per-row work is the ratio."
    ),
}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def ensure_dataset(size: str, seed: int, database: str) -> dict:
    from generate import dataset_meta, generate, verify

    meta = dataset_meta(database)
    force = os.environ.get("GUANXI_BENCH_FORCE") == "1"
    if meta and meta.get("size") == size and meta.get("seed") == seed and not force:
        print(f"reusing the {size} dataset in {database}; applying any new migrations", flush=True)
        import subprocess

        from common import PROJECT_DIR, bench_env

        subprocess.run(  # other capabilities add tables (and pages that read them) between runs
            [sys.executable, "-m", "guanxi.cli", "migrate", "--noinput", "-v", "0"],
            env=bench_env(database),
            check=True,
            cwd=PROJECT_DIR,
        )
        return {**meta, "generated_now": False}
    result = generate(size=size, seed=seed, database=database)
    return {
        **dataset_meta(database),
        "generated_now": True,
        "generation": result["timings"],
        "counts": result["counts"],
        "verify": verify(database),
    }


def run(
    size: str = "small",
    *,
    seed: int = 7,
    database: str = DEFAULT_DATABASE,
    only: list[str] | None = None,
    external: list[str] | None = None,
) -> dict:
    """Run the suite; returns the results dict that RESULTS.md is written from."""
    from suite import RUNS, Context, bench_360, bench_external, bench_http, bench_import, bench_lists, bench_lookups
    from suite import explain as explain_plans

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    started = time.time()
    dataset = ensure_dataset(size, seed, database)
    django_setup(database)
    from django.db import connection

    customers, orders, import_rows = SIZES[size]
    ctx = Context(
        size=size,
        database=database,
        seed=seed,
        customers=customers,
        orders=orders,
        import_rows=import_rows,
        tokens=dataset["tokens"],
        runs=RUNS[size],
    )
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        cur.execute(
            "SELECT (SELECT count(*) FROM customers_customer), (SELECT count(*) FROM sales_order), "
            "(SELECT count(*) FROM sales_orderline), (SELECT count(*) FROM customers_contactpoint), "
            "(SELECT count(*) FROM customers_timelineentry), pg_size_pretty(pg_database_size(current_database()))"
        )
        rows = dict(
            zip(
                ["customers", "orders", "order_lines", "contact_points", "timeline_entries", "db_size"],
                cur.fetchone(),
                strict=True,
            )
        )
    figures, steps = [], {}
    plan = [
        ("lookups", bench_lookups),
        ("lists", bench_lists),
        ("360", bench_360),
        ("http", bench_http),
        ("import", bench_import),
    ]
    for name, fn in plan:
        if only and name not in only:
            continue
        t = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] benchmark: {name}", flush=True)
        figures.extend(fn(ctx))
        steps[name] = time.perf_counter() - t
        # Kept after every step, so an interrupted run still leaves its figures behind.
        partial = WORK_DIR / f"partial-{size}.json"
        partial.write_text(json.dumps({"figures": figures, "notes": ctx.notes, "steps_s": steps}, default=str))
    external = bench_external(ctx, external) if not only or "external" in only else {}
    plans = explain_plans(ctx) if not only or "explain" in only else {}
    return {
        "size": size,
        "seed": seed,
        "database": database,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "postgresql": pg},
        "rows": rows,
        "dataset": {k: v for k, v in dataset.items() if k != "tokens"},
        "runs": ctx.runs,
        "figures": figures,
        "external": external,
        "notes": ctx.notes,
        "plans": plans,
        "steps_s": steps,
        "wall_s": time.time() - started,
    }


def _ms(value: float) -> str:
    if value != value:  # NaN
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


WHY_EXTERNAL = {
    "campaign_results": (
        "The floor is the very GROUP BY statement campaign_results sends (windows, orders found by time range and "
        "hash-joined to the recipients, opt-outs, messages, coupons; one row per run and variant), run once "
        "through psycopg. Guanxi adds three small queries (visibility, variants, runs), Django's cursor, and the "
        "uplift arithmetic (Newcombe and Welch intervals) on those few rows."
    ),
    "loyalty_checkout_commit": (
        "The floor takes the same row locks and writes the same rows (order, lines, ledger entries, checkout, "
        "award, events, timeline, audit, copied column for column from a real commit) with plain INSERTs and the "
        "same balance UPDATEs, one transaction per order. Guanxi also reads and validates the basket, prices, "
        "earn rules, tier and coupon, checks the idempotency key, computes FIFO points lots and principal/bonus "
        "splits, and builds every row through the ORM — reads and Python work per order that the floor, which "
        "already knows the answer, skips."
    ),
    "messaging_enqueue": (
        "The floor is one INSERT … SELECT writing the same message rows (same statuses, reasons, texts and send "
        "times, checked) with the rules in SQL: latest consent, suppression list, frequency cap, quiet hours, "
        "dedupe key, the text by replace(). Guanxi reads the same sets a chunk at a time, decides and renders "
        "each message in Python, decrypts each phone and encrypts it anew, and COPYs the rows through a "
        "scratch table."
    ),
    "counter_quote": (
        "The floor is the five reads a quote needs (member with tier, points and wallet under the visibility rule; "
        "the basket's products; the program settings; the coupon; the member's open coupons), each answered "
        "from an index. The request adds the session and user lookups, the store list, validating the basket "
        "like an order (order_clean), the pricing arithmetic and rendering the basket fragment."
    ),
    "counter_commit": (
        "The floor takes the same row locks and writes the same rows (order, lines, ledger entries, checkout, "
        "award, idempotency keys, events, timeline, audit — copied column for column from a real counter commit) "
        "with plain INSERTs and the same balance UPDATEs, in one transaction. The request also reads and "
        "re-validates everything the quote reads, claims both idempotency keys (one INSERT … ON CONFLICT each), "
        "takes each lock after reading the row's id, and keeps one savepoint, around the order's insert (a "
        "concurrent sale with the same number is answered as a replay): more round trips per sale, each a "
        "fraction of a millisecond, and the after-COMMIT hand-over of the event kick to the broker."
    ),
    "counter_receipt": (
        "The floor reads the checkout with its order, store, member, balances and coupon in one join, then the "
        "lines and ledger rows; the page adds the session and user lookups and the HTML."
    ),
    "analytics_refresh": (
        "The floor is a single GROUP BY customer over the orders (count, sum, first and last order). The refresh "
        "also groups orders into purchase days per customer, ranks RFM quintiles, fits BG/NBD (starting from the "
        "previous refresh's parameters) and Gamma-Gamma, predicts per customer, rebuilds category affinity over "
        "the order lines (on a second connection, beside the facts query) and writes a million score rows with "
        "five indexes."
    ),
    "care_daily_run": (
        "The floor finds the same candidates with the same month-day predicates and inserts the same occurrence "
        "rows and tag rows with INSERT … SELECT in one transaction. The run also draws each customer's hold-out, "
        "checks exclusions, the day's earlier gestures and the plan budget, then acts on each fired occurrence "
        "through the action registry (tag_add: a lookup, the tag row and its timeline line per customer) and writes "
        "a care.fired timeline entry and an outbox event for each: per-customer Python work the floor does not do."
    ),
}


def _ratio_rows(value: object, found: list[dict]) -> list[dict]:
    """Every nested result that reports a ratio to its floor."""
    if isinstance(value, dict):
        if "ratio_to_floor" in value:
            found.append(value)
        for item in value.values():
            _ratio_rows(item, found)
    elif isinstance(value, list):
        for item in value:
            _ratio_rows(item, found)
    return found


def _external_summary(ext: dict) -> list[str]:
    rows = [
        "| capability | Guanxi | floor | ratio | what the ratio means |",
        "|---|---:|---:|---:|---|",
    ]
    for name, value in ext.items():
        for r in _ratio_rows(value.get("result"), []):
            key = r.get("benchmark") or ("analytics_refresh" if "customers_scored" in r else name)
            rate = next((k for k in r if k.endswith("_per_s") and not k.startswith("floor")), None)
            if "median_ms" in r:  # a request's latency (the counter)
                guanxi = f"{_ms(r['median_ms'])} ms median, p99 {_ms(r['p99_ms'])} ms"
                floor = f"{_ms(r['floor_median_ms'])} ms"
            elif rate and f"floor_{rate}" in r:
                guanxi, floor = f"{r[rate]:,.1f} {rate.removesuffix('_per_s')}/s", f"{r[f'floor_{rate}']:,.1f}/s"
            else:
                guanxi, floor = f"{r['seconds']:.1f} s", f"{r['floor_seconds']:.1f} s"
            ratio = r["ratio_to_floor"]
            rows.append(f"| {key} | {guanxi} | {floor} | {ratio:.1f}× | {WHY_EXTERNAL.get(key, '')} |")
    return rows if len(rows) > 2 else []


def _counter_section(result: dict | None) -> list[str]:
    """Issue #15's figures: the counter's quote and commit (and its receipt), server time, beside their floors."""
    if not result:
        return []
    lines = [
        "",
        "## Counter (issue #15)",
        "",
        f"Measured {result.get('date', '')} by `bench/bench_counter.py` at `{result['size']}`: Django's test client "
        f"in-process, signed in as the store staff member `{result['staff']}`, over {result['members']} distinct "
        "members of that store (existing customers with order histories, enrolled for the run through the loyalty "
        "services; every row the run wrote is deleted again afterwards). Basket: "
        f"{result['basket']}. Load average at the start of the timed part: {result.get('load_average', '?')}. "
        f"Celery broker (the commit's after-COMMIT event kick): {result.get('broker', 'sqla+sqlite (embedded)')}. "
        "Times in ms, wall clock per request; *own CPU* is the CPU time the benchmark process spent on the "
        "request (Django, the ORM, the templates), the rest of the wall time is waiting for PostgreSQL and, on "
        "a busy host, for a core.",
        "",
        "| request | SQL queries | Guanxi min | Guanxi median | Guanxi p99 | of which own CPU (median) | floor median "
        "| floor p99 | ratio | budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["figures"]:
        budget = r.get("budget_ms")
        verdict = ""
        if budget:
            verdict = f"median and p99 < {budget} ms: {'met' if r['budget_met'] else '**missed**'}"
        lines.append(
            f"| {r['title']} | {r['queries']} | {_ms(r['min_ms'])} | {_ms(r['median_ms'])} | {_ms(r['p99_ms'])} | "
            f"{_ms(r.get('cpu_median_ms', float('nan')))} | {_ms(r['floor_median_ms'])} | {_ms(r['floor_p99_ms'])} | "
            f"{r['ratio_to_floor']:.1f}× | {verdict} |"
        )
    lines += ["", "What the ratio means:", ""]
    for r in result["figures"]:
        lines.append(f"- **{r['benchmark']}** — {r['ratio_to_floor']:.1f}×. {WHY_EXTERNAL.get(r['benchmark'], '')}")
    return lines


def _care_section(result: dict | None) -> list[str]:
    """Issue #17's figures: the daily date-trigger run and the behaviour triggers' cost."""
    if not result or "daily_run" not in result:
        return []
    d, b, data = result["daily_run"], result.get("behaviour_triggers") or {}, result.get("dataset") or {}
    lines = [
        "",
        "## Care automation (issue #17)",
        "",
        f"Measured {result.get('date', '')} by `bench/bench_care.py` at `{result['size']}`: three active scheduled "
        "rules (birthday, wedding anniversary via `important_date`, day 100 via `member_day_n`), each with one "
        "`tag_add` action and the default 10% hold-out, evaluated by `care.run.run_day` for the local day "
        f"{result['day']} ({d['birthdays_on_the_day']:,} birthdays on it). The dataset has "
        f"{data.get('customers_with_birthday', 0):,} customers with a birthday on file, "
        f"{data.get('important_dates', 0):,} important dates and {data.get('memberships', 0):,} memberships: "
        "the anniversary and day-100 rules run their queries but reach nobody. Load average at the start: "
        f"{result.get('load_average', '?')}. Every row the run wrote is deleted again afterwards.",
        "",
        "| figure | Guanxi | floor | ratio | occurrences | budget |",
        "|---|---:|---:|---:|---:|---|",
        f"| {d['title']} | {d['seconds']:.1f} s | {d['floor_seconds']:.2f} s | {d['ratio_to_floor']:.1f}× | "
        f"{d['occurrences_written']:,} ({', '.join(f'{k} {v:,}' for k, v in d['counts'].items())}) | "
        f"< {d['budget_s']:.0f} s: {'met' if d['budget_met'] else '**missed**'} |",
        f"| the same day run again (nothing new to write) | {d['repeat_run_seconds']:.2f} s | | | 0 | |",
    ]
    if b:
        refresh = b.get("analytics_refresh_seconds_compared") or b.get("analytics_refresh_seconds_recorded")
        this_run, recorded = b.get("analytics_refresh_seconds_this_run"), b.get("analytics_refresh_seconds_recorded")
        which = (
            "the faster of "
            + " and ".join(
                x
                for x in (
                    f"this run's ({this_run:.1f} s)" if this_run else "",
                    f"the recorded ({recorded:.1f} s)" if recorded else "",
                )
                if x
            )
            + " analytics refresh,"
        )
        parts = ", ".join(
            f"`{k}` {b[k]['seconds']:.2f} s ({b[k]['customers']:,} customers)"
            for k in ("repurchase_overdue", "churn_risk", "high_value_drifting")
            if k in b
        )
        lines += [
            "",
            f"Behaviour triggers, each handler's query over the whole customer table with its ids fetched: {parts}; "
            f"{b['seconds']:.2f} s in all against {which} {refresh:.1f} s "
            f"({b['scores_in_database']:,} scores on file): adds **{b.get('adds_percent', float('nan')):.1f}%** "
            f"(budget < {b.get('budget_percent', 20):.0f}%: {'met' if b.get('budget_met') else '**missed**'}).",
        ]
    lines += ["", f"What the ratio means: {WHY_EXTERNAL['care_daily_run']}"]
    return lines


def render(results: dict, *, extra: str = "") -> str:
    m, r = results["machine"], results["rows"]
    size = results["size"]
    lines = [
        "# Guanxi benchmark results",
        "",
        f"Reproduce: `uv run python bench/run.py --size {size}"
        + (
            f" --database {results['database']}"
            if results.get("database", DEFAULT_DATABASE) != DEFAULT_DATABASE
            else ""
        )
        + "` (see `bench/README.md`; the database name does not matter).",
        "",
        f"- **Date**: {results['date']}, total wall time {results['wall_s'] / 60:.1f} min",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}",
        f"- **PostgreSQL** {m['postgresql']} (shared_buffers and other settings as installed), Python {m['python']}",
        f"- **Dataset** `{size}` (seed {results['seed']}): {r['customers']:,} customers, {r['orders']:,} orders, "
        f"{r['order_lines']:,} order lines, {r['contact_points']:,} contact points (encrypted), "
        f"{r['timeline_entries']:,} timeline entries; database size {r['db_size']}",
    ]
    gen = results["dataset"].get("generation")
    if gen:
        lines.append(
            f"- **Generation** (`bench/generate.py --size {size}`): {gen['total_s']:.0f} s in total "
            f"(migrate {gen['migrate_s']:.0f} s, COPY {gen['copy_s']:.0f} s, index rebuild {gen['index_s']:.0f} s, "
            f"VACUUM ANALYZE {gen['vacuum_s']:.0f} s)"
        )
    runs = results["runs"]
    lines += [
        f"- **Samples**: {runs['lookups']} lookups and {runs['pages']} page loads per figure (distinct values, "
        f"after 3 warm-up calls), HTTP load {runs['http_s']} s per endpoint, COPY floor {runs['floor_copy']} runs; "
        "the importer runs once per suite (it writes the rows; they are deleted again afterwards).",
        "",
        "Times in milliseconds. *Ratio* = Guanxi median / floor median. The *floor* is the plainest SQL "
        "doing the same work on a plain psycopg connection in the same run (for lists and lookups: one statement "
        "returning the same customers with their primary contacts as ciphertext and their tag names).",
        "",
        "| figure | Guanxi min | Guanxi median | Guanxi p99 | floor min | floor median | ratio | budget |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in results["figures"]:
        g, fl = f["guanxi"], f["floor"]
        budget = f.get("budget_ms")
        verdict = ""
        if budget:
            verdict = f"< {budget} ms: {'met' if g['median_ms'] < budget else '**missed**'}"
        lines.append(
            f"| {f['title']} | {_ms(g['min_ms'])} | {_ms(g['median_ms'])} | {_ms(g['p99_ms'])} | "
            f"{_ms(fl['min_ms'])} | {_ms(fl['median_ms'])} | {f['ratio']:.1f}× | {verdict} |"
        )
    http = [f for f in results["figures"] if "http" in f]
    if http:
        lines += [
            "",
            "## Over HTTP",
            "",
            "The table above shows the HTTP figures at one connection (latency without queueing); here also "
            "with 8 concurrent connections (throughput, and latency including queueing).",
            "",
            "| endpoint | connections | p50 ms | p99 ms | requests/s | requests | floor median ms | ratio p50/floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for f in http:
            for h in (f["http"], f["http_busy"]):
                lines.append(
                    f"| {f['title']} | {h['connections']} | {_ms(h['p50_ms'])} | {_ms(h['p99_ms'])} | "
                    f"{h['rps']:,.0f} | {h['requests']:,} | {_ms(f['floor']['median_ms'])} | "
                    f"{h['p50_ms'] / f['floor']['median_ms']:.1f}× |"
                )
        lines.append("")
        lines.append(
            f"Load generator: {http[0]['http']['tool']}, {http[0]['http']['seconds']} s per endpoint and "
            f"concurrency, against `{http[0].get('server', 'guanxi serve --no-worker')}` "
            f"({http[0].get('server_desc', 'waitress, 8 threads, one process')}) on 127.0.0.1, "
            "on the same two cores as PostgreSQL and the load generator; every response was 2xx."
        )
    imp = next((f for f in results["figures"] if f["key"] == "import_csv"), None)
    if imp:
        c, s = imp["counts"], imp["shape"]
        lines += [
            "",
            "## Import",
            "",
            f"{s['rows']:,} rows ({s['existing']:,} phones already on file, {s['repeats']:,} repeated within "
            f"the file, {s['bad']:,} invalid phones): created {c['created']:,}, matched {c['matched']:,}, "
            f"rejected {c['rejected']:,}. Guanxi: **{imp['rows_per_s']:,.0f} rows/s** "
            f"({imp['guanxi']['median_ms'] / 1000:.1f} s, one run); COPY into a bare table: "
            f"{imp['floor_rows_per_s']:,.0f} rows/s (median of {results['runs']['floor_copy']} runs).",
        ]
        if size != "full":
            lines.append(f"At `{size}` the CSV has {s['rows']:,} rows, not 1,000,000; the `full` run uses 1,000,000.")
    lines += ["", "## What each ratio means", ""]
    for f in results["figures"]:
        why = WHY.get(f["key"], "")
        lines.append(f"- **{f['title']}** — {f['ratio']:.1f}×. {why}")
    ext = results.get("external") or {}
    lines += _counter_section(ext.get("bench_counter", {}).get("result"))
    lines += _care_section(ext.get("bench_care", {}).get("result"))
    if ext:
        lines += ["", "## Other capabilities", ""] + _external_summary(ext) + ["", "The full output of each:", ""]
        for name, value in ext.items():
            if "result" in value:
                lines.append(f"- `bench/{name}.py` ({value['seconds']:.1f} s):")
                lines.append("")
                lines.append("  ```json")
                lines += ["  " + ln for ln in json.dumps(value["result"], indent=2, default=str).splitlines()]
                lines.append("  ```")
            else:
                lines.append(f"- `bench/{name}.py`: {value.get('skipped') or value.get('error')}")
    if results["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    if extra:
        lines += ["", extra.strip()]
    if results.get("plans"):
        lines += ["", "## Query plans (EXPLAIN ANALYZE of the SQL Django runs)", ""]
        for name, text in results["plans"].items():
            lines += [f"### {name}", "", "```", text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _merge(old: dict, new: dict) -> dict:
    """The earlier run with this run's figures and external results put in (same size and seed only)."""
    if (old.get("size"), old.get("seed")) != (new["size"], new["seed"]):
        raise SystemExit(f"--merge: the existing results are of size {old.get('size')}, seed {old.get('seed')}")
    fresh = {f["key"]: f for f in new["figures"]}
    figures = [fresh.pop(f["key"], f) for f in old["figures"]] + list(fresh.values())
    notes = old.get("notes", []) + [n for n in new["notes"] if n not in old.get("notes", [])]
    return {**old, "figures": figures, "external": {**old.get("external", {}), **new["external"]}, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Guanxi benchmarks and write bench/RESULTS.md")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=os.environ.get("GUANXI_BENCH_DB", DEFAULT_DATABASE))
    parser.add_argument("--out", default=str(BENCH_DIR / "RESULTS.md"))
    parser.add_argument("--only", nargs="*", help="lookups lists 360 http import external explain")
    parser.add_argument("--external", nargs="*", help="with external: only these modules, e.g. bench_counter")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the figures and external results of the existing RESULTS.json that this run did not measure",
    )
    parser.add_argument("--notes", help="a Markdown file appended to RESULTS.md (profiling before/after)")
    parser.add_argument("--render", metavar="RESULTS.json", help="only rewrite the Markdown from a results file")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text())
    else:
        results = run(args.size, seed=args.seed, database=args.database, only=args.only, external=args.external)
    out = Path(args.out)
    if args.merge and out.with_suffix(".json").exists():
        results = _merge(json.loads(out.with_suffix(".json").read_text()), results)
    extra = Path(args.notes).read_text() if args.notes else ""
    out.write_text(render(results, extra=extra))
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
