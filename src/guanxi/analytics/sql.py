# ruff: noqa: S608 - statements are assembled from fixed fragments; every value is a bound parameter.
"""Set-based SQL for analytics: RFM, the buy-till-you-die order summary, category affinity, cohorts.

Every statement runs over all customers at once (``GROUP BY`` and window functions, no per-customer
loop). What differs between databases is isolated in :class:`Dialect` — PostgreSQL has native time
zones, date arithmetic and ``json_agg``; SQLite (≥ 3.33, for window functions and ``UPDATE … FROM``)
uses Django's registered ``django_datetime_cast_date`` for the local calendar day, ``julianday`` for
differences and ``json_group_array``. Both paths are exercised by the test suite.

Conventions (the same as :mod:`guanxi.analytics.summary`):

* a *purchase* is an order that is not fully refunded; its value is ``paid_amount - refunded_amount``;
* a *purchase day* is a calendar day in the organisation's time zone (``settings.TIME_ZONE``); several
  orders on one day are one purchase day, their amounts summed;
* ``as_of`` is the last day included (inclusive), like the end of a calibration period.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connections

from guanxi.analytics.models import SEGMENT_BY_LEVELS
from guanxi.core.db.copy import copy_from

PURCHASE = "o.status <> 'refunded'"


@dataclass(frozen=True)
class Dialect:
    """The few SQL fragments that differ between PostgreSQL and SQLite."""

    vendor: str

    @property
    def postgres(self) -> bool:
        return self.vendor == "postgresql"

    def local_date(self, column: str) -> str:
        """The calendar day of a UTC timestamp column in the organisation's zone (param ``tz``)."""
        if self.postgres:
            return f"CAST(({column} AT TIME ZONE %(tz)s) AS date)"
        return f"django_datetime_cast_date({column}, %(tz)s, 'UTC')"

    def days_between(self, earlier: str, later: str) -> str:
        """Whole days from one date expression to another."""
        if self.postgres:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def date_param(self, name: str) -> str:
        return f"CAST(%({name})s AS date)" if self.postgres else f"%({name})s"

    def age_days(self, timestamp: str, now_param: str) -> str:
        """Fractional days from a timestamp column to a timestamp parameter."""
        if self.postgres:
            # date_part, not EXTRACT: EXTRACT computes in numeric (since PostgreSQL 14), once per order line
            return f"(date_part('epoch', %({now_param})s - {timestamp}) / 86400.0)"
        return f"(julianday(%({now_param})s) - julianday({timestamp}))"

    def month_index(self, date_expr: str) -> str:
        """year * 12 + month - 1 of a date expression: consecutive months differ by one."""
        if self.postgres:
            year, month = f"EXTRACT(YEAR FROM {date_expr})", f"EXTRACT(MONTH FROM {date_expr})"
        else:
            year, month = f"strftime('%%Y', {date_expr})", f"strftime('%%m', {date_expr})"
        return f"(CAST({year} AS INTEGER) * 12 + CAST({month} AS INTEGER) - 1)"

    def json_array_agg(self, expr: str, order_by: str) -> str:
        """A JSON array of ``expr`` per group, in ``order_by`` order."""
        if self.postgres:
            return f"jsonb_agg({expr} ORDER BY {order_by})"
        # SQLite aggregates rows in the order the (ordered) subquery delivers them.
        return f"json_group_array({expr})"

    def float(self, expr: str) -> str:
        return f"CAST({expr} AS DOUBLE PRECISION)"

    def money(self, expr: str) -> str:
        """A float expression rounded to cents (numeric on PostgreSQL)."""
        if self.postgres:
            return f"ROUND(CAST({expr} AS numeric), 2)"
        return f"ROUND({expr}, 2)"

    def date_minus_days(self, date_expr: str, days_expr: str) -> str:
        if self.postgres:
            return f"({date_expr} - {days_expr})"
        return f"date({date_expr}, '-' || {days_expr} || ' days')"

    def clear(self, table: str) -> str:
        """Empty a derived table inside the refresh's transaction. On PostgreSQL TRUNCATE gives the new rows a
        fresh heap and fresh indexes (no dead tuples to step over, no bloat); it locks out readers only for the
        final seconds of the refresh, until commit. SQLite has no TRUNCATE."""
        return f"TRUNCATE {table}" if self.postgres else f"DELETE FROM {table}"

    def empty_json_array(self) -> str:
        return "'[]'::jsonb" if self.postgres else "'[]'"

    def session_tuning(self) -> list[str]:
        """Statement settings for the big aggregates, local to the refresh's transaction.

        With the default 4MB of sort memory PostgreSQL reads ``sales_order`` through the customer index (random
        heap reads, to avoid a sort) and spills the window sorts to disk; with enough memory it scans the
        table and sorts in memory, several times faster. ``GUANXI_ANALYTICS_WORK_MEM`` (default 256MB).
        """
        if not self.postgres:
            return []
        work_mem = str(getattr(settings, "GUANXI_ANALYTICS_WORK_MEM", "256MB"))
        if not work_mem.removesuffix("MB").removesuffix("GB").isdigit():
            raise ValueError("GUANXI_ANALYTICS_WORK_MEM must look like 256MB or 1GB")
        return [f"SET LOCAL work_mem = '{work_mem}'", "SET LOCAL jit = off"]

    def timestamp_param(self, value: dt.datetime) -> Any:
        """Timestamps are compared as aware datetimes on PostgreSQL and as Django's UTC text on SQLite."""
        if self.postgres:
            return value
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def dialect(using: str = "default") -> Dialect:
    return Dialect(connections[using].vendor)


