"""The benchmarks: each Guanxi figure is timed beside its floor, the plainest SQL doing the same work.

Every function takes a ``Context`` and returns a list of figure dicts:
    {"key", "title", "guanxi": {min_ms, median_ms, p99_ms, n}, "floor": {...}, "ratio", ...}
The ratio is median over median. Django must already be set up against the bench database.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from common import BENCH_DIR, PROJECT_DIR, WORK_DIR, bench_env, percentile, psycopg_dsn

# Same counts for every size would make `tiny` slow and `full` noisy; these are per size.
RUNS = {
    "tiny": {"lookups": 5, "pages": 3, "http_s": 1, "floor_copy": 2},
    "small": {"lookups": 200, "pages": 30, "http_s": 10, "floor_copy": 3},
    "full": {"lookups": 200, "pages": 30, "http_s": 10, "floor_copy": 3},
}


@dataclass
class Context:
    size: str
    database: str
    seed: int
    customers: int
    orders: int
    import_rows: int
    tokens: dict
    runs: dict
    notes: list[str] = field(default_factory=list)
    _floor_conn: object = None

    @property
    def floor(self):
        """A plain psycopg connection: the floor side of every comparison."""
        import psycopg

        if self._floor_conn is None:
            self._floor_conn = psycopg.connect(psycopg_dsn(self.database), autocommit=True)
        return self._floor_conn


def stats(samples: list[float]) -> dict:
    ms = [s * 1000 for s in samples]
    return {
        "min_ms": min(ms),
        "median_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "n": len(ms),
    }


def per_call(fn, args: list, warmup: int = 3) -> list[float]:
    for a in args[:warmup]:
        fn(a)
    out = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        out.append(time.perf_counter() - start)
    return out


def figure(key: str, title: str, guanxi: list[float], floor: list[float], **extra) -> dict:
    g, f = stats(guanxi), stats(floor)
    return {"key": key, "title": title, "guanxi": g, "floor": f, "ratio": g["median_ms"] / f["median_ms"], **extra}


def _key_hash(token: str) -> str:
    """What accounts_apitoken stores of a token: its SHA-256, never the key."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_client(token: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def get_ok(client, url: str, *, want_rows: bool = False):
    response = client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"GET {url} -> {response.status_code}: {response.content[:300]!r}")
    if want_rows:
        body = response.json()
        rows = body["results"] if isinstance(body, dict) else body
        if not rows:
            raise AssertionError(f"GET {url} returned no rows")
    return response


# The plainest SQL that returns what one list/lookup row shows: the customer, its primary contacts
# (ciphertext: decrypting is the app's job) and its tag names.
ROW_SQL = """
SELECT c.*,
       (SELECT json_agg(json_build_array(p.kind, p.value)) FROM customers_contactpoint p
         WHERE p.customer_id = c.id AND p.is_primary) AS contacts,
       (SELECT array_agg(t.name) FROM customers_customer_tags ct JOIN customers_tag t ON t.id = ct.tag_id
         WHERE ct.customer_id = c.id) AS tags
FROM customers_customer c
WHERE c.merged_into_id IS NULL {where}
ORDER BY c.id DESC LIMIT {limit}
"""


def floor_rows(ctx: Context, where: str, params, limit: int = 50) -> list:
    return ctx.floor.execute(ROW_SQL.format(where=where, limit=limit), params).fetchall()


def sample_people(ctx: Context, n: int, salt: int) -> list[int]:
    rng = np.random.default_rng([ctx.seed, salt])
    return rng.integers(0, ctx.customers, n).tolist()


def phones_of(ctx: Context, people: list[int]) -> list[str]:
    from generate import phone_for

    return [f"+86{p}" for p in phone_for(np.array(people), ctx.seed).tolist()]


# ------------------------------------------------------------------------------------------- lookups


