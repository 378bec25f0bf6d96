"""Reads of segments and campaigns, always through the one visibility rule."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from guanxi.campaigns.models import Campaign, Segment, SegmentMember
from guanxi.core.segments import segment_apply, segment_rules_clean
from guanxi.customers.models import Customer


def segment_customers(segment: Segment, *, user: Any) -> QuerySet[Customer]:
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


def campaigns_visible_to(user: Any) -> QuerySet[Campaign]:
    """Campaigns ``user`` may see: all for those who see every store; otherwise a campaign of one of the
    user's stores, or one the user created. Nobody signed in (or inactive) sees none."""
    qs = Campaign.objects.all()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.sees_all_stores:
        return qs
    from guanxi.accounts.models import User

    store_ids = User.stores.through.objects.filter(user_id=user.pk).values("store_id")
    return qs.filter(Q(store_id__in=store_ids) | Q(created_by_id=user.pk))
