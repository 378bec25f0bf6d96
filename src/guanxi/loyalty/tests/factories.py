"""Loyalty rows for tests. Reference data (tiers, top-up rules) is plain rows; members and coupon templates
are made through the services, as in production (a member has its accounts, a template its audit row)."""

import factory

from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services
from guanxi.loyalty.models import CouponTemplate, Membership, Tier, TopUpRule


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"等级{n}")
    threshold = 0
    order = factory.LazyAttribute(lambda tier: tier.threshold)


class TopUpRuleFactory(factory.django.DjangoModelFactory):
    """储值赠送: top up ``min_amount`` or more, get ``bonus``."""

    class Meta:
        model = TopUpRule

    min_amount = "500.00"
    bonus = "50.00"


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    """A coupon template through ``coupon_template_create`` (validated, audited): 代金券 ¥10 unless told."""

    class Meta:
        model = CouponTemplate

    name = "代金券"
    kind = CouponTemplate.Kind.FIXED
    amount = "10.00"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.coupon_template_create(actor=None, data=kwargs)


def make_member(*, store=None, actor=None, invite_code: str = "", **customer) -> Membership:
    """A new customer enrolled through the service (points account, wallet and base tier included)."""
    return services.member_enrol(actor=actor, customer=make_customer(store=store, **customer), invite_code=invite_code)[
        0
    ]