def bench_lookups(ctx: Context) -> list[dict]:
    from guanxi.customers.contacts import last4_index, phone_index

    n = ctx.runs["lookups"]
    phones = phones_of(ctx, sample_people(ctx, n, 1))
    digits = [p[-4:] for p in phones_of(ctx, sample_people(ctx, n, 2))]
    client = api_client(ctx.tokens["admin"])

    def api_phone(phone):
        get_ok(client, "/api/customers/lookup/phone/?" + urlencode({"phone": phone}), want_rows=True)

    def api_last4(d):
        get_ok(client, f"/api/customers/lookup/last4/?digits={d}", want_rows=True)

    def sql_phone(phone):
        assert floor_rows(
            ctx,
            "AND c.id IN (SELECT customer_id FROM customers_contactpoint WHERE value_index = %s)",
            [phone_index(phone)],
        )

    def sql_last4(d):
        assert floor_rows(
            ctx,
            "AND c.id IN (SELECT customer_id FROM customers_contactpoint WHERE last4_index = %s)",
            [last4_index(d)],
        )

    staff = api_client(ctx.tokens["staff"])

    def staff_last4(d):
        get_ok(staff, f"/api/customers/lookup/last4/?digits={d}")

    store_ids = [
        r[0]
        for r in ctx.floor.execute(
            "SELECT s.store_id FROM accounts_user_stores s JOIN accounts_apitoken t ON t.user_id = s.user_id "
            "WHERE t.key_hash = %s",
            [_key_hash(ctx.tokens["staff"])],
        ).fetchall()
    ]
    staff_uid = ctx.floor.execute(
        "SELECT user_id FROM accounts_apitoken WHERE key_hash = %s", [_key_hash(ctx.tokens["staff"])]
    ).fetchone()[0]

    def sql_staff_last4(d):
        floor_rows(
            ctx,
            "AND c.id IN (SELECT customer_id FROM customers_contactpoint WHERE last4_index = %s)"
            " AND (c.home_store_id = ANY(%s) OR c.owner_id = %s)",
            [last4_index(d), store_ids, staff_uid],
        )

    return [
        figure(
            "lookup_phone_api",
            "Lookup by full phone, API in-process (admin)",
            per_call(api_phone, phones),
            per_call(sql_phone, phones),
            budget_ms=100,
        ),
        figure(
            "lookup_last4_api",
            "Lookup by last four digits, API in-process (admin, up to 50 rows)",
            per_call(api_last4, digits),
            per_call(sql_last4, digits),
            budget_ms=100,
        ),
        figure(
            "lookup_last4_api_staff",
            "Lookup by last four digits, API in-process (store staff, one store)",
            per_call(staff_last4, digits),
            per_call(sql_staff_last4, digits),
            budget_ms=100,
        ),
    ]


# ---------------------------------------------------------------------------------------------- lists


def _cursor(position: int) -> str:
    return base64.b64encode(urlencode({"p": str(position)}).encode()).decode()


