import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from guanxi.customers.models import TimelineEntry
from guanxi.customers.services import customer_merge
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services
from guanxi.loyalty.models import Coupon, CouponTemplate, Membership, PointsEntry, TierChange, WalletEntry
from guanxi.loyalty.tests.conftest import assert_ledgers_consistent
from guanxi.loyalty.tests.factories import CouponTemplateFactory, TopUpRuleFactory, make_member
from guanxi.sales.tests.factories import CategoryFactory, ProductFactory, make_order


def _earn(member, amount="100.00", **extra):
    order = make_order(customer=member.customer, lines=[{"name": "x", "quantity": 1, "unit_price": amount}], **extra)
    services.points_earn_for_order(order=order)
    return order


def test_enrol_gives_number_code_base_tier_and_is_idempotent(member, tiers):
    assert member.member_no == f"M{member.pk:08d}"
    assert len(member.invite_code) == 8
    assert member.tier == tiers["normal"]
    assert member.points.balance == 0
    assert member.wallet.balance == 0
    again, created = services.member_enrol(actor=None, customer=member.customer)
    assert not created
    assert again.pk == member.pk
    assert TierChange.objects.filter(membership=member, reason="enrol").count() == 1


def test_points_rounding_is_floor_of_paid_times_rate_and_multipliers(member, program, tiers):
    program.points_per_yuan = Decimal("1.5")
    program.save()
    order = _earn(member, "99.99")
    entry = PointsEntry.objects.get(order=order, kind="earn")
    assert entry.points == 149  # floor(99.99 × 1.5) = floor(149.985)
    # tier multiplier and member day multiply before the single floor
    Membership.objects.filter(pk=member.pk).update(tier=tiers["silver"])
    program.member_day = timezone.localtime().day
    program.member_day_multiplier = 2
    program.save()
    order = _earn(member, "10.01")
    assert PointsEntry.objects.get(order=order, kind="earn").points == 45  # floor(10.01 × 1.5 × 1.5 × 2 = 45.045)
    assert_ledgers_consistent()


def test_category_multiplier_weights_the_lines(member, program):
    double = CategoryFactory(code="promo")
    product = ProductFactory(sku="P-1", category=double, price="50.00")
    program.category_multipliers = {str(double.pk): "3"}
    program.save()
    order = make_order(
        customer=member.customer,
        lines=[{"sku": product.sku, "quantity": 1}, {"name": "plain", "quantity": 1, "unit_price": "50.00"}],
    )
    services.points_earn_for_order(order=order)
    assert PointsEntry.objects.get(order=order).points == 200  # 50 × 3 + 50 × 1


def test_order_earning_is_idempotent_and_the_first_purchase_bonus_comes_once(member, program):
    program.first_purchase_bonus = 88
    program.save()
    order = _earn(member, "100.00")
    services.points_earn_for_order(order=order)
    _earn(member, "100.00")
    member.points.refresh_from_db()
    assert member.points.balance == 100 + 88 + 100
    assert PointsEntry.objects.filter(reference="first-purchase").count() == 1
    assert_ledgers_consistent()


def test_order_paid_event_from_any_channel_earns_points_and_emits_an_ebill(member, django_capture_on_commit_callbacks):
    from guanxi.core.models import Event
    from guanxi.customers.models import TimelineEntry

    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer=member.customer, lines=[{"name": "x", "quantity": 2, "unit_price": "64.50"}])
    member.points.refresh_from_db()
    assert member.points.balance == 129
    ebill = Event.objects.get(name="loyalty.ebill")
    assert ebill.payload["order_ref"] == order.external_ref
    assert ebill.payload["amount"] == "129.00"
    assert ebill.payload["points_balance"] == 129
    assert ebill.payload["wallet_balance"] == "0.00"
    entry = TimelineEntry.objects.get(kind="loyalty.ebill", customer=member.customer)
    from guanxi.customers.timeline import render

    assert "129.00" in render(entry.kind, entry.data, "")


