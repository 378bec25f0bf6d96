"""In a real Chromium, in Chinese, on a frozen clock: a store manager writes a birthday rule with a coupon,
previews whom it reaches, switches it on, the day's run fires it, and the care calendar shows the gestures and
the week's birthdays; a clerk completes the call task it made and logs the outcome (issue #17)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from guanxi.core.tests.browser import browser, page, sign_in  # noqa: F401 — the shared fixtures

pytestmark = [pytest.mark.browser]
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday


def test_a_manager_sets_up_a_birthday_rule_and_a_clerk_logs_the_call(page, store_a):  # noqa: F811
    from guanxi.accounts.models import Role
    from guanxi.accounts.tests.factories import UserFactory
    from guanxi.care.models import CareOccurrence, CareRule, CareTask
    from guanxi.care.run import care_daily_run
    from guanxi.customers.models import Customer, TimelineEntry
    from guanxi.customers.tests.factories import make_customer
    from guanxi.loyalty.models import Coupon
    from guanxi.loyalty.services.coupons import coupon_template_create

    page.set_default_timeout(30_000)
    with time_machine.travel(NOW, tick=True):
        manager = UserFactory(username="manager-a", role=Role.MANAGER, stores=[store_a])
        clerk = UserFactory(username="clerk-a", role=Role.STORE_STAFF, stores=[store_a])
        li = make_customer(store=store_a, name="李雷", birthday="1988-03-11")  # tomorrow
        wang = make_customer(store=store_a, name="王芳", birthday="1990-03-14")  # later this week
        make_customer(store=store_a, name="张伟", birthday="1991-06-01")
        Customer.objects.filter(pk__in=[li.pk, wang.pk]).update(owner=clerk)
        coupon = coupon_template_create(actor=None, data={"name": "生日礼券 ¥30", "kind": "fixed", "amount": "30.00"})

        # 1. the manager writes the rule: a day before the birthday, a coupon and a call by the customer's owner
        sign_in(page, manager.username)
        page.goto("/care/rules/new/")
        page.fill("input[name=name]", "生日前一天：礼券与电话")
        page.select_option("select[name=trigger_key]", "important_date")  # its parameters swap in (htmx)
        expect(page.locator("select[name=tp_kind]")).to_be_visible()
        page.select_option("select[name=trigger_key]", "birthday")
        expect(page.locator("select[name=tp_kind]")).to_have_count(0)
        page.fill("input[name=tp_days_before]", "1")
        # its steps are rows: a coupon, then a call by the customer's owner (no JSON; htmx swaps each row's fields)
        expect(page.locator("textarea[name=steps]")).to_have_count(0)
        rows = page.locator("#step-rows .step-row")
        page.locator("#step-add").click()
        expect(rows.nth(0).locator("input[name$=_p_title]")).to_be_visible()  # a care task, until changed
        rows.nth(0).locator("select.step-kind").select_option("coupon_issue")
        expect(rows.nth(0).locator("select[name$=_p_template]")).to_be_visible()
        expect(rows.nth(0).locator("input[name$=_p_title]")).to_have_count(0)
        rows.nth(0).locator("select[name$=_p_template]").select_option(str(coupon.pk))
        page.locator("#step-add").click()
        rows.nth(1).locator("input[name$=_p_title]").fill("生日问候电话")
        rows.nth(1).locator("select[name$=_p_assign_to]").select_option("owner")
        page.locator("#step-add").click()  # one too many: removed again
        expect(rows).to_have_count(3)
        rows.nth(2).get_by_role("button", name="删除步骤").click()
        expect(rows).to_have_count(2)
        page.fill("input[name=holdout_percent]", "0")
        page.get_by_role("button", name="保存").click()

        # 2. its preview names whom it reaches in the coming days; it is switched on
        expect(page.locator("h1")).to_contain_text("生日前一天：礼券与电话")
        preview = page.locator("#care-preview")
        expect(preview).to_contain_text("李雷")
        expect(preview).to_contain_text("王芳")
        expect(preview).not_to_contain_text("张伟")
        page.locator("#rule-toggle").click()
        expect(page.locator("#rule-toggle")).to_have_text("停用")
        rule = CareRule.objects.get()
        assert rule.active
        assert [step["action"] for step in rule.steps] == ["coupon_issue", "care.task"]
        assert rule.steps[0]["params"]["template"] == coupon.pk
        assert rule.store_id == store_a.pk

        # 3. today's run (the worker's job, in-process): 李雷's birthday is tomorrow
        care_daily_run()
        occurrence = CareOccurrence.objects.get(rule=rule)
        assert (occurrence.customer_id, occurrence.status) == (li.pk, CareOccurrence.Status.FIRED)
        assert Coupon.objects.filter(customer=li, template=coupon).count() == 1

        # 4. the calendar: today's gesture, the open call, and the week's birthdays with one-click gestures
        page.goto("/care/calendar/")
        expect(page.locator("h1")).to_have_text("关怀日历")
        today = page.locator("#care-day-2026-03-10")
        expect(today).to_contain_text("李雷")
        expect(today).to_contain_text("生日前一天：礼券与电话")
        expect(page.locator(f"#care-occasion-birthday-{li.pk}-20260311")).to_be_visible()
        expect(page.locator(f"#care-occasion-birthday-{wang.pk}-20260314")).to_be_visible()
        page.locator(f"#care-occasion-birthday-{wang.pk}-20260314").get_by_role("button", name="礼品已送达").click()
        expect(page.locator(".messages")).to_be_visible()
        gift = CareTask.objects.get(customer=wang)
        assert (gift.status, gift.outcome, gift.completed_by) == (CareTask.Status.DONE, "gift_handed", manager)

        # 5. the clerk calls 李雷 and logs the outcome
        page.context.clear_cookies()
        sign_in(page, clerk.username)
        page.goto("/care/tasks/")
        task = CareTask.objects.get(customer=li)
        row = page.locator(f"#care-task-{task.pk}")
        expect(row).to_contain_text("生日问候电话")
        row.get_by_role("button", name="已联系上").click()
        expect(page.locator(f"#care-task-{task.pk}")).to_have_count(0)
        task.refresh_from_db()
        assert (task.status, task.outcome, task.completed_by) == (CareTask.Status.DONE, "reached", clerk)
        assert TimelineEntry.objects.filter(customer=li, kind="care.task").exists()
