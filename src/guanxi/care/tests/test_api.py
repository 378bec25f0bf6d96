"""Care API and services: rules CRUD with field-named errors, activation, preview, the customer trace, tasks
with outcomes, plans with their spend; one visibility rule (store staff see their store's rules and tasks)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.accounts.models import Role
from guanxi.care import run, services
from guanxi.care.models import CareExclusion, CareOccurrence, CareRule, CareTask
from guanxi.care.tests.conftest import make_rule
from guanxi.conftest import api_client_for
from guanxi.core.models import AuditLog, Event
from guanxi.customers.models import TimelineEntry

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TODAY = dt.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def manager_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="manager-a", role=Role.MANAGER, stores=[store_a])


def _rule_data(ids, **extra):
    return {
        "name": "生日优惠券",
        "trigger_key": "zz.listed",
        "trigger_params": {"ids": ids, "on": []},
        "steps": [{"action": "zz.note"}, {"wait_days": 7}, {"if_no_order": True}],
        **extra,
    }


def test_a_manager_creates_previews_and_activates_a_rule(care_parts, customers, manager_a, store_a):
    api = api_client_for(manager_a)
    ids = [c.pk for c in customers]
    response = api.post("/api/care/rules/", _rule_data(ids, store=store_a.pk, holdout_percent="0"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["active"] is False
    assert body["steps"][1] == {"wait_days": 7}
    assert AuditLog.objects.filter(object_type="care.rule", action="create").count() == 1
    assert Event.objects.filter(name="care.rule_created").count() == 1
    CareExclusion.objects.create(customer=customers[2], reason=CareExclusion.Reason.OPTED_OUT)
    preview = api.get(f"/api/care/rules/{body['id']}/preview/?days=7")
    assert preview.status_code == 200
    data = preview.json()
    # the store's three customers, every day of the week; one of them excluded
    assert data["customers"] == 3
    assert data["gestures"] == 21
    assert data["excluded"] == 7
    assert len(data["sample"]) == 2
    assert not CareOccurrence.objects.exists()  # a preview writes nothing
    response = api.post(f"/api/care/rules/{body['id']}/activate/")
    assert response.json()["active"] is True
    assert api.post(f"/api/care/rules/{body['id']}/activate/").status_code == 200  # again: no change
    assert Event.objects.filter(name="care.rule_activated").count() == 1


def test_bad_rule_input_names_the_field_and_writes_nothing(care_parts, manager_a):
    api = api_client_for(manager_a)
    cases = [
        ({"trigger_key": "nope"}, "trigger_key"),
        ({"trigger_params": {"ids": "x"}}, "trigger_params.ids"),
        ({"steps": [{"wait_days": 0}]}, "steps.0.wait_days"),
        ({"steps": [{"action": "nope"}]}, "steps.0.action"),
        ({"conditions": {"all": [{"field": "nope.field"}]}}, "conditions.all.0.field"),
    ]
    for change, field in cases:
        response = api.post("/api/care/rules/", {**_rule_data([1]), **change}, format="json")
        assert response.status_code == 400, change
        assert field in str(response.json()), (field, response.json())
    assert not CareRule.objects.exists()


def test_store_staff_see_their_stores_rules_and_tasks_only(care_parts, customers, staff_a, staff_b, store_a, store_b):
    mine = make_rule([], store=store_a, name="A 店规则")
    make_rule([], store=store_b, name="B 店规则")
    make_rule([], name="全公司规则")
    task_a = CareTask.objects.create(customer=customers[0], title="A 回访", store=store_a, due_on=TODAY)
    CareTask.objects.create(customer=customers[1], title="B 回访", store=store_b, due_on=TODAY)
    api = api_client_for(staff_a)
    assert [r["id"] for r in api.get("/api/care/rules/").json()["results"]] == [mine.pk]
    assert [t["id"] for t in api.get("/api/care/tasks/").json()["results"]] == [task_a.pk]
    other = CareRule.objects.get(name="B 店规则")
    assert api.get(f"/api/care/rules/{other.pk}/").status_code == 404
    assert api.post("/api/care/rules/", _rule_data([1]), format="json").status_code == 403


def test_a_staff_member_completes_a_call_task_with_its_outcome(customers, staff_a, store_a):
    task = CareTask.objects.create(
        customer=customers[0], title="生日回访", store=store_a, due_on=TODAY, assignee=staff_a
    )
    api = api_client_for(staff_a)
    assert api.get("/api/care/tasks/?mine=1").json()["results"][0]["id"] == task.pk
    response = api.post(f"/api/care/tasks/{task.pk}/complete/", {"outcome": "call_back"}, format="json")
    assert response.json()["status"] == "open"
    assert response.json()["due_on"] == "2026-03-11"
    response = api.post(f"/api/care/tasks/{task.pk}/complete/", {"outcome": "reached", "note": "已祝福"}, format="json")
    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.status, task.outcome, task.completed_by) == (CareTask.Status.DONE, "reached", staff_a)
    assert TimelineEntry.objects.filter(customer=customers[0], kind="care.task").count() == 2
    assert api.post(f"/api/care/tasks/{task.pk}/complete/", {"outcome": "reached"}, format="json").status_code == 400
    assert api.post(f"/api/care/tasks/{task.pk}/complete/", {"outcome": "bogus"}, format="json").status_code == 400


def test_the_customer_trace_shows_fired_and_suppressed_occurrences_with_the_reason(
    care_parts, customers, admin_user, staff_b
):
    CareExclusion.objects.create(customer=customers[0], reason=CareExclusion.Reason.DECEASED)
    make_rule([customers[0].pk], holdout="0", name="纪念日")
    run.care_daily_run()
    rows = api_client_for(admin_user).get(f"/api/care/customers/{customers[0].pk}/occurrences/").json()
    assert [(r["rule_name"], r["status"], r["reason"]) for r in rows] == [("纪念日", "skipped", "excluded: deceased")]
    # customers[0] belongs to store A: a clerk of store B does not see it (nor its trace)
    assert api_client_for(staff_b).get(f"/api/care/customers/{customers[0].pk}/occurrences/").status_code == 404


def test_the_360_panel_lists_the_care_trace(care_parts, customers, admin_user, client):
    make_rule([customers[0].pk], holdout="0", name="入会100天")
    run.care_daily_run()
    client.force_login(admin_user)
    page = client.get(f"/customers/{customers[0].pk}/")
    assert page.status_code == 200
    assert "入会100天" in page.content.decode()


def test_plans_show_what_they_spent_this_year(care_parts, customers, manager_a):
    api = api_client_for(manager_a)
    response = api.post("/api/care/plans/", {"name": "金卡", "budget_per_customer": "500.00"}, format="json")
    assert response.status_code == 201, response.json()
    plan_id = response.json()["id"]
    make_rule(
        [customers[0].pk], holdout="0", steps=[{"action": "zz.gift", "params": {"cost": "88.00"}}], plan_id=plan_id
    )
    run.care_daily_run()
    body = api.get(f"/api/care/plans/{plan_id}/").json()
    assert body["spent_this_year"] == "88.00"
    assert api.post("/api/care/plans/", {"name": "x", "budget_total": "-1"}, format="json").status_code == 400


def test_the_registry_lists_triggers_and_actions(care_parts, manager_a):
    body = api_client_for(manager_a).get("/api/care/registry/").json()
    assert "zz.listed" in [t["key"] for t in body["triggers"]]
    assert {"care.task", "zz.note"} <= {a["key"] for a in body["actions"]}


def test_rule_save_keeps_the_rest_on_a_partial_change(care_parts, manager_a):
    rule = services.rule_save(actor=manager_a, data=_rule_data([1]))
    services.rule_save(actor=manager_a, rule=rule, data={"priority": 300})
    rule.refresh_from_db()
    assert (rule.priority, rule.trigger_params) == (300, {"ids": [1], "on": []})


def test_the_preview_takes_as_many_queries_for_thirty_customers_as_for_three(care_parts, store_a, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from guanxi.customers.tests.factories import make_customer

    counts = []
    for n in (3, 30):
        people = [make_customer(store=store_a, name=f"客{n}-{i}") for i in range(n)]
        rule = make_rule([c.pk for c in people])
        with CaptureQueriesContext(connection) as ctx:
            services.rule_preview(rule, user=admin_user, days=5)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_a_manager_excludes_a_customer_from_care_and_lifts_it(care_parts, customers, manager_a, staff_a):
    api = api_client_for(manager_a)
    url = f"/api/care/customers/{customers[0].pk}/exclusion/"
    assert api.put(url, {"reason": "bogus"}, format="json").status_code == 400
    assert api.put(url, {"reason": "complaint", "note": "投诉处理中"}, format="json").status_code == 200
    make_rule([customers[0].pk], holdout="0")
    run.care_daily_run()
    assert CareOccurrence.objects.get().status == "skipped"
    assert api.delete(url).status_code == 204
    assert not CareExclusion.objects.exists()
    assert Event.objects.filter(name="care.customer_included").count() == 1
    assert api_client_for(staff_a).put(url, {"reason": "staff"}, format="json").status_code == 403
    other = f"/api/care/customers/{customers[1].pk}/exclusion/"  # store B's customer
    assert api.put(other, {"reason": "staff"}, format="json").status_code == 404
