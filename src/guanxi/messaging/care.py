"""The care action of messaging (``core.care``), registered in ``MessagingConfig.ready()``.

``message_send`` (``template``: a template code, ``channel``, optional ``fallback_channel``) queues the message
with ``Purpose.CARE`` through ``message_enqueue``, so marketing consent, the SMS opt-out, quiet hours and the
frequency cap shared with campaigns apply as to any promotional message. The care run's
``context["dedupe_key"]`` is the message's dedupe prefix: a repeated run queues nothing more. When the message
on ``channel`` is suppressed (no address, no consent, over the cap, …) and a fallback channel is given, it
goes on the fallback channel instead, under the same key (so it too is sent once). When it went on no channel
the result is ``{"suppressed": reason, ...}`` (the ``core.care`` convention), the reason being the queue's.

There is no staff notification mechanism yet, so there is no ``staff_notify`` action.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.care import CareAction, register_care_action
from guanxi.customers.care import param_choice
from guanxi.messaging.models import Channel, Message, MessageTemplate, Purpose

MESSAGE_SEND = "message_send"


def clean_message_params(params: dict[str, Any]) -> dict[str, Any]:
    channel = param_choice(params, "channel", Channel.values)
    fallback = params.get("fallback_channel") or ""
    if fallback:
        fallback = param_choice(params, "fallback_channel", Channel.values)
        if fallback == channel:
            raise ValidationError({"fallback_channel": [_("Choose a channel other than the first one.")]})
    code = str(params.get("template") or "").strip()
    found = set(
        MessageTemplate.objects.filter(code=code, is_active=True, channel__in=[channel, fallback]).values_list(
            "channel", flat=True
        )
    )
    if not code or channel not in found:
        raise ValidationError({"template": [_("No active template “%(code)s” for this channel.") % {"code": code}]})
    if fallback and fallback not in found:
        raise ValidationError(
            {"fallback_channel": [_("No active template “%(code)s” for this channel.") % {"code": code}]}
        )
    return {"template": code, "channel": channel, "fallback_channel": fallback}


def message_send(customer: Any, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Queue the care message (or its fallback); returns the channel it went on, or ``{"suppressed": reason}``
    when it went on no channel (the care run then records the occurrence as suppressed with that reason)."""
    from guanxi.messaging.services import _dedupe_key, message_enqueue

    key = str(context.get("dedupe_key") or "")
    if not key:
        raise ValueError("a care action needs context['dedupe_key']")
    values = dict(context.get("variables") or {})
    channels = [params["channel"], *([params["fallback_channel"]] if params.get("fallback_channel") else [])]
    reason = ""
    for channel in channels:
        result = message_enqueue(
            channel=channel,
            template_code=params["template"],
            customer_ids=[customer.pk],
            purpose=Purpose.CARE,
            context=values,
            dedupe_prefix=key,
            on_missing_template="skip",
        )
        if result.queued:
            return {"channel": channel, "queued": True}
        if result.duplicates:  # sent by an earlier run: queued then, or suppressed then (try the fallback)
            earlier = Message.objects.filter(dedupe_key=_dedupe_key(key, channel, customer.pk))
            row = earlier.values("status", "reason").first()
            if row and row["status"] != Message.Status.SUPPRESSED:
                return {"channel": channel, "queued": True, "duplicate": True}
            reason = row["reason"] if row else reason
            continue
        reason = next(iter(result.suppressed), "")
    return {"suppressed": reason or "not queued", "channel": None, "queued": False}


def register() -> None:
    channel = {
        "type": "string",
        "enum": list(Channel.values),
        "enumNames": [label for _value, label in Channel.choices],
    }
    register_care_action(
        CareAction(
            key=MESSAGE_SEND,
            label=gettext_lazy("Send a message"),
            handler=message_send,
            validate_params=clean_message_params,
            params_schema={
                "type": "object",
                "properties": {
                    "template": {
                        "type": "string",
                        "title": gettext_lazy("Template"),
                        "x-choices": "messaging.template",
                    },
                    "channel": {**channel, "title": gettext_lazy("Channel")},
                    "fallback_channel": {**channel, "title": gettext_lazy("Fallback channel")},
                },
                "required": ["template", "channel"],
            },
            order=10,
        )
    )
