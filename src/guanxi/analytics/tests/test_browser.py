"""The analytics pages in a real Chromium: the charts are drawn with the workspace's ECharts, and the customer
360 page shows the analytics panel. Marked ``browser`` like the workspace's browser tests."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from guanxi.analytics.services import scores_refresh
from guanxi.analytics.tests.test_api import base
from guanxi.core.tests.browser import sign_in  # browser and page: the shared fixtures, from conftest

pytestmark = [pytest.mark.browser]


def test_dashboard_charts_and_customer_panel(page, store_a, store_b, staff_a):
    people = base(store_a, store_b)
    scores_refresh()
    sign_in(page, staff_a.username)

    page.goto("/analytics/")
    expect(page.locator('[data-chart="segments"][data-drawn="echarts"] canvas')).to_have_count(1)
    expect(page.locator('[data-chart="clv"][data-drawn="echarts"] canvas')).to_have_count(1)
    expect(page.locator("#rfm-segments")).to_contain_text("重要价值客户")
    if os.environ.get("GUANXI_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["GUANXI_SCREENSHOTS"], "analytics-dashboard.png"), full_page=True)

    page.goto("/analytics/cohorts/")
    expect(page.locator('[data-chart="cohorts"][data-drawn="echarts"] canvas')).to_have_count(1)

    page.goto("/analytics/at-risk/")
    expect(page.locator("h1")).to_contain_text("高价值流失风险客户")

    customer = people["store-a"][3]
    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator(".panel-analytics")).to_contain_text("仍然活跃的概率")
    if os.environ.get("GUANXI_SCREENSHOTS"):
        shot = os.path.join(os.environ["GUANXI_SCREENSHOTS"], "analytics-panel.png")
        page.locator("#panel-analytics").screenshot(path=shot)


def test_click_a_segment_and_land_on_its_customers(page, store_a, store_b, staff_a):
    from guanxi.analytics.models import CustomerScore

    base(store_a, store_b)
    scores_refresh()
    score = CustomerScore.objects.filter(customer__home_store=store_a).order_by("customer_id").first()
    members = set(
        CustomerScore.objects.filter(segment=score.segment, customer__home_store=store_a).values_list(
            "customer_id", flat=True
        )
    )
    sign_in(page, staff_a.username)
    page.goto("/analytics/")
    page.locator(f'#rfm-segments tr[data-segment="{score.segment}"] a.segment-link').click()
    page.wait_for_url("**/customers/?seg.analytics.rfm=*")
    chip = page.locator(".segment-chip")
    expect(chip).to_contain_text("RFM 分群")
    expect(chip).to_contain_text(str(score.get_segment_display()))
    rows = page.locator("table.customers tbody tr")
    expect(rows).to_have_count(len(members))
    hrefs = {rows.nth(i).locator("a.row-link").get_attribute("href") for i in range(len(members))}
    assert hrefs == {f"/customers/{pk}/" for pk in members}
    chip.locator("a.chip-remove").click()  # removing the filter lists every customer again
    expect(page.locator(".segment-chip")).to_have_count(0)
