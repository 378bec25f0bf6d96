"""Messaging test helpers: a real local SMTP server (aiosmtpd) and templates/consent shortcuts."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from guanxi.messaging import channels, ratelimit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RecordingHandler:
    """Accepts mail like a real server; recipients starting with 'busy' get 451, 'nobody' get 550."""

    received: list = field(default_factory=list)
    busy_until: int = 0  # how many more 451s to give 'busy' recipients
    rcpt_calls: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_calls += 1
        if address.startswith("nobody"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("busy") and self.busy_until > 0:
            self.busy_until -= 1
            return "451 4.3.2 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _no_rate_limit_state(request, settings):
    """Each queue test starts with full buckets and the settings' providers (the provider tests need neither)."""
    if request.node.path.name == "test_providers.py":
        yield
        return
    request.getfixturevalue("db")
    settings.GUANXI_MESSAGING_REDIS_URL = ""
    for channel in ("sms", "email", "wechat"):
        ratelimit.bucket_reset(channel)
    yield
    for channel in ("sms", "email", "wechat"):
        channels.provider_override(channel, None)


@pytest.fixture(autouse=True)
def _webhook_tokens(settings):
    from guanxi.messaging.tests.factories import WEBHOOK_TOKENS

    settings.GUANXI_MESSAGING_WEBHOOK_TOKENS = dict(WEBHOOK_TOKENS)
