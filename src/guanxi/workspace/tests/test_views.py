"""The workspace pages through Django's test client: visibility, search, filters, edits, merge, import."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty.services import member_enrol
from guanxi.sales.tests.factories import make_order


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


def test_pages_need_sign_in(client, db):
    response = client.get(reverse("customers:customers"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_renders(client, db):
    response = client.get(reverse("workspace:login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_home_shows_figures_occasions_and_empty_tasks(client_a, store_a, store_b):
    today = timezone.localdate()
    birthday = today.replace(year=1990) if not (today.month == 2 and today.day == 29) else dt.date(1990, 2, 28)
    mine = make_customer(store=store_a, name="寿星甲", birthday=birthday.isoformat())
    make_customer(store=store_b, name="别店寿星", birthday=birthday.isoformat())
    make_order(customer=mine, store=store_a, lines=[{"name": "蛋糕", "quantity": 1, "unit_price": "88.00"}])
    member_enrol(actor=None, customer=mine)  # "members" counts memberships, not customers
    response = client_a.get(reverse("workspace:home"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "寿星甲" in body
    assert "别店寿星" not in body
    figures = response.context["figures"]
    assert figures["members"] == 1
    assert figures["new_this_month"] == 1
    assert figures["active_90"] == 1
    assert str(figures["sales_this_month"]) == "88.00"
    assert 'id="tasks"' in body
    assert response.context["open_tasks"] == []
    chart = client_a.get(reverse("workspace:home_sales_chart"), HTTP_HX_REQUEST="true")
    assert chart.context["sales_chart"][-1]["amount"] == "88.00"
    assert len(chart.context["sales_chart"]) == 12
    assert 'id="sales-data"' in chart.content.decode()


def test_store_switcher_narrows_the_list(client, store_a, store_b):
    from guanxi.accounts.tests.factories import UserFactory

    both = UserFactory(username="two-stores", stores=[store_a, store_b])
    in_a = make_customer(store=store_a, name="甲")
    in_b = make_customer(store=store_b, name="乙")
    client.force_login(both)
    url = reverse("customers:customers")
    assert {c.pk for c in client.get(url).context["page"].rows} == {in_a.pk, in_b.pk}
    client.post(reverse("workspace:store_switch"), {"store": store_b.pk, "next": url})
    assert [c.pk for c in client.get(url).context["page"].rows] == [in_b.pk]
    client.post(reverse("workspace:store_switch"), {"store": "", "next": url})
    assert len(client.get(url).context["page"].rows) == 2


def test_store_switch_refuses_a_foreign_store(client_a, store_b):
    client_a.post(reverse("workspace:store_switch"), {"store": store_b.pk})
    assert "workspace_store_id" not in client_a.session


def test_language_switch_remembers_english(client_a):
    response = client_a.post(reverse("set_language"), {"language": "en", "next": "/customers/"})
    assert response.status_code == 302
    body = client_a.get(reverse("customers:customers")).content.decode()
    assert "Customers" in body
    assert 'lang="en"' in body


def test_password_change(client_a, staff_a):
    response = client_a.post(
        reverse("workspace:password_change"),
        {"old_password": "pw-for-tests-123", "new_password1": "Str0ng-pass-1", "new_password2": "Str0ng-pass-1"},
    )
    assert response.status_code == 302
    staff_a.refresh_from_db()
    assert staff_a.check_password("Str0ng-pass-1")
    response = client_a.post(
        reverse("workspace:password_change"),
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
    )
    assert response.context["form"].errors["old_password"]


def test_cached_sales_chart_is_per_scope(client, staff_a, staff_b, store_a, store_b, settings):
    settings.GUANXI_WORKSPACE_CACHE_SECONDS = 600
    make_order(customer=make_customer(store=store_a, name="甲"), store=store_a)
    url = reverse("workspace:home_sales_chart")
    client.force_login(staff_a)
    assert client.get(url).context["sales_chart"][-1]["amount"] == "100.00"
    client.force_login(staff_b)
    assert client.get(url).context["sales_chart"][-1]["amount"] == "0.00"
