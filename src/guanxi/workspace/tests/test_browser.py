"""A new staff member's day in a real Chromium (Playwright, Debian's /usr/bin/chromium) against a live server.

Runs in the normal suite on both databases; marked ``browser``. Screenshots of the home, list and 360
pages go to $GUANXI_SCREENSHOTS (default: the test's tmp dir) so a person can look at them.
"""

from __future__ import annotations

import calendar
import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guanxi.accounts.models import Role
from guanxi.core.tests import browser as shared
from guanxi.customers.models import Customer, ImportJob, TimelineEntry

pytestmark = [pytest.mark.browser]

# The shared Chromium fixtures live in guanxi.core.tests.browser (conftest offers them to every test); they are
# re-exported here because browser tests import them from this module.
ARGS, CHROMIUM, PASSWORD = shared.ARGS, shared.CHROMIUM, shared.PASSWORD
browser, page, sign_in = shared.browser, shared.page, shared.sign_in


@pytest.fixture
def shots(tmp_path) -> Path:
    path = Path(os.environ.get("GUANXI_SCREENSHOTS") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def new_staff(transactional_db):
    from guanxi.accounts.tests.factories import StoreFactory, UserFactory

    store = StoreFactory(code="xh", name="徐汇店")
    user = UserFactory(username="newbie", first_name="小", last_name="陈", role=Role.STORE_STAFF, stores=[store])
    return user, store


def _this_day_in(year: int, today):
    """Today's month and day in ``year``, a leap year so that 29 February exists too (it is today in 2028)."""
    assert calendar.isleap(year)
    return today.replace(year=year)


def test_find_by_last_four_open_360_fix_birthday_and_switch_language(page, new_staff, shots):
    from guanxi.customers.services import customer_tag, note_add
    from guanxi.customers.tests.factories import make_customer
    from guanxi.sales.tests.factories import make_order

    user, store = new_staff
    target = make_customer(
        store=store,
        name="林婉清",
        phone="+8613812345678",
        email="lin@example.com",
        region="上海",
        interests=["茶艺", "瑜伽"],
    )
    today = timezone.localdate()
    make_customer(store=store, name="周文", phone="+8613900000001", birthday=_this_day_in(1988, today).isoformat())
    make_order(customer=target, store=store, lines=[{"name": "羊绒围巾", "quantity": 1, "unit_price": "399.00"}])
    make_order(customer=target, store=store, lines=[{"name": "真丝衬衫", "quantity": 2, "unit_price": "560.00"}])
    customer_tag(actor=None, customer_ids=[target.pk], tag_name="高价值")
    note_add(actor=None, customer=target, body="偏好浅色系，周末来店。")

    sign_in(page, user.username)
    assert page.locator("h1").first.inner_text() == "今天"
    page.locator("#chart-sales svg").first.wait_for()  # ECharts, served by the app, drew the monthly sales
    assert "周文" in page.inner_text("#occasions")
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    page.click("nav >> text=客户")
    page.fill("input[name=q]", "5678")  # htmx searches as the staff member types
    row = page.locator("#results table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("林婉清")
    assert "q=5678" in page.url  # the search is in the address, so back and reload keep it
    page.screenshot(path=str(shots / "list.png"), full_page=True)

    page.click("#results >> text=林婉清")
    page.wait_for_url(re.compile(rf"/customers/{target.pk}/$"))
    assert "羊绒围巾" in page.inner_text("#orders")
    page.screenshot(path=str(shots / "customer.png"), full_page=True)

    page.click("text=编辑资料")
    page.fill("input[name=birthday]", "2999-01-01")
    page.click("form.form-card button[type=submit]")
    error = page.locator("#field-birthday .error")
    assert "生日不能晚于今天" in error.inner_text()
    page.screenshot(path=str(shots / "edit-error.png"), full_page=True)
    target.refresh_from_db()
    assert target.birthday is None

    page.fill("input[name=birthday]", "1990-05-17")
    page.click("form.form-card button[type=submit]")
    page.wait_for_url(re.compile(rf"/customers/{target.pk}/$"))
    assert page.inner_text("#birthday") == "1990-05-17"
    assert "已保存" in page.inner_text(".messages")
    entry = page.locator("#timeline li[data-kind='customer.updated']")
    assert "生日" in entry.first.inner_text()
    assert TimelineEntry.objects.filter(customer=target, kind="customer.updated").count() == 1

    page.click("button.lang[value=en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#profile h2").inner_text() == "Profile"
    assert "Profile changed" in page.locator("#timeline li[data-kind='customer.updated']").first.inner_text()
    page.screenshot(path=str(shots / "customer-en.png"), full_page=True)
    page.goto("/customers/")  # the choice is remembered
    assert page.locator("h1").inner_text() == "Customers"


def test_import_a_csv_with_one_bad_row(page, new_staff, tmp_path, shots):
    user, store = new_staff
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(
        "姓名,手机,生日\n赵一,13500000001,1990-01-01\n钱二,13500000002,1990-13-45\n孙三,13500000003,1985-06-30\n",
        encoding="utf-8",
    )
    sign_in(page, user.username)
    page.click("nav >> text=导入")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form.form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+/mapping/$"))
    assert page.locator("select[name=col-0]").input_value() == "name"
    page.click("text=检查文件")
    page.wait_for_url(re.compile(r"/imports/\d+/$"))
    rejected = page.locator("table.rejected tbody tr")
    rejected.first.wait_for()
    assert rejected.count() == 1
    assert "钱二" in rejected.inner_text()
    assert page.inner_text("#job-rejected") == "1"
    page.screenshot(path=str(shots / "import-check.png"), full_page=True)
    assert Customer.objects.count() == 0  # the dry run wrote nothing

    page.click("#import-job button[type=submit]")
    page.locator("#import-job[data-status=done]").wait_for()
    assert page.inner_text("#job-created") == "2"
    assert set(Customer.objects.values_list("name", flat=True)) == {"赵一", "孙三"}
    assert ImportJob.objects.get().status == ImportJob.Status.DONE
    assert set(Customer.objects.values_list("home_store_id", flat=True)) == {store.pk}


def test_merge_two_duplicates(page, new_staff, shots):
    from guanxi.customers.tests.factories import make_customer

    user, store = new_staff
    first = make_customer(store=store, name="吴刚", phone="+8613700007777")
    second = make_customer(store=store, name="吴 刚", phone="+8613700007777")
    sign_in(page, user.username)
    page.click("nav >> text=重复客户")
    pair = page.locator("#duplicate-pairs tbody tr")
    assert pair.count() == 1
    assert "手机号相同" in pair.inner_text()
    pair.locator("text=对比").click()
    page.wait_for_url(re.compile(r"/customers/duplicates/\d+/\d+/$"))
    page.check(f"input[name=survivor][value='{first.pk}']")
    page.screenshot(path=str(shots / "merge.png"), full_page=True)
    page.click("button:has-text('合并')")
    page.wait_for_url(re.compile(rf"/customers/{first.pk}/$"))
    assert "已将" in page.inner_text(".messages")
    second.refresh_from_db()
    assert second.merged_into_id == first.pk


def test_saving_the_profile_unchanged_in_chinese_keeps_the_birthday(page, new_staff, shots):
    """The zh-Hans edit form once filled the date input with 1985/02/15, which Chromium shows blank and posts empty."""
    from guanxi.customers.tests.factories import make_customer

    user, store = new_staff
    customer = make_customer(store=store, name="李娜", birthday="1985-02-15", family_size=3, region="杭州")
    sign_in(page, user.username)
    page.goto(f"/customers/{customer.pk}/edit/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.locator("input[name=birthday]")).to_have_value("1985-02-15")
    page.screenshot(path=str(shots / "edit-unchanged.png"), full_page=True)
    page.click("form.form-card button[type=submit]")
    page.wait_for_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.locator("#birthday")).to_have_text("1985-02-15")
    customer.refresh_from_db()
    assert customer.birthday.isoformat() == "1985-02-15"
    assert (customer.family_size, customer.region) == (3, "杭州")


def test_every_part_of_the_app_works_under_the_content_security_policy(page, live_server, transactional_db, shots):
    """Shell, store switcher (script from a file, no inline handler), apps, admin and API docs under the CSP."""
    from guanxi.accounts.tests.factories import StoreFactory, UserFactory

    first, second = StoreFactory(code="ja", name="静安店"), StoreFactory(code="pd", name="浦东店")
    boss = UserFactory(username="boss", role=Role.ADMIN, is_staff=True, is_superuser=True, stores=[first, second])
    response = page.goto("/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "camera=()" in response.headers["permissions-policy"]
    sign_in(page, boss.username)
    page.select_option("#store-switch", str(second.pk))  # submits itself, through static/workspace/workspace.js
    expect(page.locator("#store-switch")).to_have_value(str(second.pk))
    for url in [
        "/customers/",
        "/loyalty/",
        "/messaging/",
        "/analytics/",
        "/admin/",
        "/admin/accounts/user/",
        "/admin/accounts/apitoken/add/",
    ]:
        assert page.goto(url).status == 200, url
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info").first.wait_for()  # Swagger UI started from its own script file
    page.screenshot(path=str(shots / "api-docs.png"), full_page=False)


def test_greet_a_birthday_customer_from_the_home_page(page, new_staff):
    from guanxi.customers.tests.factories import make_customer
    from guanxi.messaging.models import Message
    from guanxi.messaging.tests.factories import make_template

    user, store = new_staff
    make_template(code="birthday", purpose="transactional", body="{name}，生日快乐！")
    today = timezone.localdate()
    guest = make_customer(store=store, name="寿星周", birthday=_this_day_in(1988, today).isoformat())
    sign_in(page, user.username)
    row = page.locator(f'#birthdays li[data-customer="{guest.pk}"]')
    expect(row).to_contain_text("寿星周")
    row.get_by_role("button", name="发送祝福").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("生日祝福已加入发送队列")
    row = page.locator(f'#birthdays li[data-customer="{guest.pk}"]')
    expect(row).to_contain_text("已祝福")
    expect(row.get_by_role("button", name="发送祝福")).to_have_count(0)
    assert Message.objects.filter(customer=guest, template_code="birthday").count() == 1
    row.get_by_role("button", name="标记已处理").click()
    page.wait_for_load_state()
    expect(page.locator(f'#birthdays li[data-customer="{guest.pk}"]')).to_contain_text("已处理")
