"""Stored analytics: one score row per customer, refreshed in bulk, and a record of every model fit.

Segments, care rules and campaigns filter on :class:`CustomerScore` (its columns are indexed for that);
the scores themselves are produced by :func:`guanxi.analytics.services.scores_refresh`.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.sales.models import MONEY  # scores sum sales amounts, so they keep sales' precision


class Segment(models.TextChoices):
    """The eight RFM segments of the Chinese retail practice: R, F and M each high or low."""

    IMPORTANT_VALUE = "important_value", _("High value")  # 重要价值客户: R↑ F↑ M↑
    IMPORTANT_KEEP = "important_keep", _("Keep close")  # 重要保持客户: R↓ F↑ M↑
    IMPORTANT_DEVELOP = "important_develop", _("Grow")  # 重要发展客户: R↑ F↓ M↑
    IMPORTANT_RETAIN = "important_retain", _("Win back")  # 重要挽留客户: R↓ F↓ M↑
    GENERAL_VALUE = "general_value", _("Regular value")  # 一般价值客户: R↑ F↑ M↓
    GENERAL_KEEP = "general_keep", _("Regular keep")  # 一般保持客户: R↓ F↑ M↓
    GENERAL_DEVELOP = "general_develop", _("Regular grow")  # 一般发展客户: R↑ F↓ M↓
    GENERAL_RETAIN = "general_retain", _("Regular win back")  # 一般挽留客户: R↓ F↓ M↓


#: (R high, F high, M high) -> segment; the SQL CASE in ``analytics.sql`` is generated from this table.
SEGMENT_BY_LEVELS: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): Segment.IMPORTANT_VALUE,
    (False, True, True): Segment.IMPORTANT_KEEP,
    (True, False, True): Segment.IMPORTANT_DEVELOP,
    (False, False, True): Segment.IMPORTANT_RETAIN,
    (True, True, False): Segment.GENERAL_VALUE,
    (False, True, False): Segment.GENERAL_KEEP,
    (True, False, False): Segment.GENERAL_DEVELOP,
    (False, False, False): Segment.GENERAL_RETAIN,
}

#: One-line explanations of each segment, shown on the dashboard and the customer 360 panel.
SEGMENT_EXPLANATIONS = {
    Segment.IMPORTANT_VALUE: _("Bought recently, often and for a lot: your best customers."),
    Segment.IMPORTANT_KEEP: _("Buys often and spends a lot, but not lately: keep in touch."),
    Segment.IMPORTANT_DEVELOP: _("Recent big spender who does not buy often yet: worth growing."),
    Segment.IMPORTANT_RETAIN: _("Spent a lot, but rarely and not lately: at risk of being lost."),
    Segment.GENERAL_VALUE: _("Recent and frequent, with small baskets: raise the spend."),
    Segment.GENERAL_KEEP: _("Used to come often for small purchases, not lately."),
    Segment.GENERAL_DEVELOP: _("New or occasional with small purchases."),
    Segment.GENERAL_RETAIN: _("Small, rare and long ago: lowest priority."),
}


class CustomerScore(models.Model):
    """The analytics of one customer as of ``computed_at``; the whole table is rewritten by each refresh."""

    # Derived rows, rewritten wholesale from existing customers in one transaction: no database-level foreign
    # key (its per-row check would dominate a million-row refresh); Django still cascades deletes.
    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="score",
        db_constraint=False,
    )
    # RFM (net of refunds)
    recency_days = models.PositiveIntegerField(_("days since last purchase"))
    frequency = models.PositiveIntegerField(_("purchases"))
    monetary = models.DecimalField(_("net spend"), **MONEY)
    r_score = models.PositiveSmallIntegerField(_("R score"))
    f_score = models.PositiveSmallIntegerField(_("F score"))
    m_score = models.PositiveSmallIntegerField(_("M score"))
    segment = models.CharField(_("segment"), max_length=24, choices=Segment.choices)
    # Buy-till-you-die summary and predictions (time unit: days)
    first_purchase = models.DateField(_("first purchase"))
    last_purchase = models.DateField(_("last purchase"))
    repeat_purchases = models.PositiveIntegerField(_("repeat purchase days"))
    avg_repeat_spend = models.DecimalField(_("mean repeat spend"), **MONEY)
    p_alive = models.FloatField(_("probability still active"), null=True)
    expected_purchases_90d = models.FloatField(_("expected purchases in the next 90 days"), null=True)
    clv_12m = models.DecimalField(_("lifetime value (12 months)"), **MONEY, null=True)
    value_at_risk = models.DecimalField(_("value at risk"), **MONEY, null=True)
    typical_interval_days = models.FloatField(_("typical days between purchases"), null=True)
    is_overdue = models.BooleanField(_("overdue"), default=False)
    top_categories = models.JSONField(_("top categories"), default=list, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        indexes = [
            models.Index(fields=["segment"], name="score_segment"),
            models.Index(fields=["-value_at_risk"], name="score_value_at_risk"),
            models.Index(fields=["p_alive"], name="score_p_alive"),
            models.Index(fields=["-clv_12m"], name="score_clv"),
            models.Index(fields=["is_overdue", "-value_at_risk"], name="score_overdue_risk"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.segment}"


class CategoryAffinity(models.Model):
    """How much a customer buys in a category, weighted towards recent spend (exponential decay).

    ``rank`` 1 is the customer's strongest category; new-arrival notices select ``category=X, rank<=3``.
    """

    # Derived rows like CustomerScore: no database-level foreign keys; the indexes below cover both columns.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    category = models.ForeignKey(
        "sales.ProductCategory", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    rank = models.PositiveSmallIntegerField(_("rank"))
    score = models.FloatField(_("decayed spend"))
    spend = models.DecimalField(_("net spend"), **MONEY)
    last_purchase = models.DateTimeField(_("last purchase"))

    class Meta:
        verbose_name = _("category affinity")
        verbose_name_plural = _("category affinities")
        constraints = [
            models.UniqueConstraint(fields=["customer", "category"], name="affinity_unique_customer_category")
        ]
        indexes = [models.Index(fields=["category", "rank", "-score"], name="affinity_category_rank")]


class ModelFit(models.Model):
    """One maximum-likelihood fit of a buy-till-you-die model during a refresh."""

    class Kind(models.TextChoices):
        BGNBD = "bgnbd", _("BG/NBD")
        PARETO_NBD = "pareto_nbd", _("Pareto/NBD")
        GAMMA_GAMMA = "gamma_gamma", _("Gamma-Gamma")

    model = models.CharField(_("model"), max_length=16, choices=Kind.choices)
    params = models.JSONField(_("parameters"))
    log_likelihood = models.FloatField(_("log-likelihood"))
    n_customers = models.PositiveIntegerField(_("customers"))
    converged = models.BooleanField(_("converged"), default=True)
    duration_seconds = models.FloatField(_("duration (s)"))
    as_of = models.DateField(_("as of"))
    time_unit_days = models.FloatField(_("time unit (days)"), default=1.0)
    fitted_at = models.DateTimeField(_("fitted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("model fit")
        verbose_name_plural = _("model fits")
        indexes = [models.Index(fields=["model", "-fitted_at"], name="fit_model_recent")]

    def __str__(self) -> str:
        return f"{self.model} {self.fitted_at:%Y-%m-%d}"


class Refresh(models.Model):
    """One run of the scores refresh, with its timings (SQL vs fitting) and progress."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    as_of = models.DateField(_("as of"))
    customers = models.PositiveIntegerField(_("customers"), default=0)
    timings = models.JSONField(_("timings"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("scores refresh")
        verbose_name_plural = _("scores refreshes")
        ordering = ["-started_at"]
