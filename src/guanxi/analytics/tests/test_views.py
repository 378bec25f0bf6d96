"""Workspace pages, the customer 360 panel and the navigation entry."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django.urls import reverse

from guanxi.analytics.models import CustomerScore
from guanxi.analytics.tests.test_api import base
from guanxi.analytics.views import score_panel_context
from guanxi.core.registry import customer_panels, nav_items


@pytest.fixture
def scored(store_a, store_b):
    return base(store_a, store_b)


@pytest.mark.django_db
def test_dashboard_shows_segments_clv_and_fits_with_chart_data(scored, client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("analytics:dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "RFM segment map" in html
    assert "Lifetime value distribution" in html
    assert "BG/NBD" in html
    assert 'id="segments-data"' in html
    data = json.loads(json.dumps(response.context["chart"], default=str))
    assert len(data["segments"]) == 8
    assert sum(s["customers"] for s in data["segments"]) == 12
    assert 'data-chart="segments"' in html
    assert "analytics/charts.js" in html


@pytest.mark.django_db
def test_dashboard_speaks_chinese(scored, client, staff_a):
    client.force_login(staff_a)
    html = client.get(reverse("analytics:dashboard"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "重要价值客户" in html
    assert "RFM 客户分群" in html


def _queries(client, url) -> tuple[int, object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return len(captured), response


@pytest.mark.django_db
def test_at_risk_page_lists_only_visible_customers_in_constant_queries(store_a, store_b, client, staff_a):
    base(store_a, store_b, per_store=4)
    client.force_login(staff_a)
    few, response = _queries(client, reverse("analytics:at_risk"))
    names = {s.customer.name for s in response.context["scores"]}
    visible = set(
        CustomerScore.objects.filter(customer__home_store__code="store-a", value_at_risk__gt=0).values_list(
            "customer__name", flat=True
        )
    )
    assert names == visible
    values = [s.value_at_risk for s in response.context["scores"]]
    assert values == sorted(values, reverse=True)
    base(store_a, store_b, per_store=12)  # three times the rows
    many, response = _queries(client, reverse("analytics:at_risk"))
    assert len(response.context["scores"]) > len(values)
    # the page's own queries are the paginator's count and one page of scores joined with their customers;
    # whatever the workspace shell adds (session, user, its menus) does not grow with the rows either
    assert many == few


@pytest.mark.django_db
def test_cohort_page_renders_table_and_chart_data(scored, client, staff_a):
    client.force_login(staff_a)
    response = client.get(reverse("analytics:cohorts"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Cohort retention" in html
    assert 'id="cohort-data"' in html
    assert response.context["rows"]


@pytest.mark.django_db
def test_refresh_button_is_for_managers(scored, client, staff_a, admin_user):
    client.force_login(staff_a)
    assert client.post(reverse("analytics:refresh")).status_code == 403
    client.force_login(admin_user)
    response = client.post(reverse("analytics:refresh"))
    assert response.status_code == 302


@pytest.mark.django_db
def test_customer_panel_explains_each_score_in_two_queries(scored, staff_a, django_assert_num_queries):
    from django.template.loader import render_to_string
    from django.utils import translation

    customer = scored["store-a"][3]
    request = RequestFactory().get("/")
    request.user = staff_a
    # the visible score row, the names of the top categories
    with django_assert_num_queries(2):
        context = score_panel_context(request, customer)
    assert context["score"].customer_id == customer.pk
    with translation.override("en"):
        html = render_to_string("analytics/panel.html", context)
    assert "Probability still active" in html
    assert "expected spending over the next 12 months" in html
    with translation.override("zh-hans"):
        html = render_to_string("analytics/panel.html", context)
    assert "仍然活跃的概率" in html


@pytest.mark.django_db
def test_customer_panel_of_another_store_shows_nothing(scored, staff_a):
    request = RequestFactory().get("/")
    request.user = staff_a
    assert score_panel_context(request, scored["store-b"][0]) == {"score": None}


def test_nav_and_panel_are_registered():
    assert any(item.key == "analytics" and item.url_name == "analytics:dashboard" for item in nav_items(None))

    class Staff:
        role = "store_staff"
        is_superuser = False

    assert any(panel.key == "analytics" for panel in customer_panels(Staff()))
