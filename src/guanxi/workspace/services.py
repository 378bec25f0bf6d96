"""Writes of the home page: greeting a birthday customer and marking a birthday done."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from guanxi.core.audit import audit_record
from guanxi.customers.models import Customer
from guanxi.messaging.models import Channel
from guanxi.messaging.services import EnqueueResult, message_enqueue
from guanxi.workspace.models import BirthdayDone

if TYPE_CHECKING:
    from guanxi.accounts.models import User

#: The message template a birthday greeting uses (``guanxi demo`` ships it); SMS, the channel every shop has.
BIRTHDAY_TEMPLATE = "birthday"
BIRTHDAY_CHANNEL = Channel.SMS


def birthday_dedupe_prefix(year: int) -> str:
    """The greeting's dedupe prefix: one greeting per customer per year, however often it is clicked."""
    return f"birthday:{year}"


def birthday_greet(*, actor: User | None, customer: Customer, today: dt.date | None = None) -> EnqueueResult:
    """Queue the birthday template to ``customer`` through messaging (consent, quiet hours, opt-out apply there).

    Idempotent per customer per year: a second greeting finds the first one's dedupe key and queues nothing
    (``result.duplicates``). A missing template raises ``ValidationError`` naming it; nothing is written.
    """
    today = today or timezone.localdate()
    return message_enqueue(
        channel=BIRTHDAY_CHANNEL,
        template_code=BIRTHDAY_TEMPLATE,
        customer_ids=[customer.pk],
        dedupe_prefix=birthday_dedupe_prefix(today.year),
        actor=actor,
    )


@transaction.atomic
def birthday_mark_done(*, actor: User | None, customer: Customer, today: dt.date | None = None) -> bool:
    """Mark this year's birthday of ``customer`` taken care of; True if it was not marked yet."""
    today = today or timezone.localdate()
    _row, created = BirthdayDone.objects.get_or_create(
        customer=customer, year=today.year, defaults={"done_by": actor if actor and actor.pk else None}
    )
    if created:
        audit_record(
            actor=actor,
            action="create",
            object_type="workspace.birthday_done",
            object_id=f"{customer.pk}:{today.year}",
            customer_id=customer.pk,
            changes={"year": today.year},
        )
    return created


def merge_birthday_marks(survivor: Any, merged: Any) -> dict[str, int]:
    """Merge hook: the merged customer's marks move to the survivor, except years the survivor has already."""
    taken = BirthdayDone.objects.filter(customer=survivor).values("year")
    dropped, _by_model = BirthdayDone.objects.filter(customer=merged, year__in=taken).delete()
    moved = BirthdayDone.objects.filter(customer=merged).update(customer=survivor)
    return {"birthday marks": moved + dropped}
