import pytest

from guanxi.loyalty import services
from guanxi.loyalty.models import Membership, PointsAccount, PointsEntry, ProgramSettings, Wallet, WalletEntry
from guanxi.loyalty.tests.factories import CouponTemplateFactory, TierFactory, TopUpRuleFactory, make_member


@pytest.fixture
def tiers(db):
    return {
        "normal": TierFactory(name="普通", threshold=0, order=0),
        "silver": TierFactory(name="银卡", threshold=1000, points_multiplier="1.5", discount_percent="5", order=1),
        "gold": TierFactory(
            name="金卡", threshold=5000, points_multiplier="2", discount_percent="10", order=2, birthday_gift="年度旅游"
        ),
    }


@pytest.fixture
def program(db):
    p = services.program()
    p.points_per_yuan = 1
    p.points_per_yuan_redeemed = 100
    p.redeem_cap_percent = 50
    p.save()
    return p


@pytest.fixture
def member(store_a, tiers, program):
    return make_member(store=store_a, name="王芳", phone="13800138000")


@pytest.fixture
def loaded(member, tiers, program):
    """A silver member with 10,000 points, ¥550 stored value (500 + 50 bonus) and a 满100减20 coupon."""
    Membership.objects.filter(pk=member.pk).update(tier=tiers["silver"])
    member.refresh_from_db()
    services.points_adjust(actor=None, membership=member, points=10000, reason="opening balance")
    TopUpRuleFactory(min_amount="500.00", bonus="50.00")
    services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="pay-1")
    template = CouponTemplateFactory(name="满100减20", kind="threshold", amount="20.00", threshold="100.00")
    coupon = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0]
    return member, coupon


def assert_ledgers_consistent():
    """The invariant: every cached balance equals the sum of its ledger."""
    for account in PointsAccount.objects.all():
        total = sum(PointsEntry.objects.filter(account=account).values_list("points", flat=True))
        assert account.balance == total >= 0
        lots = sum(PointsEntry.objects.filter(account=account, remaining__gt=0).values_list("remaining", flat=True))
        assert lots == account.balance
    for wallet in Wallet.objects.all():
        entries = WalletEntry.objects.filter(wallet=wallet)
        assert wallet.principal == sum(entries.values_list("principal", flat=True)) >= 0
        assert wallet.bonus == sum(entries.values_list("bonus", flat=True)) >= 0
    assert ProgramSettings.objects.count() <= 1
