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


def test_the_calendar_lists_the_weeks_birthdays_and_anniversaries_with_one_click_gestures(
    store_a, store_b, client, django_assert_max_num_queries
):
    from guanxi.accounts.tests.factories import UserFactory
    from guanxi.customers.models import TimelineEntry
    from guanxi.customers.services import important_date_add
    from guanxi.customers.tests.factories import make_customer

    wang = make_customer(store=store_a, name="王芳", birthday="1990-03-12")
    li = make_customer(store=store_b, name="李雷")
    important_date_add(actor=None, customer=li, kind="wedding_anniversary", date="2015-03-14", label="")
    make_customer(store=store_a, name="下周生日", birthday="1990-03-20")
    both = UserFactory(username="clerk-ab", role=Role.STORE_STAFF, stores=[store_a, store_b])
    client.force_login(both)
    with django_assert_max_num_queries(40):
        page = client.get("/care/calendar/").content.decode()
    assert 'id="care-store"' in page  # staff of two stores pick one
    assert f'id="care-occasion-birthday-{wang.pk}-20260312"' in page
    assert f'id="care-occasion-important_date-{li.pk}-20260314"' in page
    assert "下周生日" not in page
    only_a = client.get(f"/care/calendar/?store={store_a.pk}").content.decode()
    assert "王芳" in only_a
    assert "李雷" not in only_a
    data = {"customer": wang.pk, "occasion": "birthday", "day": "2026-03-12", "outcome": "gift_handed"}
    assert client.post("/care/calendar/gesture/", data).status_code == 302
    client.post("/care/calendar/gesture/", data)  # a second click records nothing more
    task = CareTask.objects.get(customer=wang)
    assert (task.status, task.outcome, task.completed_by) == (CareTask.Status.DONE, "gift_handed", both)
    assert TimelineEntry.objects.filter(customer=wang, kind="care.task").count() == 1


def test_a_gesture_for_a_customer_of_another_store_is_refused(store_a, store_b, staff_a, client):
    from guanxi.customers.tests.factories import make_customer

    other = make_customer(store=store_b, name="别店顾客", birthday="1990-03-12")
    client.force_login(staff_a)
    data = {"customer": other.pk, "occasion": "birthday", "day": "2026-03-12", "outcome": "reached"}
    client.post("/care/calendar/gesture/", data)
    assert not CareTask.objects.exists()


