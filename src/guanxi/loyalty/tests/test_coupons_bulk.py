"""The bulk coupon issue of a campaign run: the limit and budget rules of ``coupon_issue``, idempotent by
reference, unique codes, one audit row per customer and one event."""

import pytest

from guanxi.core.models import AuditLog, Event
from guanxi.customers.models import Customer
from guanxi.loyalty import services
from guanxi.loyalty.models import Coupon, CouponTemplate

pytestmark = pytest.mark.django_db


def bulk_customers(count: int, **_kw) -> list[int]:
    return [c.pk for c in Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(count)])]


def test_bulk_issue_is_idempotent_by_reference_and_keeps_limit_and_budget():
    ids = bulk_customers(60, consent=False)
    template = CouponTemplate.objects.create(name="满100减20", kind="fixed", amount="20.00", budget=50)
    services.coupon_issue(actor=None, template=template, customer_ids=ids[:5])  # these hold their one already
    issued, plan = services.coupons_issue_bulk(template=template, customer_ids=ids, reference="campaign-run:1")
    assert plan.over_limit == set(ids[:5])
    assert len(issued) == 45  # the budget of 50, 5 of it used before
    assert plan.over_budget == set(ids[50:])
    assert set(issued) == set(ids[5:50])
    codes = [code for _pk, code in issued.values()]
    assert len(set(codes)) == 45
    assert all(len(code) == 12 for code in codes)
    for cid, (pk, code) in issued.items():
        coupon = Coupon.objects.get(pk=pk)
        assert (coupon.customer_id, coupon.code, coupon.reference) == (cid, code, "campaign-run:1")
    template.refresh_from_db()
    assert template.issued_count == 50
    assert AuditLog.objects.filter(action="coupon_issue", object_type="coupon").count() == 50
    # the same reference again: the same coupons, none new, no second event
    events = Event.objects.filter(name="loyalty.coupons_issued").count()
    again, _plan = services.coupons_issue_bulk(template=template, customer_ids=ids, reference="campaign-run:1")
    assert again == issued
    assert Coupon.objects.count() == 50
    assert Event.objects.filter(name="loyalty.coupons_issued").count() == events


def test_bulk_issue_needs_an_active_template_and_a_reference():
    from django.core.exceptions import ValidationError

    ids = bulk_customers(3, consent=False)
    template = CouponTemplate.objects.create(name="停用", kind="fixed", amount="5.00", active=False)
    with pytest.raises(ValidationError):
        services.coupons_issue_bulk(template=template, customer_ids=ids, reference="r")
    with pytest.raises(ValueError, match="reference"):
        services.coupons_issue_bulk(template=template, customer_ids=ids, reference="")
    assert not Coupon.objects.exists()
