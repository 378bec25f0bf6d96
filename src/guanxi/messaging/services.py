"""Writes for messaging: consent, templates, the queue (enqueue, claim, send, reconcile), receipts, replies.

Sending is at most once per message. A message is *claimed* (queued -> sending, a conditional
UPDATE committed on its own) before the provider is called, and the provider's answer is recorded
afterwards. A task that runs again — a retry, or a redelivery after a worker died — finds nothing
'queued' to claim, so it never calls the provider for a message already handed over. A message
left in 'sending' past the lease is reconciled to 'needs checking' (its delivery receipt, which
carries the message id as OutId/SessionContext, settles it later) rather than sent again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.actors import Actor, actor_id, signed_in
from guanxi.core.audit import audit_record
from guanxi.core.events import event_record
from guanxi.core.redaction import redact_payload
from guanxi.customers.contacts import contact_indexes, mask_value, normalize_contact
from guanxi.customers.models import ContactPoint, Customer, TimelineEntry
from guanxi.customers.services import timeline_record
from guanxi.messaging import channels, ratelimit
from guanxi.messaging.db import filter_in, messages_insert
from guanxi.messaging.models import (
    CONSENT_PURPOSES,
    CONTACT_KIND,
    PROMOTIONAL,
    Channel,
    Consent,
    DeliveryReceipt,
    InboundMessage,
    Message,
    MessageTemplate,
    Purpose,
    Suppression,
)
from guanxi.messaging.providers.base import Outcome, Receipt, Recipient, SendResult
from guanxi.messaging.rendering import quiet_hours_end, render, sms_compose, sms_segments, variables_in
from guanxi.messaging.selectors import consent_current

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

S = Message.Status
#: Statuses that count towards the frequency cap (the message is, or may be, on its way).
LIVE_STATUSES = (S.QUEUED, S.SENDING, S.SENT, S.DELIVERED, S.UNKNOWN)
OPT_OUT_WORDS = {"T", "TD", "退订", "N", "STOP", "UNSUBSCRIBE"}


class Reason:
    NO_TEMPLATE = "no template"
    NO_ADDRESS = "no address"
    NO_CONSENT = "no consent"
    OPTED_OUT = "opted out"
    INVALID_ADDRESS = "invalid address"
    FREQUENCY_CAP = "frequency cap"
    QUIET_HOURS = "quiet hours"
    RETRIES_EXHAUSTED = "retries exhausted"
    REJECTED = "rejected by provider"
    WORKER_LOST = "worker lost after hand-over"
    MAYBE_SENT = "provider answer lost"
    UNDELIVERED = "undelivered"
    ERASED = "customer erased"
    UNKNOWN_CUSTOMER = "unknown customer"


#: What each reason reads as on a page (the rows keep the code).
REASON_LABELS: dict[str, Any] = {
    Reason.NO_TEMPLATE: _("no template in the customer's language"),
    Reason.NO_ADDRESS: _("no phone, e-mail or WeChat id for this channel"),
    Reason.NO_CONSENT: _("no consent to marketing on this channel"),
    Reason.OPTED_OUT: _("opted out"),
    Reason.INVALID_ADDRESS: _("address known to be invalid"),
    Reason.FREQUENCY_CAP: _("frequency cap reached"),
    Reason.QUIET_HOURS: _("waits for the end of quiet hours"),
    Reason.RETRIES_EXHAUSTED: _("retries exhausted"),
    Reason.REJECTED: _("rejected by the provider"),
    Reason.WORKER_LOST: _("worker lost after hand-over"),
    Reason.MAYBE_SENT: _("provider answer lost"),
    Reason.UNDELIVERED: _("undelivered"),
    Reason.ERASED: _("customer erased"),
    Reason.UNKNOWN_CUSTOMER: _("unknown or merged customer"),
}


def reason_label(reason: str) -> str:
    return str(REASON_LABELS.get(reason, reason))


# --- consent -----------------------------------------------------------------------------------


def _choice(value: str, choices: Any, field_name: str) -> str:
    if value not in choices.values:
        raise ValidationError({field_name: [_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices.values)}]})
    return value


@transaction.atomic
def consent_record(
    *,
    actor: Actor,
    customer: Customer,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    evidence: str = "",
    at: dt.datetime | None = None,
) -> Consent:
    """Append a consent decision to the ledger (with audit row and timeline entry)."""
    _choice(channel, Channel, "channel")
    if purpose not in CONSENT_PURPOSES:  # care and survey messages follow the marketing consent
        raise ValidationError(
            {"purpose": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(CONSENT_PURPOSES)}]}
        )
    if not source:
        raise ValidationError({"source": [_("Say where this consent came from.")]})
    row = Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source[:32],
        evidence=evidence[:255],
        actor=signed_in(actor),
        at=at or timezone.now(),
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="messaging.consent",
        object_id=row.pk,
        customer_id=customer.pk,
        channel=source[:16],
        changes={"channel": channel, "purpose": purpose, "granted": granted},
    )
    timeline_record(
        customer_id=customer.pk,
        kind=f"consent.{'granted' if granted else 'withdrawn'}.{channel}.{purpose}",
        summary=f"{channel} {purpose} {'granted' if granted else 'withdrawn'} ({source})",
        data={"channel": channel, "purpose": purpose, "source": source},
        actor=actor,
        ref_type="consent",
        ref_id=row.pk,
    )
    return row


# --- templates ---------------------------------------------------------------------------------


@transaction.atomic
def template_save(*, actor: Actor, template: MessageTemplate) -> MessageTemplate:
    created = template.pk is None
    template.save()  # validates variables and the WeChat purpose rule
    audit_record(
        actor=actor,
        action="create" if created else "update",
        object_type="messaging.template",
        object_id=template.pk,
        changes={"code": template.code, "channel": template.channel, "language": template.language},
    )
    return template


# --- enqueue -----------------------------------------------------------------------------------


@dataclass
class EnqueueResult:
    batch_ref: str
    queued: int = 0
    deferred: int = 0
    duplicates: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())


def _dedupe_key(prefix: str, channel: str, customer_id: int) -> str:
    key = f"{prefix}:{channel}:{customer_id}"
    if len(key) > 191:
        key = hashlib.sha256(key.encode()).hexdigest() + f":{channel}:{customer_id}"
    return key


#: The dedupe key ``message_enqueue`` gives the message of ``customer_id`` under ``prefix`` (callers that
#: find their messages again by it, like a campaign run marking its recipients).
message_dedupe_key = _dedupe_key


def _pick_template(templates: dict[str, MessageTemplate], language: str) -> MessageTemplate | None:
    if not templates:
        return None
    return templates.get(language) or templates.get(settings.LANGUAGE_CODE) or next(iter(templates.values()))


def _provider_template_code(channel: str, template: MessageTemplate) -> str:
    if template.provider_template_code:
        return template.provider_template_code
    mapping = settings.GUANXI_WECHAT_TEMPLATE_IDS if channel == Channel.WECHAT else settings.GUANXI_SMS_TEMPLATE_CODES
    return mapping.get(template.code, "") if channel != Channel.EMAIL else ""


def _chunks(items: list[_T], size: int) -> Iterable[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class RecipientsCheck:
    """What ``recipients_check`` found for one chunk of customers."""

    #: the customers that exist (not merged away), with name, language and home store loaded
    customers: dict[int, Customer]
    #: each customer's address on the channel: (value, blind index), the primary one first
    addresses: dict[int, tuple[str, str]]
    #: why each customer may not be sent to (a ``Reason`` code); absent: may be sent (quiet hours aside)
    reasons: dict[int, str]


def recipients_check(
    *,
    channel: str,
    purpose: str,
    customer_ids: list[int],
    now: dt.datetime,
    has_template: bool = True,
    load_customers: bool = True,
) -> RecipientsCheck:
    """The suppression decision for a chunk of customers, set-wise: a handful of queries whatever its size.

    The one rule both ``message_enqueue`` and a campaign's pre-send report apply, in this order: no template,
    unknown customer, no address, an address suppressed for everything (invalid), and for the promotional
    purposes (marketing, care, survey) an address that opted out, no marketing consent on the channel, and
    the frequency cap — which counts the customer's marketing, care and survey messages of the last days
    together, never transactional ones. Quiet hours only defer a message, so they are not a reason here.
    Writes nothing.
    """
    promotional = purpose in PROMOTIONAL
    kind = CONTACT_KIND[Channel(channel)]
    cap, cap_days = settings.GUANXI_MESSAGING_FREQUENCY_CAP
    existing = filter_in(Customer.objects.filter(merged_into__isnull=True), "id", customer_ids)
    customers: dict[int, Customer] = {}
    if load_customers:
        # name and language of each recipient; home store for {store} and Reply-To
        customers = {
            c.pk: c
            for c in existing.select_related("home_store").only(
                "id", "name", "preferences", "home_store__name", "home_store__reply_to_email"
            )
        }
        known = set(customers)
    else:
        known = set(existing.values_list("id", flat=True))
    addresses: dict[int, tuple[str, str]] = {}
    for cid, value, index in (
        filter_in(ContactPoint.objects.filter(kind=kind), "customer", customer_ids)
        .order_by("customer_id", "-is_primary", "id")
        .values_list("customer_id", "value" if load_customers else "value_index", "value_index")
    ):
        addresses.setdefault(cid, (value, index))
    suppressed_scope = dict(
        filter_in(
            Suppression.objects.filter(channel=channel),
            "address_index",
            [index for _v, index in addresses.values() if index],
        ).values_list("address_index", "scope")
    )
    consent = (
        consent_current(customer_ids=customer_ids, channel=channel, purpose=Purpose.MARKETING) if promotional else {}
    )
    recent: dict[int, int] = {}
    if promotional and cap:
        recent = dict(
            filter_in(Message.objects, "customer", customer_ids)
            .filter(
                purpose__in=sorted(PROMOTIONAL),
                status__in=LIVE_STATUSES,
                created_at__gte=now - dt.timedelta(days=cap_days),
            )
            .values("customer_id")
            .annotate(n=Count("id"))
            .values_list("customer_id", "n")
        )
    reasons: dict[int, str] = {}
    for cid in customer_ids:
        _address, index = addresses.get(cid, ("", ""))
        if cid not in known:
            reasons[cid] = Reason.UNKNOWN_CUSTOMER
        elif not has_template:
            reasons[cid] = Reason.NO_TEMPLATE
        elif not _address:
            reasons[cid] = Reason.NO_ADDRESS
        elif suppressed_scope.get(index) == Suppression.Scope.ALL:
            reasons[cid] = Reason.INVALID_ADDRESS
        elif promotional and suppressed_scope.get(index) == Suppression.Scope.MARKETING:
            reasons[cid] = Reason.OPTED_OUT
        elif promotional and not consent.get(cid, False):
            reasons[cid] = Reason.NO_CONSENT
        elif promotional and cap and recent.get(cid, 0) >= cap:
            reasons[cid] = Reason.FREQUENCY_CAP
    return RecipientsCheck(customers=customers, addresses=addresses, reasons=reasons)


@transaction.atomic
def message_enqueue(
    *,
    channel: str,
    template_code: str,
    customer_ids: Iterable[int],
    purpose: str = "",
    context: dict[str, Any] | None = None,
    contexts: dict[int, dict[str, Any]] | None = None,
    batch_ref: str = "",
    dedupe_prefix: str = "",
    actor: Actor = None,
    now: dt.datetime | None = None,
    on_missing_template: str = "raise",
    dispatch: bool = True,
    chunk_size: int = 2000,
) -> EnqueueResult:
    """Write one message row per recipient, deciding suppression set-wise (a few queries per chunk).

    Per chunk of recipients: customers, their contact points, consent (marketing), suppression list,
    frequency cap (marketing) and existing dedupe keys are each read with one query, and the rows are
    written with one bulk insert. Replaying the same ``dedupe_prefix`` writes nothing new.
    """
    _choice(channel, Channel, "channel")
    if channel == Channel.WECHAT and purpose == Purpose.MARKETING:
        raise ValidationError(
            {"channel": [_("WeChat template messages are for service notices only; send marketing by SMS or e-mail.")]}
        )
    now = now or timezone.now()
    templates = {
        t.language: t for t in MessageTemplate.objects.filter(code=template_code, channel=channel, is_active=True)
    }
    if not templates and on_missing_template == "raise":
        raise ValidationError(
            {"template_code": [_("No active template “%(code)s” for this channel.") % {"code": template_code}]}
        )
    template_purposes = {t.purpose for t in templates.values()}
    if not purpose:
        promotional = [p for p in (Purpose.MARKETING, Purpose.CARE, Purpose.SURVEY) if p in template_purposes]
        purpose = promotional[0] if promotional else Purpose.TRANSACTIONAL
    _choice(purpose, Purpose, "purpose")
    if purpose == Purpose.TRANSACTIONAL and template_purposes & PROMOTIONAL:
        raise ValidationError({"purpose": [_("A marketing template cannot be sent as a transactional message.")]})

    batch_ref = batch_ref or uuid.uuid4().hex[:16]
    prefix = dedupe_prefix or batch_ref
    result = EnqueueResult(batch_ref=batch_ref)
    base_context = dict(context or {})
    contexts = contexts or {}
    kind = CONTACT_KIND[Channel(channel)]
    quiet_end = quiet_hours_end(now) if purpose in PROMOTIONAL else None
    created_by_id = actor_id(actor)

    ids = list(dict.fromkeys(int(i) for i in customer_ids))
    for chunk in _chunks(ids, chunk_size):
        keys = {cid: _dedupe_key(prefix, channel, cid) for cid in chunk}
        existing = set(
            filter_in(Message.objects, "dedupe_key", list(keys.values())).values_list("dedupe_key", flat=True)
        )
        result.duplicates += len(existing)
        todo = [cid for cid in chunk if keys[cid] not in existing]
        if not todo:
            continue
        check = recipients_check(
            channel=channel, purpose=purpose, customer_ids=todo, now=now, has_template=bool(templates)
        )
        customers, addresses = check.customers, check.addresses
        rows = []
        for cid in todo:
            customer = customers.get(cid)
            if customer is None:
                result.suppressed[Reason.UNKNOWN_CUSTOMER] += 1
                continue
            language = (customer.preferences or {}).get("language") or settings.LANGUAGE_CODE
            template = _pick_template(templates, language)
            address, index = addresses.get(cid, ("", ""))
            status, reason, next_at = S.QUEUED, "", now
            if check.reasons.get(cid):
                status, reason = S.SUPPRESSED, check.reasons[cid]
            elif quiet_end is not None:
                next_at, reason = quiet_end, Reason.QUIET_HOURS
            values = dict(base_context)
            store = customer.home_store
            values.setdefault("name", customer.name)
            if store is not None:
                values.setdefault("store", store.name)
            values.update(contexts.get(cid, {}))
            body = subject = ""
            params: dict[str, str] = {}
            segments = 1
            if template is not None:
                params = {
                    name: "" if values.get(name) is None else str(values[name]) for name in variables_in(template.body)
                }
                body = render(template.body, values)
                subject = render(template.subject, values)
                if channel == Channel.SMS:
                    body = sms_compose(body, purpose=purpose)
                    segments = sms_segments(body)
            if status == S.QUEUED:
                result.queued += 1
                if next_at > now:
                    result.deferred += 1
            else:
                result.suppressed[reason] += 1
            rows.append(
                {
                    "customer_id": cid,
                    "channel": channel,
                    "purpose": purpose,
                    "template_id": template.pk if template else None,
                    "template_code": template_code,
                    "provider_template_code": _provider_template_code(channel, template) if template else "",
                    "language": template.language if template else "",
                    "subject": subject[:200],
                    "body": body,
                    "params": params,
                    "segments": segments,
                    "to_address": address,
                    "to_index": index,
                    "to_masked": mask_value(kind, address) if address else "",
                    "status": status,
                    "reason": reason,
                    "dedupe_key": keys[cid],
                    "batch_ref": batch_ref,
                    "next_attempt_at": next_at if status == S.QUEUED else None,
                    "created_by_id": created_by_id,
                }
            )
        messages_insert(rows)

    audit_record(
        actor=actor,
        action="create",
        object_type="messaging.batch",
        object_id=batch_ref,
        channel=channel,
        changes={
            "template": template_code,
            "purpose": purpose,
            "queued": result.queued,
            "suppressed": dict(result.suppressed),
            "duplicates": result.duplicates,
        },
    )
    if len(ids) == 1 and result.queued + result.suppressed_total:
        event_record(
            name="message.enqueued",
            customer_id=ids[0],
            payload={"batch_ref": batch_ref, "channel": channel, "template": template_code},
        )
    if dispatch and result.queued > result.deferred:
        from guanxi.messaging.tasks import messages_dispatch_task

        messages_dispatch_task.delay_on_commit(batch_ref=batch_ref)
    return result


# --- send --------------------------------------------------------------------------------------


def messages_due(*, now: dt.datetime | None = None, batch_ref: str = "", limit: int = 10000) -> dict[str, list[int]]:
    """Ids of queued messages whose time has come, per channel (oldest first)."""
    now = now or timezone.now()
    qs = Message.objects.filter(status=S.QUEUED, next_attempt_at__lte=now)
    if batch_ref:
        qs = qs.filter(batch_ref=batch_ref)
    due: dict[str, list[int]] = defaultdict(list)
    for mid, channel in qs.order_by("id").values_list("id", "channel")[:limit]:
        due[channel].append(mid)
    return due


def messages_claim(*, message_ids: Iterable[int], now: dt.datetime | None = None) -> tuple[str, int]:
    """Move due queued messages to 'sending' under a fresh claim token; committed before any provider call."""
    now = now or timezone.now()
    claim = uuid.uuid4().hex
    claimed = Message.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), id__in=list(message_ids), status=S.QUEUED
    ).update(status=S.SENDING, claim=claim, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    return claim, claimed


def _outgoing(message: Message) -> tuple[str, Recipient]:
    """The provider template and the recipient for one claimed message (its id is the ``out_id``)."""
    reply_to = ""
    customer = message.customer
    if customer is not None and customer.home_store is not None:
        reply_to = customer.home_store.reply_to_email
    return message.provider_template_code, Recipient(
        to=message.to_address,
        params=message.params,
        out_id=str(message.pk),
        subject=message.subject,
        body=message.body,
        reply_to=reply_to,
    )


def _retry_at(message: Message, now: dt.datetime) -> dt.datetime:
    delay = settings.GUANXI_MESSAGING_RETRY_BASE_SECONDS * (2 ** max(0, message.attempts - 1))
    at = now + dt.timedelta(seconds=delay)
    if message.purpose in PROMOTIONAL:
        at = quiet_hours_end(at) or at
    return at


@dataclass
class SendSummary:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unknown: int = 0
    retry_at: dt.datetime | None = None


@transaction.atomic
def _record_results(
    *, claim: str, messages: list[Message], results: list[SendResult], provider: str, now: dt.datetime
) -> SendSummary:
    summary = SendSummary()
    by_id = {int(r.out_id): r for r in results if r.out_id.isdigit()}
    timeline: list[TimelineEntry] = []
    for message in messages:
        mine = Message.objects.filter(pk=message.pk, claim=claim, status=S.SENDING)
        outcome = by_id.get(message.pk)
        if outcome is None or (outcome.outcome is Outcome.TEMPORARY and outcome.maybe_sent):
            # The provider gave no answer for it: it may have gone out. Never guess "not sent".
            mine.update(
                status=S.UNKNOWN,
                reason=Reason.MAYBE_SENT if outcome else Reason.WORKER_LOST,
                error=outcome.error[:255] if outcome else "",
                provider=provider,
                updated_at=now,
            )
            summary.unknown += 1
            continue
        if outcome.outcome is Outcome.ACCEPTED:
            mine.update(
                status=S.SENT,
                reason="",
                error="",
                provider=provider,
                provider_message_id=outcome.provider_message_id[:100],
                sent_at=now,
                updated_at=now,
            )
            summary.sent += 1
            kind = f"message.sent.{message.channel}"
        elif outcome.outcome is Outcome.TEMPORARY and message.attempts < settings.GUANXI_MESSAGING_MAX_ATTEMPTS:
            at = _retry_at(message, now)
            mine.update(
                status=S.QUEUED, error=outcome.error[:255], provider=provider, next_attempt_at=at, updated_at=now
            )
            summary.retry += 1
            summary.retry_at = min(summary.retry_at or at, at)
            continue
        else:
            reason = Reason.REJECTED if outcome.outcome is Outcome.PERMANENT else Reason.RETRIES_EXHAUSTED
            if outcome.invalid_address and message.to_index:
                reason = Reason.INVALID_ADDRESS
                Suppression.objects.update_or_create(
                    channel=message.channel,
                    address_index=message.to_index,
                    defaults={"scope": Suppression.Scope.ALL, "reason": "invalid", "address_masked": message.to_masked},
                )
            mine.update(status=S.FAILED, reason=reason, error=outcome.error[:255], provider=provider, updated_at=now)
            summary.failed += 1
            kind = f"message.failed.{message.channel}"
        if message.customer_id:
            timeline.append(
                TimelineEntry(
                    customer_id=message.customer_id,
                    kind=kind,
                    occurred_at=now,
                    summary=f"{message.channel} {message.template_code} {message.to_masked}"[:255],
                    data={
                        "channel": message.channel,
                        "template": message.template_code,
                        # the name staff gave the template, shown on the timeline (the code is not for people)
                        "template_name": message.template.name if message.template else "",
                        "to": message.to_masked,
                        "error": outcome.error[:100],
                    },
                    ref_type="message",
                    ref_id=str(message.pk),
                )
            )
    TimelineEntry.objects.bulk_create(timeline)
    return summary


def messages_send(*, message_ids: Iterable[int], now: dt.datetime | None = None) -> SendSummary:
    """Claim, rate-limit, hand to the provider in batches, record. Not atomic on purpose (see module doc)."""
    fixed = now

    def clock() -> dt.datetime:
        return fixed if fixed is not None else timezone.now()

    now = clock()
    claim, claimed = messages_claim(message_ids=message_ids, now=now)
    total = SendSummary()
    if not claimed:
        return total
    claimed_messages = list(
        Message.objects.filter(claim=claim, status=S.SENDING)
        .select_related("customer__home_store", "template")
        .order_by("id")
    )
    by_channel: dict[str, list[Message]] = defaultdict(list)
    for message in claimed_messages:
        by_channel[message.channel].append(message)
    for channel, group in by_channel.items():
        provider = channels.provider_for(channel)
        batches = list(_chunks(group, channels.batch_size(channel)))
        for position, batch in enumerate(batches):
            try:
                ratelimit.acquire(channel, len(batch), max_wait=settings.GUANXI_MESSAGING_RATE_MAX_WAIT)
            except Exception as exc:  # noqa: BLE001 — a full bucket or a broken limiter (Redis down): not sent
                # not handed to the provider: give these (and the rest) back to the queue as not sent.
                # A full bucket is retried at once; a limiter that failed is retried after the back-off.
                busy = isinstance(exc, TimeoutError)
                if not busy:
                    logger.exception(
                        "rate limiter for %s failed; %d messages go back to the queue", channel, len(batch)
                    )
                at = clock() if busy else clock() + dt.timedelta(seconds=settings.GUANXI_MESSAGING_RETRY_BASE_SECONDS)
                unsent = [m.pk for later in batches[position:] for m in later]
                released = Message.objects.filter(claim=claim, id__in=unsent, status=S.SENDING).update(
                    status=S.QUEUED,
                    claim="",
                    attempts=F("attempts") - 1,
                    next_attempt_at=at,
                    error="" if busy else f"rate limiter unavailable, not sent: {exc}"[:255],
                    updated_at=clock(),
                )
                total.retry += released
                total.retry_at = min(total.retry_at or at, at)
                break
            try:
                results = channels.channel_send(channel, provider, [_outgoing(m) for m in batch])
            except Exception as exc:  # noqa: BLE001 — whatever happened, the messages may have left
                logger.exception("provider %s raised; %d messages need checking", provider.name, len(batch))
                results = []
                Message.objects.filter(claim=claim, id__in=[m.pk for m in batch], status=S.SENDING).update(
                    error=str(exc)[:255]
                )
            summary = _record_results(claim=claim, messages=batch, results=results, provider=provider.name, now=clock())
            total.sent += summary.sent
            total.retry += summary.retry
            total.failed += summary.failed
            total.unknown += summary.unknown
            if summary.retry_at:
                total.retry_at = min(total.retry_at or summary.retry_at, summary.retry_at)
    return total


def messages_reconcile_stale(*, now: dt.datetime | None = None) -> int:
    """Messages stuck in 'sending' past the lease (their worker died): mark them for checking, never resend."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.GUANXI_MESSAGING_LEASE_SECONDS)
    return Message.objects.filter(status=S.SENDING, claimed_at__lt=cutoff).update(
        status=S.UNKNOWN, reason=Reason.WORKER_LOST, updated_at=now
    )


