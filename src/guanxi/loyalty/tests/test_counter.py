"""The counter page (收银): find the member, quote the basket, commit once per key, the receipt, refunds."""

from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from guanxi.loyalty import services
from guanxi.loyalty.models import Checkout, Coupon
from guanxi.loyalty.tests.conftest import assert_ledgers_consistent
from guanxi.loyalty.tests.factories import CouponTemplateFactory
from guanxi.sales.models import Order
from guanxi.sales.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

NOW = "2026-05-20 10:00:00+08:00"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def shop(loaded):
    """The loaded silver member (conftest) and a coat and a scarf on sale."""
    member, coupon = loaded
    coat = ProductFactory(sku="COAT-1", name="羊毛外套", price="200.00")
    scarf = ProductFactory(sku="SCARF-1", name="真丝围巾", price="50.00")
    return member, coupon, coat, scarf


def _sale(member, coupon, store, **extra):
    return {
        "customer": member.customer_id,
        "key": "k" * 32,
        "sku": ["COAT-1", "SCARF-1"],
        "qty": ["1", "2"],
        "coupon_pick": coupon.code,
        "points": "5000",
        "wallet_amount": "100.00",
        "payment_method": "wechat_pay",
        "store": str(store.pk),
        **extra,
    }


def test_member_found_by_last_four_digits_and_the_page_renders(client, shop, staff_a):
    member, *_ = shop
    client.force_login(staff_a)
    page = client.get(reverse("loyalty:counter"), {"q": "8000"})
    assert page.status_code == 200
    assert member.member_no in page.content.decode()
    fragment = client.get(reverse("loyalty:counter_members"), {"q": "13800138000"}).content.decode()
    assert f"?customer={member.customer_id}" in fragment
    sale = client.get(reverse("loyalty:counter"), {"customer": member.customer_id}).content.decode()
    assert 'name="key"' in sale
    assert "满100减20" in sale  # the member's coupon can be picked


def test_other_stores_member_is_not_found_and_cannot_be_sold_to(client, shop, staff_b, store_b):
    member, coupon, *_ = shop
    client.force_login(staff_b)
    assert member.member_no not in client.get(reverse("loyalty:counter"), {"q": "8000"}).content.decode()
    page = client.get(reverse("loyalty:counter"), {"customer": member.customer_id}).content.decode()
    assert 'name="key"' not in page
    assert member.customer.name not in page
    assert client.post(reverse("loyalty:counter_quote"), _sale(member, coupon, store_b)).status_code == 404
    assert client.post(reverse("loyalty:counter_commit"), _sale(member, coupon, store_b)).status_code == 404
    assert not Order.objects.exists()


def test_staff_sell_only_in_their_own_stores(client, shop, staff_a, store_b):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    response = client.post(reverse("loyalty:counter_commit"), _sale(member, coupon, store_b))
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_quote_shows_every_discount_in_the_order_they_apply(client, shop, staff_a, store_a):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    html = client.post(reverse("loyalty:counter_quote"), _sale(member, coupon, store_a)).content.decode()
    # 300 − 5% (15.00) = 285 − coupon 20 = 265 − 5,000 points (¥50) = 215 − ¥100 stored value = ¥115 to pay
    for text in ("¥300.00", "−¥15.00", "−¥20.00", "−¥50.00", "¥100.00", "¥115.00", "+322"):
        assert text in html, text
    # adding one more scarf and removing the coat re-renders the basket
    html = client.post(
        reverse("loyalty:counter_quote"),
        {
            **_sale(member, coupon, store_a, points="", wallet_amount="", coupon_pick=""),
            "add": "SCARF-1",
            "remove": "COAT-1",
        },
    ).content.decode()
    assert 'value="3"' in html
    assert "COAT-1" not in html
    assert "¥142.50" in html  # 150 − 5%


