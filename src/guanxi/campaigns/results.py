# ruff: noqa: S608 - statements are assembled from fixed fragments and table names; every value is a bound parameter.
"""Results of a campaign: delivery, opt-outs, coupons, conversion and revenue per variant and for the control,
with uplift over the control and its 95% confidence interval — set-based, in a constant number of queries.

Definitions (the page and the API state them too):

* A **recipient** is one ``CampaignRecipient`` row: one customer in one run. Variant groups are counted
  *as assigned* (intention to treat): a variant recipient whose message was suppressed or failed stays in
  the variant, as the control is drawn before anyone is suppressed; comparing only the delivered with the
  whole control would flatter the campaign.
* The **attribution window** of a run starts when the run started (``started_at``, or its scheduled
  ``occurrence`` before it started) and lasts the campaign's ``attribution_days``. Only orders placed in
  ``[start, start + days)`` count; an order before the run or after the window does not.
* **Revenue** follows the analytics convention: an order counts if it is not fully refunded, for
  ``paid_amount − refunded_amount`` (what the customer finally paid; refunds recorded later reduce it).
  A fully refunded order is neither revenue nor a conversion.
* A **converter** is a recipient with at least one such order in the window (one conversion per recipient
  however many orders); revenue per recipient is the recipient's revenue in the window, 0 for most.
* **Opted out**: a recipient with a consent withdrawal (``messaging.Consent``, granted = false) for the
  campaign's purpose — and its channel, unless it is a call list — recorded within the window (an SMS
  "T"/STOP reply records one for the customers of that number, beside the address suppression).
* **Coupons**: issued = recipients who were given a campaign coupon; redeemed = those coupons now redeemed;
  coupon cost = the sum of their discounts. **Incremental revenue** = (revenue per recipient of the variant
  − of the control) × the variant's recipients, set against the coupon cost.
* A recurring campaign has one result per run and a total over runs (recipients of all runs pooled; a
  customer in two runs is two recipients, each with their own window).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from guanxi.accounts.actors import Actor
from guanxi.campaigns import uplift
from guanxi.campaigns.campaign_selectors import campaigns_visible_to
from guanxi.campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignVariant
from guanxi.loyalty.models import Coupon
from guanxi.messaging.models import Consent, Message
from guanxi.sales.models import Order

CENT = Decimal("0.01")
CONTROL = "control"
REFUNDED = str(Order.Status.REFUNDED.value)


def _money(value: Any) -> Decimal:
    """A sum from the database as Decimal to the cent (SQLite sums decimals as floats)."""
    if value is None:
        return Decimal("0.00")
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class GroupResult:
    """One variant (or the control group) of one run, or of all runs together."""

    key: str  # the variant's label, or "control"
    variant_id: int | None
    recipients: int = 0
    sent: int = 0  # handed to the provider (sent, delivered, or awaiting a receipt)
    delivered: int = 0
    failed: int = 0
    suppressed: int = 0
    opted_out: int = 0
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    coupon_cost: Decimal = Decimal("0.00")
    converters: int = 0
    orders: int = 0
    revenue: Decimal = Decimal("0.00")
    revenue_sumsq: float = 0.0  # Σ (revenue per recipient)², for Welch's interval
    conversion: uplift.ProportionDiff | None = None  # uplift over the control (variants only)
    revenue_uplift: uplift.MeanDiff | None = None
    incremental_revenue: Decimal | None = None

    @property
    def is_control(self) -> bool:
        return self.variant_id is None

    @property
    def conversion_rate(self) -> float | None:
        return self.converters / self.recipients if self.recipients else None

    @property
    def revenue_per_recipient(self) -> Decimal | None:
        if not self.recipients:
            return None
        return (self.revenue / self.recipients).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def label(self) -> str:
        return _("Control") if self.is_control else _("Variant %(label)s") % {"label": self.key}

    def add(self, other: GroupResult) -> None:
        for name in (
            "recipients",
            "sent",
            "delivered",
            "failed",
            "suppressed",
            "opted_out",
            "coupons_issued",
            "coupons_redeemed",
            "converters",
            "orders",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.coupon_cost += other.coupon_cost
        self.revenue += other.revenue
        self.revenue_sumsq += other.revenue_sumsq


@dataclass
class RunResult:
    run_id: int | None  # None: the total over all runs
    occurrence: dt.datetime | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    groups: list[GroupResult] = field(default_factory=list)  # variants by label, then the control

    @property
    def control(self) -> GroupResult | None:
        return next((g for g in self.groups if g.is_control), None)

    @property
    def variants(self) -> list[GroupResult]:
        return [g for g in self.groups if not g.is_control]

    @property
    def recipients(self) -> int:
        return sum(g.recipients for g in self.groups)


@dataclass
class CampaignResults:
    campaign: Campaign
    attribution_days: int
    runs: list[RunResult]  # newest first
    total: RunResult
    proportion_method: str = uplift.PROPORTION_METHOD
    mean_method: str = uplift.MEAN_METHOD


def _window_sql(vendor: str) -> tuple[str, str]:
    """(start, end) of a run's attribution window as SQL over ``run`` and ``c`` (the campaign)."""
    start = "COALESCE(run.started_at, run.occurrence)"
    if vendor == "postgresql":
        return start, f"({start} + c.attribution_days * INTERVAL '1 day')"
    # SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC text, which compares in time order
    return start, f"datetime({start}, '+' || c.attribution_days || ' days')"