def test_non_members_and_suspended_members_earn_nothing(store_a, member):
    stranger = make_customer(store=store_a)
    order = make_order(customer=stranger)
    assert services.points_earn_for_order(order=order) is None
    services.member_suspend(actor=None, membership=member, reason="dispute")
    assert services.points_earn_for_order(order=make_order(customer=member.customer)) is None
    with pytest.raises(ValidationError):
        services.wallet_top_up(actor=None, membership=member, amount="10.00", reference="t1")


def test_adjust_needs_a_reason_and_redeem_never_overdraws(member):
    with pytest.raises(ValidationError) as exc:
        services.points_adjust(actor=None, membership=member, points=10, reason="")
    assert "reason" in exc.value.message_dict
    services.points_adjust(actor=None, membership=member, points=50, reason="goodwill")
    with pytest.raises(ValidationError) as exc:
        services.points_redeem(actor=None, membership=member, points=51, reference="r1")
    assert "points" in exc.value.message_dict
    entry, created = services.points_redeem(actor=None, membership=member, points=20, reference="r1")
    replay, created_again = services.points_redeem(actor=None, membership=member, points=20, reference="r1")
    assert created
    assert not created_again
    assert replay.pk == entry.pk
    member.points.refresh_from_db()
    assert member.points.balance == 30
    assert_ledgers_consistent()


def test_top_up_bonus_rule_limit_and_replay(member, program):
    TopUpRuleFactory(min_amount="500.00", bonus="50.00")
    TopUpRuleFactory(min_amount="1000.00", bonus="150.00")
    entry, created = services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="pay-1")
    assert created
    assert entry.principal == Decimal("500.00")
    assert entry.bonus == Decimal("50.00")
    again, created = services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="pay-1")
    assert not created
    assert again.pk == entry.pk
    services.wallet_top_up(actor=None, membership=member, amount="1000.00", reference="pay-2")
    member.wallet.refresh_from_db()
    assert (member.wallet.principal, member.wallet.bonus) == (Decimal("1500.00"), Decimal("200.00"))
    with pytest.raises(ValidationError) as exc:  # ¥5,000 named-card limit
        services.wallet_top_up(actor=None, membership=member, amount="3400.00", reference="pay-3")
    assert "amount" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.wallet_top_up(actor=None, membership=member, amount=12.5, reference="pay-4")  # float refused
    assert_ledgers_consistent()


def test_spend_is_proportional_by_default_and_principal_first_when_configured(member, program):
    TopUpRuleFactory(min_amount="500.00", bonus="100.00")
    services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="p")
    entry, _ = services.wallet_spend(actor=None, membership=member, amount="60.00", reference="s1")
    assert (entry.principal, entry.bonus) == (Decimal("-50.00"), Decimal("-10.00"))
    program.wallet_spend_order = "principal_first"
    program.save()
    entry, _ = services.wallet_spend(actor=None, membership=member, amount="60.00", reference="s2")
    assert (entry.principal, entry.bonus) == (Decimal("-60.00"), Decimal("0.00"))
    with pytest.raises(ValidationError):
        services.wallet_spend(actor=None, membership=member, amount="1000.00", reference="s3")
    assert_ledgers_consistent()


def test_wallet_refund_returns_principal_only_and_forfeits_bonus_in_proportion(member):
    TopUpRuleFactory(min_amount="500.00", bonus="50.00")
    services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="p")
    entry, _ = services.wallet_refund(actor=None, membership=member, reference="rf1", amount="250.00")
    assert (entry.principal, entry.bonus) == (Decimal("-250.00"), Decimal("-25.00"))
    with pytest.raises(ValidationError):
        services.wallet_refund(actor=None, membership=member, reference="rf2", amount="300.00")
    services.wallet_refund(actor=None, membership=member, reference="rf3")
    member.wallet.refresh_from_db()
    assert member.wallet.principal == 0
    assert member.wallet.bonus == 0
    assert_ledgers_consistent()


