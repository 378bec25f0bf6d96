"""The one set of provider types: what the messaging queue hands a provider, what it gets back, and
the delivery receipts providers push later.

Every channel backend (SMS, WeChat, e-mail, console) implements ``Provider.send(SendBatch)``; the
queue (``messaging.channels`` and ``messaging.services``) and the webhooks use these types and no
others. Plain Python (no Django), so that the providers run against the stand-in servers from tests
and from the benchmark without a database.

Each recipient ends in one of three outcomes, because the queue treats them differently:

* ``accepted`` — the provider took the message; it must never be sent again (Alibaba Cloud and
  Tencent Cloud ``SendSms`` are not idempotent);
* ``temporary`` — not taken this time (throttled, provider busy, network trouble); try again later;
* ``permanent`` — refused for a reason a retry will not fix (bad number, unapproved template or
  sign, wrong credentials).

A temporary result may carry ``maybe_sent=True``: the request may have reached the provider (read
timeout, dropped connection, an HTTP 5xx without a provider answer). Retrying it could send the
message twice, so the queue must reconcile it (delivery receipts, ``QuerySendDetails``) instead.
``SendResult.retryable`` is the one flag the queue needs. Providers never retry a send themselves.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

_E164 = re.compile(r"^\+[1-9]\d{5,14}$")


#: Provider codes meaning the address itself is bad: it is suppressed for every purpose afterwards.
INVALID_ADDRESS_CODES = frozenset(
    {
        "guanxi.INVALID_NUMBER",
        "isv.MOBILE_NUMBER_ILLEGAL",  # Alibaba Cloud
        "InvalidParameterValue.IncorrectPhoneNumber",  # Tencent Cloud
        "40003",  # WeChat: invalid openid
        # SMTP: the server refused the recipient at RCPT with "no such mailbox" (see providers/smtp.py)
        "smtp.rcpt.550",
        "smtp.rcpt.551",
        "smtp.rcpt.553",
    }
)


class Outcome(enum.StrEnum):
    """What became of one message (see the module docstring)."""

    ACCEPTED = "accepted"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Recipient:
    """One message: an E.164 phone (``+8613800138000``), a WeChat openid or an e-mail address, its
    variables, our key."""

    to: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # Our dedupe key for this message (the queue's message id). Sent as Aliyun OutId / Tencent
    # SessionContext when a provider call carries only this recipient, and as WeChat client_msg_id.
    out_id: str = ""
    # E-mail carries the rendered text itself (SMS and WeChat send the approved template + params).
    subject: str = ""
    body: str = ""
    reply_to: str = ""


@dataclass(frozen=True)
class SendBatch:
    """Messages that share one approved template (and sign); the provider splits it into API calls."""

    template: str  # Aliyun TemplateCode (SMS_154950909), Tencent TemplateId, WeChat template_id
    recipients: Sequence[Recipient]
    sign_name: str = ""  # SMS sign (签名); falls back to the provider's configured sign
    # Batch key, sent as OutId / SessionContext when one call carries several recipients.
    out_id: str = ""
    url: str = ""  # WeChat: the page a tapped notice opens
    # Provider extras passed through as documented: WeChat ``miniprogram``; Tencent ``ExtendCode``,
    # ``SenderId``; Aliyun ``SmsUpExtendCode``.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    recipient: Recipient
    outcome: Outcome
    provider_message_id: str = ""  # Aliyun BizId, Tencent SerialNo, WeChat msgid
    code: str = ""  # the provider's code ("OK", "isv.MOBILE_NUMBER_ILLEGAL", "LimitExceeded...", "43004")
    message: str = ""
    request_id: str = ""
    maybe_sent: bool = False  # the request may have reached the provider: reconcile, do not resend

    @property
    def to(self) -> str:
        return self.recipient.to

    @property
    def out_id(self) -> str:
        return self.recipient.out_id

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def retryable(self) -> bool:
        """Safe to send again later: a temporary failure the provider certainly did not act on."""
        return self.outcome is Outcome.TEMPORARY and not self.maybe_sent

    @property
    def invalid_address(self) -> bool:
        """The provider says this address cannot receive anything: suppress it for every purpose."""
        return self.outcome is Outcome.PERMANENT and self.code in INVALID_ADDRESS_CODES

    @property
    def error(self) -> str:
        if self.outcome is Outcome.ACCEPTED:
            return ""
        return f"{self.code}: {self.message}" if self.message else self.code


@runtime_checkable
class Provider(Protocol):
    """A channel backend. ``send`` returns one result per recipient, in the recipients' order."""

    name: str
    max_batch: int  # recipients a single API call can carry (the queue may hand over more)

    def send(self, batch: SendBatch) -> list[SendResult]: ...


