"""Loyalty and messaging pages (and the 360 panels) read as words: no field codes, no internal references.

Every page is rendered as an admin and as store staff in zh-Hans; the visible text must not show
``field: message`` codes, service references ("checkout:…") or channel codes ("(api)").
"""

from __future__ import annotations

import re

import pytest
import time_machine
from django.urls import reverse

from guanxi.customers.services import customer_create
from guanxi.loyalty import services as loyalty
from guanxi.loyalty.models import PointsEntry
from guanxi.loyalty.tests.factories import TierFactory
from guanxi.messaging.models import Message
from guanxi.messaging.services import consent_record
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.usefixtures("no_page_cache", "frozen")


@pytest.fixture
def frozen():
    with time_machine.travel("2026-06-01 10:00 +0800", tick=False):
        yield


FIELD_CODE = re.compile(r"\b[a-z_]+: ")
INTERNAL = ("checkout:", "(api)", "（api）", "order:", "refund:", "lot:")


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


@pytest.fixture
def member(store_a, staff_a):
    TierFactory(name="普通", threshold=0, order=0)
    customer = customer_create(
        actor=None, data={"name": "王芳", "home_store": store_a}, contacts=[], channel="api"
    ).customer
    membership = loyalty.member_enrol(actor=None, customer=customer)[0]
    loyalty.wallet_top_up(actor=None, membership=membership, amount="3556.00", reference="counter-1")
    loyalty.points_adjust(actor=None, membership=membership, points=500, reason="seed")
    account = membership.points
    # a ledger row as a counter sale writes it: the service codes must not reach the page
    PointsEntry.objects.filter(account=account).update(reference="checkout:buy-2", reason="order POS-0002")
    consent_record(actor=None, customer=customer, channel="sms", purpose="marketing", granted=True, source="api")
    make_template(code="hi", channel="sms", purpose="marketing")
    return membership


def _pages(member):
    customer_id = member.customer_id
    message = Message.objects.first()
    pages = [
        reverse("customers:customer", args=[customer_id]),
        reverse("loyalty:program"),
        reverse("loyalty:statement", args=[customer_id]),
        reverse("messaging:log"),
        reverse("messaging:templates"),
        reverse("messaging:consent", args=[customer_id]),
    ]
    if message is not None:
        pages.append(reverse("messaging:detail", args=[message.pk]))
    return pages


@pytest.mark.parametrize("who", ["admin_user", "staff_a"])
def test_pages_show_words_not_codes(client, member, who, request):
    client.force_login(request.getfixturevalue(who))
    for url in _pages(member):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        assert not FIELD_CODE.search(text), (url, FIELD_CODE.findall(text))
        for code in INTERNAL:
            assert code not in text, (url, code)
    statement = visible_text(client.get(reverse("loyalty:statement", args=[member.customer_id])).content.decode())
    assert "订单 POS-0002" in statement
    assert "收银 #buy-2" in statement
    assert "¥3,556.00" in statement
    page = visible_text(client.get(reverse("customers:customer", args=[member.customer_id])).content.decode())
    assert "建立客户档案（API）" in page


@pytest.mark.parametrize("who", ["admin_user", "staff_a"])
def test_pages_show_words_not_codes_after_a_refused_form(client, member, who, request):
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        reverse("loyalty:top_up", args=[member.customer_id]), {"amount": "-5", "reference": ""}, follow=True
    )
    text = visible_text(response.content.decode())
    assert not FIELD_CODE.search(text), FIELD_CODE.findall(text)
    # the error is shown inline, beside the field, and once more at the top naming the field by its label
    html = response.content.decode()
    assert (
        re.search(r'id="field-amount"[^>]*>.*?class="error"', html, flags=re.S)
        or 'has-error" id="field-amount"' in html
    )
    assert any(str(m).startswith("实收金额（¥）：") for m in response.context["messages"])


def test_store_staff_see_no_inputs_they_cannot_save(client, member, staff_a, admin_user):
    client.force_login(staff_a)
    program = client.get(reverse("loyalty:program")).content.decode()
    assert 'name="points_per_yuan"' not in program
    assert reverse("loyalty:tier_new") not in program
    panel = client.get(reverse("customers:customer", args=[member.customer_id])).content.decode()
    assert reverse("loyalty:adjust", args=[member.customer_id]) not in panel
    assert reverse("loyalty:status", args=[member.customer_id]) not in panel
    assert reverse("loyalty:top_up", args=[member.customer_id]) in panel  # counter work is everyone's
    templates = client.get(reverse("messaging:templates")).content.decode()
    assert reverse("messaging:template_new") not in templates
    client.force_login(admin_user)
    program = client.get(reverse("loyalty:program")).content.decode()
    assert 'name="points_per_yuan"' in program
    panel = client.get(reverse("customers:customer", args=[member.customer_id])).content.decode()
    assert reverse("loyalty:adjust", args=[member.customer_id]) in panel


def test_import_mapping_lists_translated_field_names():
    from django.utils import translation

    from guanxi.customers.templatetags.customers import import_field_label

    with translation.override("zh-hans"):
        assert import_field_label("phone", "customers") == "手机号"
        assert import_field_label("income_band", "customers") == "收入"
        assert import_field_label("external_ref", "orders") == "订单号"
        assert import_field_label("unit_price", "orders") == "单价"