@transaction.atomic
def message_resend(*, actor: Actor, message: Message) -> Message:
    """A new message for a failed (or unconfirmed) one: same content, dedupe key derived from the old one."""
    if message.status not in (S.FAILED, S.UNKNOWN):
        raise ValidationError({"status": [_("Only failed or unconfirmed messages can be resent.")]})
    key = f"resend:{message.pk}"
    previous = Message.objects.filter(dedupe_key=key).first()
    if previous is not None:
        return previous
    copy = Message.objects.create(
        customer_id=message.customer_id,
        channel=message.channel,
        purpose=message.purpose,
        template_id=message.template_id,
        template_code=message.template_code,
        provider_template_code=message.provider_template_code,
        language=message.language,
        subject=message.subject,
        body=message.body,
        params=message.params,
        segments=message.segments,
        to_address=message.to_address,
        to_index=message.to_index,
        to_masked=message.to_masked,
        status=S.QUEUED,
        dedupe_key=key,
        batch_ref=message.batch_ref,
        next_attempt_at=timezone.now(),
        resent_from=message,
        created_by=signed_in(actor),
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="messaging.message",
        object_id=copy.pk,
        customer_id=message.customer_id,
        changes={"resent_from": message.pk},
    )
    from guanxi.messaging.tasks import message_send_task

    message_send_task.delay_on_commit([copy.pk])
    return copy


