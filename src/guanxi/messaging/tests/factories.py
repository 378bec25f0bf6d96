from __future__ import annotations

from guanxi.messaging.models import MessageTemplate


def make_template(
    *, code="promo", channel="sms", purpose="marketing", language="zh-hans", body="{name}您好,本周会员日全场8折", **kw
):
    return MessageTemplate.objects.create(
        code=code, name=kw.pop("name", code), channel=channel, purpose=purpose, language=language, body=body, **kw
    )