def test_expiry_run_takes_oldest_lots_first_and_rerun_changes_nothing(member, program):
    services.points_adjust(actor=None, membership=member, points=100, reason="old")
    services.points_adjust(actor=None, membership=member, points=40, reason="new")
    old, new = PointsEntry.objects.filter(kind="adjust").order_by("pk")
    year = timezone.localtime(old.earned_at).year
    assert timezone.localtime(old.expires_at).date() == dt.date(year + 1, 12, 31)
    PointsEntry.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    services.points_redeem(actor=None, membership=member, points=30, reference="gift")  # from the oldest lot
    assert services.points_expire_run() == {"accounts": 1, "lots": 1, "points": 70}
    assert services.points_expire_run()["points"] == 0
    member.points.refresh_from_db()
    assert member.points.balance == 40
    assert_ledgers_consistent()


def test_upgrade_at_once_downgrade_only_at_review(member, tiers, program):
    _earn(member, "1200.00")
    member.refresh_from_db()
    assert member.tier == tiers["silver"]
    later = timezone.now() + dt.timedelta(days=400)
    counts = services.tier_review(now=later)
    member.refresh_from_db()
    assert counts["downgraded"] == 1
    assert member.tier == tiers["normal"]
    assert list(TierChange.objects.filter(membership=member).values_list("reason", flat=True).order_by("pk")) == [
        "enrol",
        "upgrade",
        "review",
    ]
    assert services.tier_review(now=later)["downgraded"] == 0


def test_refund_reverses_earned_points_in_proportion(member):
    from guanxi.sales.services import refund_create

    order = _earn(member, "100.00")
    refund, _ = refund_create(actor=None, order=order, external_ref="R1", amount="30.00")
    services.points_reverse_for_refund(order=order, refund_id=refund.pk)
    services.points_reverse_for_refund(order=order, refund_id=refund.pk)  # replay
    member.points.refresh_from_db()
    assert member.points.balance == 70
    refund2, _ = refund_create(actor=None, order=order, external_ref="R2", amount="70.00")
    services.points_reverse_for_refund(order=order, refund_id=refund2.pk)
    member.points.refresh_from_db()
    member.refresh_from_db()
    assert member.points.balance == 0
    assert member.growth == 0
    assert_ledgers_consistent()


def test_referral_rewards_both_once_on_first_purchase(member, program, store_a):
    program.referral_referrer_points = 200
    program.referral_referee_points = 100
    program.save()
    friend = services.member_enrol(
        actor=None, customer=make_customer(store=store_a), invite_code=member.invite_code.lower()
    )[0]
    assert friend.referred_by_id == member.pk
    _earn(friend, "10.00")
    _earn(friend, "10.00")
    member.points.refresh_from_db()
    friend.points.refresh_from_db()
    assert member.points.balance == 200
    assert friend.points.balance == 100 + 20
    with pytest.raises(ValidationError):
        services.member_enrol(actor=None, customer=make_customer(store=store_a), invite_code="NOPE")


def test_coupon_issue_limits_budget_and_bulk(member, store_a):
    template = CouponTemplateFactory(
        name="满100减20",
        kind="threshold",
        amount="20.00",
        threshold="100.00",
        budget=3,
        per_customer_limit=1,
        valid_days=30,
    )
    others = [make_customer(store=store_a) for _ in range(2)]
    coupons = services.coupon_issue(
        actor=None, template=template, customer_ids=[member.customer_id] + [c.pk for c in others]
    )
    assert len({c.code for c in coupons}) == 3
    template.refresh_from_db()
    assert template.issued_count == 3
    with pytest.raises(ValidationError):  # per-customer limit
        services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])
    template.per_customer_limit = 5
    template.save()
    with pytest.raises(ValidationError):  # budget
        services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])
    with pytest.raises(ValidationError) as exc:
        services.coupon_template_create(
            actor=None, data={"name": "bad", "kind": "threshold", "amount": "20", "threshold": "10"}
        )
    assert "threshold" in exc.value.message_dict


