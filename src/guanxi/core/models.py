"""What every app shares: the domain-event outbox and the append-only audit log."""

from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """A domain event, written in the transaction of the change it announces (the outbox)."""

    name = models.CharField(_("name"), max_length=64)
    aggregate = models.CharField(_("aggregate"), max_length=64, blank=True)
    aggregate_id = models.CharField(_("aggregate id"), max_length=64, blank=True)
    customer_id = models.BigIntegerField(_("customer id"), null=True, blank=True)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("domain event")
        verbose_name_plural = _("domain events")
        indexes = [
            models.Index(fields=["customer_id", "-id"], name="core_event_customer"),
            models.Index(fields=["dispatched_at", "id"], name="core_event_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class EventDelivery(models.Model):
    """One event handed to one subscriber; the unique pair is what makes delivery happen once."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=200)
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="core_event_delivered_once"),
        ]


class AuditLog(models.Model):
    """Who read or changed what personal data, and when. Rows are never updated or deleted."""

    class Action(models.TextChoices):
        VIEW = "view", _("Viewed")
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Deleted")
        EXPORT = "export", _("Exported")
        MERGE = "merge", _("Merged")
        IMPORT = "import", _("Imported")

    at = models.DateTimeField(_("at"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    customer_id = models.BigIntegerField(_("customer id"), null=True, blank=True)
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    changes = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [models.Index(fields=["customer_id", "-at"], name="core_audit_customer")]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ValueError("The audit log is append-only.")


class IdempotencyKey(models.Model):
    """An idempotency key a write was done under, with the fingerprint of its parameters."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="core_idempotency_key_unique")]