def test_a_bad_points_amount_is_named_by_its_label(client, shop, staff_a, store_a):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    with_language = client.post(
        reverse("loyalty:counter_quote"), _sale(member, coupon, store_a, points="99999"), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    html = with_language.content.decode()
    assert "points:" not in html
    assert 'id="counter-commit" disabled' in html


def test_commit_once_then_the_same_key_shows_the_same_receipt(client, shop, staff_a, store_a):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    first = client.post(reverse("loyalty:counter_commit"), _sale(member, coupon, store_a))
    assert first.status_code == 302
    second = client.post(reverse("loyalty:counter_commit"), _sale(member, coupon, store_a))
    assert second["Location"] == first["Location"]
    assert Order.objects.count() == 1
    checkout = Checkout.objects.get()
    assert checkout.order.store == store_a
    assert checkout.order.source == "counter"
    assert checkout.order.payment_method == "mixed"
    receipt = client.get(first["Location"]).content.decode()
    for text in (
        "羊毛外套",
        "真丝围巾",
        "−¥15.00",
        "满100减20",
        "−¥20.00",
        "5000",
        "−¥50.00",
        "¥100.00",
        "¥115.00",
        "+322",
    ):
        assert text in receipt, text
    # balance after the sale: 10,000 − 5,000 + 322 points; ¥450 stored value
    assert "5322" in receipt
    assert "¥450.00" in receipt
    assert Coupon.objects.get(pk=coupon.pk).status == "redeemed"
    assert_ledgers_consistent()


def test_refund_one_line_then_the_rest_from_the_receipt(client, shop, staff_a, store_a):
    member, coupon, coat, scarf = shop
    client.force_login(staff_a)
    url = client.post(reverse("loyalty:counter_commit"), _sale(member, coupon, store_a))["Location"]
    order = Order.objects.get()
    scarves = order.lines.get(sku="SCARF-1")
    refund_url = reverse("loyalty:counter_refund", args=[order.pk])
    client.post(refund_url, {"reference": "R-1", f"line-{scarves.pk}": "2"})
    client.post(refund_url, {"reference": "R-1", f"line-{scarves.pk}": "2"})  # a double click: once
    order.refresh_from_db()
    assert order.refunds.count() == 1
    assert order.refunded_amount == Decimal("71.66")  # the scarves are a third of the basket
    assert order.lines.get(pk=scarves.pk).refunded_quantity == 2
    client.post(refund_url, {"reference": "R-2", "whole": "1"})
    member.points.refresh_from_db()
    member.wallet.refresh_from_db()
    assert member.points.balance == 10000
    assert member.wallet.balance == Decimal("550.00")
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
    receipt = client.get(url).content.decode()
    assert 'id="refund"' not in receipt  # nothing left to refund
    assert_ledgers_consistent()


def test_an_order_paid_nothing_is_refunded_from_its_page(client, member, program, staff_a, store_a):
    program.redeem_cap_percent = 100
    program.save()
    services.points_adjust(actor=None, membership=member, points=5000, reason="opening balance")
    ProductFactory(sku="TEA-1", name="茶叶", price="50.00")
    client.force_login(staff_a)
    data = {"customer": member.customer_id, "key": "z" * 32, "sku": ["TEA-1"], "qty": ["1"], "points": "5000"}
    data["store"] = str(store_a.pk)
    url = client.post(reverse("loyalty:counter_commit"), data)["Location"]
    order = Order.objects.get()
    assert order.paid_amount == 0
    response = client.post(reverse("loyalty:counter_refund", args=[order.pk]), {"reference": "R-0", "whole": "1"})
    assert response["Location"] == url
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    member.points.refresh_from_db()
    assert member.points.balance == 5000


def test_quote_and_commit_run_a_constant_number_of_queries(client, shop, staff_a, store_a, django_assert_num_queries):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    client.get(reverse("loyalty:counter"))  # the session and the user are loaded once like on any page
    # quote: session, user, user's stores, member (+tier, points, wallet), products, program settings, coupon,
    # the member's coupons
    with django_assert_num_queries(QUOTE_QUERIES):
        client.post(reverse("loyalty:counter_quote"), _sale(member, coupon, store_a))
    more = {"sku": ["COAT-1", "SCARF-1"], "qty": ["3", "7"]}
    with django_assert_num_queries(QUOTE_QUERIES):
        client.post(reverse("loyalty:counter_quote"), {**_sale(member, coupon, store_a), **more})
    # commits of a returning member with a coupon, points and stored value: the same count whatever the basket
    template = CouponTemplateFactory(name="代金券10", kind="fixed", amount="10.00", per_customer_limit=2)
    first = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0]
    second = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0]
    ProductFactory(sku="HAT-1", name="帽子", price="30.00")
    warm_up = {"sku": ["COAT-1"], "qty": ["1"], "coupon_pick": "", "points": "", "wallet_amount": "", "key": "w" * 32}
    assert (
        client.post(reverse("loyalty:counter_commit"), {**_sale(member, coupon, store_a), **warm_up}).status_code == 302
    )
    with django_assert_num_queries(COMMIT_QUERIES):
        response = client.post(reverse("loyalty:counter_commit"), _sale(member, first, store_a, key="a" * 32))
    assert response.status_code == 302
    bigger = {"sku": ["COAT-1", "SCARF-1", "HAT-1"], "qty": ["3", "7", "2"], "key": "b" * 32}
    with django_assert_num_queries(COMMIT_QUERIES):
        response = client.post(reverse("loyalty:counter_commit"), {**_sale(member, second, store_a), **bigger})
    assert response.status_code == 302
    # the replay of a key: the checkout is found and shown, nothing is written
    with django_assert_num_queries(REPLAY_QUERIES):
        client.post(reverse("loyalty:counter_commit"), _sale(member, first, store_a, key="a" * 32))
    assert Order.objects.count() == 3