def bench_lists(ctx: Context) -> list[dict]:
    n = ctx.runs["pages"]
    admin = api_client(ctx.tokens["admin"])
    staff = api_client(ctx.tokens["staff"])
    vip = ctx.floor.execute("SELECT id FROM customers_tag WHERE name = 'VIP'").fetchone()[0]
    (staff_uid,) = ctx.floor.execute(
        "SELECT user_id FROM accounts_apitoken WHERE key_hash = %s", [_key_hash(ctx.tokens["staff"])]
    ).fetchone()
    store_ids = [
        r[0]
        for r in ctx.floor.execute(
            "SELECT store_id FROM accounts_user_stores WHERE user_id = %s", [staff_uid]
        ).fetchall()
    ]
    rng = np.random.default_rng([ctx.seed, 3])
    deep_positions = rng.integers(ctx.customers // 4, 3 * ctx.customers // 4, n).tolist()
    visible = " AND (c.home_store_id = ANY(%s) OR c.owner_id = %s)"
    tagged = " AND c.id IN (SELECT customer_id FROM customers_customer_tags WHERE tag_id = %s)"
    out = [
        figure(
            "list_first_api",
            "Customer list, first page (API, admin, 50 rows)",
            per_call(lambda _i: get_ok(admin, "/api/customers/", want_rows=True), list(range(n))),
            per_call(lambda _i: floor_rows(ctx, "", [], 51), list(range(n))),
            budget_ms=150,
        ),
        figure(
            "list_filtered_api",
            "Customer list filtered by tag VIP, store staff (API, one store's customers)",
            per_call(lambda _i: get_ok(staff, "/api/customers/?tag=VIP", want_rows=True), list(range(n))),
            per_call(lambda _i: floor_rows(ctx, visible + tagged, [store_ids, staff_uid, vip], 51), list(range(n))),
            budget_ms=150,
        ),
        figure(
            "list_deep_api",
            "Customer list, deep page (API cursor in the middle of the table)",
            per_call(lambda p: get_ok(admin, f"/api/customers/?cursor={_cursor(p)}", want_rows=True), deep_positions),
            per_call(lambda p: floor_rows(ctx, " AND c.id < %s", [p], 51), deep_positions),
            budget_ms=150,
        ),
    ]
    names = [
        r[0]
        for r in ctx.floor.execute(
            "SELECT name FROM customers_customer WHERE id = ANY(%s)", [sample_people(ctx, 6 * n, 4)]
        ).fetchall()
    ]
    for key, title, sample, floor_sql, floor_param in (
        (
            "search_name_api",
            "Search by a three-character name (API ?q=, admin; substring match)",
            [q for q in names if len(q) >= 3][:n],
            " AND upper(c.name) LIKE upper(%s)",  # served by cust_name_trgm
            "%{}%",
        ),
        (
            "search_name2_api",
            "Search by two characters of a name (API ?q=, admin; substring match)",
            [q[:2] for q in names][:n],
            " AND guanxi_short_grams(upper(c.name)) @> ARRAY[upper(%s)]",  # served by cust_name_grams
            "{}",
        ),
    ):
        out.append(
            figure(
                key,
                title,
                per_call(lambda q: get_ok(admin, "/api/customers/?" + urlencode({"q": q}), want_rows=True), sample),
                per_call(lambda q, w=floor_sql, p=floor_param: floor_rows(ctx, w, [p.format(q)], 51), sample),
                budget_ms=150,
            )
        )
    out.extend(bench_workspace_list(ctx, n))
    return out


def _web_client(ctx: Context, username: str):
    from django.test import Client

    from guanxi.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _url_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _staff_tag_floor(ctx: Context) -> tuple[str, list]:
    """WHERE clause and parameters of the floor for 'the staff member's customers tagged VIP'."""
    (vip,) = ctx.floor.execute("SELECT id FROM customers_tag WHERE name = 'VIP'").fetchone()
    (uid,) = ctx.floor.execute(
        "SELECT user_id FROM accounts_apitoken WHERE key_hash = %s", [_key_hash(ctx.tokens["staff"])]
    ).fetchone()
    stores = [r[0] for r in ctx.floor.execute("SELECT store_id FROM accounts_user_stores WHERE user_id = %s", [uid])]
    return (
        " AND (c.home_store_id = ANY(%s) OR c.owner_id = %s)"
        " AND c.id IN (SELECT customer_id FROM customers_customer_tags WHERE tag_id = %s)",
        [stores, uid, vip],
    )


def bench_workspace_list(ctx: Context, n: int) -> list[dict]:
    if not _url_exists("/customers/"):
        ctx.notes.append("The workspace list page /customers/ does not exist yet: its figures were skipped.")
        return []
    admin = _web_client(ctx, "bench-admin")
    staff = _web_client(ctx, "bench-staff-000")
    staff_tag = _staff_tag_floor(ctx)
    digits = [p[-4:] for p in phones_of(ctx, sample_people(ctx, n, 5))]
    from guanxi.customers.contacts import last4_index

    return [
        figure(
            "list_first_web",
            "Workspace /customers/ first page (admin, HTML)",
            per_call(lambda _i: get_ok(admin, "/customers/"), list(range(n))),
            per_call(lambda _i: floor_rows(ctx, "", [], 51), list(range(n))),
            budget_ms=150,
        ),
        figure(
            "list_filtered_web",
            "Workspace /customers/?tag=VIP (store staff, HTML)",
            per_call(lambda _i: get_ok(staff, "/customers/?tag=VIP"), list(range(n))),
            per_call(lambda _i: floor_rows(ctx, *staff_tag, 51), list(range(n))),
            budget_ms=150,
        ),
        figure(
            "search_last4_web",
            "Workspace /customers/?q=<last four digits> (admin, HTML)",
            per_call(lambda d: get_ok(admin, f"/customers/?q={d}"), digits),
            per_call(
                lambda d: floor_rows(
                    ctx,
                    "AND c.id IN (SELECT customer_id FROM customers_contactpoint WHERE last4_index = %s)",
                    [last4_index(d)],
                ),
                digits,
            ),
            budget_ms=100,
        ),
    ]


# ------------------------------------------------------------------------------------------------ 360


def bench_360(ctx: Context) -> list[dict]:
    n = ctx.runs["pages"]
    # Customers with a history: the ones with the most orders in a random sample.
    ids = [
        r[0]
        for r in ctx.floor.execute(
            "SELECT id FROM customers_customer WHERE id = ANY(%s) AND order_count > 0 ORDER BY order_count DESC",
            [sample_people(ctx, 4 * n, 6)],
        ).fetchall()
    ][:n]
    ids = [i + 0 for i in ids] or [1]

    def sql_360(pk):
        ctx.floor.execute(
            "SELECT c.*, s.name FROM customers_customer c LEFT JOIN accounts_store s ON s.id = c.home_store_id "
            "WHERE c.id = %s",
            [pk],
        ).fetchall()
        ctx.floor.execute("SELECT * FROM customers_contactpoint WHERE customer_id = %s", [pk]).fetchall()
        ctx.floor.execute(
            "SELECT t.name FROM customers_customer_tags ct JOIN customers_tag t ON t.id = ct.tag_id "
            "WHERE ct.customer_id = %s",
            [pk],
        ).fetchall()
        ctx.floor.execute(
            "SELECT * FROM customers_timelineentry WHERE customer_id = %s ORDER BY occurred_at DESC, id DESC LIMIT 50",
            [pk],
        ).fetchall()

    out = []
    api = api_client(ctx.tokens["admin"])

    def api_360(pk):
        get_ok(api, f"/api/customers/{pk}/")
        get_ok(api, f"/api/customers/{pk}/timeline/")

    out.append(
        figure(
            "customer_360_api",
            "Customer 360 via API: detail + timeline (two requests, admin)",
            per_call(api_360, ids),
            per_call(sql_360, ids),
            budget_ms=150,
        )
    )
    if _url_exists(f"/customers/{ids[0]}/"):
        web = _web_client(ctx, "bench-admin")
        out.append(
            figure(
                "customer_360_web",
                "Customer 360 page /customers/<id>/ server time (admin, HTML)",
                per_call(lambda pk: get_ok(web, f"/customers/{pk}/"), ids),
                per_call(sql_360, ids),
                budget_ms=150,
            )
        )
    else:
        ctx.notes.append("The workspace 360 page /customers/<id>/ does not exist yet: measured via the API.")
    return out


# ----------------------------------------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk(url: str, paths: list[str], token: str, seconds: int, connections: int = 8) -> dict:
    script = WORK_DIR / "wrk-paths.lua"
    quoted = ",\n".join(f'"{p}"' for p in paths)
    script.write_text(
        f'wrk.headers["Authorization"] = "Token {token}"\n'
        f"local paths = {{\n{quoted}\n}}\nlocal i = 0\n"
        'request = function()\n  i = i + 1\n  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n'
    )
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests,
        "errors": int(errors.group(1)) if errors else 0,
        "tool": "wrk",
        "connections": connections,
        "seconds": seconds,
    }