def test_the_rule_form_asks_for_the_triggers_parameters_as_fields(manager_a, client):
    client.force_login(manager_a)
    swapped = client.get("/care/rules/trigger-params/", {"trigger_key": "important_date"}).content.decode()
    assert 'name="tp_kind"' in swapped
    assert 'name="tp_days_before"' in swapped
    assert 'name="trigger_params"' not in swapped
    form = client.get("/care/rules/new/").content.decode()
    assert 'hx-get="/care/rules/trigger-params/"' in form
    response = client.post(
        "/care/rules/new/",
        {"name": "纪念日前三天", "trigger_key": "important_date", "tp_kind": "wedding_anniversary",
         "tp_days_before": "3", "steps": '[{"wait_days": 1}]', "priority": 100, "holdout_percent": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = CareRule.objects.get(name="纪念日前三天")
    assert rule.trigger_params == {"kind": "wedding_anniversary", "days_before": 3}
    edit = client.get(f"/care/rules/{rule.pk}/edit/").content.decode()
    assert 'name="tp_days_before" value="3"' in edit


def test_a_parameter_out_of_range_is_named_and_nothing_saved(manager_a, client):
    client.force_login(manager_a)
    response = client.post(
        "/care/rules/new/",
        {"name": "x", "trigger_key": "birthday", "tp_days_before": "400", "priority": 100, "holdout_percent": "0"},
    )
    assert response.status_code == 200
    assert 'id="field-tp_days_before"' in response.content.decode()
    assert "has-error" in response.content.decode().split('id="field-tp_days_before"')[0][-200:]
    assert not CareRule.objects.exists()


def test_my_tasks_call_back_later_keeps_the_task_for_tomorrow_and_no_answer_closes_it(
    customers, staff_a, store_a, client
):
    call = CareTask.objects.create(
        customer=customers[0], title="回访", store=store_a, assignee=staff_a, due_on=dt.date(2026, 3, 10)
    )
    other = CareTask.objects.create(
        customer=customers[2], title="致电", store=store_a, assignee=staff_a, due_on=dt.date(2026, 3, 10)
    )
    client.force_login(staff_a)
    client.post(f"/care/tasks/{call.pk}/complete/", {"outcome": "call_back"})
    client.post(f"/care/tasks/{other.pk}/complete/", {"outcome": "no_answer"})
    call.refresh_from_db()
    other.refresh_from_db()
    assert (call.status, call.outcome, call.due_on) == (CareTask.Status.OPEN, "call_back", dt.date(2026, 3, 11))
    assert (other.status, other.outcome) == (CareTask.Status.DONE, "no_answer")
    page = client.get("/care/tasks/").content.decode()
    assert f'id="care-task-{call.pk}"' in page
    assert f'id="care-task-{other.pk}"' not in page


def _rule_post(**steps):
    return {
        "name": "三步关怀",
        "trigger_key": "zz.listed",
        "trigger_params": json.dumps({"ids": [1]}),
        "conditions": "",
        "priority": 100,
        "holdout_percent": "0",
        "steps_editor": "1",
        **steps,
    }


def test_the_steps_are_written_as_rows_an_action_a_wait_and_an_order_check(care_parts, manager_a, client):
    client.force_login(manager_a)
    page = client.get("/care/rules/new/").content.decode()
    assert 'id="step-add"' in page
    assert 'name="steps"' not in page  # no JSON to type
    added = client.get("/care/rules/step-row/", {"kind": "care.task"}).content.decode()
    assert 'name="step_row"' in added
    assert "_p_title" in added
    assert "_p_assign_to" in added
    wait = client.get("/care/rules/step-row/", {"n": "b2", "sb2_kind": "wait"}).content.decode()
    assert 'name="sb2_wait_days"' in wait
    assert "_p_title" not in wait
    assert client.get("/care/rules/step-row/remove/").content == b""
    data = _rule_post(
        step_row=["a1", "b2", "c3", "d4"],
        sa1_kind="care.task",
        sa1_p_title="问候电话",
        sa1_p_assign_to="store",
        sa1_p_due_days="2",
        sb2_kind="wait",
        sb2_wait_days="7",
        sc3_kind="if_no_order",
        sd4_kind="care.task",
        sd4_p_title="回访",
    )
    response = client.post("/care/rules/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = CareRule.objects.get(name="三步关怀")
    assert rule.steps == [
        {"action": "care.task", "params": {"title": "问候电话", "script": "", "assign_to": "store", "due_days": 2}},
        {"wait_days": 7},
        {"if_no_order": True},
        {"action": "care.task", "params": {"title": "回访", "script": "", "assign_to": "owner", "due_days": 0}},
    ]
    edit = client.get(f"/care/rules/{rule.pk}/edit/").content.decode()
    assert 'name="s1_wait_days" value="7"' in edit
    assert 'value="问候电话"' in edit


def test_a_bad_step_row_is_named_and_nothing_saved(care_parts, manager_a, client):
    client.force_login(manager_a)
    response = client.post(
        "/care/rules/new/",
        _rule_post(step_row=["a1", "b2"], sa1_kind="care.task", sa1_p_title="", sb2_kind="wait", sb2_wait_days="400"),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "has-error" in page.split('id="field-sb2_wait_days"')[0].rsplit("<div", 1)[1]
    assert "has-error" in page.split('id="field-sa1_p_title"')[0].rsplit("<div", 1)[1]
    assert not CareRule.objects.filter(name="三步关怀").exists()


def test_steps_posted_as_json_without_rows_still_save(care_parts, manager_a, client):
    client.force_login(manager_a)
    data = _rule_post(steps=json.dumps([{"wait_days": 3}]))
    del data["steps_editor"]
    assert client.post("/care/rules/new/", data).status_code == 302
    assert CareRule.objects.get(name="三步关怀").steps == [{"wait_days": 3}]


def test_the_rule_form_asks_for_each_list_of_choices_once_however_many_rows(
    care_parts, manager_a, client, django_assert_max_num_queries
):
    from guanxi.loyalty.services.coupons import coupon_template_create

    coupon = coupon_template_create(actor=None, data={"name": "礼券", "kind": "fixed", "amount": "5.00"})
    client.force_login(manager_a)

    def edit_page(rows: int) -> int:
        steps = [{"action": "coupon_issue", "params": {"template": coupon.pk}}] * rows
        rule = make_rule([], name=f"礼券{rows}", steps=steps)
        with django_assert_max_num_queries(20) as queries:
            page = client.get(f"/care/rules/{rule.pk}/edit/").content.decode()
        assert page.count('name="step_row"') == rows
        return len(queries)

    assert edit_page(1) == edit_page(6)
