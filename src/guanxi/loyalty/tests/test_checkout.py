from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from guanxi.loyalty import services
from guanxi.loyalty.models import Checkout, Coupon, PointsEntry, WalletEntry
from guanxi.loyalty.tests.conftest import assert_ledgers_consistent
from guanxi.loyalty.tests.factories import CouponTemplateFactory, make_member
from guanxi.sales.models import Order


def _data(member, coupon, **extra):
    return {
        "customer_id": member.customer_id,
        "lines": [{"name": "外套", "quantity": 1, "unit_price": "300.00"}],
        "coupon_code": coupon.code,
        "points": "5000",
        "wallet_amount": "100.00",
        **extra,
    }


def test_price_applies_member_discount_coupon_points_and_wallet_in_order(loaded):
    member, coupon = loaded
    q = services.checkout_price(actor=None, data=_data(member, coupon)).as_dict()
    # 300 − 5% (15.00) = 285 − coupon 20 = 265; cap 50% → ¥132.50 → 13,250 points max, 10,000 held
    assert q["member_discount"] == "15.00"
    assert q["coupon_discount"] == "20.00"
    assert q["points_max"] == 10000
    assert q["points"] == 5000
    assert q["points_value"] == "50.00"
    assert q["wallet_amount"] == "100.00"
    assert q["other_paid"] == "115.00"
    assert q["discount_amount"] == "85.00"
    assert q["paid_amount"] == "215.00"
    assert q["points_earned"] == 322  # floor(215 × 1 × 1.5)
    with pytest.raises(ValidationError) as exc:
        services.checkout_price(actor=None, data=_data(member, coupon, points="20000"))
    assert "points" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.checkout_price(actor=None, data=_data(member, coupon, wallet_amount="600.00"))
    assert "wallet_amount" in exc.value.message_dict


def test_commit_writes_order_and_ledgers_once_and_replay_changes_nothing(loaded):
    member, coupon = loaded
    data = _data(member, coupon, key="pos-1-0001", external_ref="POS-0001", payment_method="wechat_pay")
    checkout, created = services.checkout_commit(actor=None, data=data)
    assert created
    order = checkout.order
    assert order.discount_amount == Decimal("85.00")
    assert order.paid_amount == Decimal("215.00")
    assert order.payment_method == "mixed"
    coupon.refresh_from_db()
    assert coupon.status == "redeemed"
    assert coupon.redeemed_order_id == order.pk
    member.points.refresh_from_db()
    member.wallet.refresh_from_db()
    assert member.points.balance == 10000 - 5000 + 322
    assert member.wallet.balance == Decimal("450.00")
    counts = (Order.objects.count(), PointsEntry.objects.count(), WalletEntry.objects.count())
    replay, created = services.checkout_commit(actor=None, data=data)
    assert not created
    assert replay.pk == checkout.pk
    assert counts == (Order.objects.count(), PointsEntry.objects.count(), WalletEntry.objects.count())
    assert_ledgers_consistent()


def test_a_failed_commit_writes_nothing(loaded):
    member, coupon = loaded
    before = (Order.objects.count(), PointsEntry.objects.count(), WalletEntry.objects.count())
    with pytest.raises(ValidationError):
        services.checkout_commit(
            actor=None,
            data=_data(
                member, coupon, key="k", external_ref="R", lines=[{"name": "x", "quantity": 1, "unit_price": "50.00"}]
            ),
        )
    assert before == (Order.objects.count(), PointsEntry.objects.count(), WalletEntry.objects.count())
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"


def test_partial_then_full_refund_returns_exactly_what_was_applied(loaded):
    member, coupon = loaded
    checkout, _ = services.checkout_commit(actor=None, data=_data(member, coupon, key="k1", external_ref="O-1"))
    # refund 43.00 of 215.00 paid = 20%
    first = services.checkout_refund(actor=None, checkout=checkout, reference="RF-1", amount="43.00")
    assert first["points_returned"] == 1000
    assert first["coupon_restored"] is False
    assert Decimal(first["wallet_principal_returned"]) + Decimal(first["wallet_bonus_returned"]) == Decimal("20.00")
    assert services.checkout_refund(actor=None, checkout=checkout, reference="RF-1", amount="43.00")["created"] is False
    member.points.refresh_from_db()
    earned_back = 64  # floor(322 × 20%) of the earned points go back
    assert member.points.balance == 10000 - 5000 + 1000 + 322 - earned_back
    final = services.checkout_refund(actor=None, checkout=checkout, reference="RF-2")
    assert final["points_returned"] == 5000
    assert final["coupon_restored"] is True
    member.points.refresh_from_db()
    member.wallet.refresh_from_db()
    assert member.points.balance == 10000
    assert (member.wallet.principal, member.wallet.bonus) == (Decimal("500.00"), Decimal("50.00"))
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
    assert Checkout.objects.get(pk=checkout.pk).refunded == Decimal("215.00")
    assert_ledgers_consistent()