def local_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def day_start(day: dt.date) -> dt.datetime:
    """The first instant of a local calendar day, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=local_zone())


def _params(d: Dialect, *, as_of: dt.date, until: dt.date | None = None, **extra: Any) -> dict[str, Any]:
    upper = day_start((until or as_of) + dt.timedelta(days=1))
    return {"tz": settings.TIME_ZONE, "as_of": as_of.isoformat(), "upper": d.timestamp_param(upper), **extra}


def _customer_filter(customer_sql: tuple[str, tuple] | None, column: str = "o.customer_id") -> tuple[str, dict]:
    """Restrict to a compiled customer-id subquery (a ``visible_to`` queryset); '' when unrestricted."""
    if customer_sql is None:
        return "", {}
    sql, params = customer_sql
    names = {f"cust_{i}": p for i, p in enumerate(params)}
    sql = sql.replace("%s", "\x00")
    for name in names:
        sql = sql.replace("\x00", f"%({name})s", 1)
    return f" AND {column} IN ({sql})", names


def _days_cte(d: Dialect, customer_where: str = "") -> str:
    """Purchase days per customer with their net amount and order count, numbered in time order."""
    day = d.local_date("o.ordered_at")
    as_of = d.date_param("as_of")
    return f"""
    days AS (
        SELECT o.customer_id AS customer_id, {day} AS day,
               SUM(o.paid_amount - o.refunded_amount) AS amount, COUNT(*) AS orders
        FROM sales_order o
        WHERE {PURCHASE} AND o.ordered_at < %(upper)s{customer_where}
        GROUP BY o.customer_id, {day}
    ),
    ranked AS (
        SELECT customer_id, day, amount, orders,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day) AS n
        FROM days
    ),
    facts AS (
        SELECT customer_id,
               {d.days_between("MIN(day)", d.date_param("as_of"))} AS t_days,
               {d.days_between(f"MAX(CASE WHEN day <= {as_of} THEN day END)", as_of)} AS since_last_days,
               SUM(CASE WHEN day <= {d.date_param("as_of")} THEN orders ELSE 0 END) AS orders,
               SUM(CASE WHEN day <= {d.date_param("as_of")} THEN amount ELSE 0 END) AS monetary,
               SUM(CASE WHEN n > 1 AND day <= {d.date_param("as_of")} THEN 1 ELSE 0 END) AS frequency,
               SUM(CASE WHEN n > 1 AND day <= {d.date_param("as_of")} THEN amount ELSE 0 END) AS repeat_amount,
               SUM(CASE WHEN day > {d.date_param("as_of")} THEN 1 ELSE 0 END) AS holdout_frequency,
               SUM(CASE WHEN day > {d.date_param("as_of")} THEN amount ELSE 0 END) AS holdout_amount
        FROM ranked
        GROUP BY customer_id
        HAVING MIN(day) <= {d.date_param("as_of")}
    )"""


def _segment_case() -> str:
    whens = []
    for (r_high, f_high, m_high), segment in SEGMENT_BY_LEVELS.items():
        cond = " AND ".join(
            f"{col} {'>' if high else '<='} {avg}"
            for col, avg, high in (
                ("r_score", "r_avg", r_high),
                ("f_score", "f_avg", f_high),
                ("m_score", "m_avg", m_high),
            )
        )
        whens.append(f"WHEN {cond} THEN '{segment}'")
    return "CASE " + " ".join(whens) + " END"


def _quintile(position: str, total: str) -> str:
    """The ``NTILE(5)`` bucket of the row at 0-based ``position`` among ``total`` ordered rows: five buckets
    of ``total / 5`` rows, the first ``total % 5`` of them one row larger."""
    size, larger = f"({total} / 5)", f"({total} %% 5)"  # %% : the statements carry bound parameters
    return (
        f"(CASE WHEN {position} < {larger} * ({size} + 1) THEN {position} / ({size} + 1) + 1 "
        f"ELSE ({position} - {larger}) / {size} + 1 END)"
    )


def _rfm_ctes(d: Dialect) -> str:
    """RFM quintiles over ``facts``: ``NTILE(5)``, ties sharing the lowest quintile their value reaches;
    a score is *high* when it is above the base's average score.

    The lowest quintile a value reaches is the bucket of the first row holding it, whose position is the
    number of customers with a better value. So each score is computed once per distinct value (a running
    count over a ``GROUP BY``) and joined back, instead of sorting every customer's whole row for six
    window passes: at 1M customers that is ~1 s instead of ~15 s.
    """
    ranks = []
    for letter, column, order in (("r", "since_last_days", "DESC"), ("f", "orders", "ASC"), ("m", "monetary", "ASC")):
        ranks.append(f"""
    {letter}_scores AS (
        SELECT v, c, {_quintile("position", "total")} AS score
        FROM (
            SELECT v, c, CAST(SUM(c) OVER (ORDER BY v {order}) - c AS BIGINT) AS position
            FROM (SELECT {column} AS v, COUNT(*) AS c FROM facts GROUP BY {column}) counts
        ) positioned CROSS JOIN counted
    )""")
    averages = ", ".join(
        f"(SELECT {d.float('SUM(score * c)')} FROM {letter}_scores) / total AS {letter}_avg" for letter in "rfm"
    )
    return f"""
    counted AS (SELECT COUNT(*) AS total FROM facts),{",".join(ranks)},
    averaged AS (
        SELECT f.*, r.score AS r_score, fs.score AS f_score, m.score AS m_score, a.r_avg, a.f_avg, a.m_avg
        FROM facts f
        JOIN r_scores r ON r.v = f.since_last_days
        JOIN f_scores fs ON fs.v = f.orders
        JOIN m_scores m ON m.v = f.monetary
        CROSS JOIN (SELECT {averages} FROM counted) a
    )"""


@dataclass
class CustomerFacts:
    """Per-customer purchase facts as parallel arrays, sorted by customer id (all times in days)."""

    customer_id: np.ndarray
    t_days: np.ndarray  # first purchase day -> as_of  (BTYD T)
    since_last_days: np.ndarray  # last purchase day -> as_of  (RFM recency)
    orders: np.ndarray  # RFM frequency: purchases (orders) up to as_of
    monetary: list  # RFM monetary: Decimal net spend up to as_of
    frequency: np.ndarray  # BTYD x: repeat purchase days
    repeat_amount: np.ndarray  # total of the repeat purchase days (float)
    holdout_frequency: np.ndarray
    holdout_amount: np.ndarray
    r_score: np.ndarray | None = None
    f_score: np.ndarray | None = None
    m_score: np.ndarray | None = None
    segment: list | None = None

    def __len__(self) -> int:
        return len(self.customer_id)

    @property
    def recency_days(self) -> np.ndarray:
        """BTYD t_x: first purchase day -> last purchase day."""
        return self.t_days - self.since_last_days

    @property
    def monetary_value(self) -> np.ndarray:
        """Mean amount of the repeat purchase days (0 without any)."""
        return np.divide(
            self.repeat_amount,
            self.frequency,
            out=np.zeros(len(self.frequency)),
            where=self.frequency > 0,
        )


_FACT_COLUMNS = (
    "customer_id, t_days, since_last_days, orders, monetary, frequency, "
    "{repeat} AS repeat_amount, holdout_frequency, {holdout} AS holdout_amount"
)


def _fetch_facts(sql: str, params: dict, using: str, *, scored: bool) -> CustomerFacts:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * (13 if scored else 9)

    def ints(i: int) -> np.ndarray:
        return np.asarray(columns[i], dtype=np.int64)

    def floats(i: int) -> np.ndarray:
        return np.asarray(columns[i], dtype=np.float64)

    from decimal import Decimal

    cents = Decimal("0.01")
    facts = CustomerFacts(
        customer_id=ints(0),
        t_days=ints(1),
        since_last_days=ints(2),
        orders=ints(3),
        monetary=[Decimal(str(v)).quantize(cents) for v in columns[4]],
        frequency=ints(5),
        repeat_amount=floats(6),
        holdout_frequency=ints(7),
        holdout_amount=floats(8),
    )
    if scored:
        facts.r_score, facts.f_score, facts.m_score = ints(9), ints(10), ints(11)
        facts.segment = list(columns[12])
    return facts


def customer_facts(
    *,
    as_of: dt.date,
    holdout_end: dt.date | None = None,
    with_rfm: bool = True,
    customer_sql: tuple[str, tuple] | None = None,
    using: str = "default",
) -> CustomerFacts:
    """RFM values, quintile scores and segment, and the BTYD summary of every customer with a purchase
    on or before ``as_of``, from one scan of ``sales_order``.

    ``holdout_end`` also counts the purchase days after ``as_of`` up to that day (to judge a forecast).
    ``customer_sql`` (SQL, params) restricts to a customer-id subquery.
    """
    d = dialect(using)
    where, extra = _customer_filter(customer_sql)
    params = _params(d, as_of=as_of, until=holdout_end, **extra)
    columns = _FACT_COLUMNS.format(repeat=d.float("repeat_amount"), holdout=d.float("holdout_amount"))
    if with_rfm:
        sql = (
            f"WITH {_days_cte(d, where)}, {_rfm_ctes(d)} "
            f"SELECT {columns}, r_score, f_score, m_score, {_segment_case()} AS segment "
            f"FROM averaged ORDER BY customer_id"
        )
    else:
        sql = f"WITH {_days_cte(d, where)} SELECT {columns} FROM facts ORDER BY customer_id"
    return _fetch_facts(sql, params, using, scored=with_rfm)


def order_summary(
    *,
    as_of: dt.date,
    holdout_end: dt.date | None = None,
    period_days: float = 1.0,
    using: str = "default",
):
    """The BTYD summary (frequency, recency, T, mean repeat spend) computed by SQL from Guanxi's orders,
    in the shape of :class:`guanxi.analytics.summary.CustomerSummary` so the model code reads it directly."""
    from guanxi.analytics.summary import CustomerSummary

    facts = customer_facts(as_of=as_of, holdout_end=holdout_end, with_rfm=False, using=using)
    first = np.datetime64(as_of, "D") - facts.t_days.astype("timedelta64[D]")
    holdout_mean = np.divide(
        facts.holdout_amount,
        facts.holdout_frequency,
        out=np.zeros(len(facts)),
        where=facts.holdout_frequency > 0,
    )
    return CustomerSummary(
        customer_id=facts.customer_id,
        first_purchase=first,
        frequency=facts.frequency,
        recency=facts.recency_days / period_days,
        T=facts.t_days / period_days,
        monetary_value=facts.monetary_value,
        holdout_frequency=facts.holdout_frequency if holdout_end else None,
        holdout_monetary_value=holdout_mean if holdout_end else None,
    )


def rfm_rows(*, as_of: dt.date, customer_sql=None, using: str = "default") -> list[dict[str, Any]]:
    """RFM per customer as dicts (for reports and tests; the refresh stores the same in CustomerScore)."""
    facts = customer_facts(as_of=as_of, customer_sql=customer_sql, using=using)
    r, f, m, segment = facts.r_score, facts.f_score, facts.m_score, facts.segment
    assert r is not None
    assert f is not None
    assert m is not None
    assert segment is not None
    return [
        {
            "customer_id": int(facts.customer_id[i]),
            "recency_days": int(facts.since_last_days[i]),
            "frequency": int(facts.orders[i]),
            "monetary": facts.monetary[i],
            "r": int(r[i]),
            "f": int(f[i]),
            "m": int(m[i]),
            "segment": segment[i],
        }
        for i in range(len(facts))
    ]


def category_affinity_rebuild(
    *,
    as_of: dt.date,
    now: dt.datetime,
    half_life_days: float,
    lookback_days: int = 365,
    top: int = 3,
    parallel: bool = True,
    using: str = "default",
) -> int:
    """Rewrite ``analytics_categoryaffinity``: each customer's ``top`` categories by net line spend over the
    last ``lookback_days``, each line weighted by 2^(−age / half-life) so recent purchases count most (at the
    default 90-day half-life a line a year old weighs 6 %). One INSERT … SELECT.

    ``parallel`` (PostgreSQL): spread the join and aggregation over the server's parallel workers. The refresh
    turns it off when the rebuild runs beside the facts query on a second connection: there each statement has a
    core of its own, and a parallel plan's partial aggregates, which barely shrink the (customer, category)
    pairs, would only add work.
    """
    d = dialect(using)
    since = day_start(as_of - dt.timedelta(days=lookback_days - 1))
    params = _params(
        d,
        as_of=as_of,
        now=d.timestamp_param(now),
        since=d.timestamp_param(since),
        half_life=float(half_life_days),
        top=top,
    )
    window = f"{PURCHASE} AND o.ordered_at < %(upper)s AND o.ordered_at >= %(since)s"
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT MIN(o.id), MAX(o.id) FROM sales_order o WHERE {window}", params)
        first_order, last_order = cursor.fetchone()
    # The lines of the window's orders lie between its first and last order id: a bound that is always true and,
    # as ids grow with time, lets PostgreSQL read the year's lines off the order_id index instead of joining
    # every line ever sold (at 13M lines: 4M read instead of 13M, the join 9.7 -> 4.2 s).
    params.update(first_order=first_order or 0, last_order=last_order or -1)
    net_line = f"({d.float('l.amount')} * (l.quantity - l.refunded_quantity) / l.quantity)"
    decay = f"EXP({d.float('-0.6931471805599453')} * {d.age_days('o.ordered_at', 'now')} / {d.float('%(half_life)s')})"
    ranked = f"""
        SELECT customer_id, category_id, rnk, score, spend, last_at FROM (
            SELECT customer_id, category_id, score, spend, last_at,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY score DESC, category_id) AS rnk
            FROM (
                SELECT o.customer_id AS customer_id, l.category_id AS category_id,
                       SUM({net_line} * {decay}) AS score,
                       {d.money(f"SUM({net_line})")} AS spend,
                       MAX(o.ordered_at) AS last_at
                FROM sales_orderline l JOIN sales_order o ON o.id = l.order_id
                WHERE {window} AND l.order_id BETWEEN %(first_order)s AND %(last_order)s
                  AND l.category_id IS NOT NULL AND l.refunded_quantity < l.quantity
                GROUP BY o.customer_id, l.category_id
            ) agg
        ) ranked
        WHERE rnk <= %(top)s
    """
    insert = "INSERT INTO analytics_categoryaffinity (customer_id, category_id, rank, score, spend, last_purchase) "
    with connections[using].cursor() as cursor:
        for statement in d.session_tuning():
            cursor.execute(statement)
        if d.postgres:
            # Nearly every (customer, category) pair of a year is its own group (3.5M groups from 4M lines at 1M
            # customers), so a hash table of them all misses the CPU caches on every line; sorting the lines by
            # customer and category and aggregating in order, then ranking within each customer's presorted
            # rows (an incremental sort), takes half the time (PostgreSQL expects 10x fewer groups and hashes).
            cursor.execute("SET LOCAL enable_hashagg = off")
        if d.postgres and not parallel:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        if d.postgres and parallel:
            # PostgreSQL 15 never runs the SELECT of an INSERT in parallel, but does for CREATE TABLE AS: the join
            # and aggregation over the order lines run on every core into a temporary table, copied in after.
            cursor.execute(f"DROP TABLE IF EXISTS {AFFINITY_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {AFFINITY_TABLE} AS {ranked}", params)
            ranked, params = f"SELECT * FROM {AFFINITY_TABLE}", {}
        cursor.execute(d.clear("analytics_categoryaffinity"))
        indexes = _secondary_indexes(cursor, "analytics_categoryaffinity") if d.postgres else []
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(insert + ranked, params)
        inserted = cursor.rowcount
        if d.postgres:
            cursor.execute("RESET enable_hashagg")  # the rest of the refresh plans as configured
        if d.postgres and parallel:
            cursor.execute(f"DROP TABLE {AFFINITY_TABLE}")
        for _name, definition in indexes:
            cursor.execute(definition)
    return inserted


def cohort_counts(
    *, since: dt.date | None = None, customer_sql=None, using: str = "default"
) -> list[tuple[int, int, int]]:
    """(cohort month index, months since first purchase, active customers) for every cohort and month.

    A customer's cohort is the month of their first purchase; they count as retained in month k if they
    made a purchase k months later. ``since`` limits to cohorts starting on or after that date.
    """
    d = dialect(using)
    where, extra = _customer_filter(customer_sql)
    params = {"tz": settings.TIME_ZONE, **extra}
    month = d.month_index(d.local_date("o.ordered_at"))
    since_where = ""
    if since is not None:
        params["floor"] = since.year * 12 + since.month - 1
        since_where = "WHERE f.cohort >= %(floor)s"
    sql = f"""
        WITH months AS (
            SELECT DISTINCT o.customer_id AS customer_id, {month} AS m
            FROM sales_order o WHERE {PURCHASE}{where}
        ),
        firsts AS (SELECT customer_id, MIN(m) AS cohort FROM months GROUP BY customer_id)
        SELECT f.cohort, months.m - f.cohort AS k, COUNT(*)
        FROM months JOIN firsts f ON f.customer_id = months.customer_id
        {since_where}
        GROUP BY f.cohort, months.m - f.cohort
        ORDER BY f.cohort, k
    """
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(c), int(k), int(n)) for c, k, n in cursor.fetchall()]


# ------------------------------------------------------------------------------------------------------------
# The refresh pipeline: facts materialised once, the models fed from GROUP BY summaries, the scores written by
# one INSERT … SELECT. Only distinct (x, t_x, T) triples travel between the database and Python.

FACTS_TABLE = "analytics_facts_tmp"
AFFINITY_TABLE = "analytics_affinity_tmp"
PREDICTIONS_TABLE = "analytics_predictions_tmp"


def facts_materialize(*, as_of: dt.date, using: str = "default") -> int:
    """Compute every customer's RFM scores, segment and BTYD summary into a temporary table; return its size."""
    d = dialect(using)
    params = _params(d, as_of=as_of)
    with connections[using].cursor() as cursor:
        for statement in d.session_tuning():
            cursor.execute(statement)
        cursor.execute(f"DROP TABLE IF EXISTS {FACTS_TABLE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {FACTS_TABLE} AS WITH {_days_cte(d)}, {_rfm_ctes(d)} "
            f"SELECT customer_id, t_days, since_last_days, orders, monetary, frequency, "
            f"{d.float('repeat_amount')} AS repeat_amount, r_score, f_score, m_score, "
            f"{_segment_case()} AS segment FROM averaged",
            params,
        )
        if d.postgres:
            cursor.execute(f"ANALYZE {FACTS_TABLE}")
        cursor.execute(f"SELECT COUNT(*) FROM {FACTS_TABLE}")
        return int(cursor.fetchone()[0])


