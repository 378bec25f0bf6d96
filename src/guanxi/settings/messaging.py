"""Messaging channels: which backend sends SMS, WeChat and e-mail, with what credentials and limits.

Everything comes from the environment so that a shop switches from the console backend to Alibaba
Cloud or Tencent Cloud without a code change. JSON-valued variables hold mappings
(e.g. ``GUANXI_SMS_TEMPLATE_CODES='{"ebill": "SMS_154950909"}'``).
"""

import json
import os
from decimal import Decimal


def _json_env(name: str, default):
    raw = os.environ.get(name, "")
    return json.loads(raw) if raw else default


# "console" (development: writes to the log and var/messages.log), "aliyun" or "tencent".
GUANXI_SMS_BACKEND = os.environ.get("GUANXI_SMS_BACKEND", "console")
GUANXI_SMS_SIGN_NAME = os.environ.get("GUANXI_SMS_SIGN_NAME", "关系")
# Our template code -> the provider's approved template code / id.
GUANXI_SMS_TEMPLATE_CODES: dict = _json_env("GUANXI_SMS_TEMPLATE_CODES", {})
GUANXI_SMS_OPT_OUT_TEXT = os.environ.get("GUANXI_SMS_OPT_OUT_TEXT", "回T退订")
GUANXI_SMS_ALIYUN = {
    "access_key_id": os.environ.get("GUANXI_ALIYUN_ACCESS_KEY_ID", ""),
    "access_key_secret": os.environ.get("GUANXI_ALIYUN_ACCESS_KEY_SECRET", ""),
    "endpoint": os.environ.get("GUANXI_ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com"),
}
GUANXI_SMS_TENCENT = {
    "secret_id": os.environ.get("GUANXI_TENCENT_SECRET_ID", ""),
    "secret_key": os.environ.get("GUANXI_TENCENT_SECRET_KEY", ""),
    "sdk_app_id": os.environ.get("GUANXI_TENCENT_SMS_SDK_APP_ID", ""),
    "region": os.environ.get("GUANXI_TENCENT_SMS_REGION", "ap-guangzhou"),
    "endpoint": os.environ.get("GUANXI_TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com"),
}

# WeChat Official Account template messages (service notices only): "console" or "wechat".
GUANXI_WECHAT_BACKEND = os.environ.get("GUANXI_WECHAT_BACKEND", "console")
GUANXI_WECHAT = {
    "app_id": os.environ.get("GUANXI_WECHAT_APP_ID", ""),
    "app_secret": os.environ.get("GUANXI_WECHAT_APP_SECRET", ""),
    "endpoint": os.environ.get("GUANXI_WECHAT_ENDPOINT", "https://api.weixin.qq.com"),
}
GUANXI_WECHAT_TEMPLATE_IDS: dict = _json_env("GUANXI_WECHAT_TEMPLATE_IDS", {})

# E-mail goes through Django's e-mail framework (EMAIL_HOST, EMAIL_PORT, ...).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "0") == "1"
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "guanxi@localhost")

# Marketing is never sent between these local times (settings.TIME_ZONE); it waits for the end.
GUANXI_MESSAGING_QUIET_HOURS = (
    os.environ.get("GUANXI_MESSAGING_QUIET_START", "21:00"),
    os.environ.get("GUANXI_MESSAGING_QUIET_END", "08:00"),
)
# At most this many promotional messages (marketing, care and survey together; never transactional) per
# customer in this many days (all channels together).
GUANXI_MESSAGING_FREQUENCY_CAP = (
    int(os.environ.get("GUANXI_MESSAGING_FREQUENCY_CAP", "2")),
    int(os.environ.get("GUANXI_MESSAGING_FREQUENCY_DAYS", "7")),
)
# Messages per second per channel (token bucket: Redis when available, else a database row).
GUANXI_MESSAGING_RATE_LIMITS: dict = _json_env("GUANXI_MESSAGING_RATE_LIMITS", {"sms": 50, "email": 20, "wechat": 50})
# A batch that would wait longer than this for rate tokens goes back to the queue instead.
GUANXI_MESSAGING_RATE_MAX_WAIT = float(os.environ.get("GUANXI_MESSAGING_RATE_MAX_WAIT", "60"))
GUANXI_MESSAGING_REDIS_URL = os.environ.get("GUANXI_MESSAGING_REDIS_URL", "")
# Recipients per provider call (Aliyun SendSms takes 1,000 numbers, Tencent 200).
GUANXI_MESSAGING_BATCH_SIZE: dict = _json_env("GUANXI_MESSAGING_BATCH_SIZE", {"sms": 100, "email": 50, "wechat": 50})
GUANXI_MESSAGING_MAX_ATTEMPTS = int(os.environ.get("GUANXI_MESSAGING_MAX_ATTEMPTS", "5"))
GUANXI_MESSAGING_RETRY_BASE_SECONDS = int(os.environ.get("GUANXI_MESSAGING_RETRY_BASE_SECONDS", "30"))
# A message claimed for sending longer ago than this is reconciled, never blindly resent.
GUANXI_MESSAGING_LEASE_SECONDS = int(os.environ.get("GUANXI_MESSAGING_LEASE_SECONDS", "300"))
# Provider webhooks. Alibaba Cloud and Tencent Cloud do not sign their SMS pushes: each endpoint has its
# own secret, carried in the callback URL (?token=...) or the X-Guanxi-Webhook-Token header. WeChat signs
# with the Token of the Official Account's server configuration. An endpoint without one refuses everything.
GUANXI_MESSAGING_WEBHOOK_TOKENS = {
    "aliyun_receipts": os.environ.get("GUANXI_ALIYUN_SMS_RECEIPTS_TOKEN", ""),
    "aliyun_inbound": os.environ.get("GUANXI_ALIYUN_SMS_INBOUND_TOKEN", ""),
    "tencent_receipts": os.environ.get("GUANXI_TENCENT_SMS_RECEIPTS_TOKEN", ""),
    "tencent_inbound": os.environ.get("GUANXI_TENCENT_SMS_INBOUND_TOKEN", ""),
    "wechat": os.environ.get("GUANXI_WECHAT_CALLBACK_TOKEN", ""),
}
# Signed pushes (WeChat) older or newer than this many seconds are refused as replays.
GUANXI_WEBHOOK_MAX_AGE_SECONDS = int(os.environ.get("GUANXI_WEBHOOK_MAX_AGE_SECONDS", "300"))

# The sweepers (due messages, stale claims) are scheduled in settings/celery.py with every beat entry.
# The price of one SMS segment (¥), for a campaign's cost estimate before sending.
GUANXI_SMS_PRICE = Decimal(os.environ.get("GUANXI_SMS_PRICE", "0.045"))
