"""Care automation: rules (trigger → conditions → steps), the exactly-once ledger of what they did, journeys,
care tasks for staff, tier care plans with budgets, and customers excluded from care.

- A **rule** (``CareRule``) names a trigger of the core registry (``core.care``) with its parameters, a
  segment rule tree as conditions (``core.segments``), and ordered **steps**: actions of the registry
  (``{"action": "messaging.send", "params": {...}}``), waits (``{"wait_days": 7}``) and the check
  ``{"if_no_order": true}`` (continue only if the customer has not ordered since the journey started).
- Each (rule, customer, occasion) is one ``CareOccurrence`` row, unique: it is written with
  ``INSERT … ON CONFLICT DO NOTHING`` before anything is done for it, so a re-run, a second worker or a
  catch-up fires it once. Its status says what became of it: fired, held out (the rule's control group),
  suppressed (a higher-priority rule won, the frequency cap or the budget refused) or skipped (excluded).
- A rule with a wait continues as a ``CareJourney``; ``CareTask`` is a to-do for a person or a store team;
  ``CarePlan`` bundles rules per tier with a yearly budget, and ``CareSpend`` is what each gesture cost.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class CarePlan(models.Model):
    """The care of one tier: its rules (``CareRule.plan``) and a yearly budget per customer and in all."""

    name = models.CharField(_("name"), max_length=120)
    tier = models.ForeignKey(
        "loyalty.Tier", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("tier")
    )
    budget_per_customer = models.DecimalField(
        _("yearly budget per customer"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    budget_total = models.DecimalField(
        _("yearly budget of the plan"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("care plan")
        verbose_name_plural = _("care plans")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class CareRule(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    store = models.ForeignKey(
        "accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("store")
    )
    plan = models.ForeignKey(
        CarePlan, null=True, blank=True, on_delete=models.SET_NULL, related_name="rules", verbose_name=_("care plan")
    )
    active = models.BooleanField(_("active"), default=False)
    priority = models.IntegerField(_("priority"), default=100)  # higher wins when two rules hit one customer
    trigger_key = models.CharField(_("trigger"), max_length=60)
    trigger_params = models.JSONField(_("trigger parameters"), default=dict, blank=True)
    trigger_event = models.CharField(max_length=60, blank=True, db_index=True)  # the trigger's event, "" scheduled
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)  # a cleaned segment rule tree
    steps = models.JSONField(_("steps"), default=list, blank=True)
    holdout_percent = models.DecimalField(
        _("hold-out (percent)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("10"),
        validators=[MinValueValidator(0), MaxValueValidator(50)],
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default=settings.TIME_ZONE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("care rule")
        verbose_name_plural = _("care rules")
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(holdout_percent__gte=0, holdout_percent__lte=50), name="care_rule_holdout_range"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CareOccurrence(models.Model):
    """One occasion of one rule for one customer: the exactly-once ledger and the 360 trace."""

    class Status(models.TextChoices):
        FIRED = "fired", _("Fired")
        SUPPRESSED = "suppressed", _("Suppressed")
        HELD_OUT = "held_out", _("Held out (control group)")
        SKIPPED = "skipped", _("Skipped")

    id = models.BigAutoField(primary_key=True)
    rule = models.ForeignKey(CareRule, on_delete=models.CASCADE, related_name="occurrences")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    occasion = models.CharField(max_length=64)  # the local date ("2026-12-03") or the event ("event:123")
    occurred_on = models.DateField()  # the local date it was evaluated for
    status = models.CharField(max_length=12, choices=Status)
    reason = models.CharField(max_length=80, blank=True)
    run_token = models.CharField(max_length=32, blank=True)  # which run wrote it (and so acts on it)
    result = models.JSONField(default=dict, blank=True)  # what the actions reported, per step
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "customer", "occasion"], name="care_occurrence_once"),
        ]
        indexes = [
            models.Index(fields=["customer", "-occurred_on"], name="care_occ_customer"),
            models.Index(fields=["occurred_on", "status"], name="care_occ_day"),
            models.Index(fields=["run_token"], name="care_occ_token"),
        ]


class CareJourney(models.Model):
    """A customer's way through a rule's steps after a wait: the next step and when it is due."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        DONE = "done", _("Done")
        STOPPED = "stopped", _("Stopped")

    id = models.BigAutoField(primary_key=True)
    occurrence = models.OneToOneField(CareOccurrence, on_delete=models.CASCADE, related_name="journey")
    rule = models.ForeignKey(CareRule, on_delete=models.CASCADE, related_name="journeys")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    next_step = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.WAITING)
    stopped_reason = models.CharField(max_length=80, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="care_journey_due")]


class CareTask(models.Model):
    """A care to-do for a member of staff or a store's team: call, hand over a gift, write a card."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached")
        NO_ANSWER = "no_answer", _("No answer")
        CALL_BACK = "call_back", _("Call back later")
        GIFT_HANDED = "gift_handed", _("Gift handed over")
        MESSAGE_SENT = "message_sent", _("Message sent")

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    rule = models.ForeignKey(CareRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    occurrence = models.ForeignKey(CareOccurrence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(_("title"), max_length=200)
    script = models.TextField(_("script"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="care_tasks",
        verbose_name=_("assignee"),
    )
    store = models.ForeignKey(  # the store team's task when nobody in particular is assigned
        "accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("store")
    )
    due_on = models.DateField(_("due"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.OPEN)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome, blank=True)
    note = models.TextField(_("note"), blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("care task")
        verbose_name_plural = _("care tasks")
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["assignee", "status", "due_on"], name="care_task_mine"),
            models.Index(fields=["store", "status", "due_on"], name="care_task_store"),
        ]


class CareSpend(models.Model):
    """What one gesture cost, against its plan's yearly budget."""

    id = models.BigAutoField(primary_key=True)
    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="spends")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    occurrence = models.ForeignKey(CareOccurrence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    spent_on = models.DateField()
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["plan", "spent_on"], name="care_spend_plan")]


class CareExclusion(models.Model):
    """A customer no care rule reaches, and why."""

    class Reason(models.TextChoices):
        COMPLAINT = "complaint", _("Complaint open")
        OPTED_OUT = "opted_out", _("Opted out of care")
        DECEASED = "deceased", _("Deceased")
        STAFF = "staff", _("Staff member")

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="care_exclusion", verbose_name=_("customer")
    )
    reason = models.CharField(_("reason"), max_length=12, choices=Reason)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("care exclusion")
        verbose_name_plural = _("care exclusions")


class CareRunDay(models.Model):
    """One local date of the daily run: done, or skipped because it was past the grace period."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped (past the grace period)")

    day = models.DateField(unique=True)
    status = models.CharField(max_length=10, choices=Status)
    counts = models.JSONField(default=dict, blank=True)  # status -> occurrences written
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]
