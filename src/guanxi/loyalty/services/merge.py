"""Customer merge: the merged record's membership and coupons move to the survivor."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi.customers.models import Customer
from guanxi.loyalty.models import (
    Coupon,
    Membership,
)


def merge_loyalty(survivor: Customer, merged: Customer) -> dict[str, int]:
    """A merge moves the merged record's membership and coupons; two memberships are refused."""
    members = dict(Membership.objects.filter(customer_id__in=[survivor.pk, merged.pk]).values_list("customer_id", "pk"))
    moved = {}
    if survivor.pk in members and merged.pk in members:
        raise ValidationError(
            {
                "merged": [
                    _("Both customers are members. Close one membership (refunding its stored value) before merging.")
                ]
            }
        )
    if merged.pk in members:
        moved["loyalty.Membership"] = Membership.objects.filter(customer_id=merged.pk).update(customer_id=survivor.pk)
    moved["loyalty.Coupon"] = Coupon.objects.filter(customer_id=merged.pk).update(customer_id=survivor.pk)
    return moved
