"""Many customers at once for the run tests (rows as the services write them, without a service call each)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from guanxi.campaigns.models import Campaign, CampaignVariant, Segment, SegmentMember
from guanxi.customers.contacts import contact_indexes, normalize_contact
from guanxi.customers.models import ContactPoint, Customer
from guanxi.messaging.models import Consent


def bulk_customers(count: int, *, consent: bool = True, tag: str = "c") -> list[int]:
    """``count`` customers with a mobile phone each and (with ``consent``) marketing SMS consent; their ids."""
    customers = Customer.objects.bulk_create([Customer(name=f"{tag}{i}") for i in range(count)], batch_size=1000)
    base = 13700000000 + Customer.objects.count() * 10
    contacts = []
    for i, customer in enumerate(customers):
        phone = normalize_contact("phone", str(base + i))
        contacts.append(
            ContactPoint(
                customer=customer,
                kind="phone",
                value=phone,
                value_index=contact_indexes("phone", phone)[0],
                is_primary=True,
            )
        )
    ContactPoint.objects.bulk_create(contacts, batch_size=1000)
    if consent:
        at = timezone.now() - dt.timedelta(days=30)
        Consent.objects.bulk_create(
            [
                Consent(customer=c, channel="sms", purpose="marketing", granted=True, source="test", at=at)
                for c in customers
            ],
            batch_size=1000,
        )
    return [c.pk for c in customers]


def make_campaign(
    user,
    *,
    variants=(("A", "promo", 100),),
    holdout: str = "10",
    coupon=None,
    status: str = Campaign.Status.APPROVED,
    **fields,
) -> Campaign:
    # a snapshot of every customer there is now (the rule engine has its own tests)
    segment = Segment.objects.create(name="所有人", kind=Segment.Kind.SNAPSHOT, created_by=user)
    SegmentMember.objects.bulk_create(
        [SegmentMember(segment=segment, customer_id=pk) for pk in Customer.objects.values_list("pk", flat=True)],
        batch_size=1000,
    )
    campaign = Campaign.objects.create(
        name="会员日",
        segment=segment,
        holdout_percent=Decimal(holdout),
        coupon_template=coupon,
        status=status,
        created_by=user,
        **fields,
    )
    for label, code, split in variants:
        CampaignVariant.objects.create(campaign=campaign, label=label, template_code=code, split_percent=split)
    return campaign