def test_coupon_redeem_checks_owner_threshold_window_and_single_use(member, store_a):
    template = CouponTemplateFactory(name="满100减20", kind="threshold", amount="20.00", threshold="100.00")
    coupon = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0]
    other = make_customer(store=store_a)
    for kwargs in (
        {"customer_id": other.pk, "amount": "150.00"},
        {"customer_id": member.customer_id, "amount": "99.99"},
    ):
        with pytest.raises(ValidationError) as exc:
            services.coupon_redeem(actor=None, code=coupon.code, **kwargs)
        assert "coupon_code" in exc.value.message_dict
    used = services.coupon_redeem(actor=None, code=coupon.code.lower(), customer_id=member.customer_id, amount="100.00")
    assert used.status == Coupon.Status.REDEEMED
    assert used.discount == Decimal("20.00")
    with pytest.raises(ValidationError):
        services.coupon_redeem(actor=None, code=coupon.code, customer_id=member.customer_id, amount="100.00")
    Coupon.objects.filter(pk=coupon.pk).update(status="issued", expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(ValidationError):
        services.coupon_redeem(actor=None, code=coupon.code, customer_id=member.customer_id, amount="100.00")
    assert services.coupon_expire_run() == 1


def test_percent_coupon_is_capped_and_rounded_half_up():
    t = CouponTemplate(kind="percent", percent_off=Decimal("15"), cap=Decimal("30.00"))
    assert services.coupon_discount(t, Decimal("33.30")) == Decimal("5.00")  # 4.995 → 5.00
    assert services.coupon_discount(t, Decimal("1000.00")) == Decimal("30.00")


def test_enrol_rule_issues_a_welcome_coupon(store_a, tiers, program):
    CouponTemplateFactory(name="新人券", kind="fixed", amount="10.00", issue_rule="enrol")
    customer = make_customer(store=store_a)
    services.member_enrol(actor=None, customer=customer)
    services.member_enrol(actor=None, customer=customer)
    assert Coupon.objects.filter(customer=customer).count() == 1


def test_merge_moves_a_membership_and_refuses_two(member, store_a, tiers):
    survivor = make_customer(store=store_a)
    customer_merge(actor=None, survivor=survivor, merged=member.customer)
    member.refresh_from_db()
    assert member.customer_id == survivor.pk
    other = make_member(store=store_a)
    with pytest.raises(ValidationError) as exc:
        customer_merge(actor=None, survivor=survivor, merged=other.customer)
    assert "merged" in exc.value.message_dict


def test_random_operation_sequences_keep_every_balance_equal_to_its_ledger(member, store_a, program):
    TopUpRuleFactory(min_amount="100.00", bonus="10.00")
    second = make_member(store=store_a)
    rng = random.Random(20261123)
    for step in range(120):
        m = rng.choice([member, second])
        op = rng.choice(["earn", "adjust", "redeem", "top_up", "spend", "refund", "expire", "replay"])
        try:
            if op == "earn":
                _earn(m, f"{rng.randint(1, 50000) / 100:.2f}")
            elif op == "adjust":
                services.points_adjust(actor=None, membership=m, points=rng.randint(-50, 200), reason="t")
            elif op == "redeem":
                services.points_redeem(actor=None, membership=m, points=rng.randint(1, 300), reference=f"r{step}")
            elif op == "top_up":
                services.wallet_top_up(
                    actor=None, membership=m, amount=f"{rng.randint(1, 300)}.00", reference=f"t{step}"
                )
            elif op == "spend":
                services.wallet_spend(
                    actor=None, membership=m, amount=f"{rng.randint(1, 9999) / 100:.2f}", reference=f"s{step}"
                )
            elif op == "refund":
                services.wallet_refund(
                    actor=None, membership=m, reference=f"f{step}", amount=f"{rng.randint(1, 5000) / 100:.2f}"
                )
            elif op == "expire":
                lot = PointsEntry.objects.filter(account__membership=m, remaining__gt=0).order_by("?").first()
                if lot:
                    PointsEntry.objects.filter(pk=lot.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
                services.points_expire_run()
            else:
                services.wallet_top_up(actor=None, membership=m, amount="1.00", reference="t-replay")
        except ValidationError:
            pass  # refused operations write nothing
        assert_ledgers_consistent()
    assert WalletEntry.objects.filter(reference="t-replay").count() <= 2


def test_periodic_jobs_run_from_the_command_and_are_scheduled(member, program):
    from io import StringIO

    from django.conf import settings
    from django.core.management import call_command

    out = StringIO()
    call_command("loyalty_run", "all", stdout=out)
    assert "points expired" in out.getvalue()
    assert "tier review" in out.getvalue()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["loyalty-points-expire"]["task"] == "guanxi.loyalty.tasks.points_expire_task"
    assert schedule["loyalty-tier-review"]["task"] == "guanxi.loyalty.tasks.tier_review_task"
    from guanxi.loyalty.tasks import points_expire_task, tier_review_task

    assert points_expire_task.delay().get()["points"] == 0
    assert tier_review_task.delay().get()["reviewed"] == 1


def test_birthday_run_gives_the_tier_gift_and_birthday_coupons_once_a_year(store_a, tiers, program):
    import datetime as dt

    from guanxi.core.models import Event
    from guanxi.customers.models import Customer

    customer = make_customer(store=store_a, birthday=dt.date(1990, 6, 1))
    Customer.objects.filter(pk=customer.pk).update(birthday_md=601)
    member = services.member_enrol(actor=None, customer=customer)[0]
    Membership.objects.filter(pk=member.pk).update(tier=tiers["gold"])
    CouponTemplateFactory(name="生日券", kind="fixed", amount="30.00", issue_rule="birthday", per_customer_limit=10)
    day = dt.date(2026, 6, 1)
    assert services.birthday_run(today=day) == {"members": 1, "gifts": 1, "coupons": 1}
    assert services.birthday_run(today=day) == {"members": 1, "gifts": 0, "coupons": 0}
    assert Event.objects.get(name="loyalty.birthday").payload["gift"] == "年度旅游"
    assert services.birthday_run(today=dt.date(2027, 6, 1))["coupons"] == 1


def test_birthday_run_honours_a_lunar_birthday_on_its_solar_date_this_year(store_a, tiers, program):
    # born 3 October 1990 = 八月十五: in 2026 the birthday is 25 September, not 3 October
    lunar = make_customer(store=store_a, name="中秋", birthday=dt.date(1990, 10, 3), birthday_is_lunar=True)
    solar = make_customer(store=store_a, name="公历", birthday=dt.date(1990, 10, 3))
    for customer in (lunar, solar):
        member = services.member_enrol(actor=None, customer=customer)[0]
        Membership.objects.filter(pk=member.pk).update(tier=tiers["gold"])
    assert services.birthday_run(today=dt.date(2026, 9, 25))["members"] == 1
    assert TimelineEntry.objects.filter(kind="loyalty.birthday").get().customer_id == lunar.pk
    assert services.birthday_run(today=dt.date(2026, 10, 3))["members"] == 1
    assert set(TimelineEntry.objects.filter(kind="loyalty.birthday").values_list("customer_id", flat=True)) == {
        lunar.pk,
        solar.pk,
    }


def test_a_redemption_spanning_more_than_one_batch_of_lots_takes_them_oldest_first(member):
    for i in range(130):
        services.points_adjust(actor=None, membership=member, points=1, reason=f"lot {i}")
    services.points_redeem(actor=None, membership=member, points=120, reference="big")
    left = list(
        PointsEntry.objects.filter(account__membership=member, remaining__gt=0).values_list("reason", flat=True)
    )
    assert left == [f"lot {i}" for i in range(120, 130)]
    assert_ledgers_consistent()
