"""Database-vendor specifics, each with a SQLite fallback."""

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper


def is_postgres(conn: BaseDatabaseWrapper | None = None) -> bool:
    return (conn or connection).vendor == "postgresql"
