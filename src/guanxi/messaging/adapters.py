"""Bridge from the queue's Outgoing/SendResult to the SMS and WeChat providers chosen in settings."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from guanxi.messaging.channels import ACCEPTED, Outgoing, SendResult

logger = logging.getLogger("guanxi.messaging.console")


class _LogProvider:
    """Used only until the provider package is installed: logs each message and accepts it."""

    name = "console"

    def send(self, batch: list[Outgoing]) -> list[SendResult]:
        for item in batch:
            logger.info("message %s to %s: %s", item.message_id, item.to, item.body)
        return [
            SendResult(item.message_id, ACCEPTED, provider_message_id=f"console-{item.message_id}") for item in batch
        ]


def provider_from_settings(channel: str):
    backend = settings.GUANXI_WECHAT_BACKEND if channel == "wechat" else settings.GUANXI_SMS_BACKEND
    try:
        import guanxi.messaging.providers  # noqa: F401
    except ImportError:
        if backend == "console":
            return _LogProvider()
        raise ImproperlyConfigured(f"messaging provider {backend!r} for {channel} is not installed") from None
    raise ImproperlyConfigured(f"messaging provider {backend!r} for {channel} is not wired yet")
