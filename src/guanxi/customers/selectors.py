"""Reads of customers. Each starts from ``Customer.objects.visible_to(user)``."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from guanxi.accounts.actors import Actor
from guanxi.core.db.search import substring_q
from guanxi.customers.contacts import email_index, last4_index, phone_index
from guanxi.customers.models import ContactPoint, Customer, Tag, TimelineEntry

_DIGITS = re.compile(r"^\+?[\d\s\-()]+$")


def customer_list(*, user: Actor, with_store_and_owner: bool = True) -> QuerySet[Customer]:
    """The list queryset: primary contacts and tags prefetched, home store and owner joined.

    ``with_store_and_owner=False`` leaves out the join for readers that show only their ids (the API):
    at 1M customers that halves the columns each row carries and saves a fifth of a lookup request.
    """
    qs = Customer.objects.visible_to(user)
    if with_store_and_owner:
        qs = qs.select_related("home_store", "owner")  # their names are shown on every row
    return qs.prefetch_related(
        # one query for the primary phone/e-mail of the whole page
        Prefetch("contact_points", queryset=ContactPoint.objects.filter(is_primary=True), to_attr="primary_contacts"),
        "tags",  # one query for the tags of the whole page
    )


def customer_ids_by_contact_index(*, field: str, index: str) -> QuerySet[ContactPoint, int]:
    return ContactPoint.objects.filter(**{field: index}).values_list("customer_id", flat=True)


def customer_search(*, user: Actor, query: str, with_store_and_owner: bool = True) -> QuerySet[Customer]:
    """Find by full phone, last four digits of a phone, e-mail, customer number or name."""
    q = (query or "").strip()
    qs = customer_list(user=user, with_store_and_owner=with_store_and_owner)
    if not q:
        return qs
    if "@" in q:
        try:
            return qs.filter(id__in=customer_ids_by_contact_index(field="value_index", index=email_index(q)))
        except ValidationError:
            return qs.none()
    digits = re.sub(r"\D", "", q)
    if _DIGITS.match(q) and len(digits) == 4:
        return qs.filter(id__in=customer_ids_by_contact_index(field="last4_index", index=last4_index(digits)))
    if _DIGITS.match(q) and len(digits) >= 7:
        try:
            return qs.filter(id__in=customer_ids_by_contact_index(field="value_index", index=phone_index(q)))
        except ValidationError:
            return qs.none()
    if q.isdigit():
        return qs.filter(pk=int(q))
    # a substring of the name; one or two characters (王, 王伟) are served by cust_name_grams on PostgreSQL
    return qs.filter(substring_q("name", q))


def customers_tagged(queryset: QuerySet[Customer], *, tag_name: str) -> QuerySet[Customer]:
    """Those of ``queryset`` tagged ``tag_name``: the tag's id first, then a semi-join on the (tag, customer)
    pairs. Joining by name made PostgreSQL walk every tagging newest first and drop the other tags' rows."""
    tag_id = Tag.objects.filter(name=tag_name).values_list("id", flat=True).first()
    if tag_id is None:
        return queryset.none()
    return queryset.filter(id__in=Customer.tags.through.objects.filter(tag_id=tag_id).values("customer_id"))


# The lookups' only reader is the API, which shows the home store and owner by id: no join for them.
def customer_by_phone(*, user: Actor, phone: str) -> QuerySet[Customer]:
    return customer_list(user=user, with_store_and_owner=False).filter(
        id__in=customer_ids_by_contact_index(field="value_index", index=phone_index(phone))
    )


def customer_by_last4(*, user: Actor, digits: str) -> QuerySet[Customer]:
    if not re.fullmatch(r"\d{4}", digits or ""):
        raise ValidationError({"last4": [_("Enter exactly four digits.")]})
    return customer_list(user=user, with_store_and_owner=False).filter(
        id__in=customer_ids_by_contact_index(field="last4_index", index=last4_index(digits))
    )


def customer_by_email(*, user: Actor, email: str) -> QuerySet[Customer]:
    return customer_list(user=user, with_store_and_owner=False).filter(
        id__in=customer_ids_by_contact_index(field="value_index", index=email_index(email))
    )


def customer_detail(*, user: Actor, pk: int) -> Customer:
    """One visible customer with everything the 360 view shows; raises DoesNotExist otherwise."""
    return (
        Customer.objects.visible_to(user)
        .select_related("home_store", "owner")
        .prefetch_related("contact_points", "tags", "important_dates")
        .get(pk=pk)
    )


def customer_timeline(*, customer: Customer, limit: int = 50, before_id: int | None = None) -> list[TimelineEntry]:
    qs = TimelineEntry.objects.filter(customer=customer).select_related("actor").order_by("-occurred_at", "-id")
    if before_id:
        qs = qs.filter(id__lt=before_id)
    return list(qs[:limit])


def primary_contact(customer: Customer, kind: str) -> ContactPoint | None:
    contacts = getattr(customer, "primary_contacts", None)
    if contacts is None:
        contacts = [c for c in customer.contact_points.all() if c.is_primary]
    return next((c for c in contacts if c.kind == kind), None)
