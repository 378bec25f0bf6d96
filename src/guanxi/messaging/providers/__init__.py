"""Channel providers: signed HTTP clients for Alibaba Cloud, Tencent Cloud and WeChat, SMTP e-mail
(``providers/smtp.py``, imported on demand because it needs Django) and a console backend. The
messaging queue calls ``Provider.send(SendBatch)``; the types are in ``providers/base.py``.

``build_provider("aliyun", settings.GUANXI_SMS_ALIYUN, sign_name=...)`` builds one from the settings
dictionaries; ``receipt_parser("aliyun")`` gives the matching delivery-receipt parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guanxi.messaging.providers.aliyun import AliyunReceiptParser, AliyunSmsClient, AliyunSmsProvider
from guanxi.messaging.providers.base import (
    INVALID_ADDRESS_CODES,
    Outcome,
    Provider,
    Receipt,
    ReceiptFormatError,
    ReceiptParser,
    ReceiptStatus,
    Recipient,
    SendBatch,
    SendResult,
)
from guanxi.messaging.providers.console import ConsoleProvider
from guanxi.messaging.providers.tencent import TencentReceiptParser, TencentSmsClient, TencentSmsProvider
from guanxi.messaging.providers.wechat import (
    WechatClient,
    WechatTemplateEventParser,
    WechatTemplateProvider,
)

__all__ = [
    "AliyunReceiptParser",
    "AliyunSmsClient",
    "AliyunSmsProvider",
    "ConsoleProvider",
    "INVALID_ADDRESS_CODES",
    "Outcome",
    "Provider",
    "ReceiptFormatError",
    "ReceiptParser",
    "Receipt",
    "ReceiptStatus",
    "Recipient",
    "SendBatch",
    "SendResult",
    "TencentReceiptParser",
    "TencentSmsClient",
    "TencentSmsProvider",
    "WechatClient",
    "WechatTemplateEventParser",
    "WechatTemplateProvider",
    "build_provider",
    "receipt_parser",
]


def build_provider(backend: str, config: Mapping[str, Any] | None = None, **kw: Any) -> Provider:
    """A provider by its settings name: "console", "aliyun", "tencent", "wechat" or "smtp".

    ``config`` is the settings dictionary (``GUANXI_SMS_ALIYUN``, ``GUANXI_SMS_TENCENT``,
    ``GUANXI_WECHAT``); keyword arguments go to the provider (``sign_name``) or its HTTP client
    (``timeout``, ``http``), to ``ConsoleProvider`` (``channel``, ``stream``, ``path``), or to
    ``SmtpProvider`` (``connection``; it reads Django's e-mail settings).
    """
    if backend == "console":
        return ConsoleProvider(**kw)
    if backend == "smtp":
        from guanxi.messaging.providers.smtp import SmtpProvider

        return SmtpProvider(**kw)
    if config is None:
        raise ValueError(f"provider {backend!r} needs its settings dictionary")
    if backend == "aliyun":
        return AliyunSmsProvider.from_config(config, **kw)
    if backend == "tencent":
        return TencentSmsProvider.from_config(config, **kw)
    if backend == "wechat":
        return WechatTemplateProvider.from_config(config, **kw)
    raise ValueError(f"unknown messaging provider {backend!r}")


def receipt_parser(backend: str) -> ReceiptParser:
    parsers: dict[str, ReceiptParser] = {
        "aliyun": AliyunReceiptParser(),
        "tencent": TencentReceiptParser(),
        "wechat": WechatTemplateEventParser(),
    }
    try:
        return parsers[backend]
    except KeyError:
        raise ValueError(f"no delivery receipts for {backend!r}") from None
