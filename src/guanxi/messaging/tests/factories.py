from __future__ import annotations

from guanxi.messaging.models import MessageTemplate


def make_template(
    *, code="promo", channel="sms", purpose="marketing", language="zh-hans", body="{name}您好,本周会员日全场8折", **kw
):
    return MessageTemplate.objects.create(
        code=code, name=kw.pop("name", code), channel=channel, purpose=purpose, language=language, body=body, **kw
    )


#: The webhook secrets the messaging tests configure (conftest), one per endpoint.
WEBHOOK_TOKENS = {
    "aliyun_receipts": "tok-aliyun-receipts",
    "aliyun_inbound": "tok-aliyun-inbound",
    "tencent_receipts": "tok-tencent-receipts",
    "tencent_inbound": "tok-tencent-inbound",
    "wechat": "wechat-server-token",
}


def webhook_url(endpoint: str) -> str:
    """The callback URL as configured at the provider: path and this endpoint's secret."""
    provider, _sep, kind = endpoint.partition("_")
    return f"/api/messaging/webhooks/{provider}/{kind}/?token={WEBHOOK_TOKENS[endpoint]}"