def _threaded_load(url: str, paths: list[str], token: str, seconds: int, connections: int = 8) -> dict:
    """A bounded fallback load generator: 8 threads with keep-alive clients for ``seconds``."""
    import threading

    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=30) as client:
            i = offset
            while time.monotonic() < deadline:
                start = time.perf_counter()
                status = client.get(paths[i % len(paths)]).status_code
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed * 1000)
                    errors[0] += status >= 300
                i += connections

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "rps": len(latencies) / wall,
        "requests": len(latencies),
        "errors": errors[0],
        "tool": "Python threaded client",
        "connections": connections,
        "seconds": seconds,
    }


#: What `guanxi serve` runs by default: one gunicorn process per core, 4 threads each (gthread).
WEB_THREADS = 4


def _web_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _server_argv(ctx: Context, port: int) -> list[str]:
    workers = str(_web_workers())
    if ctx.size == "tiny":
        # gunicorn as `guanxi serve` configures it, without serve's migrate and collectstatic (the CI smoke
        # test stays within 30 s).
        return [
            sys.executable,
            "-m",
            "gunicorn",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            "--worker-class=gthread",
            f"--threads={WEB_THREADS}",
            "--no-control-socket",
            "guanxi.wsgi:application",
        ]
    return [
        sys.executable,
        "-m",
        "guanxi.cli",
        "serve",
        "--no-worker",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        workers,
        "--threads",
        str(WEB_THREADS),
    ]


