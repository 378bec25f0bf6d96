"""What every loyalty service shares: the program row, the acting user, input parsing, the active check."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi.accounts.actors import actor_id as _actor_id  # noqa: F401 - the id on events: None for the system
from guanxi.accounts.actors import signed_in as _actor  # noqa: F401 - the user on ledger rows, or None
from guanxi.loyalty.models import Membership, ProgramSettings

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

#: The money columns of loyalty (wallets, checkouts): ``DecimalField(max_digits=12, decimal_places=2)``.
MONEY_DIGITS = 12

#: A points balance and every entry fit a 32-bit ``IntegerField`` column.
POINTS_MAX = 2_147_483_647


def _code(n: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(n))


def to_points(value: Any, field_name: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool | float) or not (text.lstrip("-").isascii() and text.lstrip("-").isdigit()):
        raise ValidationError({field_name: [_("Points are a whole number.")]})
    if len(text) > 12 or abs(int(text)) > POINTS_MAX:
        raise ValidationError({field_name: [_("At most %(max)d points at a time.") % {"max": POINTS_MAX}]})
    return int(text)


def program() -> ProgramSettings:
    return ProgramSettings.objects.get_or_create(pk=1)[0]


def _require_active(membership: Membership, field_name: str = "membership") -> None:
    if membership.status != Membership.Status.ACTIVE:
        raise ValidationError(
            {field_name: [_("This membership is %(status)s.") % {"status": membership.get_status_display()}]}
        )
