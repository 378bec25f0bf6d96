"""Domain events that become messages."""

from __future__ import annotations

from guanxi.core.events import subscriber
from guanxi.messaging.models import Channel, MessageTemplate, Purpose

EBILL_TEMPLATE = "ebill"


@subscriber("loyalty.ebill", name="messaging.ebill")
def ebill_send(event) -> None:
    """The e-bill after a purchase: WeChat when the customer has an openid and a template exists, else SMS.

    Without any configured template the message is still written, as suppressed with reason "no template",
    so the gap is visible in the message log rather than silent.
    """
    from guanxi.customers.models import ContactPoint
    from guanxi.messaging.services import message_enqueue

    if not event.customer_id:
        return
    payload = dict(event.payload or {})
    context = {
        "amount": payload.get("amount"),
        "discount": payload.get("discount"),
        "points": payload.get("points_earned"),
        "points_earned": payload.get("points_earned"),
        "points_balance": payload.get("points_balance"),
        "balance": payload.get("wallet_balance"),
        "wallet_balance": payload.get("wallet_balance"),
        "order_ref": payload.get("order_ref") or payload.get("order") or payload.get("ref"),
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
