"""Acting on analytics: each segment, CLV band, cohort cell and at-risk row links to the customers behind it."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from guanxi.analytics.models import CustomerScore
from guanxi.analytics.selectors import cohort_retention
from guanxi.analytics.tests.test_api import base
from guanxi.core.segments import SEGMENT_FIELDS


@pytest.fixture
def scored(store_a, store_b):
    return base(store_a, store_b)


def _links(html: str, field: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*seg\.' + re.escape(field) + r'=[^"]*)"', html)]


def _listed(client, url: str) -> set[int]:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.content.decode()[:500]
    return {c.pk for c in response.context["page"].rows}


def test_analytics_registers_its_segment_fields():
    keys = {"analytics.rfm", "analytics.clv_band", "analytics.at_risk", "analytics.first_purchase_month"}
    assert keys <= {f.key for f in SEGMENT_FIELDS}


@pytest.mark.django_db
def test_each_rfm_segment_links_to_its_visible_customers(scored, client, staff_a):
    client.force_login(staff_a)
    html = client.get(reverse("analytics:dashboard"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    links = _links(html, "analytics.rfm")
    assert len(links) >= 8
    for link in links:
        segment = link.rsplit("=", 1)[1]
        expected = set(
            CustomerScore.objects.filter(segment=segment, customer__home_store__code="store-a").values_list(
                "customer_id", flat=True
            )
        )
        assert _listed(client, link) == expected  # store B's customers of the segment are not listed


@pytest.mark.django_db
def test_each_clv_band_links_to_its_customers(scored, client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("analytics:dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    counts = {b["key"]: b["customers"] for b in response.context["clv_buckets"]}
    links = _links(response.content.decode(), "analytics.clv_band")
    assert {link.rsplit("=", 1)[1] for link in links} == set(counts)
    for link in set(links):
        assert len(_listed(client, link)) == counts[link.rsplit("=", 1)[1]]


@pytest.mark.django_db
def test_cohort_cells_link_to_the_customers_counted_in_them(scored, client, staff_a):
    client.force_login(staff_a)
    html = client.get(reverse("analytics:cohorts"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    rows = cohort_retention(user=staff_a)
    assert rows
    for row in rows:
        month = row["month"].strftime("%Y-%m")
        url = f"{reverse('customers:customers')}?seg.analytics.first_purchase_month={month}"
        assert f"seg.analytics.first_purchase_month={month}" in html
        assert len(_listed(client, url)) == row["customers"]
        for share, bought_in in row["cells"]:
            if share:
                cell = f"{url}&seg.analytics.purchase_month={bought_in}"
                assert len(_listed(client, cell)) == round(share * row["customers"])


@pytest.mark.django_db
def test_at_risk_rows_link_to_the_customer_and_the_list_to_all_of_them(scored, client, staff_a):
    client.force_login(staff_a)
    response = client.get(reverse("analytics:at_risk"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    scores = list(response.context["scores"])
    assert scores
    for s in scores:
        assert reverse("customers:customer", args=[s.customer_id]) in html
    listed = _listed(client, f"{reverse('customers:customers')}?seg.analytics.at_risk=1")
    assert listed == {s.customer_id for s in scores}


@pytest.mark.django_db
def test_the_filtered_list_shows_a_removable_chip_exports_and_tags_the_segment(scored, client, staff_a):
    from guanxi.customers.models import Customer

    client.force_login(staff_a)
    segment = CustomerScore.objects.filter(customer__home_store__code="store-a").values_list("segment", flat=True)[0]
    query = f"?seg.analytics.rfm={segment}"
    members = set(
        CustomerScore.objects.filter(segment=segment, customer__home_store__code="store-a").values_list(
            "customer_id", flat=True
        )
    )
    response = client.get(reverse("customers:customers") + query, HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert "RFM 分群" in html  # the chip's label, translated
    assert 'name="seg.analytics.rfm"' in html  # the filter bar keeps it
    assert 'class="chip-remove" href="?"' in html
    export = client.get(reverse("customers:customers_export") + query)
    rows = b"".join(export.streaming_content).decode("utf-8-sig").splitlines()
    assert len(rows) == 1 + len(members)
    client.post(reverse("customers:customers_tag") + query, {"tag": "挽回"})
    assert set(Customer.objects.filter(tags__name="挽回").values_list("id", flat=True)) == members


@pytest.mark.django_db
def test_a_bad_segment_value_is_refused_with_its_field_named(scored, client, staff_a):
    client.force_login(staff_a)
    response = client.get(
        reverse("customers:customers") + "?seg.analytics.cohort_month=2026-3x", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    response = client.get(
        reverse("customers:customers") + "?seg.analytics.first_purchase_month=2026-13", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "First purchase in" in response.content.decode()
    assert response.context["page"].rows == []


@pytest.mark.django_db
def test_the_segment_list_runs_constant_queries(store_a, store_b, client, staff_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff_a)
    url = reverse("customers:customers") + "?seg.analytics.clv_band=0-50&seg.analytics.first_purchase_month=2020-01"
    base(store_a, store_b, per_store=3)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    base(store_a, store_b, per_store=12)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


@pytest.mark.django_db
def test_a_customer_with_orders_but_no_scores_is_never_said_to_have_no_purchases(store_a, staff_a, client):
    from guanxi.customers.models import Customer
    from guanxi.customers.tests.factories import make_customer

    buyer = make_customer(store=store_a, name="老顾客")
    Customer.objects.filter(pk=buyer.pk).update(order_count=22)  # 22 orders, the refresh has not run since
    newcomer = make_customer(store=store_a, name="新顾客")
    client.force_login(staff_a)
    html = client.get(reverse("customers:customer", args=[buyer.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "评分尚未计算：每晚 03:30 自动更新" in html
    assert "没有购买记录" not in html
    html = client.get(
        reverse("customers:customer", args=[newcomer.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "暂无订单" in html
