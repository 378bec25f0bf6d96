"""Which provider sends each channel, and the small shapes the queue hands to providers.

The SMS and WeChat providers live in ``messaging/providers/`` (signed HTTP clients for Alibaba
Cloud, Tencent Cloud and WeChat, and a console backend); e-mail lives in ``messaging/email.py``.
The queue only needs ``send(batch) -> results`` with one of three outcomes per message:
accepted (the provider took it; never send again), temporary (retry later) or permanent (give up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

ACCEPTED = "accepted"
TEMPORARY = "temporary"
PERMANENT = "permanent"
UNKNOWN = "unknown"  # the request may have reached the provider: reconcile, never resend

#: Provider codes meaning the address itself is bad: it is suppressed for every purpose afterwards.
INVALID_ADDRESS_CODES = frozenset(
    {
        "guanxi.INVALID_NUMBER",
        "isv.MOBILE_NUMBER_ILLEGAL",  # Alibaba Cloud
        "InvalidParameterValue.IncorrectPhoneNumber",  # Tencent Cloud
        "40003",  # WeChat: invalid openid
    }
)


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    to: str
    body: str
    purpose: str
    template_code: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    subject: str = ""
    reply_to: str = ""


@dataclass(frozen=True)
class SendResult:
    message_id: int
    outcome: str  # accepted / temporary / permanent / unknown
    provider_message_id: str = ""
    error: str = ""
    invalid_address: bool = False  # the provider says this number / openid cannot receive anything


class Provider(Protocol):
    name: str

    def send(self, batch: list[Outgoing]) -> list[SendResult]: ...


_overrides: dict[str, Provider] = {}


def provider_override(channel: str, provider: Provider | None) -> None:
    """Use ``provider`` for ``channel`` (tests point the queue at a stand-in server this way)."""
    if provider is None:
        _overrides.pop(channel, None)
    else:
        _overrides[channel] = provider


def provider_for(channel: str) -> Provider:
    if channel in _overrides:
        return _overrides[channel]
    if channel == "email":
        from guanxi.messaging.email import EmailProvider

        return EmailProvider()
    from guanxi.messaging.adapters import provider_from_settings

    return provider_from_settings(channel)


def batch_size(channel: str) -> int:
    return int(settings.GUANXI_MESSAGING_BATCH_SIZE.get(channel, 50))