def bench_http(ctx: Context) -> list[dict]:
    from guanxi.customers.contacts import last4_index, phone_index

    load_fn = _wrk
    if not shutil.which("wrk") or os.environ.get("GUANXI_BENCH_NO_WRK") == "1":
        ctx.notes.append("wrk is not installed (apt-get install -y wrk): HTTP load came from a Python threaded client.")
        load_fn = _threaded_load
    port = _free_port()
    log = open(WORK_DIR / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        _server_argv(ctx, port),
        env=bench_env(ctx.database),
        cwd=PROJECT_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 90
        while True:
            try:
                if (
                    httpx.get(
                        base + "/api/customers/lookup/last4/?digits=0000",
                        headers={"Authorization": f"Token {ctx.tokens['admin']}"},
                        timeout=5,
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"guanxi serve did not come up; see {WORK_DIR / 'serve.log'}")
            time.sleep(0.5)
        n = max(50, ctx.runs["lookups"])
        phones = phones_of(ctx, sample_people(ctx, n, 7))
        digits = [p[-4:] for p in phones_of(ctx, sample_people(ctx, n, 8))]
        seconds = ctx.runs["http_s"]
        server_desc = f"gunicorn, {_web_workers()} processes × {WEB_THREADS} threads"
        out = []
        for key, title, paths, floor_fn, floor_args in (
            (
                "lookup_phone_http",
                f"Lookup by full phone over HTTP (guanxi serve / {server_desc})",
                ["/api/customers/lookup/phone/?" + urlencode({"phone": p}) for p in phones],
                lambda i: floor_rows(
                    ctx, "AND c.id IN (SELECT customer_id FROM customers_contactpoint WHERE value_index = %s)", [i]
                ),
                [phone_index(p) for p in phones],
            ),
            (
                "lookup_last4_http",
                f"Lookup by last four digits over HTTP (guanxi serve / {server_desc})",
                [f"/api/customers/lookup/last4/?digits={d}" for d in digits],
                lambda i: floor_rows(
                    ctx, "AND c.id IN (SELECT customer_id FROM customers_contactpoint WHERE last4_index = %s)", [i]
                ),
                [last4_index(d) for d in digits],
            ),
        ):
            load = load_fn(base, paths, ctx.tokens["admin"], seconds, connections=1)
            busy = load_fn(base, paths, ctx.tokens["admin"], seconds, connections=8)
            if load["errors"] or busy["errors"]:
                raise AssertionError(f"{key}: {load['errors'] + busy['errors']} non-2xx responses")
            floor = stats(per_call(floor_fn, floor_args))
            out.append(
                {
                    "key": key,
                    "title": title,
                    "http": load,
                    "http_busy": busy,
                    "server": "gunicorn guanxi.wsgi:application" if ctx.size == "tiny" else "guanxi serve --no-worker",
                    "server_desc": server_desc,
                    "floor": floor,
                    "guanxi": {
                        "min_ms": float("nan"),
                        "median_ms": load["p50_ms"],
                        "p99_ms": load["p99_ms"],
                        "n": load["requests"],
                    },
                    "ratio": load["p50_ms"] / floor["median_ms"],
                    "budget_ms": 100,
                }
            )
        return out
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# --------------------------------------------------------------------------------------------- import

IMPORT_HEADER = ["姓名", "手机", "邮箱", "性别", "生日", "地区", "门店", "标签", "来源"]
IMPORT_SOURCE = "bench-import"


def write_import_csv(ctx: Context, path: Path) -> dict[str, int]:
    """Rows for new people (index >= customers), plus 2% already on file, 1% repeats, 1% bad phones."""
    from generate import CITIES, EMAIL_DOMAINS, names_for, phone_for

    rows = ctx.import_rows
    rng = np.random.default_rng([ctx.seed, 9])
    people = np.arange(ctx.customers, ctx.customers + rows) + 10_000_000
    kind = rng.random(rows)
    existing = kind < 0.02
    people[existing] = rng.integers(0, ctx.customers, int(existing.sum()))
    repeat = (kind >= 0.02) & (kind < 0.03)
    repeat[:10] = False
    people[repeat] = people[np.flatnonzero(repeat) - rng.integers(1, 10, int(repeat.sum()))]
    bad = (kind >= 0.03) & (kind < 0.04)
    phones = phone_for(people, ctx.seed).tolist()
    names = names_for(rng, rows)
    style = rng.integers(0, 3, rows).tolist()
    has_email = (rng.random(rows) < 0.5).tolist()
    bday = np.datetime64("1955-01-01") + rng.integers(0, 50 * 365, rows).astype("timedelta64[D]")
    bday_s = np.datetime_as_string(bday, unit="D").tolist()
    has_bday = (rng.random(rows) < 0.5).tolist()
    city = rng.integers(0, len(CITIES), rows).tolist()
    store_codes = [r[0] for r in ctx.floor.execute("SELECT code FROM accounts_store ORDER BY id").fetchall()]
    store = rng.integers(0, len(store_codes), rows).tolist()
    tagged = (rng.random(rows) < 0.3).tolist()
    bad_l, people_l = bad.tolist(), people.tolist()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(IMPORT_HEADER)
        for k in range(rows):
            p = str(phones[k])
            phone = "1234" if bad_l[k] else (p, f"{p[:3]} {p[3:7]} {p[7:]}", f"+86-{p}")[style[k]]
            email = f"imp{people_l[k]}@{EMAIL_DOMAINS[people_l[k] % len(EMAIL_DOMAINS)]}" if has_email[k] else ""
            w.writerow(
                [
                    names[k],
                    phone,
                    email,
                    ("男", "女", "")[style[k]],
                    bday_s[k] if has_bday[k] else "",
                    CITIES[city[k]],
                    store_codes[store[k]],
                    "VIP;新客" if tagged[k] else "",
                    IMPORT_SOURCE,
                ]
            )
    return {"rows": rows, "existing": int(existing.sum()), "repeats": int(repeat.sum()), "bad": int(bad.sum())}


def _import_cleanup(ctx: Context) -> None:
    conn = ctx.floor
    conn.execute("DROP TABLE IF EXISTS bench_import_floor")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_gone (id bigint)")
    conn.execute("TRUNCATE bench_gone")
    conn.execute("INSERT INTO bench_gone SELECT id FROM customers_customer WHERE source = %s", [IMPORT_SOURCE])
    for table, column in (
        ("customers_customer_tags", "customer_id"),
        ("customers_contactpoint", "customer_id"),
        ("customers_timelineentry", "customer_id"),
    ):
        conn.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM bench_gone)")
    conn.execute(
        "DELETE FROM core_eventdelivery WHERE event_id IN "
        "(SELECT id FROM core_event WHERE customer_id IN (SELECT id FROM bench_gone))"
    )
    conn.execute("DELETE FROM core_event WHERE customer_id IN (SELECT id FROM bench_gone)")
    conn.execute("DELETE FROM customers_customer WHERE id IN (SELECT id FROM bench_gone)")
    conn.execute("DROP TABLE bench_gone")
    for table in (
        "customers_customer",
        "customers_contactpoint",
        "customers_customer_tags",
        "customers_timelineentry",
        "core_event",
    ):
        conn.execute(f"VACUUM (ANALYZE) {table}")


def bench_import(ctx: Context) -> list[dict]:
    from guanxi.accounts.models import User
    from guanxi.customers.imports import import_job_create, import_run

    path = WORK_DIR / f"import-{ctx.size}-{ctx.import_rows}.csv"
    _import_cleanup(ctx)  # a previous interrupted run must not turn this run's rows into matches
    shape = write_import_csv(ctx, path)
    admin = User.objects.get(username="bench-admin")

    start = time.perf_counter()
    job = import_job_create(actor=admin, path=str(path), dry_run=False)
    job = import_run(job)
    guanxi_s = time.perf_counter() - start
    if job.status != "done":
        raise AssertionError(f"import failed: {job.error}")
    counts = {"created": job.created_count, "matched": job.matched_count, "rejected": job.rejected_count}

    floor = []
    conn = ctx.floor
    cols = ", ".join(f"c{k} text" for k in range(len(IMPORT_HEADER)))
    for _run in range(ctx.runs["floor_copy"]):
        conn.execute("DROP TABLE IF EXISTS bench_import_floor")
        conn.execute(f"CREATE TABLE bench_import_floor ({cols})")
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_import_floor FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    cp.write(block)
        floor.append(time.perf_counter() - start)
    copied = conn.execute("SELECT count(*) FROM bench_import_floor").fetchone()[0]
    _import_cleanup(ctx)
    os.remove(path)
    rejected = Path(job.rejected_file)
    if rejected.exists():
        rejected.unlink()
    f = stats(floor)
    return [
        {
            "key": "import_csv",
            "title": f"Import a {ctx.import_rows:,}-row customer CSV (validation, dedup, encryption) vs COPY",
            "guanxi": {"min_ms": guanxi_s * 1000, "median_ms": guanxi_s * 1000, "p99_ms": guanxi_s * 1000, "n": 1},
            "floor": f,
            "ratio": guanxi_s * 1000 / f["median_ms"],
            "rows_per_s": ctx.import_rows / guanxi_s,
            "floor_rows_per_s": copied / (f["median_ms"] / 1000),
            "counts": counts,
            "shape": shape,
        }
    ]


# ----------------------------------------------------------------------------------- other capabilities

EXTERNAL = (
    "bench_checkout",
    "bench_messaging",
    "bench_analytics",
    "bench_counter",
    "bench_campaign_results",
    "bench_care",
)


_EXTERNAL_CALL = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[3])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = module.run(**json.loads(sys.argv[4]))
print("\\n@@RESULT@@" + json.dumps(result, default=str))
"""


def external_kwargs(run, ctx: Context) -> dict:
    """The keyword arguments ``run`` accepts among those the suite offers.

    ``database`` is passed only when the module has no database of its own (no default, or None): a
    module that builds its own population (messaging) keeps it out of the bench dataset.
    """
    offered = {
        "size": ctx.size,
        "database": ctx.database,
        "seed": ctx.seed,
        "runs": ctx.runs["pages"],
        "tokens": ctx.tokens,
        "customers": ctx.customers,
        "orders": ctx.orders,
    }
    if ctx.size == "tiny":
        offered["n"] = 500
    params = inspect.signature(run).parameters
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in offered.items() if k in params or (accepts_any and k != "n")}
    db = params.get("database")
    if db is not None and db.default not in (inspect.Parameter.empty, None):
        kwargs.pop("database", None)
    return kwargs


def bench_external(ctx: Context, names: list[str] | None = None) -> dict[str, dict]:
    """Call the capability benchmarks other engineers write, if they exist, each in its own process.

    Each runs in a subprocess so it can configure Django for the database it wants. With
    ``GUANXI_BENCH_EXTERNAL=check`` (the CI smoke test) a module is only imported and its ``run``
    signature checked: their own runs take longer than the smoke test may. ``names`` narrows the run to
    some of them (``run.py --external``).
    """
    out = {}
    check_only = os.environ.get("GUANXI_BENCH_EXTERNAL") == "check"
    for name in EXTERNAL:
        if names and name not in names:
            continue
        path = BENCH_DIR / f"{name}.py"
        if not path.exists():
            ctx.notes.append(f"bench/{name}.py does not exist yet: skipped.")
            out[name] = {"skipped": "module not written yet"}
            continue
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            kwargs = external_kwargs(module.run, ctx)
            if check_only:
                out[name] = {"skipped": f"import and signature checked only; would call run(**{sorted(kwargs)})"}
                continue
            start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _EXTERNAL_CALL,
                    str(BENCH_DIR),
                    name,
                    str(path),
                    json.dumps(kwargs, default=str),
                ],
                env=bench_env(ctx.database),
                cwd=PROJECT_DIR,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if done.returncode != 0 or "@@RESULT@@" not in done.stdout:
                raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout)[-500:]}")
            result = json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])
            out[name] = {"result": result, "seconds": time.perf_counter() - start, "kwargs": sorted(kwargs)}
        except Exception as exc:  # noqa: BLE001 - another lane's module failing must not sink the suite
            ctx.notes.append(f"bench/{name}.py failed: {exc!r}")
            out[name] = {"error": repr(exc)}
    return out


def explain(ctx: Context) -> dict[str, str]:
    """EXPLAIN ANALYZE of the SQL Django runs for the lookups and list pages (for the profile notes)."""
    from guanxi.accounts.models import User
    from guanxi.customers import selectors

    admin = User.objects.get(username="bench-admin")
    digits = phones_of(ctx, sample_people(ctx, 1, 10))[0][-4:]
    plans = {
        "last4 lookup": selectors.customer_by_last4(user=admin, digits=digits).order_by("-id")[:50],
        "list first page": selectors.customer_search(user=admin, query="").order_by("-id")[:51],
    }
    return {k: qs.explain(analyze=True, buffers=True) for k, qs in plans.items()}
