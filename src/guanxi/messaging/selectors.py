"""Reads for messaging: current consent, the message log, a customer's messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from guanxi.accounts.actors import Actor
from guanxi.messaging.models import CONSENT_PURPOSES, Channel, Consent, Message, MessageTemplate, Purpose


def consent_current(*, customer_ids: Iterable[int], channel: str, purpose: str) -> dict[int, bool]:
    """The latest ledger row per customer for (channel, purpose), in one query; absent means never asked."""
    from guanxi.messaging.db import filter_in

    rows = (
        filter_in(Consent.objects.filter(channel=channel, purpose=purpose), "customer", list(customer_ids))
        .order_by("customer_id", "at", "id")
        .values_list("customer_id", "granted")
    )
    current: dict[int, bool] = {}
    for customer_id, granted in rows:
        current[customer_id] = granted  # ordered oldest to newest: the last one wins
    return current


def consent_state(*, customer: Any) -> list[dict[str, Any]]:
    """Every (channel, purpose) with its latest row (or None), for the consent page; one query."""
    latest: dict[tuple[str, str], Consent] = {}
    for row in Consent.objects.filter(customer=customer).select_related("actor").order_by("at", "id"):
        latest[(row.channel, row.purpose)] = row
    return [
        {
            "channel": channel,
            "channel_label": channel.label,
            "purpose": purpose,
            "purpose_label": purpose.label,
            "row": latest.get((channel.value, purpose.value)),
            "granted": (
                latest[(channel.value, purpose.value)].granted
                if (channel.value, purpose.value) in latest
                else purpose == Purpose.TRANSACTIONAL
            ),
        }
        for channel in Channel
        for purpose in CONSENT_PURPOSES
    ]


def consent_history(*, customer: Any, limit: int = 50) -> QuerySet[Consent]:
    return Consent.objects.filter(customer=customer).select_related("actor").order_by("-at", "-id")[:limit]


def message_list(
    *,
    user: Actor,
    status: str = "",
    channel: str = "",
    template_code: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    customer_id: int | None = None,
    before_id: int | None = None,
) -> QuerySet[Message]:
    """The message log, newest first, for keyset pages (``before_id``); only customers the user may see."""
    # customer: the name column of the log; template: its name
    # the address is encrypted and never shown in the log (to_masked is): skip decrypting it
    qs = Message.objects.visible_to(user).select_related("customer", "template").defer("to_address").order_by("-id")
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel=channel)
    if template_code:
        qs = qs.filter(template_code=template_code)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if before_id:
        qs = qs.filter(id__lt=before_id)
    return qs


def customer_messages(*, customer: Any, limit: int = 10) -> list[Message]:
    return list(Message.objects.filter(customer=customer).select_related("template").order_by("-id")[:limit])


def template_list() -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.order_by("code", "channel", "language")
