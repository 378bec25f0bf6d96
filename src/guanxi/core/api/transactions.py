"""One transaction per API write: a request that changes data either completes or leaves nothing.

Every non-safe request under ``/api/`` runs inside ``transaction.atomic``; an exception rolls it back,
and so does any error answer (4xx/5xx), whichever layer produced it (a serializer, a service, a check in
the view after the service wrote). Reads are left alone: on SQLite (``BEGIN IMMEDIATE``) wrapping them
would serialise every page view behind the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class AtomicApiWritesMiddleware:
    prefix = "/api/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS or not request.path.startswith(self.prefix):
            return self.get_response(request)
        with transaction.atomic():
            response = self.get_response(request)
            if response.status_code >= 400 and not _keeps_writes_on_error(request):
                transaction.set_rollback(True)
        return response


def keep_writes_on_error(view: _View) -> _View:
    """For a view whose error answers must still keep what they recorded (e.g. a failed sign-in counter)."""
    setattr(view, "keep_writes_on_error", True)  # noqa: B010 — a function attribute mypy cannot declare
    return view


def _keeps_writes_on_error(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    func = getattr(match, "func", None)
    cls = getattr(func, "cls", None) or getattr(func, "view_class", None)
    return bool(getattr(func, "keep_writes_on_error", False) or getattr(cls, "keep_writes_on_error", False))
