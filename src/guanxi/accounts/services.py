"""Writes of the accounts app: API tokens."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from guanxi.accounts.models import ApiToken, User, password_stamp


def api_token_lifetime() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "GUANXI_API_TOKEN_DAYS", 90)))


@transaction.atomic
def api_token_create(
    *, user: User, name: str = "", read_only: bool = False, expires_in: dt.timedelta | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its key. The key is returned once and never stored, only its SHA-256."""
    if expires_in is not None and expires_in <= dt.timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:8],
        key_hash=ApiToken.hash_key(key),
        read_only=read_only,
        password_stamp=password_stamp(user.password),
        expires_at=timezone.now() + (expires_in or api_token_lifetime()),
    )
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_tokens_revoke_for_user(*, user: User) -> int:
    """Revoke every live token of ``user`` (e.g. when the staff member leaves)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
