"""The segment fields messaging offers (``core.segments``): consent, messages received, reachable addresses.

Registered in ``MessagingConfig.ready()``, group "messaging". Each ``condition`` is a correlated subquery over
the customer's ``pk`` that an index answers (``consent_latest``, ``msg_customer_purpose`` /
``msg_customer_recent``, the contact points' customer key, the suppression list's unique address), so a rule
tree stays one SQL statement; ``filter`` (the customer list's ``?seg.`` links) is
``queryset.filter(condition(...))``.

* **Consent** (``"sms:marketing"``) is the consent ledger as ``selectors.consent_current`` and the consent page
  read it: the latest row per (customer, channel, purpose) by ``at`` then ``id``, one scalar subquery. Without
  any row, transactional messages count as allowed and marketing as not (as the consent page shows them).
  Suppression does **not** count here: the ledger is what the customer agreed to, the suppression list is about
  an address (an SMS "T" reply writes both — a withdrawal to the ledger and the address to the list — so an
  opt-out shows here anyway). Whether the address messaging would use is suppressed is the "reachable" field;
  a segment that wants "would really get our marketing SMS" combines the two.
* **Reachable** (``"sms"``, or ``"sms:marketing"``) mirrors how ``message_enqueue`` picks an address: the
  customer's contact point of the channel's kind (primary first, then the oldest) exists and is not on the
  suppression list for all messages — nor, for ``…:marketing``, for marketing.
* **Messages received in the last N days**: a message row in a live status (queued, sending, sent, delivered,
  needs checking — those the frequency cap counts) created since local midnight N − 1 days ago
  (``settings.TIME_ZONE``; N = 1 is today), of any purpose or of the one named in ``purpose``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.segments import choice_field, days_field, register_segment_field
from guanxi.customers.models import ContactPoint
from guanxi.messaging.models import CONTACT_KIND, Channel, Consent, Message, Purpose, Suppression
from guanxi.messaging.services import LIVE_STATUSES

CONSENT = "messaging.consent"
RECEIVED = "messaging.received"
REACHABLE = "messaging.reachable"
GROUP = "messaging"
MAX_DAYS = 3650


def _consent_choices() -> list[tuple[str, Any]]:
    return [
        (f"{channel.value}:{purpose.value}", f"{channel.label} · {purpose.label}")
        for channel in Channel
        for purpose in Purpose
    ]


def _reachable_choices() -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [(channel.value, channel.label) for channel in Channel]
    choices += [
        (f"{channel.value}:{Purpose.MARKETING.value}", f"{channel.label} · {Purpose.MARKETING.label}")
        for channel in (Channel.SMS, Channel.EMAIL)  # WeChat template messages are never marketing
    ]
    return choices


def _clean_choice(choices: Any, message: Any) -> Any:
    def clean(value: Any) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else ""
        if text not in {key for key, _label in choices()}:
            raise ValidationError(message() % {"value": str(value)[:40]})
        return text

    return clean


clean_consent = _clean_choice(
    _consent_choices, lambda: _("“%(value)s” is not a channel and purpose; write it as sms:marketing.")
)
clean_reachable = _clean_choice(_reachable_choices, lambda: _("“%(value)s” is not a channel; write it as sms."))


def clean_days(value: Any) -> int:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise ValidationError(_("Enter a whole number of days."))
    days = int(text)
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(_("Enter a number of days from 1 to %(max)d.") % {"max": MAX_DAYS})
    return days


def clean_received_params(params: dict[str, Any]) -> dict[str, Any]:
    """``purpose``: only messages of this purpose; left out, messages of any purpose."""
    raw = params.get("purpose")
    if raw in (None, ""):
        return {}
    if raw not in Purpose.values:
        raise ValidationError({"purpose": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Purpose.values)}]})
    return {"purpose": raw}


def window_start(days: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """The first instant of the local calendar day ``days - 1`` days before today (``days`` = 1: today)."""
    first = timezone.localdate(now) - dt.timedelta(days=days - 1)
    return timezone.make_aware(dt.datetime.combine(first, dt.time.min))


def consent_condition(operator: str, value: str, params: dict[str, Any]) -> Q:
    channel, _sep, purpose = value.partition(":")
    latest = (
        Consent.objects.filter(customer_id=OuterRef("pk"), channel=channel, purpose=purpose)
        .order_by("-at", "-id")
        .values("granted")[:1]
    )
    never_asked = Value(purpose == Purpose.TRANSACTIONAL, output_field=BooleanField())
    return Q(Coalesce(Subquery(latest, output_field=BooleanField()), never_asked))


def received_condition(operator: str, value: int, params: dict[str, Any]) -> Q:
    messages = Message.objects.filter(
        customer_id=OuterRef("pk"), status__in=LIVE_STATUSES, created_at__gte=window_start(int(value))
    )
    if params.get("purpose"):
        messages = messages.filter(purpose=params["purpose"])
    received = Q(Exists(messages))
    return ~received if operator == "not_within_days" else received


def addressed(channel: str, customer: Any = None) -> QuerySet[ContactPoint]:
    """The contact points that reach the customer (``OuterRef("pk")`` unless told) on ``channel``, in the order
    ``message_enqueue`` picks them: primary first, then the oldest."""
    kind = CONTACT_KIND[Channel(channel)]
    return ContactPoint.objects.filter(customer_id=customer or OuterRef("pk"), kind=kind).order_by("-is_primary", "id")


def reachable_condition(operator: str, value: str, params: dict[str, Any]) -> Q:
    channel, _sep, purpose = value.partition(":")
    scopes = [Suppression.Scope.ALL]
    if purpose == Purpose.MARKETING:
        scopes.append(Suppression.Scope.MARKETING)
    chosen = addressed(channel, OuterRef(OuterRef("pk"))).values("value_index")[:1]  # the customer, two levels up
    suppressed = Suppression.objects.filter(channel=channel, scope__in=scopes, address_index=Subquery(chosen)).exclude(
        address_index=""
    )
    return Q(Exists(addressed(channel))) & ~Q(Exists(suppressed))


def register() -> None:
    fields = [
        choice_field(
            CONSENT,
            gettext_lazy("Consent"),
            consent_condition,
            operators=("eq",),
            clean=clean_consent,
            choices=_consent_choices,
            help=gettext_lazy("The customer's latest decision for this channel and purpose."),
            order=80,
        ),
        choice_field(
            REACHABLE,
            gettext_lazy("Reachable on"),
            reachable_condition,
            operators=("eq",),
            clean=clean_reachable,
            choices=_reachable_choices,
            help=gettext_lazy("Has an address for the channel that is not on the suppression list."),
            order=81,
        ),
        days_field(
            RECEIVED,
            gettext_lazy("Messages received"),
            received_condition,
            clean=clean_days,
            params=("purpose",),
            clean_params=clean_received_params,
            help=gettext_lazy("Calendar days ending today; 1 is today."),
            order=82,
        ),
    ]
    for field in fields:
        register_segment_field(replace(field, group=GROUP))