#: session, user, the user's stores (twice: visibility and the store list), member with tier/points/wallet,
#: products, program settings, coupon, the member's coupons (the checkout prices with the products, the store,
#: the points balance and the wallet the view read)
QUOTE_QUERIES = 8
#: the form's products, the store list and the member, handed to the checkout service, then its reads and
#: writes under locks (membership, points account, wallet, each read once): idempotency claims, the order and
#: its lines, the customer's figures, points and wallet ledgers, the coupon, the checkout, the earned points,
#: tier review, events, timeline and audit rows; nothing read twice and none of them per line; savepoints
#: only where an error is recovered from (the idempotency claims, the order's insert, the checkout's write)
COMMIT_QUERIES = 47
#: the member (the view's, handed to the checkout), the checkout found by its key and the idempotency claim
#: compared; nothing written
REPLAY_QUERIES = 9


def test_products_found_by_name_or_code(client, shop, staff_a):
    client.force_login(staff_a)
    by_name = client.get(reverse("loyalty:counter_products"), {"pq": "外套"}).content.decode()
    assert "COAT-1" in by_name
    assert "SCARF-1" not in by_name
    by_code = client.get(reverse("loyalty:counter_products"), {"pq": "scarf"}).content.decode()
    assert "真丝围巾" in by_code


def _points_field(html: str) -> str:
    import re

    return re.search(r'<input id="counter-points"[^>]*value="([^"]*)"', html).group(1)


def test_use_all_points_fills_in_the_most_this_basket_allows(client, shop, staff_a, store_a, program):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    url = reverse("loyalty:counter_quote")
    sale = _sale(member, coupon, store_a, points="12", wallet_amount="")
    page = client.post(url, sale, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "使用全部积分" in page
    # 300 − 5% = 285 − coupon 20 = 265; cap 50% → ¥132.50 → 13,250 points: the 10,000 held are the limit
    html = client.post(url, {**sale, "points_all": "1"}).content.decode()
    assert _points_field(html) == "10000"
    assert "−¥100.00" in html  # 10,000 points at 100 a yuan
    # a lower cap: 20% of ¥265 = ¥53.00 → 5,300 points, fewer than held
    program.redeem_cap_percent = 20
    program.save()
    html = client.post(url, {**sale, "points": "99999", "points_all": "1"}).content.decode()
    assert _points_field(html) == "5300"
    assert 'role="alert"' not in html  # the too-large number typed before is replaced, not refused
    # without the coupon the cap is on ¥285: ¥57.00 → 5,700 points
    html = client.post(url, {**sale, "coupon_pick": "", "points_all": "1"}).content.decode()
    assert _points_field(html) == "5700"
    # the next quote keeps the filled-in number as the clerk's own
    html = client.post(url, {**sale, "coupon_pick": "", "points": "5700"}).content.decode()
    assert _points_field(html) == "5700"
    assert "−¥57.00" in html


def test_use_all_points_is_offered_only_with_points_and_a_basket(client, shop, staff_a, store_a):
    member, coupon, *_ = shop
    client.force_login(staff_a)
    url = reverse("loyalty:counter_quote")
    empty = client.post(url, {**_sale(member, coupon, store_a), "sku": [], "qty": []}).content.decode()
    assert 'id="counter-points-all"' not in empty
    services.points_adjust(actor=None, membership=member, points=-10000, reason="used up")
    none_left = client.post(url, _sale(member, coupon, store_a, points="")).content.decode()
    assert 'id="counter-points-all"' not in none_left