def _tables() -> dict[str, str]:
    return {
        "recipient": CampaignRecipient._meta.db_table,
        "run": CampaignRun._meta.db_table,
        "campaign": Campaign._meta.db_table,
        "order": Order._meta.db_table,
        "message": Message._meta.db_table,
        "coupon": Coupon._meta.db_table,
        "consent": Consent._meta.db_table,
    }


def _ctes(vendor: str, runs_where: str) -> str:
    """The common table expressions of both statements (parameters: those of ``runs_where``, then
    ``is_test = false``, the refunded status, ``granted = false``).

    ``w``: the runs in question with their attribution windows (a handful of rows). ``per``: each recipient
    with at least one counted order in its window, with its revenue and orders — the orders are found by
    time range (the ``order_time`` index) and hash-joined to the recipients, not looked up per recipient.
    ``opt``: recipients with a consent withdrawal inside their window, found the same way.
    """
    start, end = _window_sql(vendor)
    t = _tables()
    return f"""
        w AS (
            SELECT run.id AS run_id, {start} AS start_at, {end} AS stop_at, c.purpose AS purpose,
                c.channel AS channel
            FROM {t["run"]} run JOIN {t["campaign"]} c ON c.id = run.campaign_id
            WHERE {runs_where} AND run.is_test = %s
        ),
        per AS (
            SELECT r.id AS rid, SUM(o.paid_amount - o.refunded_amount) AS revenue, COUNT(*) AS orders
            FROM w
            JOIN {t["order"]} o ON o.ordered_at >= w.start_at AND o.ordered_at < w.stop_at
            JOIN {t["recipient"]} r ON r.run_id = w.run_id AND r.customer_id = o.customer_id
            WHERE o.status <> %s
                -- the span of all windows as constants, so orders are read by time range whatever the join order
                AND o.ordered_at >= (SELECT MIN(start_at) FROM w) AND o.ordered_at < (SELECT MAX(stop_at) FROM w)
            GROUP BY r.id
        ),
        opt AS (
            SELECT DISTINCT r.id AS rid
            FROM w
            JOIN {t["consent"]} k ON k.at >= w.start_at AND k.at < w.stop_at AND k.granted = %s
                AND k.purpose = w.purpose AND (k.channel = w.channel OR w.channel NOT IN ('sms', 'email', 'wechat'))
            JOIN {t["recipient"]} r ON r.run_id = w.run_id AND r.customer_id = k.customer_id
        )"""


def results_sql(vendor: str) -> str:
    """The one statement of a campaign's results: per (run, variant) counts and sums (``results_params``)."""
    t = _tables()
    return f"""
        WITH {_ctes(vendor, "run.campaign_id = %s")}
        SELECT r.run_id, r.variant_id, COUNT(*) AS recipients,
            SUM(CASE WHEN m.status IN ('sent', 'delivered', 'unknown') THEN 1 ELSE 0 END) AS sent,
            SUM(CASE WHEN m.status = 'delivered' THEN 1 ELSE 0 END) AS delivered,
            SUM(CASE WHEN m.status = 'failed' THEN 1 ELSE 0 END) AS failed,
            SUM(CASE WHEN r.status = 'suppressed' OR m.status = 'suppressed' THEN 1 ELSE 0 END) AS suppressed,
            COUNT(opt.rid) AS opted_out,
            SUM(CASE WHEN r.coupon_id IS NOT NULL THEN 1 ELSE 0 END) AS coupons_issued,
            SUM(CASE WHEN cp.status = 'redeemed' THEN 1 ELSE 0 END) AS coupons_redeemed,
            SUM(CASE WHEN cp.status = 'redeemed' THEN cp.discount ELSE 0 END) AS coupon_cost,
            COUNT(per.rid) AS converters,
            SUM(COALESCE(per.orders, 0)) AS orders,
            SUM(COALESCE(per.revenue, 0)) AS revenue,
            SUM(COALESCE(per.revenue * per.revenue, 0)) AS revenue_sumsq
        FROM w
        JOIN {t["recipient"]} r ON r.run_id = w.run_id
        LEFT JOIN per ON per.rid = r.id
        LEFT JOIN opt ON opt.rid = r.id
        LEFT JOIN {t["message"]} m ON m.id = r.message_id
        LEFT JOIN {t["coupon"]} cp ON cp.id = r.coupon_id
        GROUP BY r.run_id, r.variant_id"""


