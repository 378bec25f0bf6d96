"""The whole story of issue #16 in a real Chromium, in Chinese, as a marketing manager lives it.

She builds "gold members who have not bought in 90 days and accept marketing SMS" in the segment builder and
sees the count; creates a campaign on it with a ¥20 coupon and a 10% hold-out and submits it; a second manager
approves it (four eyes); the due sweep sends it (in-process, at a frozen Monday morning) through the stand-in
Aliyun SMS server, each recipient's message naming their own coupon; some recipients buy in the days after
(orders through the sales service); the results page shows them as conversions with the uplift over control.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from guanxi.campaigns.tests import campaign_helpers
from guanxi.core.tests.browser import follow
from guanxi.workspace.tests.test_browser import browser, page, sign_in  # noqa: F401 — the shared fixtures

pytestmark = [pytest.mark.browser]
people = campaign_helpers.people  # the shared staff of store A: two managers among them
SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SH)  # a Monday morning, outside quiet hours
TARGETS = 60  # gold, asleep, SMS consent: enough that a 10% hold-out is never empty


def _world(traveller, store):
    """Gold members who last bought 200 days ago (the targets), and three who are not: a gold member who bought
    last month, a gold member without SMS consent, and an ordinary member."""
    from guanxi.loyalty import services as loyalty
    from guanxi.loyalty.tests.factories import TierFactory, make_member
    from guanxi.messaging.services import consent_record
    from guanxi.sales.tests.factories import make_order

    TierFactory(name="普通", threshold=0, order=0)
    gold = TierFactory(name="金卡", threshold=5000, order=2)
    program = loyalty.program()
    program.points_per_yuan = 1
    program.save()

    def member(name: str, *, spend: bool, consent: bool):
        membership = make_member(store=store, name=name)
        if spend:
            loyalty.points_earn_for_order(
                order=make_order(
                    customer=membership.customer, lines=[{"name": "整箱茶", "quantity": 1, "unit_price": "6000.00"}]
                )
            )
        if consent:
            consent_record(
                actor=None,
                customer=membership.customer,
                channel="sms",
                purpose="marketing",
                granted=True,
                source="counter",
            )
        return membership.customer

    traveller.move_to(NOW - dt.timedelta(days=200))
    targets = [member(f"金卡会员{i:02d}", spend=True, consent=True) for i in range(TARGETS)]
    member("金卡无同意", spend=True, consent=False)
    member("普通会员", spend=False, consent=True)
    recent = member("金卡近期", spend=True, consent=True)
    traveller.move_to(NOW - dt.timedelta(days=30))
    make_order(customer=recent, lines=[{"name": "茶", "quantity": 1, "unit_price": "100.00"}])
    traveller.move_to(NOW)
    return gold, targets


def test_a_manager_segments_campaigns_gets_approval_sends_and_sees_the_uplift(
    page,  # noqa: F811
    people,
    settings,
):
    from guanxi.campaigns.models import Campaign, CampaignRecipient, Segment
    from guanxi.campaigns.run import campaigns_due
    from guanxi.customers.models import Customer
    from guanxi.loyalty.models import Coupon
    from guanxi.loyalty.services.coupons import coupon_template_create
    from guanxi.messaging.models import Message
    from guanxi.messaging.standins import AliyunSmsStandIn
    from guanxi.messaging.tests.factories import make_template
    from guanxi.sales.tests.factories import make_order

    manager, approver = people["manager"], people["manager2"]
    page.set_default_timeout(60_000)  # a loaded host serves the first pages slowly
    with (
        time_machine.travel(NOW, tick=True) as traveller,
        AliyunSmsStandIn(access_key_secret="s3cret", sign_names={"关系"}) as sms,
    ):
        settings.GUANXI_MESSAGING_REDIS_URL = ""
        settings.GUANXI_SMS_BACKEND = "aliyun"
        settings.GUANXI_SMS_SIGN_NAME = "关系"
        settings.GUANXI_SMS_ALIYUN = {
            "access_key_id": sms.access_key_id,
            "access_key_secret": "s3cret",
            "endpoint": sms.base_url,
        }
        settings.GUANXI_SMS_TEMPLATE_CODES = {"winback": "SMS_1"}
        gold, targets = _world(traveller, people["store_a"])
        make_template(code="winback", body=campaign_helpers.WINBACK_BODY)
        coupon_template_create(actor=None, data={"name": "20元代金券", "kind": "fixed", "amount": "20.00"})

        # 1. the segment, condition by condition, the live count following
        sign_in(page, manager.username)
        page.get_by_role("link", name="营销活动").first.click()
        page.get_by_role("link", name="客户分群").click()
        follow(page, page.get_by_role("link", name="新建分群"))
        page.fill("#id_name", "沉睡金卡会员")
        page.get_by_role("button", name="添加条件", exact=True).click()
        tier = page.locator(".segment-condition").nth(0)
        tier.locator("select[data-role=field]").select_option("loyalty.tier")
        tier.locator("select[data-role=value]").select_option([str(gold.pk)])
        expect(page.locator("#segment-count")).to_have_text(str(TARGETS + 2))  # every gold member
        page.get_by_role("button", name="添加条件", exact=True).click()
        asleep = page.locator(".segment-condition").nth(1)
        asleep.locator("select[data-role=field]").select_option("sales.last_purchase")
        asleep.locator("select[data-role=op]").select_option("not_within_days")
        asleep.locator("input[data-role=value]").fill("90")
        expect(page.locator("#segment-count")).to_have_text(str(TARGETS + 1))  # not the one who bought last month
        page.get_by_role("button", name="添加条件", exact=True).click()
        consent = page.locator(".segment-condition").nth(2)
        consent.locator("select[data-role=field]").select_option("messaging.consent")
        consent.locator("select[data-role=value]").select_option("sms:marketing")
        expect(page.locator("#segment-count")).to_have_text(str(TARGETS))  # not the one without consent
        page.click("#segment-save")
        page.wait_for_url(re.compile(r"/campaigns/segments/\d+/$"))
        expect(page.locator(".messages")).to_contain_text("已保存“沉睡金卡会员”")
        segment = Segment.objects.get()

        # 2. the campaign: one SMS variant, the ¥20 coupon, a 10% hold-out; submitted for approval
        page.get_by_role("link", name="营销活动").first.click()
        follow(page, page.get_by_role("link", name="新建活动"))
        page.fill("input[name=name]", "沉睡金卡唤醒")
        page.fill("textarea[name=goal]", "让90天未购的金卡会员回店")
        page.select_option("select[name=segment]", str(segment.pk))
        page.select_option("select[name=coupon_template]", label="20元代金券")
        page.fill("input[name=holdout_percent]", "10")
        page.select_option("select[name=variants-0-template_code]", "winback")
        page.fill("input[name=variants-0-split_percent]", "100")
        page.get_by_role("button", name="保存草稿").click()
        expect(page.locator("#campaign-status")).to_have_text("草稿")
        expect(page.locator("#campaign-facts")).to_contain_text("20元代金券")
        page.get_by_role("button", name="提交审批").click()
        expect(page.locator("#campaign-status")).to_have_text("待审批")
        expect(page.locator("#four-eyes")).to_be_visible()  # she submitted it: someone else approves
        campaign = Campaign.objects.get()

        # 3. four eyes: the second manager reads the pre-send report and approves
        page.context.clear_cookies()
        sign_in(page, approver.username)
        page.goto(f"/campaigns/{campaign.pk}/")
        page.get_by_role("link", name="审批").click()
        expect(page.locator("#preflight h2")).to_have_text("发送前报告")
        expect(page.locator("#preflight")).to_contain_text(str(TARGETS))
        page.locator("#approve").click()
        expect(page.locator("#campaign-status")).to_have_text("已批准")

        # 4. the due sweep sends it (the worker's job, here in-process): SMS through the stand-in provider
        campaign.refresh_from_db()
        assert campaign.approved_by == approver
        assert campaign.submitted_by == manager
        campaigns_due(campaign.next_run_at)
        rows = list(CampaignRecipient.objects.filter(run__campaign=campaign, run__is_test=False))
        assert len(rows) == TARGETS
        sent_to = [r for r in rows if r.variant_id is not None]
        control = [r for r in rows if r.variant_id is None]
        assert control
        assert all(r.status == "control" and r.coupon_id is None for r in control)
        campaign_messages = Message.objects.filter(batch_ref__startswith="campaign-")
        assert len(sms.sent) == len(sent_to)  # each in the variant once; the control got nothing
        assert campaign_messages.filter(customer_id__in=[r.customer_id for r in control]).count() == 0
        codes = dict(Coupon.objects.filter(pk__in=[r.coupon_id for r in sent_to]).values_list("customer_id", "code"))
        assert len(codes) == len(sent_to)  # a coupon of their own each
        assert all(codes[m.customer_id] in m.body for m in campaign_messages.filter(customer_id__in=codes))
        page.reload()
        expect(page.locator("#campaign-status")).to_have_text("已完成")

        # 5. half the recipients buy in the next days, one of the control group too
        traveller.move_to(NOW + dt.timedelta(days=3))
        buyers = sent_to[: len(sent_to) // 2] + control[:1]
        for recipient in buyers:
            customer = Customer.objects.get(pk=recipient.customer_id)
            make_order(customer=customer, lines=[{"name": "新茶", "quantity": 1, "unit_price": "200.00"}])

        # 6. the results: conversions per group and the uplift over control
        page.goto(f"/campaigns/campaigns/{campaign.pk}/results/")
        expect(page.locator("h1")).to_contain_text("沉睡金卡唤醒")
        expect(page.locator("#chart-campaign-results")).to_have_attribute("data-drawn", "1")
        variant_rate = f"{len(sent_to) // 2 / len(sent_to) * 100:.1f}%"
        control_rate = f"{1 / len(control) * 100:.1f}%"
        expect(page.locator("tr[data-group=A]")).to_contain_text(variant_rate)
        expect(page.locator("tr.control-row")).to_contain_text(control_rate)
        expect(page.locator(".readings")).to_contain_text(f"版本 A 转化率 {variant_rate}，对照组 {control_rate}")
        expect(page.locator("#results-method")).to_contain_text("全局对照组")
        page.get_by_role("link", name="营销活动").first.click()
        expect(page.locator("main")).to_contain_text("版本 A：+")  # the list's headline uplift
