"""Local stand-ins for the SMS and WeChat providers, for tests and benchmarks.

Each runs a stdlib HTTP server on 127.0.0.1 (a free port) in a background thread, checks requests as
the provider documents (signatures recomputed independently of the clients), answers with the
provider's documented bodies, records what it accepted, and can be scripted to misbehave::

    with AliyunSmsStandIn(access_key_secret="s3cret") as aliyun:
        provider = AliyunSmsProvider.from_config(
            {"access_key_id": aliyun.access_key_id, "access_key_secret": "s3cret", "endpoint": aliyun.base_url},
            sign_name="关系",
        )
        aliyun.fail_next(2, code="isv.BUSINESS_LIMIT_CONTROL")   # throttled twice
        aliyun.drop_next(after_processing=True)                 # sent, but the answer is lost
        aliyun.set_rate_limit(50)                               # requests per second
        ...
        assert len(aliyun.sent_to("+8613800138000")) == 1       # never sent twice
        aliyun.push_receipts(webhook_url)                       # SmsReport for what was sent
"""

from guanxi.messaging.standins.aliyun import AliyunSmsStandIn, verify_acs3
from guanxi.messaging.standins.base import CallbackRecorder, Incoming, RecordedRequest, Reply, SentMessage, StandIn
from guanxi.messaging.standins.tencent import TencentSmsStandIn, verify_tc3
from guanxi.messaging.standins.wechat import WechatStandIn

__all__ = [
    "AliyunSmsStandIn",
    "CallbackRecorder",
    "Incoming",
    "RecordedRequest",
    "Reply",
    "SentMessage",
    "StandIn",
    "TencentSmsStandIn",
    "WechatStandIn",
    "verify_acs3",
    "verify_tc3",
]
