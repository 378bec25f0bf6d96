"""Database-vendor specifics, each with a SQLite fallback.

``copy`` writes COPY (bulk inserts), ``lookups`` the ``= ANY(array)`` look-up, ``indexes`` and ``search``
the PostgreSQL-only indexes; what PostgreSQL needs of a session or of its errors is here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, connection

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


def is_postgres(conn: BaseDatabaseWrapper | None = None) -> bool:
    return (conn or connection).vendor == "postgresql"


def integrity_errors(conn: BaseDatabaseWrapper | None = None) -> tuple[type[BaseException], ...]:
    """Django's IntegrityError, and psycopg's on PostgreSQL (COPY runs on the raw cursor, outside Django's
    error wrapper)."""
    errors: tuple[type[BaseException], ...] = (IntegrityError,)
    if is_postgres(conn):
        import psycopg

        errors += (psycopg.IntegrityError,)
    return errors


def plan_without_parallel_workers(conn: BaseDatabaseWrapper | None = None) -> None:
    """On PostgreSQL, make this connection plan without parallel workers (nothing elsewhere).

    With a thousand-odd values in an ``= ANY`` array PostgreSQL plans a parallel bitmap scan, and starting
    a worker and shipping it the plan costs more CPU than the index look-ups themselves.
    """
    conn = conn or connection
    if is_postgres(conn):
        with conn.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
