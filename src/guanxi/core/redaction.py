"""Masking personal identifiers in what is kept for debugging: provider payloads, development logs.

``redact_payload`` walks a JSON value and masks the values of keys that name a person's address
(phone, mobile, e-mail, openid …) and any phone number or e-mail address found inside other text,
keeping what a developer needs to match a record: the shape, codes, ids, times and the last four
digits of a phone (``139****5678``, the display form of DOMAIN.md).
"""

from __future__ import annotations

import re
from typing import Any

#: Keys (lower-cased, ``_``/``-`` removed) whose values are a person's phone, e-mail or account id.
ADDRESS_KEYS = frozenset(
    {
        "phone", "phonenumber", "phonenumbers", "mobile", "mobilephone", "tel", "telephone", "msisdn",
        "to", "from", "recipient", "receiver", "caller", "callee", "email", "mail", "emailaddress",
        "openid", "unionid", "fromusername", "touser", "userid", "externaluserid",
    }
)  # fmt: skip

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Chinese mobiles (with or without +86/86/0086) and any other E.164 number written with its "+".
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?!\d)|(?<![0-9A-Za-z+])\+\d(?:[ -]?\d){6,14}(?!\d)"
)


def mask_phone(value: str) -> str:
    """``139****5678``; short values are starred out entirely."""
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(value: str) -> str:
    local, _sep, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_address(value: str | int) -> str:
    """A phone, e-mail or account id (openid) masked by its look."""
    value = str(value)
    if "@" in value:
        return mask_email(value)
    if re.fullmatch(r"[+\d][\d ()-]*", value.strip() or "x"):
        return mask_phone(value)
    return value[:3] + "***" if len(value) > 6 else "***"


def redact_text(text: str) -> str:
    """Phone numbers and e-mail addresses inside free text, masked."""
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    return _PHONE.sub(lambda m: mask_phone(m.group()), text)


def _is_address_key(key: Any) -> bool:
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "") in ADDRESS_KEYS


def redact_payload(value: Any) -> Any:
    """A copy of a JSON value with personal identifiers masked (see the module doc)."""
    if isinstance(value, dict):
        return {
            k: (mask_address(v) if _is_address_key(k) and isinstance(v, str | int) and v != "" else redact_payload(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_payload(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
