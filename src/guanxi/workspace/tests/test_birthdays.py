"""The home page that is true: new customers of the local month, members as memberships, birthdays in pages
with a greeting sent once a year and a "done" mark."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty.services import member_close, member_enrol
from guanxi.messaging.models import Message
from guanxi.messaging.tests.factories import make_template
from guanxi.workspace.models import BirthdayDone
from guanxi.workspace.selectors import BIRTHDAYS_PER_PAGE

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def client_a(client, staff_a):
    """Signed in again on every request: the frozen clock jumps years, past the session's expiry."""
    get, post = client.get, client.post

    def signed_in(method):
        def call(*args, **kwargs):
            client.force_login(staff_a)
            return method(*args, **kwargs)

        return call

    client.get, client.post = signed_in(get), signed_in(post)
    return client


def _created_at(customer: Customer, when: dt.datetime) -> None:
    Customer.objects.filter(pk=customer.pk).update(created_at=when)


def test_new_this_month_follows_the_local_month_at_23_30(client_a, store_a):
    # Shanghai is UTC+8: 1 March 00:10 local is still 28 February in UTC, 31 March 23:30 local is 15:30 UTC
    for name, when in (
        ("二月末", dt.datetime(2026, 2, 28, 23, 30, tzinfo=SHANGHAI)),
        ("三月初", dt.datetime(2026, 3, 1, 0, 10, tzinfo=SHANGHAI)),
        ("三月末", dt.datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI)),
    ):
        _created_at(make_customer(store=store_a, name=name), when)
    with time_machine.travel(dt.datetime(2026, 3, 31, 23, 45, tzinfo=SHANGHAI), tick=False):
        figures = client_a.get(reverse("workspace:home")).context["figures"]
        assert figures["new_this_month"] == 2  # 三月初 and 三月末 (a UTC month would miss 三月初)
    with time_machine.travel(dt.datetime(2026, 4, 1, 0, 30, tzinfo=SHANGHAI), tick=False):
        figures = client_a.get(reverse("workspace:home")).context["figures"]
        assert figures["new_this_month"] == 0  # April began at local midnight (in UTC it is still 31 March)


def test_a_cached_headline_starts_again_with_the_new_month(client_a, store_a, settings):
    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 600
    customer = make_customer(store=store_a, name="月末")
    _created_at(customer, dt.datetime(2026, 3, 31, 23, 0, tzinfo=SHANGHAI))
    with time_machine.travel(dt.datetime(2026, 3, 31, 23, 55, tzinfo=SHANGHAI), tick=False):
        assert client_a.get(reverse("workspace:home")).context["figures"]["new_this_month"] == 1
    with time_machine.travel(dt.datetime(2026, 4, 1, 0, 1, tzinfo=SHANGHAI), tick=False):
        assert client_a.get(reverse("workspace:home")).context["figures"]["new_this_month"] == 0


def test_members_counts_memberships_of_visible_customers(client_a, store_a, store_b):
    member = make_customer(store=store_a, name="会员")
    closed = make_customer(store=store_a, name="已退会")
    make_customer(store=store_a, name="非会员")
    member_enrol(actor=None, customer=member)
    membership, _new = member_enrol(actor=None, customer=closed)
    member_close(actor=None, membership=membership)
    member_enrol(actor=None, customer=make_customer(store=store_b, name="别店会员"))
    assert client_a.get(reverse("workspace:home")).context["figures"]["members"] == 1


def test_29_february_birthdays_fall_on_28_february_and_on_29th_in_leap_years(client_a, store_a):
    leap = make_customer(store=store_a, name="闰日", birthday="1992-02-29")
    with time_machine.travel(dt.datetime(2027, 2, 28, 9, 0, tzinfo=SHANGHAI), tick=False):
        rows = client_a.get(reverse("workspace:home")).context["birthdays"]
        assert [(b.customer.pk, b.date, b.is_today) for b in rows] == [(leap.pk, dt.date(2027, 2, 28), True)]
    with time_machine.travel(dt.datetime(2028, 2, 27, 9, 0, tzinfo=SHANGHAI), tick=False):
        rows = client_a.get(reverse("workspace:home")).context["birthdays"]
        assert [(b.customer.pk, b.date) for b in rows] == [(leap.pk, dt.date(2028, 2, 29))]


def test_a_lunar_birthday_shows_on_its_solar_date_this_year(client_a, store_a):
    # born 3 October 1990 = 八月十五: in 2026 the birthday falls on 25 September
    lunar = make_customer(store=store_a, name="中秋", birthday="1990-10-03", birthday_is_lunar=True)
    solar = make_customer(store=store_a, name="公历", birthday="1990-09-26")
    with time_machine.travel(dt.datetime(2026, 9, 24, 10, 0, tzinfo=SHANGHAI), tick=False):
        rows = client_a.get(reverse("workspace:home")).context["birthdays"]
    assert [(b.customer.pk, b.date) for b in rows] == [
        (lunar.pk, dt.date(2026, 9, 25)),
        (solar.pk, dt.date(2026, 9, 26)),
    ]
    with time_machine.travel(dt.datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI), tick=False):
        rows = client_a.get(reverse("workspace:home")).context["birthdays"]
    assert [b.customer.pk for b in rows] == []  # not on the solar anniversary (3 October)