# PostgreSQL's binary COPY: an 11-byte signature, 4 bytes of flags and the length of a header extension (0); then
# per row the number of fields and each field's length and bytes, all big-endian; a field count of -1 ends it.
_PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _binary_rows(columns: list[tuple[str, str]]) -> np.dtype:
    """The numpy layout of one binary COPY row of fixed-width, non-NULL columns ((name, '>i4' | '>f8'), ...)."""
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    for name, kind in columns:
        fields += [(f"{name}_length", ">i4"), (name, kind)]
    return np.dtype(fields)


def facts_triples(*, using: str = "default") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (frequency, recency, T) in days with the number of customers sharing each (for weighted fits)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT frequency, t_days - since_last_days, t_days, COUNT(*) FROM {FACTS_TABLE} "
            f"GROUP BY frequency, t_days - since_last_days, t_days"
        )
        rows = np.asarray(cursor.fetchall(), dtype=np.float64).reshape(-1, 4)
    return rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]


def facts_spend(*, using: str = "default") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (frequency, mean repeat spend) of repeat buyers with their counts, for Gamma-Gamma."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT frequency, repeat_amount / frequency, COUNT(*) FROM {FACTS_TABLE} "
            f"WHERE frequency > 0 AND repeat_amount > 0 GROUP BY frequency, repeat_amount / frequency"
        )
        rows = np.asarray(cursor.fetchall(), dtype=np.float64).reshape(-1, 3)
    return rows[:, 0], rows[:, 1], rows[:, 2]


