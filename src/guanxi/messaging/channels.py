"""Which provider sends each channel, and how the queue hands it a batch.

The providers live in ``messaging/providers/`` (signed HTTP clients for Alibaba Cloud, Tencent Cloud
and WeChat, SMTP, and a console backend) and share the types in ``messaging/providers/base.py``.
The queue only needs ``send(batch) -> results`` with one outcome per message: accepted (the
provider took it; never send again), temporary (retry later), temporary with ``maybe_sent`` (it may
have gone out: reconcile, never resend) or permanent (give up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from guanxi.messaging.providers import build_provider
from guanxi.messaging.providers.base import Provider, Recipient, SendBatch, SendResult

_overrides: dict[str, Provider] = {}


def provider_override(channel: str, provider: Provider | None) -> None:
    """Use ``provider`` for ``channel`` (tests point the queue at a stand-in server this way)."""
    if provider is None:
        _overrides.pop(channel, None)
    else:
        _overrides[channel] = provider


def provider_for(channel: str) -> Provider:
    """The provider chosen in settings for ``channel`` ("sms", "wechat" or "email")."""
    if channel in _overrides:
        return _overrides[channel]
    if channel == "email":
        return build_provider("smtp")
    config: Mapping[str, Any] | None
    extra: dict[str, Any]
    if channel == "wechat":
        backend, config, extra = settings.GUANXI_WECHAT_BACKEND, settings.GUANXI_WECHAT, {}
    else:
        backend = settings.GUANXI_SMS_BACKEND
        config = {"aliyun": settings.GUANXI_SMS_ALIYUN, "tencent": settings.GUANXI_SMS_TENCENT}.get(backend)
        extra = {"sign_name": settings.GUANXI_SMS_SIGN_NAME} if backend in ("aliyun", "tencent") else {}
    if backend == "console":
        # one JSON line per message in var/messages.jsonl: what would have gone out
        extra = {"channel": channel, "path": Path(settings.VAR_DIR) / "messages.jsonl"}
        config = None
    try:
        return build_provider(backend, config, **extra)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Messaging backend for {channel}: {exc}") from None


def batch_size(channel: str) -> int:
    return int(settings.GUANXI_MESSAGING_BATCH_SIZE.get(channel, 50))


def channel_send(channel: str, provider: Provider, items: Sequence[tuple[str, Recipient]]) -> list[SendResult]:
    """Send ``(provider template, recipient)`` pairs: one ``SendBatch`` per template, in order.

    Each recipient's ``out_id`` is its message id (sent as Aliyun OutId / Tencent SessionContext /
    WeChat client_msg_id, so receipts find their message); results come back in the same order.
    """
    sign_name = settings.GUANXI_SMS_SIGN_NAME if channel == "sms" else ""
    by_template: dict[str, list[Recipient]] = {}
    for template, recipient in items:
        by_template.setdefault(template, []).append(recipient)
    results: list[SendResult] = []
    for template, recipients in by_template.items():
        answers = provider.send(SendBatch(template=template, recipients=recipients, sign_name=sign_name))
        if len(answers) != len(recipients):
            raise ValueError(f"provider {provider.name} answered {len(answers)} of {len(recipients)} recipients")
        results.extend(answers)
    return results
