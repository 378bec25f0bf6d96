"""API errors as JSON naming the field and the problem, including errors raised by services.

Refused input is always ``400 {field: [message, ...]}`` (``non_field_errors`` when no field is to blame),
whether DRF, a service (Django's ``ValidationError``) or the database refused it; other errors are
``{detail: message}``. An idempotency key reused with other content is ``409 {key_field: [message]}``.
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from guanxi.core.idempotency import IdempotencyConflict


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This conflicts with what is stored.")
    default_code = "conflict"


class InUse(exceptions.APIException):
    """A delete refused because other records (history) still point at the row."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This is in use by other records and cannot be deleted; deactivate it instead.")
    default_code = "in_use"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IdempotencyConflict):
        exc = Conflict(detail={exc.field: [exc.conflict_message]})
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, DataError):
        # A value the checks above let through and the database refused (out of range, too long):
        # still the caller's input, and the request's transaction is rolled back.
        exc = exceptions.ValidationError({"non_field_errors": [_("A value is out of the range that can be stored.")]})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = InUse()
    if isinstance(exc, exceptions.ValidationError) and not isinstance(exc.detail, dict):
        exc.detail = {"non_field_errors": exc.detail if isinstance(exc.detail, list) else [exc.detail]}
    return drf_exception_handler(exc, context)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 for the site; ``{detail}`` JSON for an API path no route matches (e.g. ``/api/orders/x.5/``)."""
    if _is_api(request):
        from django.http import JsonResponse

        return JsonResponse({"detail": str(exceptions.NotFound.default_detail)}, status=404)
    from django.views.defaults import page_not_found as django_page_not_found

    return django_page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 page for the site; ``{detail}`` JSON for the API."""
    if _is_api(request):
        from django.http import JsonResponse

        return JsonResponse({"detail": str(_("A server error occurred."))}, status=500)
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
