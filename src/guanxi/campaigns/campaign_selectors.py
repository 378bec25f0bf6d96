"""Reads of campaigns: which campaigns and segments a staff member may see and use.

A campaign belongs to a store (``Campaign.store``) or, without one, to the stores of the person who drafted
it; admins see every campaign. Staff whose role may not see campaigns (store staff, service agents) see
none, so another store's campaign and a campaign nobody may see answer alike: 404. Segments usable in a
campaign follow the same rule, and archived ones are left out.
"""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet, Sum

from guanxi.accounts.actors import Actor
from guanxi.accounts.permissions import can, store_scope
from guanxi.campaigns.models import Campaign, CampaignRun, CampaignVariant, GlobalHoldout, Segment
from guanxi.campaigns.selectors import segments_visible_to
from guanxi.core.models import AuditLog


def campaigns_visible_to(user: Actor) -> QuerySet[Campaign]:
    """Campaigns by the store rule segments share (``accounts.permissions.store_scope``), to roles that see
    campaigns at all."""
    scope = store_scope(user) if can(user, "campaigns.view") else None
    if scope is None:
        return Campaign.objects.none()
    return Campaign.objects.filter(scope)


def segments_usable_by(user: Actor) -> QuerySet[Segment]:
    """Segments ``user`` may send a campaign to: those they see (the same store rule), not archived, for roles
    that see campaigns."""
    if not can(user, "campaigns.view"):
        return Segment.objects.none()
    return segments_visible_to(user).filter(archived=False)


def campaign_list(user: Actor, *, status: str = "") -> QuerySet[Campaign]:
    """The list page's rows: segment, variants and the recipients of its runs (their cached counts), in a
    fixed number of queries."""
    qs = campaigns_visible_to(user).select_related("segment", "coupon_template", "created_by")
    if status:
        qs = qs.filter(status=status)
    return qs.annotate(
        recipients_total=Sum("runs__recipients", filter=Q(runs__is_test=False)),
    ).prefetch_related(Prefetch("variants", queryset=CampaignVariant.objects.order_by("label")))


def campaign_get(user: Actor, pk: int) -> Campaign:
    """One campaign ``user`` may see, with what its detail page shows; ``Campaign.DoesNotExist`` otherwise."""
    return (
        campaigns_visible_to(user)
        .select_related("segment", "coupon_template", "created_by", "submitted_by", "approved_by", "store")
        .prefetch_related(Prefetch("variants", queryset=CampaignVariant.objects.order_by("label")))
        .get(pk=pk)
    )


def campaign_runs(campaign: Campaign, *, limit: int = 50) -> list[CampaignRun]:
    return list(CampaignRun.objects.filter(campaign=campaign).order_by("-occurrence", "-id")[:limit])


def global_holdout_members(user: Actor, holdout: GlobalHoldout) -> int:
    """How many of the customers ``user`` sees the global hold-out leaves out now (none while it is off).

    One query for the ids, streamed; the hash is the engine's (``run.global_holdout_count``)."""
    from guanxi.campaigns.run import global_holdout_count
    from guanxi.customers.models import Customer

    if not holdout.active:
        return 0
    ids = Customer.objects.visible_to(user).values_list("pk", flat=True).order_by().iterator(chunk_size=20_000)
    return global_holdout_count(holdout, ids)


def global_holdout_history(holdout: GlobalHoldout, *, limit: int = 20) -> list[AuditLog]:
    """The latest changes of the global hold-out (its audit rows, with who made them)."""
    if holdout.pk is None:  # never set
        return []
    return list(
        AuditLog.objects.filter(object_type="campaigns.global_holdout", object_id=str(holdout.pk))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
