"""Parsing provider callbacks (documented formats) into receipts and replies.

Aliyun SmsReport: a JSON array of ``{"phone_number", "success", "err_code", "err_msg", "biz_id", "out_id", ...}``;
reply ``{"code": 0, "msg": "成功"}``. Aliyun SmsUp (replies): an array of ``{"phone_number", "content", ...}``.
Tencent status callback: an array of ``{"mobile", "report_status": "SUCCESS"|"FAIL", "errmsg", "description",
"sid", ...}``; reply ``{"result": 0, "errmsg": "OK"}``. Tencent reply callback: ``{"mobile", "nationcode",
"text", ...}`` (one object, or an array of them).
"""

from __future__ import annotations

from typing import Any

from guanxi.messaging.services import Receipt


def _items(payload: Any) -> list[dict]:
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, dict)]
    raise ValueError("expected a JSON object or array")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def aliyun_receipts(payload: Any) -> list[Receipt]:
    receipts = []
    for item in _items(payload):
        success = item.get("success")
        delivered = success is True or str(success).lower() == "true"
        receipts.append(
            Receipt(
                provider_message_id=str(item.get("biz_id") or ""),
                delivered=delivered,
                code=str(item.get("err_code") or ""),
                description=str(item.get("err_msg") or ""),
                message_id=_int_or_none(item.get("out_id")),
                raw=item,
            )
        )
    return receipts


def tencent_receipts(payload: Any) -> list[Receipt]:
    receipts = []
    for item in _items(payload):
        receipts.append(
            Receipt(
                provider_message_id=str(item.get("sid") or ""),
                delivered=str(item.get("report_status", "")).upper() == "SUCCESS",
                code=str(item.get("errmsg") or ""),
                description=str(item.get("description") or ""),
                message_id=_int_or_none(
                    item.get("ext", {}).get("message_id") if isinstance(item.get("ext"), dict) else None
                ),
                raw=item,
            )
        )
    return receipts


def aliyun_replies(payload: Any) -> list[tuple[str, str, dict]]:
    return [(str(i.get("phone_number") or ""), str(i.get("content") or ""), i) for i in _items(payload)]


def tencent_replies(payload: Any) -> list[tuple[str, str, dict]]:
    replies = []
    for item in _items(payload):
        mobile = str(item.get("mobile") or "")
        code = str(item.get("nationcode") or "")
        if code and not mobile.startswith("+"):
            mobile = f"+{code}{mobile}"
        replies.append((mobile, str(item.get("text") or ""), item))
    return replies
