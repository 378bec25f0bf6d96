"""Birthdays and anniversaries of the week: across New Year, and 29 February in years without one."""

import datetime as dt

from guanxi.customers.models import Customer
from guanxi.customers.services import important_date_add
from guanxi.customers.tests.factories import make_customer
from guanxi.workspace.selectors import month_days, occasions


def test_month_days_wraps_the_year_and_maps_29_february():
    window = month_days(dt.date(2025, 12, 29), 7)
    assert window[1229] == dt.date(2025, 12, 29)
    assert window[104] == dt.date(2026, 1, 4)
    assert 1228 not in window
    assert 105 not in window
    assert month_days(dt.date(2027, 2, 28), 1)[229] == dt.date(2027, 2, 28)
    assert 229 not in month_days(dt.date(2028, 2, 28), 1)
    assert month_days(dt.date(2028, 2, 28), 2)[229] == dt.date(2028, 2, 29)


def test_occasions_over_new_year_with_leap_day_birthday(store_a, staff_a):
    new_year = make_customer(store=store_a, name="元旦", birthday="1980-01-02")
    leap = make_customer(store=store_a, name="闰日", birthday="1992-02-29")
    make_customer(store=store_a, name="不在本周", birthday="1980-01-10")
    wedding = make_customer(store=store_a, name="结婚")
    important_date_add(actor=None, customer=wedding, kind="wedding_anniversary", date="2015-12-31")
    visible = Customer.objects.visible_to(staff_a)
    found = occasions(customers=visible, today=dt.date(2025, 12, 30))
    assert [(o.customer.pk, o.kind, o.date) for o in found] == [
        (wedding.pk, "wedding_anniversary", dt.date(2025, 12, 31)),
        (new_year.pk, "birthday", dt.date(2026, 1, 2)),
    ]
    on_28th = occasions(customers=visible, today=dt.date(2027, 2, 25))
    assert [(o.customer.pk, o.date) for o in on_28th] == [(leap.pk, dt.date(2027, 2, 28))]


def test_occasions_only_of_visible_customers(store_b, staff_a):
    make_customer(store=store_b, name="别店", birthday="1980-01-02")
    assert occasions(customers=Customer.objects.visible_to(staff_a), today=dt.date(2026, 1, 1)) == []
