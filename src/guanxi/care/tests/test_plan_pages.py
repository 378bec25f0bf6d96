"""The care plan page: plans per tier with their yearly budgets and what they spent, and the plan form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.accounts.models import Role
from guanxi.care.models import CarePlan, CareRule, CareSpend

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def manager_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="manager-a", role=Role.MANAGER, stores=[store_a])


def _plans(customers):
    from guanxi.loyalty.tests.factories import TierFactory

    gold = CarePlan.objects.create(
        name="金卡关怀", tier=TierFactory(name="金卡"), budget_per_customer="200.00", budget_total="10000.00"
    )
    silver = CarePlan.objects.create(name="银卡关怀", tier=TierFactory(name="银卡"), budget_per_customer="50.00")
    for i in range(3):
        CareRule.objects.create(name=f"金卡规则{i}", trigger_key="zz.listed", plan=gold)
    for amount, day in (
        ("12.50", dt.date(2026, 1, 5)),
        ("30.25", dt.date(2026, 3, 1)),
        ("99.00", dt.date(2025, 12, 31)),
    ):
        CareSpend.objects.create(plan=gold, customer=customers[0], amount=amount, spent_on=day)
    return gold, silver


def test_the_plan_page_shows_each_tiers_budgets_rules_and_this_years_spend_in_few_queries(
    customers, manager_a, client, django_assert_max_num_queries
):
    gold, silver = _plans(customers)
    client.force_login(manager_a)
    with django_assert_max_num_queries(8):
        page = client.get("/care/plans/").content.decode()
    row = page.split(f'id="care-plan-{gold.pk}"')[1].split("</tr>")[0]
    assert "金卡" in row
    assert ">3<" in row
    assert "200.00" in row
    assert "10,000.00" in row
    assert "42.75" in row  # 2026 only: last year's 99.00 is left out
    silver_row = page.split(f'id="care-plan-{silver.pk}"')[1].split("</tr>")[0]
    assert ">0<" in silver_row
    assert "—" in silver_row
    assert "/care/plans/" in client.get("/care/").content.decode()


def test_more_plans_do_not_cost_more_queries(customers, manager_a, client):
    _plans(customers)
    client.force_login(manager_a)
    client.get("/care/plans/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/care/plans/")
    for i in range(5):
        CarePlan.objects.create(name=f"更多{i}", budget_total="1.00")
    with CaptureQueriesContext(connection) as many:
        client.get("/care/plans/")
    assert len(many) == len(few)


def test_a_manager_edits_a_plans_budget_as_decimal(customers, manager_a, client):
    gold, _silver = _plans(customers)
    client.force_login(manager_a)
    page = client.get(f"/care/plans/{gold.pk}/").content.decode()
    assert 'id="care-plan-form"' in page
    assert "金卡规则0" in page
    response = client.post(
        f"/care/plans/{gold.pk}/",
        {"name": "金卡关怀", "tier": gold.tier_id, "budget_per_customer": "250.50", "budget_total": "", "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    gold.refresh_from_db()
    assert gold.budget_per_customer == Decimal("250.50")
    assert gold.budget_total is None


def test_a_manager_creates_a_plan_and_a_bad_amount_is_named(manager_a, client):
    client.force_login(manager_a)
    bad = client.post("/care/plans/new/", {"name": "新计划", "budget_per_customer": "-3"})
    assert bad.status_code == 200
    assert 'id="field-budget_per_customer"' in bad.content.decode()
    assert "has-error" in bad.content.decode().split('id="field-budget_per_customer"')[0].rsplit("<div", 1)[1]
    assert not CarePlan.objects.exists()
    ok = client.post("/care/plans/new/", {"name": "新计划", "budget_total": "800"})
    assert ok.status_code == 302
    assert CarePlan.objects.get().budget_total == Decimal("800.00")


def test_store_staff_read_a_plan_but_cannot_change_it(customers, staff_a, client):
    gold, _silver = _plans(customers)
    client.force_login(staff_a)
    page = client.get(f"/care/plans/{gold.pk}/").content.decode()
    assert "金卡关怀" in page
    assert 'id="care-plan-form"' not in page
    assert "disabled" in page
    assert client.post(f"/care/plans/{gold.pk}/", {"name": "改了", "budget_total": "1"}).status_code == 403
    assert client.get("/care/plans/new/").status_code == 403
    gold.refresh_from_db()
    assert gold.name == "金卡关怀"


def test_a_service_agent_does_not_see_the_plans(store_a, client):
    from guanxi.accounts.tests.factories import UserFactory

    client.force_login(UserFactory(username="agent", role=Role.SERVICE_AGENT, stores=[store_a]))
    assert client.get("/care/plans/").status_code == 403
