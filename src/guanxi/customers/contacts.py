"""Normalising contact values so that equal contacts have equal blind indexes."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from guanxi.core.crypto import blind_index


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return E.164 (+8613800138000) for any common way of writing a number, or refuse it."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a phone number."), code="required")
    try:
        number = phonenumbers.parse(text, region or settings.GUANXI_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("“%(value)s” is not a phone number."), code="invalid", params={"value": text}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("“%(value)s” is not a valid phone number."), code="invalid", params={"value": text})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_last4(e164: str) -> str:
    return e164[-4:]


def normalize_email(raw: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter an e-mail address."), code="required")
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not a valid e-mail address."), code="invalid", params={"value": text}
        ) from None
    local, _sep, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_contact(kind: str, raw: str) -> str:
    if kind == "phone":
        return normalize_phone(raw)
    if kind == "email":
        return normalize_email(raw)
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a value."), code="required")
    if len(text) > 500:
        raise ValidationError(_("Keep this under 500 characters."), code="max_length")
    return text


def contact_indexes(kind: str, normalized: str) -> tuple[str, str]:
    """(exact-lookup index, last-four index) for a normalised contact value."""
    if kind == "phone":
        return blind_index("phone", normalized), blind_index("phone_last4", phone_last4(normalized))
    if kind == "email":
        return blind_index("email", normalized.lower()), ""
    if kind == "wechat":
        return blind_index("wechat", normalized), ""
    return "", ""


def phone_index(raw: str) -> str:
    return blind_index("phone", normalize_phone(raw))


def email_index(raw: str) -> str:
    return blind_index("email", normalize_email(raw).lower())


def last4_index(digits: str) -> str:
    return blind_index("phone_last4", digits)


def mask_phone(e164: str) -> str:
    """138****8000: enough to recognise, not enough to call."""
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(national) < 7:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"


def mask_email(email: str) -> str:
    local, _sep, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_value(kind: str, value: str) -> str:
    if kind == "phone":
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    if kind == "address":
        return value[:6] + "…" if len(value) > 6 else "…"
    return value[:3] + "***"