# --- receipts and replies ----------------------------------------------------------------------


@transaction.atomic
def receipts_record(*, provider: str, receipts: list[Receipt]) -> int:
    """Store delivery reports and move their messages to delivered/failed; returns messages matched."""
    if not receipts:
        return 0
    provider_ids = [r.provider_message_id for r in receipts if r.provider_message_id]
    our_ids = [r.message_id for r in receipts if r.message_id]
    found = Message.objects.filter(Q(provider_message_id__in=provider_ids) | Q(id__in=our_ids)).only(
        "id", "provider_message_id", "status", "customer_id", "to_index"
    )
    by_provider: dict[str, list[Message]] = defaultdict(list)
    for m in found:
        if m.provider_message_id:
            by_provider[m.provider_message_id].append(m)
    by_id = {m.pk: m for m in found}
    now = timezone.now()
    matched = 0
    rows = []
    for receipt in receipts:
        message_id = receipt.message_id
        message = by_id.get(message_id) if message_id else None
        if message is None:
            candidates = by_provider.get(receipt.provider_message_id, [])
            if len(candidates) > 1 and receipt.to.startswith("+"):
                index = contact_indexes("phone", receipt.to)[0]
                candidates = [m for m in candidates if m.to_index == index]
            message = candidates[0] if len(candidates) == 1 else None
        rows.append(
            DeliveryReceipt(
                message=message,
                provider=provider,
                provider_message_id=receipt.provider_message_id[:100],
                delivered=receipt.delivered,
                code=receipt.error_code[:64],
                description=receipt.error_text[:255],
                raw=redact_payload(dict(receipt.raw)),  # kept for debugging, without the person's number
            )
        )
        if message is None:
            continue
        matched += 1
        update: dict[str, Any] = {"updated_at": now}
        if receipt.provider_message_id and not message.provider_message_id:
            update["provider_message_id"] = receipt.provider_message_id[:100]
        if receipt.delivered:
            update.update(status=S.DELIVERED, delivered_at=now, reason="")
        else:
            update.update(
                status=S.FAILED, reason=Reason.UNDELIVERED, error=f"{receipt.error_code} {receipt.error_text}"[:255]
            )
        # a late report never moves a message backwards from delivered
        Message.objects.filter(pk=message.pk).exclude(status=S.DELIVERED).update(**update)
    DeliveryReceipt.objects.bulk_create(rows)
    return matched


