"""Analytics API: store visibility, filters, ordering, errors and constant query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from guanxi.analytics.services import scores_refresh
from guanxi.analytics.tests.factories import at_local, customers, order, save_orders


def base(store_a, store_b, per_store: int = 6):
    """Customers of two stores with 1-4 purchase days each, scored as of today."""
    from guanxi.sales.tests.factories import CategoryFactory

    today = timezone.localdate()
    categories = [CategoryFactory(code="tea", name="茶叶"), CategoryFactory(code="cups", name="茶具")]
    rows, people = [], {}
    for store in (store_a, store_b):
        people[store.code] = customers(per_store, home_store=store)
        for i, person in enumerate(people[store.code]):
            for k in range(1 + i % 4):
                day = today - dt.timedelta(days=400 - 90 * k - 7 * i if i % 2 else 30 * k + i)
                rows.append(order(person.pk, at_local(day), f"{100 + 37 * i + k}.00", category=categories[(i + k) % 2]))
    save_orders(rows)
    scores_refresh()
    return people


@pytest.fixture(scope="module")
def _scored_once(django_db_setup, django_db_blocker):
    """``base`` built once for this module's tests, which only read it.

    It is written in a transaction that is rolled back after the module's last test; each test runs inside
    it in a savepoint of its own (pytest-django's ``db``), so what one test writes is gone before the next.
    """
    from guanxi.accounts.tests.factories import StoreFactory

    with django_db_blocker.unblock(), transaction.atomic():
        yield base(StoreFactory(code="store-a", name="A 店"), StoreFactory(code="store-b", name="B 店"))
        transaction.set_rollback(True)


@pytest.fixture
def scored(_scored_once, store_a, store_b):
    """The module's base; ``store_a``/``store_b`` (get-or-create by code) are its two stores."""
    return _scored_once


@pytest.mark.django_db
def test_scores_list_shows_only_the_users_stores(scored, api_a, api_admin):
    body = api_a.get("/api/analytics/scores/").json()
    assert {r["customer_id"] for r in body["results"]} == {c.pk for c in scored["store-a"]}
    assert len(api_admin.get("/api/analytics/scores/").json()["results"]) == 12
    row = body["results"][0]
    assert {"p_alive", "clv_12m", "value_at_risk", "segment_label", "customer_name", "is_overdue"} <= set(row)


@pytest.mark.django_db
def test_score_detail_of_another_store_is_not_found(scored, api_a):
    own, other = scored["store-a"][0], scored["store-b"][0]
    assert api_a.get(f"/api/analytics/scores/{own.pk}/").status_code == 200
    assert api_a.get(f"/api/analytics/scores/{other.pk}/").status_code == 404


@pytest.mark.django_db
def test_scores_filter_by_segment_and_overdue(scored, api_admin):
    from guanxi.analytics.models import CustomerScore

    segment = CustomerScore.objects.values_list("segment", flat=True).first()
    body = api_admin.get("/api/analytics/scores/", {"segment": segment}).json()
    assert body["results"]
    assert {r["segment"] for r in body["results"]} == {segment}
    overdue = api_admin.get("/api/analytics/scores/", {"is_overdue": "true"}).json()["results"]
    assert all(r["is_overdue"] for r in overdue)
    assert api_admin.get("/api/analytics/scores/", {"segment": "nonsense"}).status_code == 400


@pytest.mark.django_db
def test_scores_list_runs_a_constant_number_of_queries(scored, api_admin, django_assert_num_queries):
    # 1 token auth, 2 the page of scores joined with their customers (visibility is a subquery)
    with django_assert_num_queries(2):
        response = api_admin.get("/api/analytics/scores/")
    assert len(response.json()["results"]) == 12


@pytest.mark.django_db
def test_at_risk_list_is_ordered_by_value_at_risk(scored, api_admin, django_assert_num_queries):
    # 1 token auth, 2 the page of at-risk scores joined with their customers
    with django_assert_num_queries(2):
        response = api_admin.get("/api/analytics/at-risk/")
    values = [float(r["value_at_risk"]) for r in response.json()["results"]]
    assert values
    assert values == sorted(values, reverse=True)
    assert all(v > 0 for v in values)
    capped = api_admin.get("/api/analytics/at-risk/", {"max_p_alive": "0.5"}).json()["results"]
    assert all(r["p_alive"] <= 0.5 for r in capped)


@pytest.mark.django_db
def test_at_risk_rejects_a_probability_out_of_range(scored, api_admin):
    response = api_admin.get("/api/analytics/at-risk/", {"max_p_alive": "2"})
    assert response.status_code == 400
    assert "max_p_alive" in response.json()


@pytest.mark.django_db
def test_segment_summary_counts_and_revenue(scored, api_a, api_admin, django_assert_num_queries):
    from guanxi.analytics.models import CustomerScore

    # 1 token auth, 2 one grouped aggregate
    with django_assert_num_queries(2):
        rows = api_admin.get("/api/analytics/segments/").json()
    assert len(rows) == 8
    assert sum(r["customers"] for r in rows) == 12
    total = sum(float(s.monetary) for s in CustomerScore.objects.all())
    assert sum(float(r["revenue"]) for r in rows) == pytest.approx(total)
    assert sum(r["customers"] for r in api_a.get("/api/analytics/segments/").json()) == 6


@pytest.mark.django_db
def test_clv_distribution_covers_every_visible_customer(scored, api_a):
    rows = api_a.get("/api/analytics/clv-distribution/").json()
    assert sum(r["customers"] for r in rows) == 6
    assert rows[-1]["high"] is None


@pytest.mark.django_db
def test_cohorts_report_retention_by_month_of_first_purchase(scored, api_admin, api_a):
    rows = api_admin.get("/api/analytics/cohorts/", {"months": "24"}).json()
    assert rows
    assert all(len(r["retention"]) == 23 for r in rows)
    assert all(0.0 <= v <= 1.0 for r in rows for v in r["retention"] if v is not None)
    sizes = sum(r["customers"] for r in api_a.get("/api/analytics/cohorts/", {"months": "24"}).json())
    assert sizes <= 6
    bad = api_admin.get("/api/analytics/cohorts/", {"months": "0"})
    assert bad.status_code == 400
    assert "months" in bad.json()


@pytest.mark.django_db
def test_fits_endpoint_reports_the_latest_fits(scored, api_admin):
    rows = api_admin.get("/api/analytics/fits/").json()
    assert {r["model"] for r in rows} == {"bgnbd", "gamma_gamma"}
    assert set(rows[0]["params"]) == {"r", "alpha", "a", "b"}


@pytest.mark.django_db
def test_refresh_is_for_managers_and_analysts(scored, api_a, api_admin):
    assert api_a.post("/api/analytics/refresh/").status_code == 403
    assert api_admin.post("/api/analytics/refresh/").status_code == 202


def test_anonymous_reads_are_refused(client):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/analytics/scores/").status_code == 401


@pytest.mark.django_db
def test_a_score_or_category_filter_beyond_its_column_is_a_400_naming_it(api_admin):
    for name, value in (("f_score", "58267708961"), ("r_score", "-1"), ("category", "1.2e31")):
        response = api_admin.get("/api/analytics/scores/", {name: value})
        assert response.status_code == 400, (name, response.content)
        assert name in response.json(), response.json()
    assert api_admin.get("/api/analytics/scores/", {"f_score": "5"}).status_code == 200
