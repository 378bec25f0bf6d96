"""Bridge from the queue (``channels.Outgoing`` / ``channels.SendResult``) to the SMS and WeChat providers.

The providers (``messaging/providers/``) take a ``SendBatch`` of recipients sharing one approved
template and answer one ``SendResult`` per recipient. Here each queued message becomes a
``Recipient`` whose ``out_id`` is the message id (sent as Aliyun OutId / Tencent SessionContext /
WeChat client_msg_id, so receipts find their message), and the answers come back per message id.
A temporary result that *may* have reached the provider (``maybe_sent``) becomes "unknown": the
queue reconciles it and never sends it again.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from guanxi.messaging import channels
from guanxi.messaging.channels import Outgoing


class QueueAdapter:
    """Wraps a provider of ``messaging.providers.base.Provider`` for the queue."""

    def __init__(self, provider: Any, *, sign_name: str = "") -> None:
        self.provider = provider
        self.name = provider.name
        self.sign_name = sign_name

    def send(self, batch: list[Outgoing]) -> list[channels.SendResult]:
        from guanxi.messaging.providers.base import Outcome, Recipient, SendBatch

        by_template: OrderedDict[str, list[Outgoing]] = OrderedDict()
        for item in batch:
            by_template.setdefault(item.template_code, []).append(item)
        answers: list[channels.SendResult] = []
        for template, items in by_template.items():
            recipients = [Recipient(to=i.to, params=dict(i.params), out_id=str(i.message_id)) for i in items]
            results = self.provider.send(SendBatch(template=template, recipients=recipients, sign_name=self.sign_name))
            for item, result in zip(items, results, strict=True):
                if result.outcome == Outcome.ACCEPTED:
                    outcome = channels.ACCEPTED
                elif result.outcome == Outcome.PERMANENT:
                    outcome = channels.PERMANENT
                elif result.maybe_sent:
                    outcome = channels.UNKNOWN
                else:
                    outcome = channels.TEMPORARY
                answers.append(
                    channels.SendResult(
                        message_id=item.message_id,
                        outcome=outcome,
                        provider_message_id=result.provider_message_id,
                        error=result.error[:255],
                        invalid_address=outcome == channels.PERMANENT and result.code in channels.INVALID_ADDRESS_CODES,
                    )
                )
        return answers


def provider_from_settings(channel: str) -> QueueAdapter:
    """The provider chosen in settings for ``channel`` ("sms" or "wechat"), wrapped for the queue."""
    from guanxi.messaging.providers import build_provider

    sign = settings.GUANXI_SMS_SIGN_NAME
    if channel == "wechat":
        backend, config, extra = settings.GUANXI_WECHAT_BACKEND, settings.GUANXI_WECHAT, {}
    else:
        backend = settings.GUANXI_SMS_BACKEND
        config = {"aliyun": settings.GUANXI_SMS_ALIYUN, "tencent": settings.GUANXI_SMS_TENCENT}.get(backend)
        extra = {"sign_name": sign} if backend in ("aliyun", "tencent") else {}
    if backend == "console":
        # one JSON line per message in var/messages.jsonl: what would have gone out
        extra = {"channel": channel, "path": Path(settings.VAR_DIR) / "messages.jsonl"}
        config = None
    try:
        provider = build_provider(backend, config, **extra)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Messaging backend for {channel}: {exc}") from None
    return QueueAdapter(provider, sign_name=sign if channel == "sms" else "")
