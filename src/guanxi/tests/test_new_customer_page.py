"""新建客户 with the sections loyalty and messaging add (enrol as member, consents asked at the counter): all in
one transaction. Here because it uses customers, loyalty and messaging together (outside the stack)."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from guanxi.core.models import AuditLog
from guanxi.customers.models import ContactPoint, Customer, TimelineEntry
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty.models import Membership, Tier
from guanxi.loyalty.tests.factories import make_member
from guanxi.messaging.models import Consent

pytestmark = pytest.mark.usefixtures("no_page_cache", "frozen_clock")

NEW = "customers:customer_new"


@pytest.fixture
def frozen_clock():
    with time_machine.travel("2025-06-10 10:00 +0800", tick=False):
        yield


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


@pytest.fixture
def base_tier(db):
    return Tier.objects.create(name="普通会员", threshold=0, order=0)


def _post(client, **data):
    body = {"name": "王芳", "mobile": "13812341234", "email": "", "birthday": "", "gender": "", "tags": ""}
    body.update(data)
    return client.post(reverse(NEW), body)


def test_the_sections_show_the_default_tier_and_the_consent_texts_in_both_languages(client_a, store_a, base_tier):
    body = client_a.get(reverse(NEW), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "办理入会" in body
    assert "新会员从“普通会员”等级开始。" in body
    assert "我同意本店通过短信向我发送会员优惠、新品和活动信息。我可以随时回复 T 退订。" in body
    assert 'name="loyalty.enrol-enrol"' in body
    assert 'name="messaging.consent-sms_marketing"' in body
    body = client_a.get(reverse(NEW), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "A new member starts in tier 普通会员." in body
    assert "I can stop them at any time by replying T." in body


def test_a_new_member_with_consents_in_one_step(client_a, store_a, base_tier, staff_a):
    response = _post(
        client_a,
        email="wf@example.com",
        **{
            "loyalty.enrol-enrol": "on",
            "messaging.consent-sms_marketing": "on",
            "messaging.consent-email_marketing": "on",
        },
    )
    customer = Customer.objects.get()
    assert response["Location"] == reverse("customers:customer", args=[customer.pk])
    membership = Membership.objects.get(customer=customer)
    assert membership.tier == base_tier
    assert membership.store_id == store_a.pk
    consents = Consent.objects.filter(customer=customer).order_by("channel")
    assert [(c.channel, c.purpose, c.granted, c.source) for c in consents] == [
        ("email", "marketing", True, "in store"),
        ("sms", "marketing", True, "in store"),
    ]
    assert consents[1].evidence.startswith("我同意本店通过短信")
    assert consents[1].actor == staff_a
    html = client_a.get(response["Location"]).content.decode()
    assert membership.member_no in html


@pytest.mark.parametrize(
    "extra",
    [
        {"loyalty.enrol-enrol": "on", "loyalty.enrol-invite_code": "NOSUCH"},  # loyalty refuses
        {"loyalty.enrol-enrol": "on", "messaging.consent-email_marketing": "on"},  # no e-mail: messaging refuses
    ],
)
def test_a_section_that_refuses_leaves_nothing_written(client_a, store_a, base_tier, extra):
    response = _post(client_a, tags="VIP", **extra)
    assert response.status_code == 400
    assert not Customer.objects.exists()
    assert not ContactPoint.objects.exists()
    assert not Membership.objects.exists()
    assert not Consent.objects.exists()
    assert not TimelineEntry.objects.exists()
    assert not AuditLog.objects.exists()
    errors = {s["section"].key: s["form"].errors for s in response.context["sections"]}
    assert errors["loyalty.enrol"].get("invite_code") or errors["messaging.consent"].get("email_marketing")


def test_the_consent_error_names_the_field_in_chinese(client_a, store_a):
    response = client_a.post(
        reverse(NEW),
        {"name": "王芳", "mobile": "13812341234", "messaging.consent-email_marketing": "on"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert "请先在上方填写客户的电子邮箱，再征求这项同意。" in response.content.decode()
    assert not Customer.objects.exists()


def test_an_invite_code_refers_the_new_member(client_a, store_a, base_tier):
    referrer = make_member(store=store_a, name="老会员")
    _post(client_a, **{"loyalty.enrol-enrol": "on", "loyalty.enrol-invite_code": referrer.invite_code.lower()})
    assert Membership.objects.get(customer__name="王芳").referred_by == referrer


def test_the_page_with_its_sections_runs_a_constant_number_of_queries(
    client_a, store_a, base_tier, django_assert_max_num_queries
):
    client_a.get(reverse(NEW))
    with django_assert_max_num_queries(14) as captured:
        client_a.get(reverse(NEW))
    n = len(captured)
    for i in range(3):
        Tier.objects.create(name=f"T{i}", threshold=100 * (i + 1), order=i + 1)
        make_member(store=store_a, name=f"客{i}")
    with django_assert_max_num_queries(n):
        client_a.get(reverse(NEW))


# --- in a real browser, as the clerk at the counter ---------------------------------------------------------------

# The shared Chromium fixtures: they also fail a test on anything the Content-Security-Policy blocks.
from guanxi.workspace.tests import test_browser as shared  # noqa: E402

PASSWORD = shared.PASSWORD
browser = shared.browser
page = shared.page


@pytest.mark.browser
def test_the_counter_clerk_is_offered_the_existing_customer_then_enrols_a_new_member(page, store_a, staff_a):
    from playwright.sync_api import expect

    Tier.objects.create(name="普通会员", threshold=0, order=0)
    existing = make_customer(store=store_a, name="王芳", phone="13812341234")
    page.goto("/login/")
    page.fill("input[name=username]", staff_a.username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()

    page.goto("/customers/")
    page.get_by_role("link", name="新建客户").first.click()
    expect(page.locator("h1")).to_have_text("新建客户")
    page.fill("input[name=name]", "王芳芳")
    page.fill("input[name=mobile]", "138 1234 1234")
    expect(page.locator("#mobile-match")).to_contain_text("已有客户 王芳（尾号 1234）")  # htmx, as the clerk types
    page.get_by_role("button", name="创建客户").click()
    expect(page.locator("#existing-customer")).to_contain_text("已有客户 王芳（尾号 1234）")
    assert Customer.objects.count() == 1
    page.locator("#existing-customer").get_by_role("link", name="打开已有客户").click()
    expect(page).to_have_url(f"{page.url.split('/customers/')[0]}/customers/{existing.pk}/")

    page.goto("/customers/new/")
    page.fill("input[name=name]", "李娜")
    page.fill("input[name=mobile]", "13900001111")
    page.fill("input[name=email]", "ln@example.com")
    page.fill("input[name=tags]", "新客")
    page.check("input[name='loyalty.enrol-enrol']")
    page.check("input[name='messaging.consent-sms_marketing']")
    page.get_by_role("button", name="创建客户").click()
    expect(page.locator("h1")).to_contain_text("李娜")
    member = Membership.objects.get(customer__name="李娜")
    expect(page.locator("#panel-loyalty")).to_contain_text(member.member_no)
    assert Consent.objects.filter(customer=member.customer, channel="sms", granted=True).count() == 1
    assert member.customer.home_store_id == store_a.pk
