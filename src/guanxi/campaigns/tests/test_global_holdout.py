"""The global hold-out page and API: managers see and set it (percentage, on/off, a new group only on request),
every change audited, bad values named and nothing written; marketers read it; store staff are refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from guanxi.campaigns.models import GlobalHoldout
from guanxi.campaigns.run import campaign_assign
from guanxi.campaigns.services import global_holdout_update
from guanxi.campaigns.tests import campaign_helpers
from guanxi.campaigns.tests.helpers import make_campaign
from guanxi.conftest import api_client_for
from guanxi.core.models import AuditLog, Event
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db
people, setup = campaign_helpers.people, campaign_helpers.setup  # the shared fixtures
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
URL = "/api/campaigns/global-holdout/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def customers(people):
    return [make_customer(store=people["store_a"], name=f"顾客{i}", phone=None) for i in range(60)]


def test_a_manager_sets_the_global_holdout_through_the_api_and_it_is_audited(people, customers):
    api = api_client_for(people["manager"])
    first = api.get(URL)
    assert first.status_code == 200
    assert first.json() | {"updated_at": None} == {
        "percent": "0.00", "enabled": True, "active": False, "members": 0, "updated_at": None,
    }  # fmt: skip
    response = api.put(URL, {"percent": "20.00", "enabled": True}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["percent"] == "20.00"
    assert body["active"] is True
    holdout = GlobalHoldout.objects.get()
    assert (
        body["members"]
        == campaign_assign(make_campaign(people["manager"], holdout="0"), [c.pk for c in customers], []).global_holdout
    )
    assert 0 < body["members"] < len(customers)
    audit = AuditLog.objects.get(object_type="campaigns.global_holdout")
    assert audit.actor == people["manager"]
    assert audit.changes == {"percent": ["0.00", "20.00"]}
    assert Event.objects.filter(name="campaign.global_holdout_changed").count() == 1
    # the same values again change nothing and record nothing
    assert api.put(URL, {"percent": "20", "enabled": True}, format="json").status_code == 200
    assert AuditLog.objects.filter(object_type="campaigns.global_holdout").count() == 1
    # off keeps the percentage; the engine leaves nobody out
    off = api.put(URL, {"percent": "20.00", "enabled": False}, format="json").json()
    assert (off["percent"], off["active"], off["members"]) == ("20.00", False, 0)
    holdout.refresh_from_db()
    assert holdout.percent == Decimal("20.00")
    assert campaign_assign(make_campaign(people["manager"]), [c.pk for c in customers], []).global_holdout == 0


def test_the_group_is_redrawn_only_when_asked(people, customers):
    manager = people["manager"]
    global_holdout_update(actor=manager, data={"percent": Decimal("20"), "enabled": True})
    salt = GlobalHoldout.objects.get().salt
    global_holdout_update(actor=manager, data={"percent": Decimal("15"), "enabled": True})
    assert GlobalHoldout.objects.get().salt == salt  # a new percentage keeps the same hash
    api_client_for(manager).put(URL, {"percent": "15.00", "enabled": True, "reshuffle": True}, format="json")
    holdout = GlobalHoldout.objects.get()
    assert holdout.salt != salt
    last = AuditLog.objects.filter(object_type="campaigns.global_holdout").order_by("-id").first()
    assert set(last.changes) == {"salt"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20.01", "小于或者等于 20"),
        ("-1", "大于或者等于 0"),
        (5.5, ""),  # a JSON number: refused, as money is
        ("abc", ""),
        ("1.234", ""),
    ],
)
def test_bad_percentages_are_refused_by_field_and_nothing_is_written(people, value, message):
    api = api_client_for(people["manager"])
    response = api.put(URL, {"percent": value, "enabled": True}, format="json", **ZH)
    assert response.status_code == 400
    assert list(response.json()) == ["percent"]
    assert message in " ".join(response.json()["percent"])
    assert not AuditLog.objects.filter(object_type="campaigns.global_holdout").exists()
    assert not GlobalHoldout.objects.filter(percent__gt=0).exists()


def test_the_service_names_each_bad_field(people):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        global_holdout_update(actor=people["manager"], data={"percent": 1.5, "enabled": "yes", "reshuffle": 1})
    assert set(caught.value.message_dict) == {"percent", "enabled", "reshuffle"}
    assert not AuditLog.objects.filter(object_type="campaigns.global_holdout").exists()


def test_who_may_read_and_change_it(people):
    assert api_client_for(people["staff"]).get(URL).status_code == 403
    assert api_client_for(people["staff"]).put(URL, {"percent": "5", "enabled": True}, format="json").status_code == 403
    marketer = api_client_for(people["marketer"])
    assert marketer.get(URL).status_code == 200
    assert marketer.put(URL, {"percent": "5", "enabled": True}, format="json").status_code == 403
    assert (
        api_client_for(people["manager_b"]).put(URL, {"percent": "5", "enabled": True}, format="json").status_code
        == 200
    )
    assert GlobalHoldout.objects.get().percent == Decimal("5")


def test_the_schema_documents_the_global_holdout(people):
    schema = api_client_for(people["manager"]).get("/api/schema/").content.decode()
    assert "/api/campaigns/global-holdout/" in schema
    assert "reshuffle" in schema


def test_the_page_shows_and_sets_it_in_chinese(people, customers, client, django_assert_max_num_queries):
    url = reverse("campaigns:global_holdout")
    client.force_login(people["manager"])
    listing = client.get(reverse("campaigns:campaign_list"), **ZH).content.decode()
    assert f'href="{url}"' in listing
    assert "全局对照组" in listing
    with django_assert_max_num_queries(12):
        page = client.get(url, **ZH)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="global-holdout-form"' in html
    assert "关闭" in html or "0%" in html
    response = client.post(url, {"percent": "25", "enabled": "on"}, **ZH)
    assert response.status_code == 200
    assert "20" in response.content.decode()  # the bound: 0 to 20
    assert not AuditLog.objects.filter(object_type="campaigns.global_holdout").exists()
    response = client.post(url, {"percent": "20", "enabled": "on"}, **ZH)
    assert response.status_code == 302
    html = client.get(url, **ZH).content.decode()
    members = GlobalHoldout.objects.get()
    from guanxi.campaigns.campaign_selectors import global_holdout_members

    n = global_holdout_members(people["manager"], members)
    assert 0 < n < len(customers)
    assert f"{n} 位您的客户" in html or f"您的客户中的 {n} 位" in html
    assert "百分比 0.00% → 20.00%" in html  # the history


def test_the_page_for_a_marketer_has_no_form_and_store_staff_are_refused(people, client):
    url = reverse("campaigns:global_holdout")
    client.force_login(people["marketer"])
    html = client.get(url, **ZH).content.decode()
    assert 'id="global-holdout-form"' not in html
    assert client.post(url, {"percent": "5", "enabled": "on"}).status_code == 403
    client.force_login(people["staff"])
    assert client.get(url).status_code == 403
    assert not AuditLog.objects.filter(object_type="campaigns.global_holdout").exists()


def test_the_results_page_says_global_holdout_customers_are_left_out(setup, client):
    from guanxi.campaigns.tests.campaign_helpers import draft

    campaign = draft(setup)
    client.force_login(setup["manager"])
    html = client.get(reverse("campaigns:campaign_results", args=[campaign.pk]), **ZH).content.decode()
    assert "全局对照组中的客户不会进入任何遵守全局对照组的活动" in html
