"""One money format on every page: ¥3,556.00 (two decimals, thousands grouped), never ¥3556 or ¥3556.00.

Here because it walks pages of customers, sales, workspace, loyalty and analytics together.
"""

from __future__ import annotations

import re

import pytest
import time_machine
from django.urls import reverse

from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty.tests.factories import TierFactory, make_member
from guanxi.sales.tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.usefixtures("no_page_cache", "frozen")


@pytest.fixture
def frozen():
    with time_machine.travel("2026-06-10 10:00 +0800", tick=False):
        yield


def _text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


RAW = re.compile(r"¥\d{4,}")  # an amount of ¥1,000 or more without its thousands comma


def test_pages_show_one_money_format(client, staff_a, store_a):
    customer = make_customer(store=store_a, name="王芳", phone="+8613800138001")
    make_order(customer=customer, store=store_a, lines=[{"name": "大衣", "quantity": 1, "unit_price": "3556"}])
    client.force_login(staff_a)
    pages = {
        "list": reverse("customers:customers"),
        "360": reverse("customers:customer", args=[customer.pk]),
        "home": reverse("workspace:home"),
    }
    for name, url in pages.items():
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, name
        text = _text(response.content.decode())
        assert "¥3,556.00" in text, name
        assert not RAW.search(text), (name, RAW.findall(text))


def test_the_counter_quote_shows_one_money_format(client, staff_a, store_a):
    TierFactory(name="普通", threshold=0, order=0)
    member = make_member(store=store_a)
    ProductFactory(sku="COAT", name="大衣", price="3556.00")
    client.force_login(staff_a)
    response = client.post(
        reverse("loyalty:counter_quote"),
        {"customer": member.customer_id, "sku": ["COAT"], "qty": ["1"], "payment_method": "cash"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    text = _text(response.content.decode())
    assert text.count("¥3,556.00") >= 3, text  # unit price, line amount, total (and what is left to pay)
    assert not RAW.search(text), RAW.findall(text)
