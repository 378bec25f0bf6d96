"""Campaign pages: list and detail in a fixed number of queries, the draft form with its variants and
field-named errors, the state actions, the approval view, and other stores' campaigns answering 404."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import translation

from guanxi.campaigns.models import Campaign, CampaignRun
from guanxi.campaigns.services import campaign_submit
from guanxi.campaigns.tests import campaign_helpers
from guanxi.campaigns.tests.campaign_helpers import draft

pytestmark = pytest.mark.django_db
people, setup = campaign_helpers.people, campaign_helpers.setup  # the shared fixtures
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock(no_page_cache):
    with time_machine.travel(NOW, tick=False):
        yield


def _form(setup, **over):
    data = {
        "name": "会员日短信",
        "goal": "",
        "segment": setup["segment"].pk,
        "channel": "sms",
        "purpose": "marketing",
        "coupon_template": setup["coupon"].pk,
        "schedule": "now",
        "holdout_percent": "10",
        "use_global_holdout": "on",
        "attribution_days": "14",
        "variants-TOTAL_FORMS": "4",
        "variants-INITIAL_FORMS": "4",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "4",
        "variants-0-template_code": "winback",
        "variants-0-split_percent": "70",
        "variants-1-template_code": "hello",
        "variants-1-split_percent": "30",
    }
    data.update(over)
    return data


def test_the_list_and_detail_pages_run_a_fixed_number_of_queries(setup, client, django_assert_max_num_queries):
    client.force_login(setup["marketer"])
    for n in range(3):
        campaign = draft(setup, name=f"活动{n}")
        CampaignRun.objects.create(campaign=campaign, occurrence=NOW + dt.timedelta(days=n), recipients=100 + n)
    with django_assert_max_num_queries(12):
        response = client.get("/campaigns/")
    assert response.status_code == 200
    for n in range(3, 13):
        draft(setup, name=f"活动{n}")
    with django_assert_max_num_queries(12):
        response = client.get("/campaigns/")
    page = response.content.decode()
    assert page.count('id="campaign-') == 13
    assert "102" in page  # the recipients of its run
    with django_assert_max_num_queries(16):
        response = client.get(f"/campaigns/{campaign.pk}/")
    assert response.status_code == 200
    assert "活动2" in response.content.decode()


def test_a_marketer_drafts_through_the_form_and_errors_name_their_fields(setup, client):
    client.force_login(setup["marketer"])
    page = client.get("/campaigns/new/").content.decode()
    assert 'name="variants-3-split_percent"' in page  # four variant rows
    assert "winback" in page  # the templates' length hints
    response = client.post("/campaigns/new/", _form(setup, **{"variants-1-split_percent": "20"}))
    assert response.status_code == 200
    assert not Campaign.objects.exists()
    assert "90%" in response.content.decode()  # the shares add up to 90%
    response = client.post("/campaigns/new/", _form(setup, **{"variants-1-template_code": "", "coupon_template": ""}))
    body = response.content.decode()
    assert 'id="variant-B"' in body
    assert "Choose a message template." in body or "选择" in body
    assert not Campaign.objects.exists()
    response = client.post("/campaigns/new/", _form(setup))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert [(v.label, v.template_code, v.split_percent) for v in campaign.variants.all()] == [
        ("A", "winback", 70),
        ("B", "hello", 30),
    ]
    edit = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'value="70"' in edit
    client.post(f"/campaigns/{campaign.pk}/edit/", _form(setup, name="改过的名字"))
    campaign.refresh_from_db()
    assert campaign.name == "改过的名字"


def test_state_actions_from_the_pages(setup, client):
    campaign = draft(setup)
    client.force_login(setup["marketer"])
    client.post(f"/campaigns/{campaign.pk}/submit/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PENDING
    client.post(f"/campaigns/{campaign.pk}/approve/")  # a marketer may not: nothing changes
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PENDING
    client.force_login(setup["manager"])
    review = client.get(f"/campaigns/{campaign.pk}/review/").content.decode()
    assert 'id="approve"' in review
    assert 'id="preflight"' in review
    client.post(f"/campaigns/{campaign.pk}/reject/", {"reason": "换个文案"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert "换个文案" in client.get(f"/campaigns/{campaign.pk}/").content.decode()  # the history shows the reason


def test_the_submitter_sees_no_approve_button(setup, client):
    campaign = campaign_submit(actor=setup["manager"], campaign=draft(setup, actor=setup["manager"]))
    client.force_login(setup["manager"])
    with translation.override("en"):
        review = client.get(f"/campaigns/{campaign.pk}/review/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="approve"' not in review
    assert 'id="four-eyes"' in review
    client.post(f"/campaigns/{campaign.pk}/approve/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PENDING


def test_another_stores_campaign_is_404_on_every_page_and_store_staff_see_none(setup, client):
    campaign = draft(setup)
    client.force_login(setup["manager_b"])
    base = f"/campaigns/{campaign.pk}/"
    for url in (base, f"{base}edit/", f"{base}review/"):
        assert client.get(url).status_code == 404, url
    for verb in ("edit", "submit", "approve", "reject", "pause", "resume", "cancel", "test-send"):
        assert client.post(f"{base}{verb}/", {"reason": "x", "name": "乙"}).status_code == 404, verb
    assert "沉睡会员唤醒" not in client.get("/campaigns/").content.decode()
    client.force_login(setup["staff"])
    assert client.get("/campaigns/").status_code == 403
    assert client.get(base).status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.name == "沉睡会员唤醒"


def test_the_nav_shows_campaigns_to_marketers_not_store_staff(setup, client):
    client.force_login(setup["marketer"])
    assert 'href="/campaigns/"' in client.get("/").content.decode()
    client.force_login(setup["staff"])
    assert 'href="/campaigns/"' not in client.get("/").content.decode()


def test_the_review_page_shows_the_send_engines_pre_send_report(setup, client):
    pytest.importorskip("guanxi.campaigns.run")  # the send engine's; wired at merge
    campaign = campaign_submit(actor=setup["marketer"], campaign=draft(setup))
    client.force_login(setup["manager"])
    with translation.override("en"):
        page = client.get(f"/campaigns/{campaign.pk}/review/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="preflight"' in page
    assert "The pre-send report is not available here." not in page
