"""Domain events that become messages.

Each subscriber reads its event's payload by the keys that ``docs/development/events.md`` lists for
that event, and no others (``core/tests/test_event_catalogue.py`` checks this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from guanxi.core.events import subscriber
from guanxi.messaging.models import Channel, MessageTemplate, Purpose

if TYPE_CHECKING:
    from guanxi.core.models import Event

EBILL_TEMPLATE = "ebill"


class EbillPayload(TypedDict, total=False):
    """The fields of ``loyalty.ebill`` this subscriber reads (see docs/development/events.md)."""

    amount: str
    discount: str
    points_earned: int
    points_balance: int
    wallet_balance: str
    order_ref: str


@subscriber("loyalty.ebill", name="messaging.ebill")
def ebill_send(event: Event) -> None:
    """The e-bill after a purchase: WeChat when the customer has an openid and a template exists, else SMS.

    Without any configured template the message is still written, as suppressed with reason "no template",
    so the gap is visible in the message log rather than silent.
    """
    from guanxi.customers.models import ContactPoint
    from guanxi.messaging.services import message_enqueue

    if not event.customer_id:
        return
    payload = cast(EbillPayload, event.payload or {})
    # template variables: the payload's names, plus the short aliases templates were written with
    context: dict[str, Any] = {
        "amount": payload.get("amount"),
        "discount": payload.get("discount"),
        "points": payload.get("points_earned"),
        "points_earned": payload.get("points_earned"),
        "points_balance": payload.get("points_balance"),
        "balance": payload.get("wallet_balance"),
        "wallet_balance": payload.get("wallet_balance"),
        "order_ref": payload.get("order_ref"),
    }
    channel = Channel.SMS
    has_openid = ContactPoint.objects.filter(customer_id=event.customer_id, kind="wechat").exists()
    if (
        has_openid
        and MessageTemplate.objects.filter(code=EBILL_TEMPLATE, channel=Channel.WECHAT, is_active=True).exists()
    ):
        channel = Channel.WECHAT
    message_enqueue(
        channel=channel,
        purpose=Purpose.TRANSACTIONAL,
        template_code=EBILL_TEMPLATE,
        customer_ids=[event.customer_id],
        context=context,
        dedupe_prefix=f"event:{event.pk}",
        on_missing_template="suppress",
    )