def results_params(campaign_id: int) -> list[Any]:
    return [campaign_id, False, REFUNDED, False]


def _execute(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def _group_from_row(key: str, variant_id: int | None, row: tuple[Any, ...]) -> GroupResult:
    (
        recipients,
        sent,
        delivered,
        failed,
        suppressed,
        opted_out,
        issued,
        redeemed,
        cost,
        converters,
        orders,
        revenue,
        sumsq,
    ) = row
    return GroupResult(
        key=key,
        variant_id=variant_id,
        recipients=int(recipients),
        sent=int(sent or 0),
        delivered=int(delivered or 0),
        failed=int(failed or 0),
        suppressed=int(suppressed or 0),
        opted_out=int(opted_out or 0),
        coupons_issued=int(issued or 0),
        coupons_redeemed=int(redeemed or 0),
        coupon_cost=_money(cost),
        converters=int(converters or 0),
        orders=int(orders or 0),
        revenue=_money(revenue),
        revenue_sumsq=float(sumsq or 0),
    )


def _compare(result: RunResult) -> None:
    """Fill in each variant's uplift over the control of the same run (or of the total)."""
    control = result.control
    if control is None:
        return
    for g in result.variants:
        g.conversion = uplift.proportion_diff(g.converters, g.recipients, control.converters, control.recipients)
        g.revenue_uplift = uplift.mean_diff(
            g.recipients, g.revenue, g.revenue_sumsq, control.recipients, control.revenue, control.revenue_sumsq
        )
        g.incremental_revenue = uplift.incremental_revenue(g.revenue, g.recipients, control.revenue, control.recipients)


def campaign_results(campaign: Campaign, *, user: Actor) -> CampaignResults:
    """The campaign's results for ``user``; ``Campaign.DoesNotExist`` if the user may not see it.

    Four queries whatever the number of recipients or runs: visibility, variants, runs, and one aggregate
    statement grouped by (run, variant) — the rest is arithmetic on those rows.
    """
    if not campaigns_visible_to(user).filter(pk=campaign.pk).exists():
        raise Campaign.DoesNotExist
    variants = list(CampaignVariant.objects.filter(campaign=campaign).order_by("label"))
    runs = list(CampaignRun.objects.filter(campaign=campaign, is_test=False).order_by("-occurrence", "-id"))
    rows = _execute(results_sql(connection.vendor), results_params(campaign.pk))
    by_run: dict[int, dict[int | None, tuple[Any, ...]]] = defaultdict(dict)
    for run_id, variant_id, *values in rows:
        by_run[run_id][variant_id] = tuple(values)
    window = dt.timedelta(days=campaign.attribution_days)
    labels: list[tuple[str, int | None]] = [(v.label, v.pk) for v in variants] + [(CONTROL, None)]
    extra = {vid for groups in by_run.values() for vid in groups} - {vid for _, vid in labels}
    labels[-1:-1] = [(f"#{vid}", vid) for vid in sorted(v for v in extra if v is not None)]  # a deleted label
    empty = (0,) * 13
    total = RunResult(None, None, None, None, [GroupResult(key=k, variant_id=vid) for k, vid in labels])
    out = []
    for run in runs:
        start = run.started_at or run.occurrence
        result = RunResult(run.pk, run.occurrence, start, start + window)
        for key, vid in labels:
            group = _group_from_row(key, vid, by_run.get(run.pk, {}).get(vid, empty))
            result.groups.append(group)
        for group, into in zip(result.groups, total.groups, strict=True):
            into.add(group)
        _compare(result)
        out.append(result)
    if runs:
        total.window_start = min(r.window_start for r in out if r.window_start)
        total.window_end = max(r.window_end for r in out if r.window_end)
    _compare(total)
    return CampaignResults(campaign=campaign, attribution_days=campaign.attribution_days, runs=out, total=total)


# ----------------------------------------------------------------------------------------------- headlines


@dataclass(frozen=True)
class Headline:
    """The campaign list's one line: the best variant's conversion against the control."""

    campaign_id: int
    recipients: int
    variant: str | None  # the label of the variant with the highest conversion rate
    conversion: uplift.ProportionDiff | None

    @property
    def text(self) -> str:
        return headline_text(self)


def headlines_sql(vendor: str, count: int) -> str:
    t = _tables()
    marks = ", ".join(["%s"] * count)
    return f"""
        WITH {_ctes(vendor, f"run.campaign_id IN ({marks})")}
        SELECT run.campaign_id, r.variant_id, v.label, COUNT(*) AS recipients, COUNT(per.rid) AS converters
        FROM w
        JOIN {t["run"]} run ON run.id = w.run_id
        JOIN {t["recipient"]} r ON r.run_id = w.run_id
        LEFT JOIN {CampaignVariant._meta.db_table} v ON v.id = r.variant_id
        LEFT JOIN per ON per.rid = r.id
        GROUP BY run.campaign_id, r.variant_id, v.label"""


def campaigns_headlines(campaign_ids: list[int]) -> dict[int, Headline]:
    """Headline uplift of each campaign of a page, in one query (all runs together).

    The caller has already narrowed ``campaign_ids`` to campaigns the user may see (the list page does).
    Campaigns without recipients are left out of the answer.
    """
    ids = sorted({int(i) for i in campaign_ids})
    if not ids:
        return {}
    sql = headlines_sql(connection.vendor, len(ids))
    rows = _execute(sql, [*ids, False, REFUNDED, False])
    grouped: dict[int, dict[int | None, tuple[str, int, int]]] = defaultdict(dict)
    for campaign_id, variant_id, label, recipients, converters in rows:
        grouped[campaign_id][variant_id] = (label or CONTROL, int(recipients), int(converters))
    out = {}
    for campaign_id, groups in grouped.items():
        control = groups.get(None)
        variants = [g for vid, g in groups.items() if vid is not None and g[1] > 0]
        recipients = sum(g[1] for g in groups.values())
        best = max(variants, key=lambda g: (g[2] / g[1], g[0]), default=None)
        conversion = None
        if best is not None and control is not None:
            conversion = uplift.proportion_diff(best[2], best[1], control[2], control[1])
        out[campaign_id] = Headline(campaign_id, recipients, best[0] if best else None, conversion)
    return out


def campaign_headline(campaign: Campaign) -> Headline | None:
    return campaigns_headlines([campaign.pk]).get(campaign.pk)


# ------------------------------------------------------------------------------------------ plain language


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def points(diff: float | None) -> str:
    return "—" if diff is None else f"{diff * 100:+.1f}"


def money(amount: Decimal | None) -> str:
    return "—" if amount is None else f"{amount:+,.2f}"


def conversion_reading(group: GroupResult, control: GroupResult | None) -> str:
    """E.g. "Variant A converted 4.1% vs 2.9% in the control: +1.2 points (95% CI +0.4 to +2.0)."."""
    est = group.conversion
    if control is None or est is None or est.diff is None:
        return _("%(group)s: no control group to compare with.") % {"group": group.label}
    values = {
        "group": group.label,
        "rate": percent(est.variant_rate),
        "control": percent(est.control_rate),
        "diff": points(est.diff),
    }
    if not est.computable:
        return _("%(group)s converted %(rate)s vs %(control)s in the control: %(diff)s points.") % values
    values.update(low=points(est.low), high=points(est.high))
    text = (
        _("%(group)s converted %(rate)s vs %(control)s in the control: %(diff)s points (95%% CI %(low)s to %(high)s).")
        % values
    )
    if not est.significant:
        # one message, so that each language joins its sentences its own way (Chinese without a space)
        text = _("%(reading)s No significant difference.") % {"reading": text}
    return text


def revenue_reading(group: GroupResult, control: GroupResult | None) -> str:
    est = group.revenue_uplift
    if control is None or est is None or est.diff is None:
        return ""
    values = {
        "group": group.label,
        "mean": f"¥{est.variant_mean:,.2f}",
        "control": f"¥{est.control_mean:,.2f}",
        "diff": money(est.diff),
    }
    if not est.computable:
        return _("%(group)s: revenue per recipient %(mean)s vs %(control)s in the control (%(diff)s).") % values
    values.update(low=money(est.low), high=money(est.high))
    text = (
        _(
            "%(group)s: revenue per recipient %(mean)s vs %(control)s in the control: %(diff)s "
            "(95%% CI %(low)s to %(high)s)."
        )
        % values
    )
    if not est.significant:
        # one message, so that each language joins its sentences its own way (Chinese without a space)
        text = _("%(reading)s No significant difference.") % {"reading": text}
    return text


def headline_text(headline: Headline) -> str:
    est = headline.conversion
    if est is None or est.diff is None:
        return _("No comparison yet")
    text = _("Variant %(label)s: %(diff)s points") % {"label": headline.variant, "diff": points(est.diff)}
    if est.computable and not est.significant:
        # one message, so that each language puts its own spacing (Chinese none) before the parenthesis
        text = _("%(headline)s (not significant)") % {"headline": text}
    return text


# ----------------------------------------------------------------------------------------------- the table


def table_header() -> list[str]:
    return [
        _("Run"),
        _("Group"),
        _("Recipients"),
        _("Sent"),
        _("Delivered"),
        _("Failed"),
        _("Not sent (suppressed)"),
        _("Opted out"),
        _("Coupons issued"),
        _("Coupons redeemed"),
        _("Coupon cost"),
        _("Converters"),
        _("Conversion rate (%)"),
        _("Conversion uplift (points)"),
        _("95% CI low (points)"),
        _("95% CI high (points)"),
        _("p-value (conversion)"),
        _("Revenue"),
        _("Revenue per recipient"),
        _("Revenue per recipient uplift"),
        _("95% CI low"),
        _("95% CI high"),
        _("p-value (revenue)"),
        _("Incremental revenue"),
    ]


# numbers stay numbers (a negative number is not a formula to the spreadsheet); missing values are blank
def _pts(value: float | None) -> float | str:
    return "" if value is None else round(value * 100, 2)


def _p(value: float | None) -> float | str:
    return "" if value is None else float(f"{value:.4g}")


def _cell(value: Decimal | None) -> Decimal | str:
    return "" if value is None else value


def table_rows(results: CampaignResults) -> list[list[Any]]:
    """The results table as rows (the total first, then each run): the CSV export of page and API."""
    rows: list[list[Any]] = []
    for scope, result in [(_("All runs"), results.total)] + [
        (r.occurrence.isoformat() if r.occurrence else "", r) for r in results.runs
    ]:
        for g in result.groups:
            conv, rev = g.conversion, g.revenue_uplift
            rows.append(
                [
                    scope,
                    g.label,
                    g.recipients,
                    g.sent,
                    g.delivered,
                    g.failed,
                    g.suppressed,
                    g.opted_out,
                    g.coupons_issued,
                    g.coupons_redeemed,
                    g.coupon_cost,
                    g.converters,
                    _pts(g.conversion_rate),
                    _pts(conv.diff if conv else None),
                    _pts(conv.low if conv else None),
                    _pts(conv.high if conv else None),
                    _p(conv.p_value if conv else None),
                    g.revenue,
                    _cell(g.revenue_per_recipient),
                    _cell(rev.diff if rev else None),
                    _cell(rev.low if rev else None),
                    _cell(rev.high if rev else None),
                    _p(rev.p_value if rev else None),
                    _cell(g.incremental_revenue),
                ]
            )
    return rows


def csv_text(results: CampaignResults) -> str:
    """The table as CSV text (with a byte-order mark, so spreadsheets read the Chinese headings as UTF-8)."""
    import csv
    import io

    from guanxi.core.spreadsheet import safe_row

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(safe_row(table_header()))
    for row in table_rows(results):
        writer.writerow(safe_row(row))
    return out.getvalue()


def csv_filename(campaign: Campaign) -> str:
    return f"campaign-{campaign.pk}-results.csv"


def chart_data(results: CampaignResults) -> dict[str, Any]:
    """What the results chart draws: conversion rate and revenue per recipient of each group (all runs)."""
    groups = results.total.groups
    return {
        "labels": [g.label for g in groups],
        "conversion": [None if g.conversion_rate is None else round(g.conversion_rate * 100, 2) for g in groups],
        "revenue": [None if g.revenue_per_recipient is None else float(g.revenue_per_recipient) for g in groups],
        "names": {"conversion": _("Conversion rate (%)"), "revenue": _("Revenue per recipient")},
    }