def test_refund_after_the_earned_points_were_spent_never_goes_negative(loaded):
    member, coupon = loaded
    checkout, _ = services.checkout_commit(
        actor=None,
        data=_data(member, coupon, key="k2", external_ref="O-2", coupon_code="", points="", wallet_amount=""),
    )
    member.points.refresh_from_db()
    services.points_redeem(actor=None, membership=member, points=member.points.balance, reference="all")
    services.checkout_refund(actor=None, checkout=checkout, reference="RF-9")
    member.points.refresh_from_db()
    assert member.points.balance == 0
    assert_ledgers_consistent()


def test_coupon_not_restored_when_the_program_says_so(loaded, program):
    program.restore_coupon_on_refund = False
    program.save()
    member, coupon = loaded
    checkout, _ = services.checkout_commit(actor=None, data=_data(member, coupon, key="k3", external_ref="O-3"))
    assert services.checkout_refund(actor=None, checkout=checkout, reference="RF-3")["coupon_restored"] is False
    assert Coupon.objects.get(pk=coupon.pk).status == "redeemed"


def test_checkout_ebill_carries_points_used_and_wallet_paid(loaded):
    from guanxi.core.models import Event

    member, coupon = loaded
    checkout, _ = services.checkout_commit(actor=None, data=_data(member, coupon, key="k4", external_ref="O-4"))
    payload = Event.objects.get(name="loyalty.ebill", aggregate_id=str(checkout.order_id)).payload
    assert payload["points_used"] == 5000
    assert payload["wallet_paid"] == "100.00"
    assert payload["amount"] == "215.00"
    assert payload["discount"] == "85.00"
    assert payload["points_earned"] == 322
    assert payload["wallet_balance"] == "450.00"
    assert payload["points_balance"] == 10000 - 5000 + 322


def test_random_checkouts_and_refunds_keep_ledgers_equal_to_balances(loaded):
    import random

    member, _coupon = loaded
    rng = random.Random(7)
    done = []
    for i in range(25):
        if done and rng.random() < 0.4:
            checkout = rng.choice(done)
            amount = rng.choice(["", f"{rng.randint(1, 2000) / 100:.2f}"])
            try:
                services.checkout_refund(actor=None, checkout=checkout, reference=f"rf-{i}", amount=amount)
            except ValidationError:
                pass
        else:
            data = {
                "customer_id": member.customer_id,
                "key": f"rk-{i}",
                "external_ref": f"RO-{i}",
                "lines": [
                    {"name": "x", "quantity": rng.randint(1, 3), "unit_price": f"{rng.randint(100, 9999) / 100:.2f}"}
                ],
                "points": rng.choice(["", "max", "1"]),
                "wallet_amount": rng.choice(["", "max", "0.01"]),
            }
            try:
                done.append(services.checkout_commit(actor=None, data=data)[0])
            except ValidationError:
                pass
        assert_ledgers_consistent()
    assert done


def test_a_key_used_by_another_member_is_refused(loaded, store_a):

    member, coupon = loaded
    services.checkout_commit(actor=None, data=_data(member, coupon, key="shared", external_ref="S-1"))
    other = make_member(store=store_a)
    with pytest.raises(ValidationError) as exc:
        services.checkout_commit(
            actor=None,
            data={
                "customer_id": other.customer_id,
                "key": "shared",
                "external_ref": "S-2",
                "lines": [{"name": "x", "unit_price": "10.00"}],
            },
        )
    assert "key" in exc.value.message_dict


@pytest.fixture
def paid_nothing(member, program):
    """A normal member whose ¥150 basket is paid ¥0: a ¥50 voucher and 10,000 points (cap 100%)."""
    program.redeem_cap_percent = 100
    program.save()
    services.points_adjust(actor=None, membership=member, points=10000, reason="opening balance")
    template = CouponTemplateFactory(name="代金券50", kind="fixed", amount="50.00")
    coupon = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0]
    data = {
        "customer_id": member.customer_id,
        "key": "zero-1",
        "external_ref": "Z-1",
        "lines": [
            {"name": "外套", "quantity": 1, "unit_price": "100.00"},
            {"name": "帽子", "quantity": 2, "unit_price": "25.00"},
        ],
        "coupon_code": coupon.code,
        "points": "max",
    }
    checkout, _ = services.checkout_commit(actor=None, data=data)
    assert checkout.paid == 0
    assert checkout.points_used == 10000
    return member, coupon, checkout


