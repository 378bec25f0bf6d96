"""A counter clerk's sale in a real Chromium (zh-Hans): find the member by the last four digits, add two products,
pay with a coupon, points and stored value, see the receipt and the queued e-bill, refund one line, then the rest,
and see the balances back where they were."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from guanxi.accounts.models import Role
from guanxi.core.tests.browser import follow
from guanxi.workspace.tests.test_browser import browser, page, sign_in  # noqa: F401 — the shared fixtures

pytestmark = [pytest.mark.browser]


@pytest.fixture
def counter_shop(transactional_db):
    from guanxi.accounts.tests.factories import StoreFactory, UserFactory
    from guanxi.loyalty import services
    from guanxi.loyalty.tests.factories import CouponTemplateFactory, TierFactory, TopUpRuleFactory, make_member
    from guanxi.messaging.tests.factories import make_template
    from guanxi.sales.tests.factories import ProductFactory

    store = StoreFactory(code="jb", name="静安店")
    clerk = UserFactory(username="till", role=Role.STORE_STAFF, stores=[store])
    TierFactory(name="普通", threshold=0, order=0)
    settings = services.program()
    settings.points_per_yuan = 1
    settings.points_per_yuan_redeemed = 100
    settings.redeem_cap_percent = 50
    settings.save()
    member = make_member(store=store, name="李娜", phone="13912345678")
    services.points_adjust(actor=None, membership=member, points=10000, reason="opening balance")
    TopUpRuleFactory(min_amount="500.00", bonus="50.00")
    services.wallet_top_up(actor=None, membership=member, amount="500.00", reference="pay-1")
    template = CouponTemplateFactory(name="满100减20", kind="threshold", amount="20.00", threshold="100.00")
    coupon = services.coupon_issue(actor=None, template=template, customer_ids=[member.customer_id])[0]
    ProductFactory(sku="COAT-1", name="羊毛外套", price="200.00")
    ProductFactory(sku="SCARF-1", name="真丝围巾", price="100.00")
    make_template(code="ebill", purpose="transactional", body="{name}您消费{amount}元,积分+{points_earned}")
    return clerk, member, coupon


def test_a_counter_sale_with_coupon_points_and_stored_value_then_refunds(page, counter_shop):  # noqa: F811
    from guanxi.loyalty.models import Coupon
    from guanxi.messaging.models import Message
    from guanxi.sales.models import Order

    clerk, member, coupon = counter_shop
    sign_in(page, clerk.username)
    follow(page, page.get_by_role("link", name="收银").first)
    page.fill("#counter-q", "5678")  # the last four digits of the mobile
    page.locator("#counter-members a.button", has_text="收银").click()
    expect(page.locator("#counter-member")).to_contain_text("李娜")

    for query, name in (("外套", "羊毛外套"), ("SCARF", "真丝围巾")):
        page.fill("#counter-pq", query)
        page.locator("#counter-products tr", has_text=name).locator("button[name=add]").click()
        expect(page.locator("#counter-basket table.counter-lines")).to_contain_text(name)
    expect(page.locator("#counter-quote")).to_contain_text("¥300.00")

    page.select_option("#counter-coupon-pick", coupon.code)
    expect(page.locator("#counter-quote")).to_contain_text("优惠券 满100减20")
    # 使用全部积分: 300 − 20 = 280, at most half of it (¥140, 14,000 points): all the 10,000 held
    page.get_by_role("button", name="使用全部积分").click()
    expect(page.locator("#counter-points")).to_have_value("10000")
    expect(page.locator("#counter-quote")).to_contain_text("10000 积分抵现")
    expect(page.locator("#counter-due")).to_have_text("¥180.00")
    page.fill("#counter-points", "5000")
    page.press("#counter-points", "Enter")  # Enter refreshes the quote; it never commits
    expect(page.locator("#counter-quote")).to_contain_text("5000 积分抵现")
    page.fill("#counter-wallet", "100")
    page.press("#counter-wallet", "Enter")
    # 300 − coupon 20 − 5,000 points (¥50) − ¥100 stored value = ¥130 to pay
    expect(page.locator("#counter-due")).to_have_text("¥130.00")
    assert not Order.objects.exists()
    page.select_option("#counter-method", "wechat_pay")
    expect(page.locator("#counter-due")).to_have_text("¥130.00")

    page.click("#counter-commit")
    page.wait_for_url(re.compile(r"/loyalty/counter/orders/\d+/$"))
    receipt = page.locator("#receipt")
    for text in ("羊毛外套", "真丝围巾", "满100减20", "−¥20.00", "5000 积分抵现", "−¥50.00", "¥100.00", "¥130.00"):
        expect(receipt).to_contain_text(text)
    expect(page.locator("#wallet-now")).to_have_text("¥450.00")
    order = Order.objects.get()
    assert order.paid_amount == Decimal("230.00")
    ebill = Message.objects.get(customer_id=member.customer_id, template_code="ebill")
    assert ebill.status != "suppressed"
    assert "230.00" in ebill.body

    # the scarf back: a third of the basket, so a third of the points used and of the stored value
    scarf = order.lines.get(sku="SCARF-1")
    page.fill(f"#refund-{scarf.pk}", "1")
    page.click("text=退所选商品")
    expect(page.locator("#refunds")).to_contain_text("¥76.66")
    expect(page.locator("#wallet-now")).to_have_text("¥483.33")
    # the rest of the order: every point, every yuan of stored value and the coupon come back
    page.click("text=整单退款")
    expect(page.locator("#refund")).to_have_count(0)
    expect(page.locator("#wallet-now")).to_have_text("¥550.00")
    member.points.refresh_from_db()
    expect(page.locator("#points-now")).to_have_text(str(member.points.balance))
    assert member.points.balance == 10000
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
