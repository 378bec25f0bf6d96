"""Parsing customers' SMS replies (delivery reports are parsed by ``messaging.providers``).

Aliyun SmsUp: an array of ``{"phone_number", "content", "sign_name", "dest_code", "sequence_id", ...}``.
Tencent reply callback: ``{"mobile", "nationcode", "text", "sign", "extend", "time"}`` (one object or an array).
"""

from __future__ import annotations

from typing import Any


def _items(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, dict)]
    raise ValueError("expected a JSON object or array")


def aliyun_replies(payload: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(str(i.get("phone_number") or ""), str(i.get("content") or ""), i) for i in _items(payload)]


def tencent_replies(payload: Any) -> list[tuple[str, str, dict[str, Any]]]:
    replies = []
    for item in _items(payload):
        mobile = str(item.get("mobile") or "")
        code = str(item.get("nationcode") or "")
        if code and not mobile.startswith("+"):
            mobile = f"+{code}{mobile}"
        replies.append((mobile, str(item.get("text") or ""), item))
    return replies
