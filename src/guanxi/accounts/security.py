"""Who is asking: the client's address, as seen through the configured reverse proxies."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's IP address. Behind ``GUANXI_PROXY_COUNT`` proxies, the address the outermost one saw.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``; the entries before the
    last ``GUANXI_PROXY_COUNT`` ones were written by the client itself and cannot be trusted.
    """
    proxies = getattr(settings, "GUANXI_PROXY_COUNT", 0)
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request, credentials=None, *args, **kwargs):
    """The page (429) a locked-out sign-in gets, in the user's language, saying how long to wait."""
    from django.shortcuts import render

    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return render(
        request,
        "workspace/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