PREDICTION_COLUMNS = ("frequency", "recency", "t", "p_alive", "expected", "clv_unit", "risk_unit")


def predictions_load(columns: dict[str, np.ndarray], *, using: str = "default") -> None:
    """Store per-triple predictions in a temporary table: ``COPY`` on PostgreSQL, ``executemany`` elsewhere."""
    d = dialect(using)
    with connections[using].cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PREDICTIONS_TABLE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {PREDICTIONS_TABLE} (frequency integer, recency integer, t integer, "
            f"p_alive double precision, expected double precision, clv_unit double precision, "
            f"risk_unit double precision)"
        )
        if d.postgres:
            # Binary COPY built by numpy: one array operation per column instead of a Python row per triple.
            kinds = {"frequency": ">i4", "recency": ">i4", "t": ">i4"}
            layout = _binary_rows([(name, kinds.get(name, ">f8")) for name in PREDICTION_COLUMNS])
            rows = np.empty(len(columns["frequency"]), dtype=layout)
            rows["fields"] = len(PREDICTION_COLUMNS)
            for name in PREDICTION_COLUMNS:
                rows[f"{name}_length"] = layout[name].itemsize
                rows[name] = columns[name]
            copy_from(
                cursor,
                PREDICTIONS_TABLE,
                PREDICTION_COLUMNS,
                _PGCOPY_SIGNATURE + bytes(8) + rows.tobytes() + b"\xff\xff",
                binary=True,
            )
            cursor.execute(f"ANALYZE {PREDICTIONS_TABLE}")
        else:
            values = list(zip(*(columns[n].tolist() for n in PREDICTION_COLUMNS), strict=True))
            cursor.executemany(f"INSERT INTO {PREDICTIONS_TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s)", values)


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of a table's indexes that back no constraint (PostgreSQL)."""
    cursor.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = current_schema() AND i.tablename = %s
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY i.indexname""",
        [table],
    )
    return list(cursor.fetchall())


def scores_write(
    *,
    as_of: dt.date,
    computed_at: dt.datetime,
    overdue_factor: float,
    gamma_gamma: tuple[float, float, float] | None,
    with_predictions: bool,
    using: str = "default",
) -> int:
    """Replace every CustomerScore row with the facts joined to the predictions and the top categories.

    Spend per future purchase is the Gamma-Gamma conditional mean p(γ + x·z̄)/(px + q − 1) when a fit is
    given, else the customer's own mean order value. CLV = spend × ``clv_unit`` (discounted purchases
    expected); value at risk = spend × ``risk_unit`` ((1 − P(alive)) × discounted purchases if alive).
    """
    d = dialect(using)
    mean_spend = "CASE WHEN f.frequency > 0 THEN f.repeat_amount / f.frequency ELSE 0 END"
    # Parameters are cast to double precision: a bare 0.99665… is a numeric literal to PostgreSQL, which then
    # divides in numeric for every customer; the overdue test compares with the stored typical interval × factor.
    p, q, g, factor = (d.float(f"%({name})s") for name in ("gg_p", "gg_q", "gg_g", "factor"))
    if gamma_gamma is not None:
        spend = f"({p} * ({g} + f.frequency * {mean_spend}) / ({p} * f.frequency + {q} - 1))"
    else:
        spend = f"({d.float('f.monetary')} / f.orders)"
    recency = "(f.t_days - f.since_last_days)"
    interval = f"CASE WHEN f.frequency > 0 THEN {d.float(recency)} / f.frequency END"
    if with_predictions:
        clv, risk = d.money(f"p.clv_unit * {spend}"), d.money(f"p.risk_unit * {spend}")
        model_columns = f"p.p_alive, p.expected, {clv}, {risk}"
        join = (
            f"LEFT JOIN {PREDICTIONS_TABLE} p ON p.frequency = f.frequency AND p.recency = {recency} AND p.t = f.t_days"
        )
    else:
        model_columns, join = "NULL, NULL, NULL, NULL", ""
    as_of_date = d.date_param("as_of")
    params: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "computed_at": computed_at if d.postgres else computed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "factor": float(overdue_factor),
    }
    if gamma_gamma is not None:
        params.update(gg_p=gamma_gamma[0], gg_q=gamma_gamma[1], gg_g=gamma_gamma[2])
    statement = f"""
        INSERT INTO analytics_customerscore (
            customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, segment,
            first_purchase, last_purchase, repeat_purchases, avg_repeat_spend,
            p_alive, expected_purchases_90d, clv_12m, value_at_risk,
            typical_interval_days, is_overdue, top_categories, computed_at
        )
        SELECT f.customer_id, f.since_last_days, f.orders, f.monetary, f.r_score, f.f_score, f.m_score, f.segment,
               {d.date_minus_days(as_of_date, "f.t_days")}, {d.date_minus_days(as_of_date, "f.since_last_days")},
               f.frequency, {d.money(mean_spend)},
               {model_columns},
               {interval},
               CASE WHEN f.frequency > 0 THEN f.since_last_days > {factor} * ({interval}) ELSE false END,
               COALESCE(a.ids, {d.empty_json_array()}), %(computed_at)s
        FROM {FACTS_TABLE} f
        {join}
        LEFT JOIN (
            SELECT customer_id, {d.json_array_agg("category_id", "rank")} AS ids
            FROM (SELECT customer_id, category_id, rank FROM analytics_categoryaffinity
                  ORDER BY customer_id, rank) ordered
            GROUP BY customer_id
        ) a ON a.customer_id = f.customer_id
    """
    with connections[using].cursor() as cursor:
        if d.postgres:
            # Sorting a million facts for a merge join with the predictions costs more than hashing the predictions.
            cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(d.clear("analytics_customerscore"))
        # Bulk-load practice: on the emptied table, building each index once after the insert (one sort) is
        # several times faster than maintaining it row by row. TRUNCATE already holds the table's lock.
        indexes = _secondary_indexes(cursor, "analytics_customerscore") if d.postgres else []
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(statement, params)
        written = cursor.rowcount
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"DROP TABLE IF EXISTS {PREDICTIONS_TABLE}")
        cursor.execute(f"DROP TABLE IF EXISTS {FACTS_TABLE}")
    return written
