"""Messaging: templates, the outbound queue (one row per recipient), consent ledger, suppression, receipts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.crypto import EncryptedTextField

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django_stubs_ext import StrPromise


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WECHAT = "wechat", _("WeChat")


class Purpose(models.TextChoices):
    """Why a message is sent; everything but transactional is *promotional* and treated alike.

    Care (a birthday greeting, a win-back "we miss you") and survey messages follow the rules of marketing:
    they need the customer's **marketing** consent on that channel (there is no separate care or survey
    consent to ask for: the consent ledger knows transactional and marketing only), an SMS opt-out stops
    them, they wait for the end of quiet hours, and they count towards the frequency cap together with
    marketing. Transactional messages (a receipt, a one-time code) never need marketing consent and never
    count towards the cap.
    """

    TRANSACTIONAL = "transactional", _("Transactional")
    MARKETING = "marketing", _("Marketing")
    CARE = "care", _("Customer care")
    SURVEY = "survey", _("Survey")


#: The promotional purposes: marketing consent, opt-outs, quiet hours and one shared frequency cap.
PROMOTIONAL = frozenset({Purpose.MARKETING, Purpose.CARE, Purpose.SURVEY})
#: The purposes the consent ledger records (care and survey follow the marketing consent).
CONSENT_PURPOSES = (Purpose.TRANSACTIONAL, Purpose.MARKETING)
CONSENT_PURPOSE_CHOICES = [(p.value, p.label) for p in CONSENT_PURPOSES]


#: Which contact-point kind reaches a customer on each channel.
CONTACT_KIND = {Channel.SMS: "phone", Channel.EMAIL: "email", Channel.WECHAT: "wechat"}


class MessageTemplate(models.Model):
    """One body of a template for one channel and one language; rows sharing a code are one template."""

    code = models.SlugField(_("code"), max_length=64)
    name = models.CharField(_("name"), max_length=100)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.TRANSACTIONAL)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.SMS)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    subject = models.CharField(_("subject"), max_length=200, blank=True, help_text=_("E-mail only."))
    body = models.TextField(_("body"), help_text=_("Variables in braces, e.g. {name}."))
    provider_template_code = models.CharField(
        _("provider template code"),
        max_length=64,
        blank=True,
        help_text=_("The template code or id approved by the SMS provider or WeChat; empty uses the settings."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["code", "channel", "language"]
        constraints = [
            models.UniqueConstraint(fields=["code", "channel", "language"], name="msg_template_one_body"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.channel}, {self.language})"

    def clean(self) -> None:
        from guanxi.messaging.rendering import check_variables

        errors: dict[str, Sequence[str | StrPromise]] = {}
        for field in ("subject", "body"):
            try:
                check_variables(getattr(self, field), field=field)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if self.channel == Channel.WECHAT and self.purpose == Purpose.MARKETING:
            errors["purpose"] = [_("WeChat template messages are for service notices only, never marketing.")]
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Variables are checked on every save, not only in forms: a template that cannot render never exists.
        self.clean()
        super().save(*args, **kwargs)


#: Where a consent decision came from (``Consent.source`` keeps the code), as staff read it.
CONSENT_SOURCE_LABELS = {
    "in store": _("In store"),
    "counter": _("At the counter"),
    "phone call": _("Phone call"),
    "paper form": _("Paper form"),
    "customer request": _("Customer request"),
    "sms reply": _("SMS reply"),
    "api": _("API"),
    "import": _("Import"),
    "web": _("Staff pages"),
    "portal": _("Customer portal"),
    "demo": _("Demo data"),
}


def consent_source_label(source: str) -> str:
    """A consent source as words; a source typed by hand (through the API) reads as given."""
    label = CONSENT_SOURCE_LABELS.get(source)
    return str(label) if label is not None else source


#: Why a message was not (or not yet) sent, as staff read it; the reason column keeps the stable English code.
REASON_LABELS = {
    "no template": _("no template"),
    "no address": _("no address"),
    "no consent": _("no consent"),
    "opted out": _("opted out"),
    "invalid address": _("invalid address"),
    "frequency cap": _("frequency cap"),
    "quiet hours": _("waiting for the end of quiet hours"),
    "retries exhausted": _("retries exhausted"),
    "rejected by provider": _("rejected by provider"),
    "worker lost after hand-over": _("worker lost after hand-over"),
    "provider answer lost": _("provider answer lost"),
    "undelivered": _("undelivered"),
    "unknown customer": _("unknown customer"),
    "customer erased": _("customer erased"),
}


class MessageQuerySet(models.QuerySet):
    def visible_to(self, user) -> MessageQuerySet:
        from guanxi.customers.models import Customer

        if user is not None and getattr(user, "sees_all_stores", False) and user.is_active:
            return self
        return self.filter(customer_id__in=Customer.objects.visible_to(user).values("id"))


class Message(models.Model):
    """One message to one recipient on one channel, from queued to delivered (or why not)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")
        UNKNOWN = "unknown", _("Needs checking")

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), null=True, blank=True, on_delete=models.CASCADE
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    # PROTECT: a template that was used is history; deactivate it (is_active) instead of deleting it.
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("template"), null=True, blank=True, on_delete=models.PROTECT
    )
    template_code = models.CharField(_("template code"), max_length=64, blank=True)
    provider_template_code = models.CharField(max_length=64, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    params = models.JSONField(_("variables"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    segments = models.PositiveSmallIntegerField(_("segments"), default=1)
    to_address = EncryptedTextField(_("to"), blank=True, default="")
    to_index = models.CharField(max_length=32, blank=True, default="", editable=False)
    to_masked = models.CharField(_("to"), max_length=64, blank=True, default="")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(_("reason"), max_length=64, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)
    provider = models.CharField(_("provider"), max_length=16, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=100, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=191, unique=True)
    batch_ref = models.CharField(_("batch"), max_length=64, blank=True)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    resent_from = models.ForeignKey(
        "self", verbose_name=_("resent from"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # the sender's scan: due queued messages per channel
            models.Index(fields=["status", "channel", "next_attempt_at"], name="msg_due"),
            models.Index(fields=["customer", "-id"], name="msg_customer_recent"),
            models.Index(fields=["provider_message_id"], name="msg_provider_id"),
            models.Index(fields=["batch_ref", "status"], name="msg_batch"),
            # frequency cap: a customer's recent marketing
            models.Index(fields=["customer", "purpose", "created_at"], name="msg_customer_purpose"),
            models.Index(fields=["status", "-id"], name="msg_status_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.pk} ({self.status})"

    @property
    def reason_label(self) -> str:
        return str(REASON_LABELS.get(self.reason, self.reason))


class Consent(models.Model):
    """The consent ledger: rows are appended, never changed; the latest row per (customer, channel, purpose) wins."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=CONSENT_PURPOSE_CHOICES)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=32)
    evidence = models.CharField(_("evidence"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consent ledger")
        indexes = [models.Index(fields=["customer", "channel", "purpose", "-at", "-id"], name="consent_latest")]

    @property
    def source_label(self) -> str:
        return consent_source_label(self.source)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("The consent ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The consent ledger is append-only.")


class Suppression(models.Model):
    """An address that must not be messaged: replied STOP (marketing) or is invalid (everything)."""

    class Scope(models.TextChoices):
        MARKETING = "marketing", _("Marketing only")
        ALL = "all", _("All messages")

    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    address_index = models.CharField(max_length=32)
    address_masked = models.CharField(_("address"), max_length=64, blank=True)
    scope = models.CharField(_("scope"), max_length=12, choices=Scope.choices, default=Scope.MARKETING)
    reason = models.CharField(_("reason"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")
        constraints = [
            models.UniqueConstraint(fields=["channel", "address_index"], name="suppression_one_per_address"),
        ]


class DeliveryReceipt(models.Model):
    """A provider's delivery report, kept as received; the message's status follows it."""

    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="receipts")
    provider = models.CharField(_("provider"), max_length=16)
    provider_message_id = models.CharField(max_length=100, blank=True)
    delivered = models.BooleanField(_("delivered"))
    code = models.CharField(_("code"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    raw = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("delivery receipt")
        verbose_name_plural = _("delivery receipts")


class InboundMessage(models.Model):
    """A message a customer sent us (an SMS reply); opt-out keywords withdraw marketing consent."""

    provider = models.CharField(_("provider"), max_length=16)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.SMS)
    from_address = EncryptedTextField(_("from"), blank=True, default="")
    from_index = models.CharField(max_length=32, blank=True, db_index=True)
    from_masked = models.CharField(_("from"), max_length=64, blank=True)
    body = models.TextField(_("text"), blank=True)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL)
    is_opt_out = models.BooleanField(_("opt-out"), default=False)
    raw = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")


class RateBucket(models.Model):
    """The database token bucket used when no Redis is configured (the embedded SQLite mode)."""

    key = models.CharField(max_length=64, primary_key=True)
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField()
