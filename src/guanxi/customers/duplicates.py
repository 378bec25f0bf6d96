"""Likely duplicate customers among those a user may see, found in set-based SQL.

Three signals: the same phone number, the same e-mail (both by the contact's keyed index, so the
encrypted values are never decrypted for matching) and the same name with the same birthday.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from guanxi.customers.models import ContactPoint, Customer


@dataclass(frozen=True)
class DuplicatePair:
    first: Customer
    second: Customer
    reasons: tuple[str, ...]  # "phone", "email", "name_birthday"


def _sql(queryset: QuerySet) -> tuple[str, tuple]:
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def duplicate_pair_ids(*, visible: QuerySet[Customer], limit: int = 100) -> list[tuple[int, int, str]]:
    """(lower id, higher id, reason) rows; one statement, joins on indexed columns only."""
    ids_sql, ids_params = _sql(visible.order_by().values("id"))
    contact = ContactPoint._meta.db_table
    customer = Customer._meta.db_table
    sql = f"""
        SELECT a.customer_id, b.customer_id, a.kind
          FROM {contact} a
          JOIN {contact} b ON b.value_index = a.value_index AND b.customer_id > a.customer_id AND b.kind = a.kind
         WHERE a.value_index <> '' AND a.kind IN ('phone', 'email')
           AND a.customer_id IN ({ids_sql}) AND b.customer_id IN ({ids_sql})
        UNION
        SELECT a.id, b.id, 'name_birthday'
          FROM {customer} a
          JOIN {customer} b ON b.name = a.name AND b.birthday = a.birthday AND b.id > a.id
         WHERE a.birthday IS NOT NULL
           AND a.id IN ({ids_sql}) AND b.id IN ({ids_sql})
         ORDER BY 1 DESC, 2 DESC
         LIMIT %s
    """  # noqa: S608 - table names from model meta, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, ids_params * 4 + (limit,))
        return [(int(a), int(b), str(reason)) for a, b, reason in cursor.fetchall()]


def duplicate_pairs(
    *, user: Any, visible: QuerySet[Customer] | None = None, limit: int = 100, rows: list | None = None
) -> list[DuplicatePair]:
    """Likely duplicate pairs, each pair once with every reason; two queries plus the prefetches.

    ``rows`` may be an earlier (e.g. cached) result of ``duplicate_pair_ids``: customers are read afresh
    through ``visible_to``, so a pair already merged, or no longer visible, drops out.
    """
    from guanxi.customers.selectors import customer_list

    if rows is None:
        visible = visible if visible is not None else Customer.objects.visible_to(user)
        rows = duplicate_pair_ids(visible=visible, limit=limit)
    reasons: dict[tuple[int, int], list[str]] = {}
    for a, b, reason in rows:
        reasons.setdefault((a, b), [])
        if reason not in reasons[(a, b)]:
            reasons[(a, b)].append(reason)
    ids = {i for pair in reasons for i in pair}
    customers = customer_list(user=user).in_bulk(ids) if ids else {}
    return [
        DuplicatePair(first=customers[a], second=customers[b], reasons=tuple(r))
        for (a, b), r in reasons.items()
        if a in customers and b in customers
    ]
