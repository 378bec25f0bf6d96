"""Password guessing across usernames: django-axes' handler with a second, higher cap per client address.

axes counts failed sign-ins per (username, address) and compares them with ``AXES_FAILURE_LIMIT``. Several
``AXES_LOCKOUT_PARAMETERS`` (say the pair and the address alone) would all share that one limit, so five
failures from an address, whatever the usernames, would lock the address: an office behind one NAT after
five typos. The address gets its own, higher limit instead, ``GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT``: when the
failures from one address within the cool-off reach it, every sign-in from that address is refused until the
cool-off has passed since its last failure. Other addresses are not affected, so no one can lock a user out
from elsewhere, and no lock lasts for ever. ``AXES_HANDLER`` names :class:`AddressCapHandler`.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def address_failures(request: HttpRequest) -> int:
    """Failed sign-ins from the request's address within the cool-off, whatever the usernames (one query)."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return 0
    attempts = AccessAttempt.objects.filter(ip_address=address)
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
    return int(attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0)


class AddressCapHandler(AxesDatabaseHandler):
    """axes' database handler; an address past its own cap counts as locked for every username."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        # axes compares this with the failure limit both when it refuses a sign-in and when it records a failure
        failures = super().get_failures(request, credentials)
        if address_failures(request) >= settings.GUANXI_LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures
