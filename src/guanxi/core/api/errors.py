"""API errors as JSON naming the field and the problem, including errors raised by services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class InUse(exceptions.APIException):
    """A delete refused because other records (history) still point at the row."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This is in use by other records and cannot be deleted; deactivate it instead.")
    default_code = "in_use"


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = InUse()
    return drf_exception_handler(exc, context)
