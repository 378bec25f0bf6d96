"""The results page in a real Chromium (zh-Hans): the chart is drawn under the Content-Security-Policy, the table
and the plain-language reading are there, and the CSV export downloads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from guanxi.accounts.models import Role
from guanxi.workspace.tests.test_browser import browser, page, sign_in  # noqa: F401 — the shared fixtures

pytestmark = [pytest.mark.browser]


def test_results_page_draws_the_chart_and_exports(page, transactional_db):  # noqa: F811
    from guanxi.accounts.tests.factories import StoreFactory, UserFactory
    from guanxi.campaigns.tests.builders import (
        RUN_START,
        add_recipients,
        make_campaign,
        make_customers,
        make_orders,
        make_run,
    )

    store = StoreFactory(code="ja", name="静安店")
    marketer = UserFactory(username="mkt", role=Role.MARKETER, stores=[store])
    campaign = make_campaign(store=store, name="会员日短信")
    run = make_run(campaign)
    variant, control = make_customers(40, store=store), make_customers(40, store=store)
    add_recipients(run, variant, variant=campaign.variants.get())
    add_recipients(run, control, variant=None)
    at = RUN_START + dt.timedelta(days=1)
    make_orders([(c, at, Decimal("100.00")) for c in variant[:8] + control[:2]])

    page.set_default_timeout(90_000)  # a loaded CI host serves the first page slowly
    sign_in(page, marketer.username)
    page.goto(f"/campaigns/campaigns/{campaign.pk}/results/")
    expect(page.locator("h1")).to_contain_text("会员日短信")
    expect(page.locator("#chart-campaign-results")).to_have_attribute("data-drawn", "1")
    expect(page.locator("tr[data-group=A]")).to_contain_text("20.0%")
    expect(page.locator(".readings")).to_contain_text("版本 A 转化率 20.0%，对照组 5.0%")
    with page.expect_download() as download:
        page.click("#results-csv")
    assert download.value.suggested_filename == f"campaign-{campaign.pk}-results.csv"
