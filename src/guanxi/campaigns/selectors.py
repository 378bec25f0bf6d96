"""Reads of segments and campaigns, always through the one visibility rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, QuerySet, Window

from guanxi.accounts.actors import Actor
from guanxi.accounts.permissions import store_scope
from guanxi.campaigns.models import Segment, SegmentMember
from guanxi.core.registry import allowed
from guanxi.core.segments import GROUPS, OPERATORS, segment_apply, segment_fields, segment_rules_clean
from guanxi.customers.contacts import mask_value
from guanxi.customers.models import ContactPoint, Customer

PREVIEW_ROWS = 20
#: The segment field "is in another segment" (registered by ``CampaignsConfig.ready``, defined in ``segments``).
INCLUDE_FIELD = "campaigns.segment"


def segment_customers(segment: Segment, *, user: Actor) -> QuerySet[Customer]:
    """The segment's customers that ``user`` may see (``None``: the segment creator's view), unevaluated.

    A dynamic segment is its rule tree compiled to one query; a snapshot is its frozen member list, still
    narrowed by visibility (a customer moved to another store leaves a store marketer's snapshot).
    """
    if user is None:
        user = segment.created_by
    base = Customer.objects.visible_to(user) if user is not None else Customer.objects.none()
    if segment.kind == Segment.Kind.SNAPSHOT:
        return base.filter(pk__in=SegmentMember.objects.filter(segment=segment).values("customer_id"))
    narrowed: QuerySet[Customer] = segment_apply(base, segment_rules_clean(segment.rules or {"all": []}))
    return narrowed


def tree_customers(tree: dict[str, Any], *, user: Actor) -> QuerySet[Customer]:
    """Customers ``user`` may see that match an already cleaned rule tree (an unsaved one: the builder)."""
    narrowed: QuerySet[Customer] = segment_apply(Customer.objects.visible_to(user), tree)
    return narrowed


# --- which segments a user sees ---------------------------------------------------------------------------------


def segments_visible_to(user: Actor) -> QuerySet[Segment]:
    """Segments by the store rule campaigns share (``accounts.permissions.store_scope``): those of the user's
    stores, storeless ones a colleague made, their own; admins see all. Anyone else: none.

    A segment the user cannot see answers exactly like one that does not exist (404).
    """
    scope = store_scope(user)
    if scope is None:
        return Segment.objects.none()
    return Segment.objects.filter(scope)


def segment_list(*, user: Actor, archived: bool = False) -> QuerySet[Segment]:
    """The segment list: each with the number of campaigns that use it (one query)."""
    return (
        segments_visible_to(user)
        .filter(archived=archived)
        .select_related("store")
        .annotate(campaign_count=Count("campaigns"))
        .order_by("-id")
    )


# --- counting and previewing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    id: int
    name: str
    phone: str
    store: str


@dataclass(frozen=True)
class Preview:
    count: int
    rows: list[PreviewRow]


def customers_preview(queryset: QuerySet[Customer], *, user: Actor, size: int = PREVIEW_ROWS) -> Preview:
    """How many customers ``queryset`` holds and the newest ``size`` of them, in two queries.

    The count rides on the sample rows as a window (``COUNT(*) OVER ()`` is computed before the LIMIT); the
    second query reads the sample's primary phones. A set with no customers takes one query.
    """
    rows = list(
        queryset.select_related("home_store")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.filter(is_primary=True, kind="phone"),
                to_attr="primary_phones",
            )
        )
        .annotate(total=Window(Count("pk")))
        .order_by("-id")[:size]
    )
    if not rows:
        return Preview(0, [])
    full = bool(getattr(user, "sees_full_contacts", False))
    out = []
    for customer in rows:
        phone = customer.primary_phones[0].value if customer.primary_phones else ""
        out.append(
            PreviewRow(
                id=customer.pk,
                name=customer.name,
                phone=(phone if full else mask_value("phone", phone)) if phone else "",
                store=customer.home_store.name if customer.home_store else "",
            )
        )
    return Preview(int(rows[0].total), out)


def customers_count(queryset: QuerySet[Customer]) -> int:
    return queryset.order_by().count()


# --- the builder's field list ----------------------------------------------------------------------------------


def segment_field_meta(*, user: Actor) -> dict[str, Any]:
    """The segment fields ``user`` may use, grouped as the builder lists them, as JSON-ready data.

    Choices of "another segment" are the segments the user sees; every other field's come from its entry.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for found in segment_fields():
        if not allowed(found.roles, user):
            continue
        if found.key == INCLUDE_FIELD:
            choices: list[tuple[Any, Any]] | None = [
                (s.pk, s.name) for s in segments_visible_to(user).filter(archived=False).order_by("name")[:500]
            ]
        else:
            choices = found.choices() if found.choices is not None else None
        groups.setdefault(found.group if found.group in GROUPS else "other", []).append(
            {
                "key": found.key,
                "label": str(found.label),
                "type": found.type,
                "operators": [{"key": op, "label": str(OPERATORS.get(op, op))} for op in found.operators],
                "choices": [[value, str(label)] for value, label in choices] if choices is not None else None,
                "params": list(found.params),
                "help": str(found.help or ""),
            }
        )
    return {
        "groups": [
            {"key": key, "label": str(label), "fields": groups[key]} for key, label in GROUPS.items() if key in groups
        ],
        "operators": {key: str(label) for key, label in OPERATORS.items()},
    }
