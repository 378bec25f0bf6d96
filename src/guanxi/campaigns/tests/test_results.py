"""Campaign results: the table against a direct Python computation and scipy, the window, refunds, opt-outs,
coupons, recurring runs, constant query counts, visibility and the headline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.utils import translation
from scipy import stats

from guanxi.campaigns.campaign_selectors import campaigns_visible_to
from guanxi.campaigns.models import Campaign, CampaignRecipient
from guanxi.campaigns.results import campaign_headline, campaign_results, campaigns_headlines, conversion_reading
from guanxi.campaigns.tests.builders import (
    RUN_START,
    add_recipients,
    known_effect,
    make_campaign,
    make_customers,
    make_orders,
    make_run,
)
from guanxi.loyalty.models import Coupon
from guanxi.loyalty.tests.factories import CouponTemplateFactory
from guanxi.messaging.models import Consent, Message
from guanxi.sales.models import Order

pytestmark = pytest.mark.django_db


def _by_key(result):
    return {g.key: g for g in result.groups}


def test_known_effect_matches_python_and_scipy(admin_user, store_a):
    campaign = make_campaign(store=store_a)
    run = make_run(campaign)
    variant = campaign.variants.get()
    v, c = known_effect(
        run, variant, n_variant=1800, n_control=200, rate_variant=0.10, rate_control=0.05, store=store_a
    )
    # control converts 5% of only 200: make a larger control too, so the known effect is detectable
    results = campaign_results(campaign, user=admin_user)
    assert len(results.runs) == 1
    groups = _by_key(results.runs[0])
    a, control = groups["A"], groups["control"]
    assert (a.recipients, control.recipients) == (1800, 200)
    assert a.converters == v.converters
    assert control.converters == c.converters
    assert a.revenue == sum(v.revenue)
    assert control.revenue == sum(c.revenue)
    assert a.revenue_per_recipient == (sum(v.revenue) / 1800).quantize(Decimal("0.01"))
    assert a.conversion_rate == v.converters / 1800
    assert a.delivered == 1800
    assert a.failed == 0
    assert control.delivered == 0
    # Welch's interval against scipy on the per-recipient revenues
    ref = stats.ttest_ind(
        np.array([float(x) for x in v.revenue]), np.array([float(x) for x in c.revenue]), equal_var=False
    )
    ci = ref.confidence_interval(0.95)
    assert float(a.revenue_uplift.low) == pytest.approx(ci.low, abs=0.006)
    assert float(a.revenue_uplift.high) == pytest.approx(ci.high, abs=0.006)
    assert a.revenue_uplift.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    # the score test is the chi-square of the 2x2 table
    chi = stats.chi2_contingency(
        [[v.converters, 1800 - v.converters], [c.converters, 200 - c.converters]], correction=False
    )
    assert a.conversion.p_value == pytest.approx(chi.pvalue, rel=1e-9)
    assert a.conversion.diff == pytest.approx(v.converters / 1800 - c.converters / 200)
    expected_incremental = sum(v.revenue) - sum(c.revenue) * 1800 / 200
    assert a.incremental_revenue == expected_incremental.quantize(Decimal("0.01"))
    # the total of a one-run campaign is that run
    total = _by_key(results.total)
    assert total["A"].converters == a.converters
    assert total["A"].revenue == a.revenue
    with translation.override("en"):
        assert "converted" in conversion_reading(a, control)


def test_known_effect_detected_with_a_large_control(admin_user):
    campaign = make_campaign()
    run = make_run(campaign)
    _v, _c = known_effect(
        run, campaign.variants.get(), n_variant=1000, n_control=1000, rate_variant=0.10, rate_control=0.05, seed=3
    )
    a = _by_key(campaign_results(campaign, user=admin_user).runs[0])["A"]
    assert a.conversion.significant
    assert a.conversion.low > 0
    assert a.revenue_uplift.significant


def test_no_effect_reported(admin_user):
    campaign = make_campaign()
    run = make_run(campaign)
    known_effect(
        run, campaign.variants.get(), n_variant=600, n_control=600, rate_variant=0.08, rate_control=0.08, seed=11
    )
    result = campaign_results(campaign, user=admin_user).runs[0]
    a = _by_key(result)["A"]
    assert a.conversion.low <= 0 <= a.conversion.high
    assert not a.conversion.significant
    with translation.override("en"):
        assert conversion_reading(a, result.control).endswith("). No significant difference.")
    with translation.override("zh-hans"):  # Chinese runs its sentences on without a space
        assert conversion_reading(a, result.control).endswith("）。差异不显著。")


def test_window_refunds_and_one_conversion_per_recipient(admin_user):
    campaign = make_campaign(days=14)
    run = make_run(campaign)
    customers = make_customers(6)
    add_recipients(run, customers[:5], variant=campaign.variants.get())
    add_recipients(run, customers[5:], variant=None)
    before, after_window, inside, two, refunded, partial = customers
    start, end = RUN_START, RUN_START + dt.timedelta(days=14)
    make_orders(
        [
            (before, start - dt.timedelta(minutes=1), Decimal("100.00")),  # before the run
            (after_window, end, Decimal("100.00")),  # the window is [start, end)
            (inside, start, Decimal("50.00")),  # at the start: counts
            (two, start + dt.timedelta(days=1), Decimal("30.00")),
            (two, end - dt.timedelta(seconds=1), Decimal("20.00")),  # two orders, one converter
        ]
    )
    # a fully refunded order is no purchase; a partly refunded one counts for what was kept
    make_orders(
        [(refunded, start + dt.timedelta(days=2), Decimal("80.00"))],
        status=Order.Status.REFUNDED,
        refunded_amount=Decimal("80.00"),
    )
    make_orders(
        [(partial, start + dt.timedelta(days=2), Decimal("80.00"))],
        status=Order.Status.PARTIALLY_REFUNDED,
        refunded_amount=Decimal("30.00"),
    )
    groups = _by_key(campaign_results(campaign, user=admin_user).runs[0])
    a, control = groups["A"], groups["control"]
    assert (a.recipients, a.converters, a.orders, a.revenue) == (5, 2, 3, Decimal("100.00"))
    assert (control.recipients, control.converters, control.revenue) == (1, 1, Decimal("50.00"))
    assert a.revenue_per_recipient == Decimal("20.00")
    # the uplift: means 20 vs 50 per recipient; a control of one gives no interval
    assert a.revenue_uplift.diff == Decimal("-30.00")
    assert a.revenue_uplift.low is None
    assert a.incremental_revenue == Decimal("-150.00")


def test_delivery_opt_outs_and_coupons(admin_user):
    template = CouponTemplateFactory(amount="20.00")
    campaign = make_campaign(variants=("A", "B"), coupon=template)
    run = make_run(campaign)
    a_variant, b_variant = campaign.variants.order_by("label")
    cust = make_customers(9)
    add_recipients(run, cust[0:2], variant=a_variant, message_status=Message.Status.DELIVERED, coupon_template=template)
    add_recipients(run, cust[2:3], variant=a_variant, message_status=Message.Status.FAILED, coupon_template=template)
    add_recipients(run, cust[3:5], variant=b_variant, message_status=Message.Status.SENT)
    suppressed = add_recipients(run, cust[5:6], variant=b_variant, message_status=None)
    CampaignRecipient.objects.filter(pk=suppressed[0].pk).update(status="suppressed", reason="no consent")
    add_recipients(run, cust[6:9], variant=None)
    # a redeemed coupon (cost ¥20), bought inside the window
    order = make_orders([(cust[0], RUN_START + dt.timedelta(days=1), Decimal("180.00"))])[0]
    Coupon.objects.filter(customer=cust[0]).update(
        status="redeemed", discount=Decimal("20.00"), redeemed_order=order, redeemed_at=RUN_START
    )
    # opt-outs: after the send within the window counts; before the run, or on another channel, does not
    for customer, at, channel in (
        (cust[1], RUN_START + dt.timedelta(hours=1), "sms"),
        (cust[3], RUN_START - dt.timedelta(days=1), "sms"),
        (cust[4], RUN_START + dt.timedelta(hours=1), "email"),
        (cust[6], RUN_START + dt.timedelta(days=3), "sms"),
    ):
        Consent.objects.create(
            customer=customer, channel=channel, purpose="marketing", granted=False, source="sms reply", at=at
        )
    results = campaign_results(campaign, user=admin_user)
    groups = _by_key(results.runs[0])
    a, b, control = groups["A"], groups["B"], groups["control"]
    assert (a.recipients, a.sent, a.delivered, a.failed, a.suppressed, a.opted_out) == (3, 2, 2, 1, 0, 1)
    assert (a.coupons_issued, a.coupons_redeemed, a.coupon_cost) == (3, 1, Decimal("20.00"))
    assert (b.recipients, b.sent, b.delivered, b.suppressed, b.opted_out, b.coupons_issued) == (3, 2, 0, 1, 0, 0)
    assert (control.recipients, control.opted_out, control.coupons_issued) == (3, 1, 0)
    assert a.revenue == Decimal("180.00")
    assert a.incremental_revenue == Decimal("180.00")
    assert [g.key for g in results.runs[0].groups] == ["A", "B", "control"]


def test_recurring_runs_per_run_and_total(admin_user):
    campaign = make_campaign(days=7)
    variant = campaign.variants.get()
    first = make_run(campaign, start=RUN_START)
    second = make_run(campaign, start=RUN_START + dt.timedelta(days=7))
    customers = make_customers(4)
    for run in (first, second):
        add_recipients(run, customers[:2], variant=variant)
        add_recipients(run, customers[2:], variant=None)
    # customer 0 buys in the first week only; customer 2 (control) in the second week only
    make_orders(
        [
            (customers[0], RUN_START + dt.timedelta(days=1), Decimal("10.00")),
            (customers[2], RUN_START + dt.timedelta(days=8), Decimal("40.00")),
        ]
    )
    results = campaign_results(campaign, user=admin_user)
    assert [r.run_id for r in results.runs] == [second.pk, first.pk]
    newest, oldest = (_by_key(r) for r in results.runs)
    assert (oldest["A"].converters, oldest["control"].converters) == (1, 0)
    assert (newest["A"].converters, newest["control"].converters) == (0, 1)
    total = _by_key(results.total)
    assert (total["A"].recipients, total["A"].converters, total["A"].revenue) == (4, 1, Decimal("10.00"))
    assert (total["control"].recipients, total["control"].converters) == (4, 1)
    assert results.total.window_start == RUN_START
    assert results.total.window_end == RUN_START + dt.timedelta(days=14)


def test_test_sends_do_not_count(admin_user):
    campaign = make_campaign()
    test_run = make_run(campaign)
    test_run.is_test = True
    test_run.save()
    add_recipients(test_run, make_customers(3), variant=campaign.variants.get())
    results = campaign_results(campaign, user=admin_user)
    assert results.runs == []
    assert results.total.recipients == 0


@pytest.mark.parametrize("size", [10, 500])
def test_query_count_constant(admin_user, size, django_assert_num_queries):
    campaign = make_campaign(variants=("A", "B"))
    runs = [make_run(campaign), make_run(campaign, start=RUN_START + dt.timedelta(days=30))]
    a_variant, b_variant = campaign.variants.order_by("label")
    customers = make_customers(size)
    for run in runs:
        third = size // 3
        add_recipients(run, customers[:third], variant=a_variant)
        add_recipients(run, customers[third : 2 * third], variant=b_variant)
        add_recipients(run, customers[2 * third :], variant=None)
    make_orders([(c, RUN_START + dt.timedelta(days=1), Decimal("10.00")) for c in customers[::2]])
    with django_assert_num_queries(4):
        results = campaign_results(campaign, user=admin_user)
    assert results.total.recipients == 2 * size
    with django_assert_num_queries(1):
        headlines = campaigns_headlines([campaign.pk])
    assert headlines[campaign.pk].recipients == 2 * size


def test_visibility(store_a, store_b, staff_a, staff_b, marketer_a, admin_user):
    mine = make_campaign(store=store_a, name="A 店活动")
    theirs = make_campaign(store=store_b, name="B 店活动")
    own = make_campaign(store=None, created_by=staff_b, name="总部活动")
    assert set(campaigns_visible_to(marketer_a)) == {mine}
    assert set(campaigns_visible_to(staff_a)) == set()  # store staff do not see campaigns at all
    assert set(campaigns_visible_to(admin_user)) == {mine, theirs, own}
    assert set(campaigns_visible_to(None)) == set()
    campaign_results(mine, user=marketer_a)
    with pytest.raises(Campaign.DoesNotExist):
        campaign_results(theirs, user=marketer_a)


def test_headlines(admin_user):
    campaign = make_campaign(variants=("A", "B"))
    run = make_run(campaign)
    a_variant, b_variant = campaign.variants.order_by("label")
    groups = {"A": make_customers(100), "B": make_customers(100), "control": make_customers(100)}
    add_recipients(run, groups["A"], variant=a_variant)
    add_recipients(run, groups["B"], variant=b_variant)
    add_recipients(run, groups["control"], variant=None)
    at = RUN_START + dt.timedelta(days=1)
    make_orders(
        [(c, at, Decimal("10.00")) for c in groups["A"][:5]]
        + [(c, at, Decimal("10.00")) for c in groups["B"][:30]]
        + [(c, at, Decimal("10.00")) for c in groups["control"][:4]]
    )
    other = make_campaign(name="没发")
    headlines = campaigns_headlines([campaign.pk, other.pk])
    assert other.pk not in headlines
    h = headlines[campaign.pk]
    assert h.variant == "B"
    assert h.recipients == 300
    assert h.conversion.diff == pytest.approx(0.26)
    assert h.conversion.significant
    with translation.override("en"):
        assert h.text.startswith("Variant B: +26.0 points")
    assert campaign_headline(campaign) == h


def test_the_headline_marks_no_significance_without_a_stray_space_in_chinese():
    from django.utils import translation

    from guanxi.campaigns.results import Headline, headline_text
    from guanxi.campaigns.uplift import ProportionDiff

    unclear = ProportionDiff(
        variant_rate=0.12, control_rate=0.10, diff=0.02, low=-0.03, high=0.07, p_value=0.4, relative=0.2
    )
    headline = Headline(campaign_id=1, recipients=100, variant="A", conversion=unclear)
    with translation.override("zh-hans"):
        assert headline_text(headline) == "版本 A：+2.0 个百分点（不显著）"
    with translation.override("en"):
        assert headline_text(headline) == "Variant A: +2.0 points (not significant)"
