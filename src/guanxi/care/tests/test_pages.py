"""Care pages: the rules list and form, a rule's preview and switch, the calendar, and "my tasks" outcomes."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.accounts.models import Role
from guanxi.care import run
from guanxi.care.models import CareRule, CareTask
from guanxi.care.tests.conftest import make_rule

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def manager_a(store_a):
    from guanxi.accounts.tests.factories import UserFactory

    return UserFactory(username="manager-a", role=Role.MANAGER, stores=[store_a])


def test_a_manager_creates_a_rule_sees_its_preview_and_switches_it_on(care_parts, customers, manager_a, client):
    client.force_login(manager_a)
    ids = [customers[0].pk]
    response = client.post(
        "/care/rules/new/",
        {
            "name": "生日礼券",
            "trigger_key": "zz.listed",
            "trigger_params": json.dumps({"ids": ids, "on": ["2026-03-11"]}),
            "conditions": "",
            "steps": json.dumps([{"action": "care.task", "params": {"title": "送生日礼"}}]),
            "priority": 100,
            "holdout_percent": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = CareRule.objects.get(name="生日礼券")
    page = client.get(f"/care/rules/{rule.pk}/").content.decode()
    preview = page.split('id="care-preview"')[1].split("</section>")[0]
    assert customers[0].name in preview  # tomorrow's birthday, in the sample
    client.post(f"/care/rules/{rule.pk}/toggle/")
    rule.refresh_from_db()
    assert rule.active is True
    assert "生日礼券" in client.get("/care/").content.decode()


def test_the_rule_form_names_a_bad_field(care_parts, manager_a, client):
    client.force_login(manager_a)
    response = client.post(
        "/care/rules/new/",
        {"name": "x", "trigger_key": "zz.listed", "trigger_params": "{}", "steps": '[{"wait_days": 0}]',
         "priority": 1, "holdout_percent": "10"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "365" in response.content.decode()
    assert not CareRule.objects.exists()


def test_the_calendar_shows_tomorrows_gestures_and_due_tasks_and_my_tasks_log_outcomes(
    care_parts, customers, staff_a, store_a, client
):
    make_rule([customers[0].pk], holdout="0", name="生日祝福", store=store_a)
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        run.care_daily_run()
    task = CareTask.objects.create(
        customer=customers[0], title="生日回访电话", store=store_a, assignee=staff_a, due_on=dt.date(2026, 3, 11)
    )
    client.force_login(staff_a)
    page = client.get("/care/calendar/").content.decode()
    assert 'id="care-day-2026-03-11"' in page
    day = page.split('id="care-day-2026-03-11"')[1].split("</section>")[0]
    assert "生日祝福" in day
    assert "生日回访电话" in day
    assert "生日回访电话" in client.get("/care/tasks/").content.decode()
    response = client.post(f"/care/tasks/{task.pk}/complete/", {"outcome": "reached"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.outcome) == (CareTask.Status.DONE, "reached")
    assert "生日回访电话" not in client.get("/care/tasks/").content.decode()


def test_another_stores_task_cannot_be_completed(customers, staff_a, store_b, client):
    task = CareTask.objects.create(customer=customers[1], title="B", store=store_b, due_on=dt.date(2026, 3, 11))
    client.force_login(staff_a)
    assert client.post(f"/care/tasks/{task.pk}/complete/", {"outcome": "reached"}).status_code == 404