def test_an_order_paid_nothing_is_refunded_by_its_goods(paid_nothing):
    """Paid wholly by a coupon and points: once refused (a ¥0 refund); now the goods come back with what paid them."""
    member, coupon, checkout = paid_nothing
    order = checkout.order
    hat = order.lines.get(name="帽子")
    # the hats are a third of the basket: a third of the points come back, the coupon stays used
    part = services.checkout_refund(
        actor=None, checkout=checkout, reference="ZR-1", lines=[{"order_line": hat.pk, "quantity": 2}]
    )
    assert (part["created"], part["amount"], part["points_returned"], part["coupon_restored"]) == (
        True,
        "0.00",
        3333,
        False,
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_REFUNDED
    assert order.lines.get(pk=hat.pk).refunded_quantity == 2
    # replaying the same refund changes nothing
    assert (
        services.checkout_refund(
            actor=None, checkout=checkout, reference="ZR-1", lines=[{"order_line": hat.pk, "quantity": 2}]
        )["created"]
        is False
    )
    # the rest of the order: every point and the coupon come back
    rest = services.checkout_refund(actor=None, checkout=checkout, reference="ZR-2")
    assert (rest["amount"], rest["points_returned"], rest["coupon_restored"]) == ("0.00", 10000, True)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    member.points.refresh_from_db()
    assert member.points.balance == 10000
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
    assert_ledgers_consistent()


def test_refunding_lines_returns_their_share_of_what_was_paid(loaded):
    member, coupon = loaded
    data = _data(
        member,
        coupon,
        key="k-lines",
        external_ref="O-L",
        lines=[
            {"name": "外套", "quantity": 1, "unit_price": "200.00"},
            {"name": "围巾", "quantity": 1, "unit_price": "100.00"},
        ],
    )
    checkout, _ = services.checkout_commit(actor=None, data=data)
    scarf = checkout.order.lines.get(name="围巾")
    first = services.checkout_refund(
        actor=None, checkout=checkout, reference="L-1", lines=[{"order_line": scarf.pk, "quantity": 1}]
    )
    # the scarf is a third of ¥300: a third of the ¥215 paid, of the 5,000 points and of the ¥100 stored value
    assert first["amount"] == "71.66"
    assert first["points_returned"] == 1666
    assert Decimal(first["wallet_principal_returned"]) + Decimal(first["wallet_bonus_returned"]) == Decimal("33.33")
    with pytest.raises(ValidationError) as exc:
        services.checkout_refund(
            actor=None, checkout=checkout, reference="L-2", lines=[{"order_line": scarf.pk, "quantity": 1}]
        )
    assert "lines[0].quantity" in exc.value.message_dict
    rest = services.checkout_refund(actor=None, checkout=checkout, reference="L-3")
    assert rest["amount"] == "143.34"
    member.points.refresh_from_db()
    assert member.points.balance == 10000
    assert_ledgers_consistent()


def test_a_counter_checkout_may_use_an_order_number_another_store_used(program, store_a, store_b, staff_a):
    """Order numbers are per store (#13 item 11): the counter neither refuses nor answers store B's number."""
    from guanxi.sales.services import order_ingest

    line = [{"name": "外套", "quantity": 1, "unit_price": "300.00"}]
    theirs = make_member(store=store_b, name="乙店会员")
    b_order = order_ingest(
        actor=None,
        data={
            "external_ref": "TILL-1",
            "source": "checkout",
            "store": store_b.code,
            "customer_id": theirs.customer_id,
            "lines": line,
        },
    ).order
    b_row = Order.objects.filter(pk=b_order.pk).values().get()
    mine = make_member(store=store_a, name="甲店会员")
    data = {"key": "a-till-1", "external_ref": "TILL-1", "customer_id": mine.customer_id, "lines": line}
    checkout, created = services.checkout_commit(actor=staff_a, data=data)
    assert created
    assert (checkout.order.store_id, checkout.order.customer_id) == (store_a.pk, mine.customer_id)
    assert Order.objects.filter(pk=b_order.pk).values().get() == b_row
    # within store A the number is taken: another checkout key cannot record it again
    with pytest.raises(ValidationError) as exc:
        services.checkout_commit(actor=staff_a, data={**data, "key": "a-till-2"})
    assert set(exc.value.message_dict) == {"external_ref"}
    assert Order.objects.filter(external_ref="TILL-1").count() == 2
