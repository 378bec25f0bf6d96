"""Segments and campaigns.

A **segment** is a rule tree (``core.segments``) kept as the user wrote it; it is evaluated when used
(dynamic) or frozen into ``SegmentMember`` rows (snapshot). A **campaign** sends one of up to four variants
to each customer of its segment, keeps a hold-out control group that gets nothing, and is measured against
it. Each send of a campaign is a ``CampaignRun`` (one per occurrence: a one-off campaign has one, a recurring
one a run per date), and each customer of a run is one ``CampaignRecipient`` row, unique per run, which is
what makes a re-run after a crash send nothing twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic (evaluated when used)")
        SNAPSHOT = "snapshot", _("Snapshot (frozen list)")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=dict)  # as submitted; segment_rules_clean passed on saving
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.DYNAMIC)
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("customers"), null=True, blank=True)  # at the last count
    counted_at = models.DateTimeField(null=True, blank=True)
    # whose visibility the segment is evaluated with when no user is at hand (a scheduled campaign run)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    archived = models.BooleanField(_("archived"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A snapshot segment's customers, as they were when it was frozen."""

    id = models.BigAutoField(primary_key=True)
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_unique")]


class Campaign(models.Model):
    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        WECHAT = "wechat", _("WeChat service notice")
        CALL = "call", _("Call list for agents")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")  # scheduled: waits for its time
        RUNNING = "running", _("Sending")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    class Schedule(models.TextChoices):
        NOW = "now", _("Once, as soon as approved")
        ONCE = "once", _("Once, at a set time")
        WEEKLY = "weekly", _("Every week")
        MONTHLY = "monthly", _("Every month")

    name = models.CharField(_("name"), max_length=120)
    goal = models.TextField(_("goal"), blank=True)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("segment"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel, default=Channel.SMS)
    purpose = models.CharField(_("purpose"), max_length=16, default="marketing")  # messaging.Purpose value
    coupon_template = models.ForeignKey(
        "loyalty.CouponTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("coupon"),
    )
    schedule = models.CharField(_("schedule"), max_length=10, choices=Schedule, default=Schedule.NOW)
    starts_at = models.DateTimeField(_("first send"), null=True, blank=True)  # ONCE, and the first of a series
    ends_on = models.DateField(_("last date"), null=True, blank=True)  # a series stops after this local date
    weekday = models.PositiveSmallIntegerField(  # WEEKLY: 0 = Monday
        _("weekday"), null=True, blank=True, validators=[MaxValueValidator(6)]
    )
    day_of_month = models.PositiveSmallIntegerField(  # MONTHLY: 29–31 fall on the month's last day
        _("day of month"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    send_time = models.TimeField(_("send time"), null=True, blank=True)  # local time of WEEKLY and MONTHLY
    time_zone = models.CharField(_("time zone"), max_length=64, default=settings.TIME_ZONE)
    window_start = models.TimeField(_("send window from"), null=True, blank=True)
    window_end = models.TimeField(_("send window until"), null=True, blank=True)
    throttle_per_minute = models.PositiveIntegerField(_("at most per minute"), null=True, blank=True)
    holdout_percent = models.DecimalField(
        _("hold-out (percent)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("10"),
        validators=[MinValueValidator(0), MaxValueValidator(50)],
    )
    use_global_holdout = models.BooleanField(_("respect the global hold-out"), default=True)
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"), default=14, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    next_run_at = models.DateTimeField(null=True, blank=True)  # the next occurrence due, UTC
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_run_at"], name="campaign_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(holdout_percent__gte=0, holdout_percent__lte=50), name="campaign_holdout_range"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CampaignVariant(models.Model):
    """One version of the message; recipients outside the hold-out are split by ``split_percent``."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(_("variant"), max_length=2)  # A, B, C, D
    template_code = models.CharField(_("message template"), max_length=50, blank=True)  # empty for a call list
    split_percent = models.PositiveSmallIntegerField(
        _("share (percent)"), default=100, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )

    class Meta:
        ordering = ["campaign", "label"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="campaign_variant_unique")]

    def __str__(self) -> str:
        return self.label


class CampaignRun(models.Model):
    """One occurrence of a campaign; unique per (campaign, occurrence), so an occurrence is sent once."""

    class Status(models.TextChoices):
        PREPARING = "preparing", _("Choosing recipients")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.DateTimeField()  # the scheduled instant this run stands for (UTC)
    is_test = models.BooleanField(default=False)  # a test send to staff phones: no recipients, no results
    status = models.CharField(max_length=10, choices=Status, default=Status.PREPARING)
    recipients = models.PositiveIntegerField(default=0)
    control = models.PositiveIntegerField(default=0)
    suppressed = models.JSONField(default=dict, blank=True)  # reason -> count
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a run whose worker died is picked up again
    # not before: the send window's next opening, the throttle's next minute (the due sweep queues it then)
    resume_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurrence"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "occurrence"], condition=models.Q(is_test=False), name="campaign_run_once"
            )
        ]


class CampaignRecipient(models.Model):
    """One customer of one run: in a variant, or in the control group (``variant`` empty)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        QUEUED = "queued", _("Queued")
        SUPPRESSED = "suppressed", _("Not sent")
        CONTROL = "control", _("Control group")
        CALL = "call", _("On the call list")

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="recipient_rows")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(CampaignVariant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    reason = models.CharField(max_length=40, blank=True)  # why not sent (messaging's reason codes)
    coupon = models.ForeignKey("loyalty.Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "customer"], name="campaign_recipient_once")]
        indexes = [
            models.Index(fields=["run", "status", "id"], name="campaign_recipient_todo"),
            models.Index(fields=["customer"], name="campaign_recipient_customer"),
        ]


class GlobalHoldout(models.Model):
    """The organisation-wide hold-out: a share of customers that no campaign reaches (one row)."""

    percent = models.DecimalField(
        _("global hold-out (percent)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(20)],
    )
    # off keeps the percentage for later; the engine leaves nobody out while it is off
    enabled = models.BooleanField(_("on"), default=True)
    salt = models.CharField(max_length=32, default="guanxi")  # changing it draws a new group
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("global hold-out")

    @property
    def active(self) -> bool:
        """Does it leave anyone out: on, and a percentage above 0."""
        return self.enabled and self.percent > 0