def test_birthdays_come_in_pages_soonest_first_in_constant_queries(client_a, store_a, store_b):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(dt.datetime(2026, 12, 30, 9, 0, tzinfo=SHANGHAI), tick=False):
        make_customer(store=store_b, name="别店", birthday="1980-12-30")
        for i in range(BIRTHDAYS_PER_PAGE + 3):
            make_customer(store=store_a, name=f"寿星{i:02d}", birthday="1980-01-02" if i % 2 else "1980-12-30")
        with CaptureQueriesContext(connection) as first:
            response = client_a.get(reverse("workspace:home"))
        page = response.context["birthdays_page"]
        assert page.paginator.count == BIRTHDAYS_PER_PAGE + 3  # store B's birthday is not among them
        dates = [b.date for b in response.context["birthdays"]]
        assert dates == sorted(dates)  # today (30 Dec) before 2 January, across New Year
        assert dates[0] == dt.date(2026, 12, 30)
        second = client_a.get(reverse("workspace:home"), {"birthdays": 2})
        rest = second.context["birthdays"]
        assert len(rest) == 3
        assert all(b.date == dt.date(2027, 1, 2) for b in rest)
        assert "?birthdays=1#birthdays" in second.content.decode()
        for b in response.context["birthdays"][:3]:  # greetings and marks do not add queries
            client_a.post(reverse("workspace:birthday_done", args=[b.customer.pk]))
        with CaptureQueriesContext(connection) as marked:
            client_a.get(reverse("workspace:home"))
        assert len(marked) == len(first)


@pytest.fixture
def birthday_today(store_a):
    make_template(code="birthday", purpose="transactional", body="{name}，生日快乐！")
    return make_customer(store=store_a, name="寿星", birthday="1990-06-15")


def test_greet_queues_the_birthday_template_once_a_year(client_a, birthday_today):
    url = reverse("workspace:birthday_greet", args=[birthday_today.pk])
    with time_machine.travel(dt.datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI), tick=False):
        response = client_a.post(url, {"birthdays": "1"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 302
        assert response["Location"].endswith("?birthdays=1#birthdays")
        sent = Message.objects.get(customer=birthday_today)
        assert sent.template_code == "birthday"
        assert "寿星，生日快乐" in sent.body
        assert sent.status == Message.Status.QUEUED
        client_a.post(url)  # a second click
        assert Message.objects.filter(customer=birthday_today).count() == 1
        home = client_a.get(reverse("workspace:home"), HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert "今年已经祝福过" in home.content.decode()
        row = home.context["birthdays"][0]
        assert row.greeted is not None
    with time_machine.travel(dt.datetime(2027, 6, 15, 10, 0, tzinfo=SHANGHAI), tick=False):
        client_a.post(url)  # next year's birthday is greeted again
        assert Message.objects.filter(customer=birthday_today).count() == 2


def test_greeting_without_consent_says_why_it_was_not_sent(client_a, store_a):
    make_template(code="birthday", purpose="marketing", body="{name}，生日快乐！")
    customer = make_customer(store=store_a, name="未同意", birthday="1990-06-15")
    with time_machine.travel(dt.datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI), tick=False):
        response = client_a.post(
            reverse("workspace:birthday_greet", args=[customer.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="en"
        )
        assert "has not agreed to receive messages" in response.content.decode()
        assert "no consent" not in response.content.decode()


def test_greet_without_a_birthday_template_names_it(client_a, store_a):
    customer = make_customer(store=store_a, name="寿星", birthday="1990-06-15")
    response = client_a.post(
        reverse("workspace:birthday_greet", args=[customer.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "birthday" in response.content.decode()
    assert not Message.objects.exists()


def test_done_is_marked_once_per_customer_per_year(client_a, birthday_today):
    url = reverse("workspace:birthday_done", args=[birthday_today.pk])
    with time_machine.travel(dt.datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI), tick=False):
        client_a.post(url)
        client_a.post(url)
        assert list(BirthdayDone.objects.values_list("customer_id", "year")) == [(birthday_today.pk, 2026)]
        home = client_a.get(reverse("workspace:home"))
        assert home.context["birthdays"][0].done
    with time_machine.travel(dt.datetime(2027, 6, 15, 10, 0, tzinfo=SHANGHAI), tick=False):
        assert not client_a.get(reverse("workspace:home")).context["birthdays"][0].done


def test_another_stores_customer_cannot_be_greeted_or_marked(client_a, store_b):
    make_template(code="birthday", purpose="transactional")
    other = make_customer(store=store_b, name="别店", birthday="1990-06-15")
    assert client_a.post(reverse("workspace:birthday_greet", args=[other.pk])).status_code == 404
    assert client_a.post(reverse("workspace:birthday_done", args=[other.pk])).status_code == 404
    assert not Message.objects.exists()
    assert not BirthdayDone.objects.exists()


def test_merging_keeps_one_mark_per_year(store_a):
    from guanxi.customers.services import customer_merge

    first = make_customer(store=store_a, name="甲")
    second = make_customer(store=store_a, name="甲")
    BirthdayDone.objects.create(customer=first, year=2026)
    BirthdayDone.objects.create(customer=second, year=2026)
    BirthdayDone.objects.create(customer=second, year=2025)
    customer_merge(actor=None, survivor=first, merged=second)
    assert sorted(BirthdayDone.objects.values_list("customer_id", "year")) == [(first.pk, 2025), (first.pk, 2026)]