def is_opt_out(text: str) -> bool:
    return "".join((text or "").split()).upper() in OPT_OUT_WORDS


@transaction.atomic
def inbound_record(*, provider: str, from_phone: str, text: str, raw: dict[str, Any] | None = None) -> InboundMessage:
    """Store an SMS reply; an opt-out word withdraws marketing SMS consent for that phone at once."""
    try:
        phone = normalize_contact("phone", from_phone)
    except ValidationError:
        phone = (from_phone or "").strip()
    index = contact_indexes("phone", phone)[0] if phone.startswith("+") else ""
    customer_ids = list(
        ContactPoint.objects.filter(kind="phone", value_index=index).values_list("customer_id", flat=True).distinct()
        if index
        else []
    )
    opt_out = is_opt_out(text)
    inbound = InboundMessage.objects.create(
        provider=provider,
        from_address=phone,
        from_index=index,
        from_masked=mask_value("phone", phone) if phone else "",
        body=text[:1000],
        customer_id=customer_ids[0] if customer_ids else None,
        is_opt_out=opt_out,
        raw=redact_payload(raw or {}),  # the number itself is encrypted in from_address
    )
    if opt_out and index:
        Suppression.objects.get_or_create(
            channel=Channel.SMS,
            address_index=index,
            defaults={
                "scope": Suppression.Scope.MARKETING,
                "reason": "sms reply",
                "address_masked": inbound.from_masked,
            },
        )
        # anything of theirs still waiting is stopped too
        Message.objects.filter(
            channel=Channel.SMS, purpose__in=sorted(PROMOTIONAL), to_index=index, status=S.QUEUED
        ).update(status=S.SUPPRESSED, reason=Reason.OPTED_OUT, updated_at=timezone.now())
    for customer in Customer.objects.filter(id__in=customer_ids):
        if opt_out:
            consent_record(
                actor=None,
                customer=customer,
                channel=Channel.SMS,
                purpose=Purpose.MARKETING,
                granted=False,
                source="sms reply",
                evidence=f"{inbound.from_masked}: {text[:100]}",
            )
        timeline_record(
            customer_id=customer.pk,
            kind="message.reply",
            summary=f"SMS reply: {text[:100]}",
            data={"text": text[:100], "from": inbound.from_masked},
            ref_type="inbound",
            ref_id=inbound.pk,
        )
    return inbound


# --- erasure ------------------------------------------------------------------------------------


def messages_erase_customer(customer: Customer) -> dict[str, int]:
    """Personal data in messaging rows of an erased customer (a ``core.personal_data`` eraser, in its transaction).

    Rendered texts, variables, addresses (cipher, blind index and masked form) and reply texts are
    cleared; the rows stay, with status, channel, template and times, for the counts and the audit.
    Anything still waiting is not sent. Suppressions stay: they are keyed by the address, not the
    customer, and keep a refusal honoured.
    """
    now = timezone.now()
    mine = Message.objects.filter(customer=customer)
    stopped = mine.filter(status=S.QUEUED).update(status=S.SUPPRESSED, reason=Reason.ERASED, updated_at=now)
    messages = mine.update(body="", subject="", params={}, to_address="", to_index="", to_masked="", updated_at=now)
    receipts = DeliveryReceipt.objects.filter(message__customer=customer).exclude(raw={}).update(raw={})
    replies = InboundMessage.objects.filter(customer=customer).update(
        from_address="", from_index="", from_masked="", body="", raw={}
    )
    return {"messages": messages, "messages_stopped": stopped, "receipts": receipts, "replies": replies}
