"""guanxi create_api_token USERNAME [--read-only] [--days N] [--name NAME]: prints the key, once."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a staff member and print its key (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for, e.g. the POS integration")
        parser.add_argument("--read-only", action="store_true", help="the token may only read (GET)")
        parser.add_argument("--days", type=int, default=None, help="lifetime in days (default GUANXI_API_TOKEN_DAYS)")

    def handle(self, *args, username: str, name: str, read_only: bool, days: int | None, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active staff member {username!r}.")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        token, key = api_token_create(
            user=user, name=name, read_only=read_only, expires_in=dt.timedelta(days=days) if days else None
        )
        self.stderr.write(
            f"Token {token.prefix}… for {user.username}, {'read-only' if read_only else 'read-write'}, "
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC. Keep the key: it is not stored and cannot be shown again."
        )
        self.stdout.write(key)
