"""Loyalty's segment fields: each compiles to SQL that keeps exactly the customers a Python reading of the same
rows keeps, in trees of any shape, as one query; bad values are refused naming their place in the tree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from guanxi.core.segments import SEGMENT_FIELDS, segment_apply, segment_filter, segment_rules_clean
from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services
from guanxi.loyalty.models import Coupon, Membership
from guanxi.loyalty.tests.factories import CouponTemplateFactory, TopUpRuleFactory, make_member
from guanxi.sales.tests.factories import make_order

pytestmark = pytest.mark.django_db


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=timezone.get_default_timezone())


#: The moment every test runs at: half past eleven at night, local time (15:30 UTC, still "today" in UTC too,
#: but yesterday's 23:50 local is only 16 hours earlier, and today's 00:10 local was yesterday in UTC).
NOW = local(2026, 12, 3, 23, 30)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _earn(membership: Membership, amount: str) -> None:
    order = make_order(customer=membership.customer, lines=[{"name": "茶", "quantity": 1, "unit_price": amount}])
    services.points_earn_for_order(order=order)


@pytest.fixture
def world(clock, store_a, tiers, program):
    """Members of every kind, made through the loyalty services at the times they would have happened."""
    TopUpRuleFactory(min_amount="500.00", bonus="50.00")
    pair = CouponTemplateFactory(name="代金券 A", per_customer_limit=3)
    single = CouponTemplateFactory(name="代金券 B")
    short = CouponTemplateFactory(name="一日券", valid_days=1, per_customer_limit=5)
    people = {}

    clock.move_to(local(2026, 1, 10, 10))
    gold = people["gold"] = make_member(store=store_a, name="金")
    _earn(gold, "6000.00")
    services.wallet_top_up(actor=None, membership=gold, amount="500.00", reference="pay-gold")

    clock.move_to(local(2025, 5, 1, 9))
    suspended = people["suspended"] = make_member(store=store_a, name="停")
    _earn(suspended, "2000.00")
    services.wallet_top_up(actor=None, membership=suspended, amount="800.00", reference="pay-s")
    services.coupon_issue(actor=None, template=pair, customer_ids=[suspended.customer_id])
    services.member_suspend(actor=None, membership=suspended, reason="test")

    clock.move_to(local(2026, 11, 20, 15))
    silver = people["silver"] = make_member(store=store_a, name="银")
    _earn(silver, "1500.00")
    services.coupon_issue(actor=None, template=pair, customer_ids=[silver.customer_id])
    services.coupon_issue(actor=None, template=pair, customer_ids=[silver.customer_id])

    clock.move_to(local(2026, 11, 23, 12))
    plain = people["plain"] = make_customer(store=store_a, name="散客")
    services.coupon_issue(actor=None, template=short, customer_ids=[plain.pk])  # ended a week ago
    services.coupon_issue(actor=None, template=single, customer_ids=[plain.pk])
    used = services.coupon_issue(actor=None, template=pair, customer_ids=[plain.pk])[0]
    services.coupon_redeem(actor=None, code=used.code, customer_id=plain.pk, amount="50.00")

    clock.move_to(local(2026, 12, 2, 23, 50))
    people["yesterday"] = yesterday = make_member(store=store_a, name="昨")
    services.wallet_top_up(actor=None, membership=yesterday, amount="100.00", reference="pay-y")

    clock.move_to(local(2026, 12, 3, 0, 10))
    today = people["today"] = make_member(store=store_a, name="今")
    services.points_adjust(actor=None, membership=today, points=300, reason="welcome")

    clock.move_to(NOW)
    services.coupon_issue(actor=None, template=short, customer_ids=[gold.customer_id])  # valid until tomorrow
    return {
        "people": people,
        "templates": {"pair": pair, "single": single, "short": short},
        "tiers": tiers,
    }


def _ids(tree) -> set[int]:
    return set(segment_apply(Customer.objects.all(), segment_rules_clean(tree)).values_list("id", flat=True))


def _facts() -> dict[int, dict]:
    """What each customer is, read back from the rows in Python: the reference the SQL is compared with."""
    now = timezone.now()
    facts: dict[int, dict] = {
        c.pk: {"member": False, "tier": None, "points": None, "wallet": None, "growth": None, "joined": None}
        for c in Customer.objects.all()
    }
    for m in Membership.objects.select_related("points", "wallet"):
        if m.status != Membership.Status.ACTIVE:
            continue
        facts[m.customer_id].update(
            member=True,
            tier=m.tier_id,
            points=m.points.balance,
            wallet=m.wallet.principal + m.wallet.bonus,
            growth=m.growth,
            joined=timezone.localtime(m.joined_at),
        )
    for fact in facts.values():
        fact["coupons"] = {}
    for coupon in Coupon.objects.all():
        if coupon.status == Coupon.Status.ISSUED and (coupon.expires_at is None or coupon.expires_at > now):
            held = facts[coupon.customer_id]["coupons"]
            held[coupon.template_id] = held.get(coupon.template_id, 0) + 1
    return facts


def _where(predicate) -> set[int]:
    return {pk for pk, fact in _facts().items() if predicate(fact)}


def test_the_dataset_has_what_the_fields_tell_apart(world):
    facts = _facts()
    people = world["people"]
    assert facts[people["gold"].customer_id]["tier"] == world["tiers"]["gold"].pk
    assert facts[people["silver"].customer_id]["tier"] == world["tiers"]["silver"].pk
    assert facts[people["suspended"].customer_id]["member"] is False
    assert facts[people["gold"].customer_id]["wallet"] == Decimal("550.00")
    assert facts[people["plain"].pk]["coupons"] == {world["templates"]["single"].pk: 1}
    assert facts[people["silver"].customer_id]["coupons"] == {world["templates"]["pair"].pk: 2}
    assert Coupon.objects.filter(customer=people["suspended"].customer).count() == 1


def test_member(world):
    assert _ids({"field": "loyalty.member", "op": "is_true"}) == _where(lambda f: f["member"])
    assert _ids({"field": "loyalty.member", "op": "is_false", "value": None}) == _where(lambda f: not f["member"])


def test_tier(world):
    tiers = world["tiers"]
    for names in (["gold"], ["silver", "normal"], ["normal", "silver", "gold"]):
        ids = {tiers[n].pk for n in names}
        assert _ids({"field": "loyalty.tier", "op": "in", "value": sorted(ids)}) == _where(
            lambda f, ids=ids: f["tier"] in ids
        )
        assert _ids({"field": "loyalty.tier", "op": "not_in", "value": sorted(ids)}) == _where(
            lambda f, ids=ids: f["member"] and f["tier"] not in ids
        )
    assert _ids({"field": "loyalty.tier", "op": "in", "value": str(tiers["gold"].pk)}) == _where(
        lambda f: f["tier"] == tiers["gold"].pk
    )


@pytest.mark.parametrize(
    ("field", "key", "cases"),
    [
        (
            "loyalty.points",
            "points",
            [("gte", 300), ("gte", 0), ("lte", 1500), ("between", [300, 1500]), ("between", 0)],
        ),
        ("loyalty.growth", "growth", [("gte", 1000), ("lte", 0), ("between", ["1500", "6000"]), ("between", 1500)]),
        (
            "loyalty.wallet",
            "wallet",
            [("gte", "100.00"), ("gte", "100.01"), ("lte", "0"), ("between", ["100", "550.00"]), ("lte", 550)],
        ),
    ],
)
def test_number_fields(world, field, key, cases):
    for op, value in cases:
        cleaned = segment_rules_clean({"field": field, "op": op, "value": value})["value"]
        low, high = cleaned if isinstance(cleaned, tuple) else (cleaned, cleaned)
        if op == "gte":
            high = None
        if op == "lte":
            low = None

        def keeps(f, low=low, high=high):
            return f[key] is not None and (low is None or f[key] >= low) and (high is None or f[key] <= high)

        expected = _where(keeps)
        assert _ids({"field": field, "op": op, "value": value}) == expected, (op, value)
        assert expected, (op, value)  # each case keeps someone …
        assert expected != set(_facts()), (op, value)  # … and leaves someone out


def test_coupons_held(world):
    templates = world["templates"]
    for op, n in (("gte", 1), ("gte", 2), ("gte", 3), ("lte", 0), ("lte", 1), ("gte", 0)):
        for template in (None, templates["pair"].pk, templates["short"].pk):
            leaf = {"field": "loyalty.coupons", "op": op, "value": n}
            if template:
                leaf["template"] = template

            def count(f, template=template):
                return f["coupons"].get(template, 0) if template else sum(f["coupons"].values())

            expected = _where(lambda f, n=n, op=op, count=count: count(f) >= n if op == "gte" else count(f) <= n)
            assert _ids(leaf) == expected, leaf


def test_joined_before_and_after_a_local_date(world):
    for day in ("2026-01-10", "2026-11-20", "2026-12-02", "2026-12-03"):
        start = local(*dt.date.fromisoformat(day).timetuple()[:3])
        end = start + dt.timedelta(days=1)
        assert _ids({"field": "loyalty.joined", "op": "before", "value": day}) == _where(
            lambda f, s=start: f["joined"] is not None and f["joined"] < s
        )
        assert _ids({"field": "loyalty.joined", "op": "after", "value": day}) == _where(
            lambda f, e=end: f["joined"] is not None and f["joined"] >= e
        )


def test_joined_in_the_last_days_counts_local_calendar_days_at_half_past_eleven(world):
    people = world["people"]
    today, yesterday = people["today"].customer_id, people["yesterday"].customer_id
    assert timezone.localtime().strftime("%H:%M") == "23:30"
    # today: joined at 00:10 local, which is still yesterday in UTC; yesterday 23:50 is less than 24 hours ago
    assert _ids({"field": "loyalty.joined_days", "op": "within_days", "value": 1}) == {today}
    assert _ids({"field": "loyalty.joined_days", "op": "within_days", "value": 2}) == {today, yesterday}
    assert _ids({"field": "loyalty.joined_days", "op": "within_days", "value": 14}) == {
        today,
        yesterday,
        people["silver"].customer_id,
    }


def test_trees_combine_the_fields(world):
    tiers = world["tiers"]
    silver_or_gold = [tiers["silver"].pk, tiers["gold"].pk]
    tree = {
        "any": [
            {
                "all": [
                    {"field": "loyalty.tier", "op": "in", "value": silver_or_gold},
                    {"not": {"field": "loyalty.coupons", "op": "gte", "value": 2}},
                ]
            },
            {
                "all": [
                    {"field": "loyalty.member", "op": "is_false"},
                    {"field": "loyalty.coupons", "op": "gte", "value": 1},
                ]
            },
            {"field": "loyalty.joined_days", "op": "within_days", "value": 1},
        ]
    }
    expected = _where(
        lambda f: (
            (f["tier"] in silver_or_gold and sum(f["coupons"].values()) < 2)
            or (not f["member"] and sum(f["coupons"].values()) >= 1)
            or (f["joined"] is not None and f["joined"].date() == NOW.date())
        )
    )
    assert _ids(tree) == expected
    people = world["people"]
    assert expected == {
        people["gold"].customer_id,
        people["plain"].pk,
        people["suspended"].customer_id,  # no member any more, and holds a coupon
        people["today"].customer_id,
    }
    negated = _ids({"not": tree})
    assert negated == set(Customer.objects.values_list("id", flat=True)) - expected


def test_a_tree_is_one_query(world, django_assert_num_queries):
    tiers = world["tiers"]
    tree = segment_rules_clean(
        {
            "all": [
                {"field": "loyalty.tier", "op": "in", "value": [tiers["silver"].pk, tiers["gold"].pk]},
                {"field": "loyalty.points", "op": "gte", "value": 1000},
                {
                    "any": [
                        {"field": "loyalty.wallet", "op": "gte", "value": "1"},
                        {"field": "loyalty.coupons", "op": "gte", "value": 2},
                    ]
                },
                {"not": {"field": "loyalty.joined_days", "op": "within_days", "value": 7}},
            ]
        }
    )
    with django_assert_num_queries(1):
        found = list(segment_apply(Customer.objects.all(), tree).values_list("id", flat=True))
    people = world["people"]
    assert set(found) == {people["gold"].customer_id, people["silver"].customer_id}


def test_the_customer_list_filter_reads_the_same_condition(world):
    gold = world["tiers"]["gold"].pk
    qs = segment_filter(Customer.objects.all(), key="loyalty.tier", operator="in", value=str(gold))
    assert set(qs.values_list("id", flat=True)) == _where(lambda f: f["tier"] == gold)
    qs = segment_filter(Customer.objects.all(), key="loyalty.member", operator="is_true", value="1")
    assert set(qs.values_list("id", flat=True)) == _where(lambda f: f["member"])


@pytest.mark.parametrize(
    ("leaf", "where"),
    [
        ({"field": "loyalty.points", "op": "gte", "value": -1}, "value"),
        ({"field": "loyalty.points", "op": "gte", "value": 10**12}, "value"),
        ({"field": "loyalty.points", "op": "gte", "value": 1.5}, "value"),
        ({"field": "loyalty.points", "op": "gte", "value": "１２"}, "value"),
        ({"field": "loyalty.points", "op": "between", "value": [5, 1]}, "value"),
        ({"field": "loyalty.points", "op": "between", "value": [1, 2, 3]}, "value"),
        ({"field": "loyalty.points", "op": "in", "value": 1}, "op"),
        ({"field": "loyalty.wallet", "op": "gte", "value": 12.5}, "value"),
        ({"field": "loyalty.wallet", "op": "gte", "value": "1.001"}, "value"),
        ({"field": "loyalty.wallet", "op": "lte", "value": "99999999999"}, "value"),
        ({"field": "loyalty.growth", "op": "lte", "value": True}, "value"),
        ({"field": "loyalty.tier", "op": "in", "value": []}, "value"),
        ({"field": "loyalty.tier", "op": "in", "value": [999999]}, "value"),
        ({"field": "loyalty.tier", "op": "in", "value": ["gold"]}, "value"),
        ({"field": "loyalty.tier", "op": "in", "value": list(range(1, 60))}, "value"),
        ({"field": "loyalty.coupons", "op": "gte", "value": 1001}, "value"),
        ({"field": "loyalty.coupons", "op": "gte", "value": 1, "template": 999999}, "template"),
        ({"field": "loyalty.coupons", "op": "gte", "value": 1, "template": "x"}, "template"),
        ({"field": "loyalty.joined", "op": "before", "value": "2026-02-30"}, "value"),
        ({"field": "loyalty.joined", "op": "before", "value": "yesterday"}, "value"),
        ({"field": "loyalty.joined_days", "op": "within_days", "value": 0}, "value"),
        ({"field": "loyalty.joined_days", "op": "within_days", "value": 3651}, "value"),
        ({"field": "loyalty.member", "op": "is_true", "value": {"x": 1}}, "value"),
    ],
)
def test_bad_values_are_refused_naming_their_place(tiers, leaf, where):
    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            segment_rules_clean({"all": [{"field": "loyalty.member", "op": "is_true"}, leaf]})
        label = str(SEGMENT_FIELDS.get(leaf["field"]).label)
    errors = caught.value.message_dict
    assert list(errors) == [f"rules.all.1.{where}"]
    assert errors[f"rules.all.1.{where}"][0].startswith(label if where != "op" else "“")


def test_errors_and_labels_are_translated(db):
    with translation.override("zh-hans"):
        field = SEGMENT_FIELDS.get("loyalty.points")
        assert str(field.label) == "积分余额"
        with pytest.raises(ValidationError) as caught:
            segment_rules_clean({"field": "loyalty.points", "op": "gte", "value": -5})
    message = caught.value.message_dict["rules.value"][0]
    assert message.startswith("积分余额:")
    assert "0" in message


def test_fields_are_registered_in_the_loyalty_group():
    keys = [f.key for f in SEGMENT_FIELDS if f.key.startswith("loyalty.")]
    assert keys == [
        "loyalty.member",
        "loyalty.tier",
        "loyalty.points",
        "loyalty.wallet",
        "loyalty.coupons",
        "loyalty.joined",
        "loyalty.joined_days",
        "loyalty.growth",
    ]
    for key in keys:
        field = SEGMENT_FIELDS.get(key)
        assert field.group == "loyalty"
        assert field.condition is not None


def test_tier_choices_list_the_tiers(world):
    tiers = world["tiers"]
    choices = SEGMENT_FIELDS.get("loyalty.tier").choices()
    assert choices == [(str(tiers[n].pk), tiers[n].name) for n in ("normal", "silver", "gold")]


def test_tier_points_and_consent_in_one_tree_is_one_query(world, api_admin, django_assert_num_queries):
    """Fields of two apps in one tree: still one statement. Consent is recorded through the messaging API (this
    app does not import its sibling)."""
    people = world["people"]
    tiers = world["tiers"]
    for person, granted in (("gold", True), ("silver", True), ("today", True), ("silver", False)):
        response = api_admin.post(
            "/api/messaging/consents/",
            {
                "customer": people[person].customer_id,
                "channel": "sms",
                "purpose": "marketing",
                "granted": granted,
                "source": "in store",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
    tree = segment_rules_clean(
        {
            "all": [
                {"field": "loyalty.tier", "op": "in", "value": [tiers["silver"].pk, tiers["gold"].pk]},
                {"field": "loyalty.points", "op": "gte", "value": 1000},
                {"field": "messaging.consent", "op": "eq", "value": "sms:marketing"},
            ]
        }
    )
    with django_assert_num_queries(1):
        found = list(segment_apply(Customer.objects.all(), tree).values_list("id", flat=True))
    assert found == [people["gold"].customer_id]  # silver withdrew; today is no silver or gold
    either = segment_rules_clean(
        {
            "any": [
                {"field": "loyalty.tier", "op": "in", "value": [tiers["silver"].pk]},
                {"not": {"field": "messaging.consent", "op": "eq", "value": "sms:marketing"}},
            ]
        }
    )
    with django_assert_num_queries(1):
        found = list(segment_apply(Customer.objects.all(), either).values_list("id", flat=True))
    assert set(found) == _where(lambda f: True) - {people["gold"].customer_id, people["today"].customer_id}
