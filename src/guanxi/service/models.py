"""The service desk's core records: teams, tickets and each ticket's history.

- A **ticket** (``Ticket``) is one request of one customer: an inquiry, a complaint, a repair under 三包, an
  installation… It moves through ``Ticket.TRANSITIONS``; every change, note and reply is a ``TicketEntry``
  (its history), and changes also go on the customer's timeline.
- Due times (first response, next response, resolution) are computed by the SLA policy that matched the
  ticket and stored on it, so queues and the breach scan read indexed columns, never recompute.
- ``Team`` groups agents under a lead (who is told of escalations); a ticket belongs to a team and,
  once routed, to one assignee.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    name = models.CharField(_("name"), max_length=120)
    store = models.ForeignKey(
        "accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("store")
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team lead"),
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="service_teams", verbose_name=_("members")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("service team")
        verbose_name_plural = _("service teams")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    class Type(models.TextChoices):
        INQUIRY = "inquiry", _("Inquiry")
        COMPLAINT = "complaint", _("Complaint")
        REPAIR = "repair", _("Repair")
        EXCHANGE = "exchange", _("Exchange")
        RETURN = "return", _("Return / refund")
        INSTALLATION = "installation", _("Installation")
        SPARE_PARTS = "spare_parts", _("Spare parts")
        TRAINING = "training", _("Training")
        MAINTENANCE = "maintenance", _("Maintenance visit")
        SUGGESTION = "suggestion", _("Suggestion")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        WAITING_CUSTOMER = "waiting_customer", _("Waiting on customer")
        WAITING_PARTS = "waiting_parts", _("Waiting on parts")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    class Channel(models.TextChoices):
        STAFF = "staff", _("Staff")
        API = "api", _("API")
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        PHONE = "phone", _("Phone")
        PORTAL = "portal", _("Portal")
        WECHAT = "wechat", _("WeChat")

    #: The workflow: from each status, the statuses a ticket may move to.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.NEW: frozenset({Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_PARTS, Status.RESOLVED}),
        Status.OPEN: frozenset({Status.WAITING_CUSTOMER, Status.WAITING_PARTS, Status.RESOLVED}),
        Status.WAITING_CUSTOMER: frozenset({Status.OPEN, Status.WAITING_PARTS, Status.RESOLVED}),
        Status.WAITING_PARTS: frozenset({Status.OPEN, Status.WAITING_CUSTOMER, Status.RESOLVED}),
        Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
        Status.CLOSED: frozenset({Status.REOPENED}),
        Status.REOPENED: frozenset({Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_PARTS, Status.RESOLVED}),
    }
    #: Statuses in which the ticket is still somebody's work (the queues and the breach scan read these).
    OPEN_STATUSES = frozenset({Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_PARTS, Status.REOPENED})
    #: Statuses that stop the SLA clock (waiting on the customer).
    PAUSED_STATUSES = frozenset({Status.WAITING_CUSTOMER})

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(_("type"), max_length=16, choices=Type, default=Type.INQUIRY)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.NEW)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority, default=Priority.NORMAL)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel, default=Channel.STAFF)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("customer"),
    )
    store = models.ForeignKey(
        "accounts.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    product = models.ForeignKey(
        "sales.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("product")
    )
    order_line = models.ForeignKey(
        "sales.OrderLine",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("order line"),
    )
    serial_number = models.CharField(_("serial number"), max_length=64, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets", verbose_name=_("team")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="service_tickets",
        verbose_name=_("assignee"),
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("merged into")
    )
    # SLA: the due times the matched policy computed (null: no target), and the moments that met them.
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    next_response_due_at = models.DateTimeField(_("next response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("first responded"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("opened"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["assignee", "status"], name="service_ticket_queue"),
            models.Index(fields=["team", "status"], name="service_ticket_team"),
            models.Index(fields=["customer", "status"], name="service_ticket_customer"),
            models.Index(fields=["store", "status"], name="service_ticket_store"),
            models.Index(fields=["status", "resolution_due_at"], name="service_ticket_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def number(self) -> str:
        return f"#{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class TicketEntry(models.Model):
    """One line of a ticket's history: a reply to the customer, an internal note, an inbound message, a change."""

    class Kind(models.TextChoices):
        REPLY = "reply", _("Reply to customer")
        NOTE = "note", _("Internal note")
        INBOUND = "inbound", _("From customer")
        CHANGE = "change", _("Change")

    id = models.BigAutoField(primary_key=True)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind)
    body = models.TextField(_("text"), blank=True)
    #: For changes: {"field": [old, new], …}; for replies: the message id and channel.
    data = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ticket entry")
        verbose_name_plural = _("ticket entries")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="service_entry_ticket")]
