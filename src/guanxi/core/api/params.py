"""Query parameters read through serializer fields: an id too large for its column, a date that does not
exist or a non-number is a 400 naming the parameter, never a 500 from the database or ``date()``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request


def query_params(request: Request, **fields: serializers.Field[Any, Any, Any, Any]) -> dict[str, Any]:
    """The named query parameters, validated; absent or empty ones are ``None``.

    ``query_params(request, customer=IdField(), date_from=serializers.DateField())``
    """
    optional = {
        # DRF's Field.__new__ keeps the constructor's arguments in _args/_kwargs; the stubs leave them out.
        name: type(field)(*field._args, **{**field._kwargs, "required": False, "allow_null": True})  # type: ignore[attr-defined]
        for name, field in fields.items()
    }
    query = type("QueryParameters", (serializers.Serializer,), optional)(data=request.query_params)
    query.is_valid(raise_exception=True)
    return {name: query.validated_data.get(name) for name in fields}
