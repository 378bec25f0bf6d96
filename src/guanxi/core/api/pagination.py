from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages: page 10,000 costs what page 1 costs, and no COUNT(*) is run."""

    ordering: str | list[str] | tuple[str, ...] = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:
            # A mangled cursor is bad input, named like any other field.
            raise ValidationError({self.cursor_query_param: [_("This page link is not valid; start again.")]}) from None
