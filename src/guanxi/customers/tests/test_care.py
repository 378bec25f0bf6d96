"""The care triggers and actions of the customer profile: birthdays (solar, 29 February, lunar), important
dates, tags. The clock is frozen; each trigger is one query however many customers it finds."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from guanxi.core.care import CARE_ACTIONS, CARE_TRIGGERS
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.customers.services import customer_update, important_date_add
from guanxi.customers.tests.factories import TagFactory, make_customer

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def fired(key, day, **params):
    trigger = CARE_TRIGGERS.get(key)
    return set(trigger.handler(trigger.validate_params(params), {"today": day}))


@pytest.fixture
def people(db):
    with time_machine.travel(NOW, tick=False):
        return {
            "solar": make_customer(name="阳历", birthday="1990-10-03"),
            "lunar": make_customer(name="农历", birthday="1990-10-03", birthday_is_lunar=True),  # 八月十五
            "leap_day": make_customer(name="闰日", birthday="2000-02-29"),
            "thirtieth": make_customer(name="三十", birthday="1988-10-10", birthday_is_lunar=True),  # 八月三十
            "leap_month": make_customer(name="闰月", birthday="1990-07-02", birthday_is_lunar=True),  # 闰五月初十
            "none": make_customer(name="无生日"),
        }


def test_birthday_fires_on_the_day_not_a_day_early_nor_after_and_every_year(people):
    solar = people["solar"].pk
    assert solar not in fired("birthday", dt.date(2026, 10, 2))
    assert solar in fired("birthday", dt.date(2026, 10, 3))
    assert solar not in fired("birthday", dt.date(2026, 10, 4))
    assert solar in fired("birthday", dt.date(2027, 10, 3))
    assert solar in fired("birthday", dt.date(2026, 9, 30), days_before=3)
    assert solar not in fired("birthday", dt.date(2026, 10, 3), days_before=3)


def test_29_february_birthday_falls_on_28_february_in_common_years_only(people):
    leap_day = people["leap_day"].pk
    assert leap_day in fired("birthday", dt.date(2027, 2, 28))
    assert leap_day not in fired("birthday", dt.date(2027, 3, 1))
    assert leap_day not in fired("birthday", dt.date(2028, 2, 28))
    assert leap_day in fired("birthday", dt.date(2028, 2, 29))


def test_lunar_birthday_fires_on_its_lunar_date_not_the_solar_anniversary(people):
    assert people["lunar"].birthday_lunar_md == 815
    on_mid_autumn = fired("birthday", dt.date(2026, 9, 25))  # 2026 八月十五
    assert people["lunar"].pk in on_mid_autumn
    assert people["solar"].pk not in on_mid_autumn
    on_solar_day = fired("birthday", dt.date(2026, 10, 3))
    assert people["solar"].pk in on_solar_day
    assert people["lunar"].pk not in on_solar_day


def test_lunar_30th_falls_on_the_29th_when_the_month_is_short(people):
    thirtieth = people["thirtieth"].pk
    assert people["thirtieth"].birthday_lunar_md == 830
    assert thirtieth in fired("birthday", dt.date(2026, 10, 9))  # 2026 八月 has 29 days: 八月廿九
    assert thirtieth not in fired("birthday", dt.date(2026, 10, 10))  # 九月初一
    assert thirtieth in fired("birthday", dt.date(2027, 9, 29))


def test_lunar_leap_month_birthday_falls_in_the_plain_month(people):
    assert people["leap_month"].birthday_lunar_md == 510
    assert people["leap_month"].pk in fired("birthday", dt.date(2026, 6, 24))  # 2026 五月初十 (no leap month)
    assert people["leap_month"].pk not in fired("birthday", dt.date(2026, 7, 2))


def test_no_birthday_inside_a_leap_month(people):
    with time_machine.travel(NOW, tick=False):
        june_10 = make_customer(name="六月初十", birthday="1990-07-31", birthday_is_lunar=True)  # 1990 六月初十
    assert june_10.birthday_lunar_md == 610
    assert june_10.pk in fired("birthday", dt.date(2025, 7, 4))  # 2025 六月初十
    assert june_10.pk not in fired("birthday", dt.date(2025, 8, 3))  # 2025 闰六月初十


def test_marking_a_birthday_lunar_on_update_fills_the_lunar_month_day(people):
    with time_machine.travel(NOW, tick=False):
        customer = customer_update(actor=None, customer=people["solar"], data={"birthday_is_lunar": True})
    customer.refresh_from_db()
    assert customer.birthday_lunar_md == 815
    with time_machine.travel(NOW, tick=False):
        customer = customer_update(actor=None, customer=customer, data={"birthday_is_lunar": False})
    customer.refresh_from_db()
    assert customer.birthday_lunar_md is None


def test_birthday_trigger_is_one_query(people, django_assert_num_queries):
    trigger = CARE_TRIGGERS.get("birthday")
    with django_assert_num_queries(1):  # the customers on birthday_md (solar) or birthday_lunar_md (lunar)
        found = list(trigger.handler({"days_before": 0}, {"today": dt.date(2026, 9, 25)}))
    assert found == [people["lunar"].pk]


@pytest.mark.parametrize("value", [-1, 61, "x", 1.5, True, None])
def test_birthday_days_before_is_checked_with_a_translated_error_naming_the_field(value):
    params = {"days_before": value} if value is not None else {"days_before": "soon"}
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_TRIGGERS.get("birthday").validate_params(params)
    assert list(caught.value.message_dict) == ["days_before"]
    assert "0" in caught.value.message_dict["days_before"][0]
    assert "整数" in caught.value.message_dict["days_before"][0]


def test_birthday_days_before_defaults_to_the_day_itself():
    assert CARE_TRIGGERS.get("birthday").validate_params({}) == {"days_before": 0}


def test_important_date_fires_for_its_kind_only_with_days_before(people, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        important_date_add(actor=None, customer=people["solar"], kind="wedding_anniversary", date="2015-05-20")
        important_date_add(actor=None, customer=people["lunar"], kind="other", date="2015-05-20", label="相识")
    trigger = CARE_TRIGGERS.get("important_date")
    params = trigger.validate_params({"kind": "wedding_anniversary", "days_before": 7})
    with django_assert_num_queries(1):  # the customers with such a date on that month-day
        found = set(trigger.handler(params, {"today": dt.date(2026, 5, 13)}))
    assert found == {people["solar"].pk}
    assert fired("important_date", dt.date(2027, 5, 20), kind="wedding_anniversary") == {people["solar"].pk}
    assert fired("important_date", dt.date(2026, 5, 20), kind="other") == {people["lunar"].pk}
    assert fired("important_date", dt.date(2026, 5, 19), kind="other") == set()


def test_important_date_kind_is_checked():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_TRIGGERS.get("important_date").validate_params({"kind": "divorce"})
    assert list(caught.value.message_dict) == ["kind"]


def test_tag_add_and_remove_are_idempotent(people):
    tag = TagFactory(name="VIP")
    customer = people["solar"]
    add, remove = CARE_ACTIONS.get("tag_add"), CARE_ACTIONS.get("tag_remove")
    params = add.validate_params({"tag": str(tag.pk)})
    context = {"dedupe_key": "care:1:1:2026-03-01"}
    with time_machine.travel(NOW, tick=False):
        assert add.handler(customer, params, context) == {"tag": "VIP", "added": True}
        assert add.handler(customer, params, context) == {"tag": "VIP", "added": False}
        assert list(customer.tags.values_list("name", flat=True)) == ["VIP"]
        assert TimelineEntry.objects.filter(customer=customer, kind="tag.added").count() == 1
        assert remove.handler(customer, params, context) == {"tag": "VIP", "removed": True}
        assert remove.handler(customer, params, context) == {"tag": "VIP", "removed": False}
    assert not customer.tags.exists()
    assert TimelineEntry.objects.filter(customer=customer, kind="tag.removed").count() == 1


@pytest.mark.parametrize("value", [None, "", 0, 999999, "abc"])
def test_tag_param_must_name_an_existing_tag(db, value):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_ACTIONS.get("tag_add").validate_params({"tag": value})
    assert list(caught.value.message_dict) == ["tag"]


def test_merged_away_customers_are_not_triggered(people):
    Customer.objects.filter(pk=people["solar"].pk).update(merged_into=people["none"])
    assert people["solar"].pk not in fired("birthday", dt.date(2026, 10, 3))


def test_api_takes_and_shows_the_lunar_birthday_flag(api_a, store_a):
    body = {"name": "农历客", "home_store": store_a.pk, "birthday": "1990-10-03", "birthday_is_lunar": True}
    with time_machine.travel(NOW, tick=False):
        response = api_a.post("/api/customers/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["birthday_is_lunar"] is True
    assert Customer.objects.get(pk=response.json()["id"]).birthday_lunar_md == 815


def test_edit_form_has_the_lunar_birthday_checkbox_labelled_in_chinese(client, staff_a, store_a):
    client.force_login(staff_a)
    with time_machine.travel(NOW, tick=False):
        customer = make_customer(store=store_a, name="改农历", birthday="1990-10-03")
    url = reverse("customers:customer_edit", args=[customer.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "农历生日" in page.content.decode()
    with time_machine.travel(NOW, tick=False):
        response = client.post(url, {"name": "改农历", "birthday": "1990-10-03", "birthday_is_lunar": "on"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.birthday_is_lunar is True
    assert customer.birthday_lunar_md == 815
