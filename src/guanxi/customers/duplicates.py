"""Likely duplicate customers among those a user may see, found in set-based SQL.

Three signals: the same phone number, the same e-mail (both by the contact's keyed index, so the
encrypted values are never decrypted for matching) and the same name with the same birthday. A shared
e-mail between two people whose names and birthdays differ is usually a family's or an office's address:
such a pair is listed last, with that reason, and a pair staff dismissed ("not the same person") is never
listed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.actors import Actor
from guanxi.accounts.models import User
from guanxi.core.audit import audit_record
from guanxi.customers.models import ContactPoint, Customer, DismissedDuplicate

#: What matched, as staff read it. "email_only" is a shared e-mail with different names and birthdays.
REASON_LABELS = {
    "phone": gettext_lazy("same phone"),
    "email": gettext_lazy("same e-mail"),
    "name_birthday": gettext_lazy("same name and birthday"),
    "email_only": gettext_lazy("same e-mail, different name and birthday"),
}


@dataclass(frozen=True)
class DuplicatePair:
    first: Customer
    second: Customer
    reasons: tuple[str, ...]  # "phone", "email", "name_birthday", "email_only"

    @property
    def weak(self) -> bool:
        """Only an e-mail in common, and the names and birthdays differ: likely two people."""
        return self.reasons == ("email_only",)

    @property
    def reason_labels(self) -> list[str]:
        return [str(REASON_LABELS.get(r, r)) for r in self.reasons]


def _sql(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def duplicate_pair_ids(*, visible: QuerySet[Customer], limit: int = 100) -> list[tuple[int, int, str]]:
    """(lower id, higher id, reason) rows, strong reasons first; one statement, joins on indexed columns only.

    Dismissed pairs are left out in the same statement (``NOT EXISTS`` on the pair's unique index).
    """
    ids_sql, ids_params = _sql(visible.order_by().values("id"))
    contact = ContactPoint._meta.db_table
    customer = Customer._meta.db_table
    dismissed = DismissedDuplicate._meta.db_table
    sql = f"""
        SELECT pair.first_id, pair.second_id, pair.reason FROM (
        SELECT a.customer_id AS first_id, b.customer_id AS second_id,
               CASE WHEN a.kind = 'email' AND ca.name <> cb.name
                         AND ca.birthday IS NOT NULL AND cb.birthday IS NOT NULL AND ca.birthday <> cb.birthday
                    THEN 'email_only' ELSE a.kind END AS reason
          FROM {contact} a
          JOIN {contact} b ON b.value_index = a.value_index AND b.customer_id > a.customer_id AND b.kind = a.kind
          JOIN {customer} ca ON ca.id = a.customer_id
          JOIN {customer} cb ON cb.id = b.customer_id
         WHERE a.value_index <> '' AND a.kind IN ('phone', 'email')
           AND a.customer_id IN ({ids_sql}) AND b.customer_id IN ({ids_sql})
        UNION
        SELECT a.id, b.id, 'name_birthday'
          FROM {customer} a
          JOIN {customer} b ON b.name = a.name AND b.birthday = a.birthday AND b.id > a.id
         WHERE a.birthday IS NOT NULL
           AND a.id IN ({ids_sql}) AND b.id IN ({ids_sql})
        ) pair
         WHERE NOT EXISTS (
               SELECT 1 FROM {dismissed} d WHERE d.first_id = pair.first_id AND d.second_id = pair.second_id)
         ORDER BY CASE WHEN pair.reason = 'email_only' THEN 1 ELSE 0 END, 1 DESC, 2 DESC
         LIMIT %s
    """  # noqa: S608 - table names from model meta, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, ids_params * 4 + (limit,))
        return [(int(a), int(b), str(reason)) for a, b, reason in cursor.fetchall()]


def duplicate_pairs(
    *,
    user: Actor,
    visible: QuerySet[Customer] | None = None,
    limit: int = 100,
    rows: list[tuple[int, int, str]] | None = None,
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
    if rows and ids:  # cached rows may hold a pair dismissed since: one query, whatever the number of pairs
        gone = set(
            DismissedDuplicate.objects.filter(first_id__in=ids, second_id__in=ids).values_list("first_id", "second_id")
        )
        reasons = {pair: r for pair, r in reasons.items() if pair not in gone}
    pairs = [
        DuplicatePair(first=customers[a], second=customers[b], reasons=tuple(r))
        for (a, b), r in reasons.items()
        if a in customers and b in customers
    ]
    return sorted(pairs, key=lambda p: p.weak)  # stable: the weak pairs last, the rest as the query ranked them


@transaction.atomic
def duplicate_dismiss(*, actor: User | None, first_id: int, second_id: int) -> DismissedDuplicate:
    """Record that two customers are two people ("not the same person"), for good; audited.

    Only a user who sees both customers may dismiss the pair; one who does not is told there is no such pair.
    Dismissing a pair twice returns the first record.
    """
    low, high = sorted((int(first_id), int(second_id)))
    visible = Customer.objects.visible_to(actor).filter(pk__in=[low, high], merged_into__isnull=True)
    if low == high or visible.count() != 2:
        raise ValidationError({"pair": [_("No such pair of customers, or not both in your stores.")]})
    existing = DismissedDuplicate.objects.filter(first_id=low, second_id=high).first()
    if existing is not None:
        return existing
    reasons = sorted({r for a, b, r in duplicate_pair_ids(visible=visible) if (a, b) == (low, high)})
    try:
        with transaction.atomic():
            row = DismissedDuplicate.objects.create(
                first_id=low,
                second_id=high,
                reasons=reasons,
                dismissed_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
    except IntegrityError:  # dismissed at the same moment by someone else
        return DismissedDuplicate.objects.get(first_id=low, second_id=high)
    for customer_id in (low, high):
        audit_record(
            actor=actor,
            action="not_duplicate",
            object_type="customer",
            object_id=customer_id,
            customer_id=customer_id,
            changes={"pair": [low, high], "reasons": reasons},
        )
    return row
