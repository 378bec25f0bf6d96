"""Real threads, each with its own PostgreSQL connection, racing on one member's balances."""

from decimal import Decimal

import pytest

from guanxi.core.tests.concurrency import race_with_refusals as _race
from guanxi.loyalty import services
from guanxi.loyalty.models import Checkout, Coupon, PointsEntry, WalletEntry
from guanxi.loyalty.tests.conftest import assert_ledgers_consistent
from guanxi.loyalty.tests.factories import CouponTemplateFactory
from guanxi.sales.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_fifty_concurrent_wallet_spends_never_overdraw_or_lose_an_update(member):
    services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="pay")
    ok, refused = _race(
        50, lambda i: services.wallet_spend(actor=None, membership=member, amount="15.00", reference=f"spend-{i}")
    )
    assert len(ok) == 33
    assert len(refused) == 17
    member.wallet.refresh_from_db()
    assert member.wallet.balance == Decimal("5.00")
    assert WalletEntry.objects.filter(kind="spend").count() == 33
    assert_ledgers_consistent()


def test_fifty_concurrent_point_redemptions_never_overdraw_or_lose_an_update(member):
    services.points_adjust(actor=None, membership=member, points=10000, reason="opening")
    ok, refused = _race(
        50, lambda i: services.points_redeem(actor=None, membership=member, points=300, reference=f"r-{i}")
    )
    assert len(ok) == 33
    assert len(refused) == 17
    member.points.refresh_from_db()
    assert member.points.balance == 100
    assert PointsEntry.objects.filter(kind="redeem").count() == 33
    assert_ledgers_consistent()


def test_concurrent_replays_of_one_top_up_write_it_once(member):
    results, _ = _race(
        20, lambda i: services.wallet_top_up(actor=None, membership=member, amount="100.00", reference="same-payment")
    )
    assert sum(1 for _entry, created in results if created) == 1
    member.wallet.refresh_from_db()
    assert member.wallet.balance == Decimal("100.00")


def test_the_same_coupon_redeemed_at_once_succeeds_exactly_once(member):
    template = CouponTemplateFactory(name="代金券", kind="fixed", amount="10.00")
    code = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0].code
    ok, refused = _race(
        10, lambda i: services.coupon_redeem(actor=None, code=code, customer_id=member.customer_id, amount="50.00")
    )
    assert len(ok) == 1
    assert len(refused) == 9
    assert Coupon.objects.get(code=code).status == "redeemed"


def test_concurrent_commits_with_one_key_write_one_order(member):
    services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="pay")
    data = {
        "customer_id": member.customer_id,
        "key": "pos-77",
        "external_ref": "POS-77",
        "wallet_amount": "max",
        "lines": [{"name": "x", "quantity": 1, "unit_price": "120.00"}],
    }
    results, refused = _race(10, lambda i: services.checkout_commit(actor=None, data=dict(data)))
    assert len(results) == 10
    assert not refused
    assert sum(1 for _c, created in results if created) == 1
    assert Checkout.objects.count() == 1
    assert Order.objects.count() == 1
    member.wallet.refresh_from_db()
    assert member.wallet.balance == Decimal("380.00")
    assert_ledgers_consistent()
