"""A marketer builds a segment in a real Chromium (zh-Hans): two conditions, the live count changing with each,
save it, and open it again with its conditions in place. (Here, outside the app stack, because it uses the
workspace's shared browser fixtures.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from guanxi.campaigns.tests.conftest import people, zz_fields  # noqa: F401 — the segment test fields and customers
from guanxi.core.tests.browser import follow
from guanxi.workspace.tests.test_browser import browser, page, sign_in  # noqa: F401 — the shared fixtures

pytestmark = [pytest.mark.browser]


def test_a_marketer_builds_a_two_condition_segment_saves_and_reopens_it(page, zz_fields, people, marketer_a):  # noqa: F811
    from guanxi.campaigns.models import Segment

    sign_in(page, marketer_a.username)
    page.get_by_role("link", name="营销活动").first.click()
    page.get_by_role("link", name="客户分群").click()  # the campaign list leads to the segments
    expect(page.get_by_role("heading", name="客户分群")).to_be_visible()
    follow(page, page.get_by_role("link", name="新建分群"))
    page.fill("#id_name", "杭州高消费")

    page.get_by_role("button", name="添加条件", exact=True).click()
    first = page.locator(".segment-condition").nth(0)
    first.locator("select[data-role=field]").select_option("zz.region")
    first.locator("select[data-role=value]").select_option("杭州")
    expect(page.locator("#segment-count")).to_have_text("2")  # store A's two Hangzhou customers
    expect(page.locator("#segment-sample tbody tr")).to_have_count(2)

    page.get_by_role("button", name="添加条件", exact=True).click()
    second = page.locator(".segment-condition").nth(1)
    second.locator("select[data-role=field]").select_option("zz.spent")
    second.locator("select[data-role=op]").select_option("gte")
    second.locator("input[data-role=value]").fill("1000")
    expect(page.locator("#segment-count")).to_have_text("1")
    expect(page.locator("#segment-sample tbody")).to_contain_text("客户a_hz_rich")

    page.click("#segment-save")
    page.wait_for_url(re.compile(r"/campaigns/segments/\d+/$"))
    segment = Segment.objects.get()
    assert segment.rules == {
        "all": [
            {"field": "zz.region", "op": "eq", "value": "杭州"},
            {"field": "zz.spent", "op": "gte", "value": "1000"},
        ]
    }
    expect(page.locator(".messages")).to_contain_text("已保存“杭州高消费”")

    page.goto(f"/campaigns/segments/{segment.pk}/")
    conditions = page.locator(".segment-condition")
    expect(conditions).to_have_count(2)
    expect(conditions.nth(0).locator("select[data-role=field]")).to_have_value("zz.region")
    expect(conditions.nth(0).locator("select[data-role=value]")).to_have_value("杭州")
    expect(conditions.nth(1).locator("input[data-role=value]")).to_have_value("1000")
    expect(page.locator("#segment-count")).to_have_text("1")
