"""In a real Chromium, in Chinese: a marketer drafts a campaign and submits it; a manager reviews and approves it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from guanxi.campaigns.models import Campaign
from guanxi.campaigns.tests import campaign_helpers
from guanxi.workspace.tests.test_browser import browser, page, sign_in  # noqa: F401 — the shared fixtures

pytestmark = [pytest.mark.browser]
people, setup = campaign_helpers.people, campaign_helpers.setup  # the shared fixtures


def test_a_marketer_drafts_and_submits_a_manager_approves(page, setup):  # noqa: F811
    sign_in(page, setup["marketer"].username)
    page.get_by_role("link", name="营销活动").first.click()
    expect(page.locator("h1")).to_have_text("营销活动")
    page.get_by_role("link", name="新建活动").click()

    page.fill("input[name=name]", "金卡会员唤醒")
    page.fill("textarea[name=goal]", "让90天未购的金卡会员回店")
    page.select_option("select[name=segment]", str(setup["segment"].pk))
    page.select_option("select[name=coupon_template]", str(setup["coupon"].pk))
    page.select_option("select[name=variants-0-template_code]", "winback")
    page.fill("input[name=variants-0-split_percent]", "60")
    page.select_option("select[name=variants-1-template_code]", "hello")
    page.fill("input[name=variants-1-split_percent]", "30")
    page.get_by_role("button", name="保存草稿").click()
    # the shares add up to 90%: refused, named, nothing saved
    expect(page.locator(".form-errors")).to_contain_text("合计为 90%")
    assert not Campaign.objects.exists()
    page.fill("input[name=variants-1-split_percent]", "40")
    page.get_by_role("button", name="保存草稿").click()

    expect(page.locator("#campaign-status")).to_have_text("草稿")
    campaign = Campaign.objects.get()
    page.get_by_role("button", name="提交审批").click()
    expect(page.locator("#campaign-status")).to_have_text("待审批")
    expect(page.get_by_role("link", name="审批")).to_have_count(0)  # a marketer does not approve

    page.context.clear_cookies()
    sign_in(page, setup["manager"].username)
    page.goto(f"/campaigns/{campaign.pk}/")
    page.get_by_role("link", name="审批").click()
    expect(page.locator("#preflight h2")).to_have_text("发送前报告")
    page.locator("#approve").click()
    expect(page.locator("#campaign-status")).to_have_text("已批准")
    expect(page.locator("#campaign-history")).to_contain_text("pending → approved")
    assert re.search(r"/campaigns/\d+/$", page.url)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.APPROVED
    assert campaign.submitted_by == setup["marketer"]
    assert campaign.approved_by == setup["manager"]
    assert [v.split_percent for v in campaign.variants.all()] == [60, 40]
