from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages: page 10,000 costs what page 1 costs, and no COUNT(*) is run."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500
