"""Database-vendor specifics, each with a SQLite fallback."""

from django.db import connection


def is_postgres(conn=None) -> bool:
    return (conn or connection).vendor == "postgresql"