class ReceiptStatus(enum.StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Receipt:
    """One delivery report pushed by a provider, normalised across providers.

    ``messaging.services.receipts_record`` stores it as a ``messaging.models.DeliveryReceipt`` row.
    """

    provider: str
    provider_message_id: str  # matches SendResult.provider_message_id (Aliyun: with ``to``, see aliyun.py)
    to: str  # E.164 phone, or the openid for WeChat
    status: ReceiptStatus
    error_code: str = ""
    error_text: str = ""
    at: dt.datetime | None = None  # when the handset got it (or the failure was reported), aware
    out_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def delivered(self) -> bool:
        return self.status is ReceiptStatus.DELIVERED

    @property
    def message_id(self) -> int | None:
        """Our message id, when the provider echoed it back as OutId / SessionContext / client_msg_id."""
        return int(self.out_id) if self.out_id.isdigit() else None


@runtime_checkable
class ReceiptParser(Protocol):
    """Parses a provider's delivery-report push; ``reply_body`` is the answer the provider expects."""

    provider: str
    reply_body: bytes
    reply_content_type: str

    def parse(self, body: bytes | str) -> list[Receipt]: ...


class ReceiptFormatError(ValueError):
    """The push body is not in the provider's documented shape."""


# ---------------------------------------------------------------------------------------- helpers

_shared_http: tuple[int, httpx.Client] | None = None
_shared_http_lock = threading.Lock()


def shared_http_client() -> httpx.Client:
    """One pooled HTTP client per process.

    The queue builds a provider for each run; sharing the pool keeps connections to the provider
    alive across runs instead of leaving a client per run for the garbage collector. Created anew in
    a forked child (Celery prefork), whose parent's sockets it must not use. Timeouts are set per
    request by each provider client.
    """
    global _shared_http
    with _shared_http_lock:
        if _shared_http is None or _shared_http[0] != os.getpid():
            _shared_http = (os.getpid(), httpx.Client(limits=httpx.Limits(max_connections=100)))
        return _shared_http[1]


def http_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def results_for(
    recipients: Iterable[Recipient],
    outcome: Outcome,
    *,
    provider_message_id: str = "",
    code: str = "",
    message: str = "",
    request_id: str = "",
    maybe_sent: bool = False,
) -> list[SendResult]:
    """The same answer for every recipient of one provider call (Aliyun answers per call)."""
    return [
        SendResult(
            recipient=r,
            outcome=outcome,
            provider_message_id=provider_message_id,
            code=code,
            message=message,
            request_id=request_id,
            maybe_sent=maybe_sent,
        )
        for r in recipients
    ]


def transport_failure(exc: httpx.HTTPError) -> tuple[str, str, bool]:
    """(code, message, maybe_sent) for an HTTP-level failure.

    Only a failure to connect proves the provider never saw the request; after the request was
    written, a timeout or a dropped connection leaves it unknown whether the message went out.
    """
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol):
        return "network.connect", f"{type(exc).__name__}: {exc}", False
    if isinstance(exc, httpx.TimeoutException):
        return "network.timeout", f"{type(exc).__name__}: {exc}", True
    return "network.error", f"{type(exc).__name__}: {exc}", True


def is_e164(phone: str) -> bool:
    return bool(_E164.match(phone))


def phone_to_e164(number: str, country_code: str = "86") -> str:
    """Providers report mainland numbers bare (13800138000) or with 86; the queue stores E.164."""
    digits = number.strip().replace(" ", "")
    if digits.startswith("+"):
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if country_code == "86" and len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    if country_code and not digits.startswith(country_code):
        return f"+{country_code}{digits}"
    return "+" + digits


def parse_china_time(text: Any) -> dt.datetime | None:
    """'2017-01-01 00:00:00' in Beijing time (how Aliyun and Tencent report) → aware datetime."""
    if not text:
        return None
    try:
        naive = dt.datetime.strptime(str(text).strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 — zone added below
    except ValueError:
        return None
    return naive.replace(tzinfo=CHINA_TZ)


def load_json(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ReceiptFormatError(f"not JSON: {exc}") from None


def compact_json(value: Any) -> str:
    """JSON as providers show it in their examples: UTF-8 characters kept, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def chunked(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def params_key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Recipients with equal variables can share one SendSms call."""
    return tuple(sorted((str(k), str(v)) for k, v in params.items()))
