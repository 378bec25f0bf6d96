"""Campaigns API: CRUD of drafts, the state actions (409 / idempotent 200), field-named 400s, other stores 404."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from guanxi.campaigns.models import Campaign, CampaignRun, CampaignVariant
from guanxi.campaigns.tests import campaign_helpers
from guanxi.campaigns.tests.campaign_helpers import campaign_data, draft
from guanxi.conftest import api_client_for
from guanxi.core.models import AuditLog
from guanxi.messaging.models import Message

pytestmark = pytest.mark.django_db
people, setup = campaign_helpers.people, campaign_helpers.setup  # the shared fixtures
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
URL = "/api/campaigns/campaigns/"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(setup):
    return {
        name: api_client_for(setup[name])
        for name in ("marketer", "manager", "manager2", "analyst", "staff", "manager_b")
    }


def test_create_read_change_and_delete_a_draft(setup, api):
    response = api["marketer"].post(URL, campaign_data(setup), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert [v["label"] for v in body["variants"]] == ["A", "B"]
    url = f"{URL}{body['id']}/"
    assert api["analyst"].get(url).json()["segment_name"] == "金卡沉睡会员"  # analysts read
    assert api["analyst"].patch(url, {"name": "x"}, format="json").status_code == 403
    response = api["marketer"].patch(url, {"name": "春季唤醒", "holdout_percent": "20.00"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "春季唤醒"
    assert response.json()["holdout_percent"] == "20.00"
    assert [c["id"] for c in api["marketer"].get(URL).json()["results"]] == [body["id"]]
    assert api["marketer"].delete(url).status_code == 204
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"segment": 2**70}, "segment"),
        ({"holdout_percent": "51"}, "holdout_percent"),
        ({"throttle_per_minute": 10**15}, "throttle_per_minute"),
        ({"weekday": 9}, "weekday"),
        ({"channel": "pigeon"}, "channel"),
        ({"variants": []}, "variants"),
        ({"variants": [{"label": "A", "template_code": "hello", "split_percent": 70}]}, "variants"),
        ({"variants": [{"label": "A", "template_code": "nope", "split_percent": 100}]}, "variants[0].template_code"),
        ({"schedule": "once"}, "starts_at"),
        ({"coupon_template": None}, "coupon_template"),
        ({"segment": "segment_b"}, "segment"),
    ],
)
def test_refused_input_is_a_400_naming_the_field_and_nothing_is_written(setup, api, change, field):
    if change.get("segment") == "segment_b":
        change = {"segment": setup["segment_b"].pk}
    audits = AuditLog.objects.count()
    response = api["marketer"].post(URL, campaign_data(setup, **change), format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Campaign.objects.exists()
    assert not CampaignVariant.objects.exists()
    assert AuditLog.objects.count() == audits


def test_submit_approve_and_the_state_answers(setup, api):
    campaign = draft(setup)
    url = f"{URL}{campaign.pk}/"
    assert api["manager"].post(f"{url}approve/").status_code == 409  # a draft is not approved
    assert api["marketer"].post(f"{url}submit/").json()["status"] == "pending"
    assert api["marketer"].patch(url, {"name": "改"}, format="json").status_code == 409  # only drafts change
    assert api["marketer"].post(f"{url}approve/").status_code == 403  # marketers draft, managers approve
    response = api["manager"].post(f"{url}approve/")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["next_run_at"] is not None
    audits = AuditLog.objects.filter(object_type="campaigns.campaign").count()
    again = api["manager2"].post(f"{url}approve/")  # approving an approved campaign: 200, nothing changes
    assert again.status_code == 200
    assert again.json()["approved_by"] == setup["manager"].pk
    assert AuditLog.objects.filter(object_type="campaigns.campaign").count() == audits
    assert api["marketer"].delete(url).status_code == 409


def test_four_eyes_through_the_api(setup, api):
    campaign = draft(setup, actor=setup["manager"])
    url = f"{URL}{campaign.pk}/"
    api["manager"].post(f"{url}submit/")
    response = api["manager"].post(f"{url}approve/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 403
    assert response.json()["detail"] == "此活动由您提交，须由另一位经理批准。"
    assert api["manager2"].post(f"{url}approve/").json()["status"] == "approved"


def test_reject_pause_resume_cancel(setup, api):
    campaign = draft(setup)
    url = f"{URL}{campaign.pk}/"
    api["marketer"].post(f"{url}submit/")
    assert "reason" in api["manager"].post(f"{url}reject/", {}, format="json").json()
    assert api["manager"].post(f"{url}reject/", {"reason": "r" * 501}, format="json").status_code == 400
    assert api["manager"].post(f"{url}reject/", {"reason": "文案要改"}, format="json").json()["status"] == "draft"
    api["marketer"].post(f"{url}submit/")
    api["manager"].post(f"{url}approve/")
    run = CampaignRun.objects.create(campaign=campaign, occurrence=NOW, status=CampaignRun.Status.SENDING, recipients=5)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    assert api["marketer"].post(f"{url}pause/").json()["status"] == "paused"
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.PAUSED
    assert api["marketer"].post(f"{url}resume/").status_code == 403
    assert api["manager"].post(f"{url}resume/").json()["status"] == "running"
    assert api["marketer"].post(f"{url}cancel/").json()["status"] == "cancelled"
    assert api["marketer"].post(f"{url}cancel/").status_code == 200  # already cancelled: nothing changes
    response = api["manager"].post(f"{url}pause/")
    assert response.status_code == 409
    assert "status" in response.json()


def test_another_stores_campaign_is_404_and_store_staff_403(setup, api):
    campaign = draft(setup)
    url = f"{URL}{campaign.pk}/"
    other = api["manager_b"]
    assert other.get(url).status_code == 404
    assert other.patch(url, {"name": "乙店改"}, format="json").status_code == 404
    assert other.delete(url).status_code == 404
    for verb in ("submit", "approve", "reject", "pause", "resume", "cancel", "test-send"):
        assert other.post(f"{url}{verb}/", {"reason": "x"}, format="json").status_code == 404, verb
    assert other.get(URL).json()["results"] == []
    assert api["staff"].get(URL).status_code == 403
    assert api["staff"].get(url).status_code == 403
    campaign.refresh_from_db()
    assert campaign.name == "沉睡会员唤醒"
    assert campaign.status == "draft"


def test_test_send_reaches_staff_phones_through_the_sms_provider(
    setup, api, settings, django_capture_on_commit_callbacks
):
    from guanxi.messaging.standins import AliyunSmsStandIn

    campaign = draft(setup)
    url = f"{URL}{campaign.pk}/test-send/"
    assert "phones" in api["marketer"].post(url, {"phones": ["1"] * 6}, format="json").json()
    assert "phones" in api["marketer"].post(url, {"phones": ["12345"]}, format="json").json()
    assert "phones" in api["marketer"].post(url, {}, format="json").json()  # the marketer has no phone of their own
    settings.GUANXI_MESSAGING_REDIS_URL = ""
    with AliyunSmsStandIn(access_key_secret="s3cret", sign_names={"关系"}) as server:
        settings.GUANXI_SMS_BACKEND = "aliyun"
        settings.GUANXI_SMS_SIGN_NAME = "关系"
        settings.GUANXI_SMS_ALIYUN = {
            "access_key_id": server.access_key_id, "access_key_secret": "s3cret", "endpoint": server.base_url,
        }  # fmt: skip
        settings.GUANXI_SMS_TEMPLATE_CODES = {"winback": "SMS_1", "hello": "SMS_2"}
        with django_capture_on_commit_callbacks(execute=True):
            response = api["manager"].post(url, {}, format="json")  # to the manager's own phone
        assert response.status_code == 202, response.json()
        assert response.json()["messages"] == 2  # one per variant
        assert len(server.sent) == 2
    messages = Message.objects.filter(batch_ref=response.json()["batch_ref"])
    assert {m.status for m in messages} == {"sent"}
    assert {m.customer_id for m in messages} == {None}
    run = CampaignRun.objects.get(pk=response.json()["run_id"])
    assert run.is_test
    assert not run.recipient_rows.exists()
    assert AuditLog.objects.filter(object_type="campaigns.test_send").count() == 1


def test_the_schema_documents_the_campaign_actions(api):
    schema = api["manager"].get("/api/schema/").content.decode()
    for verb in ("submit", "approve", "reject", "pause", "resume", "cancel", "test-send"):
        assert f"/api/campaigns/campaigns/{{id}}/{verb}/" in schema
