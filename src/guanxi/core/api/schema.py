"""The OpenAPI schema documents every status an operation can answer, errors included.

Each operation gets the error answers of the shared machinery unless it documents them itself: 400 (a
field or query parameter refused: ``{field: [message]}``), 401 and 403 (not signed in, not allowed), 404
for operations on one object or naming objects in their body, 409 for writes (an idempotency key reused
with other content, a conflict with another store's data).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import Direction

ERROR_BODY = {
    "type": "object",
    "description": "{field: [message, ...]} for refused input, or {detail: message}.",
    "additionalProperties": {},
}
DESCRIPTIONS = {
    "400": "Invalid input: the body names each refused field with its messages.",
    "401": "Not authenticated (no or a wrong token; for webhooks, a wrong signature).",
    "403": "Not allowed to do this (for webhooks, a wrong shared token).",
    "404": "No such object, or not one of the caller's.",
    "409": "Conflicts with what is stored (e.g. an idempotency key reused with other content).",
}


class AutoSchema(SpectacularAutoSchema):
    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403"]
        if "{" in self.path or self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("409")
        return codes

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                # drf-spectacular leaves this (private) method unannotated.
                body = self._get_response_for_code(dict(ERROR_BODY), code, direction=direction)  # type: ignore[no-untyped-call]
                body["description"] = DESCRIPTIONS[code]
                responses[code] = body
        return responses
