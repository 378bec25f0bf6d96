"""Test sends on the campaign's own channel: e-mail to staff addresses, WeChat service notices to staff OpenIDs
(SMS has its own tests), through messaging's queue and the real provider code; bad addresses named, nothing
written."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from guanxi.campaigns.models import CampaignRun
from guanxi.campaigns.tests import campaign_helpers
from guanxi.campaigns.tests.campaign_helpers import draft
from guanxi.conftest import api_client_for
from guanxi.core.models import AuditLog
from guanxi.messaging.models import Message
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.django_db
people, setup = campaign_helpers.people, campaign_helpers.setup  # the shared fixtures
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
URL = "/api/campaigns/campaigns/{}/test-send/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture(autouse=True)
def _clock(settings):
    settings.GUANXI_MESSAGING_REDIS_URL = ""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def email_campaign(setup):
    make_template(
        code="mail-a", channel="email", subject="{name}，会员日到了", body="{name}您好，送您{coupon}：{coupon_code}"
    )
    make_template(code="mail-b", channel="email", subject="本周会员日", body="{name}您好，全场8折")
    return draft(
        setup,
        channel="email",
        variants=[
            {"label": "A", "template_code": "mail-a", "split_percent": 50},
            {"label": "B", "template_code": "mail-b", "split_percent": 50},
        ],
    )


@pytest.fixture
def wechat_campaign(setup, settings):
    make_template(
        code="notice",
        channel="wechat",
        purpose="care",
        body="{name}您好，您的会员权益已更新",
        provider_template_code="TPL-1",
    )
    return draft(
        setup,
        channel="wechat",
        purpose="care",
        coupon_template=None,
        variants=[{"label": "A", "template_code": "notice", "split_percent": 100}],
    )


def _nothing_written():
    assert not Message.objects.exists()
    assert not CampaignRun.objects.exists()
    assert not AuditLog.objects.filter(object_type="campaigns.test_send").exists()


def test_an_email_campaign_is_tested_by_email_to_staff_addresses(
    setup, email_campaign, django_capture_on_commit_callbacks
):
    api = api_client_for(setup["marketer"])
    url = URL.format(email_campaign.pk)
    bad = api.post(url, {"addresses": ["li@example.com", "not-an-address"]}, format="json", **ZH)
    assert bad.status_code == 400
    assert bad.json() == {"addresses": ["“not-an-address”不是有效的电子邮箱。"]}
    assert "addresses" in api.post(url, {"addresses": [f"s{i}@example.com" for i in range(6)]}, format="json").json()
    _nothing_written()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"addresses": ["Li.Na@Example.COM"]}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["messages"] == 2  # one per variant
    assert response.json()["to"] == ["L***@example.com"]
    assert sorted(m.to for m in [*mail.outbox]) == [["Li.Na@example.com"], ["Li.Na@example.com"]]
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects[1] == "本周会员日"
    assert subjects[0].endswith("，会员日到了")
    assert any("¥20" in m.body or "券" in m.body for m in mail.outbox)
    messages = Message.objects.filter(batch_ref=response.json()["batch_ref"])
    assert {(m.channel, m.customer_id, m.status) for m in messages} == {("email", None, "sent")}
    run = CampaignRun.objects.get(pk=response.json()["run_id"])
    assert run.is_test
    assert not run.recipient_rows.exists()
    audit = AuditLog.objects.get(object_type="campaigns.test_send")
    assert audit.channel == "email"


def test_a_wechat_campaign_is_tested_by_a_service_notice_to_staff_openids(
    setup, wechat_campaign, settings, django_capture_on_commit_callbacks
):
    from guanxi.messaging.standins import WechatStandIn

    api = api_client_for(setup["manager"])
    url = URL.format(wechat_campaign.pk)
    bad = api.post(url, {"addresses": ["o staff!"]}, format="json", **ZH)
    assert bad.status_code == 400
    assert list(bad.json()) == ["addresses"]
    assert "OpenID" in bad.json()["addresses"][0]
    assert "addresses" in api.post(url, {}, format="json").json()  # no OpenID of one's own to fall back on
    _nothing_written()

    with WechatStandIn(templates={"TPL-1"}) as server:
        settings.GUANXI_WECHAT_BACKEND = "wechat"
        settings.GUANXI_WECHAT = {"app_id": server.app_id, "app_secret": server.app_secret, "endpoint": server.base_url}
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(url, {"addresses": ["oStaff_0001-abcdef"]}, format="json")
        assert response.status_code == 202, response.json()
        assert len(server.sent) == 1
    message = Message.objects.get(batch_ref=response.json()["batch_ref"])
    assert (message.channel, message.customer_id, message.status) == ("wechat", None, "sent")
    assert message.provider_template_code == "TPL-1"


def test_the_detail_page_offers_the_channels_address_field_and_names_a_bad_one(
    setup, email_campaign, client, django_capture_on_commit_callbacks
):
    client.force_login(setup["marketer"])
    html = client.get(reverse("campaigns:campaign_detail", args=[email_campaign.pk]), **ZH).content.decode()
    assert 'name="addresses"' in html
    assert 'name="phones"' not in html
    response = client.post(
        reverse("campaigns:campaign_test_send", args=[email_campaign.pk]), {"addresses": "wrong"}, follow=True, **ZH
    )
    assert "员工地址：“wrong”不是有效的电子邮箱。" in response.content.decode()
    _nothing_written()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("campaigns:campaign_test_send", args=[email_campaign.pk]),
            {"addresses": "a@example.com，b@example.com"},
            follow=True,
            **ZH,
        )
    assert "测试消息已排队发送。" in response.content.decode()
    assert Message.objects.filter(channel="email").count() == 4  # two variants, two addresses
    assert len(mail.outbox) == 4


def test_a_call_list_has_nothing_to_test(setup):
    from django.core.exceptions import ValidationError

    from guanxi.campaigns.services import campaign_test_send_to

    campaign = draft(setup, channel="call", coupon_template=None, variants=[{"label": "A", "split_percent": 100}])
    with pytest.raises(ValidationError) as caught:
        campaign_test_send_to(actor=setup["marketer"], campaign=campaign, addresses=["a@example.com"])
    assert list(caught.value.message_dict) == ["channel"]
    _nothing_written()


def test_an_email_test_without_addresses_goes_to_the_senders_own_address(
    setup, email_campaign, django_capture_on_commit_callbacks
):
    from guanxi.campaigns.services import campaign_test_send_to

    manager = setup["manager"]
    manager.email = "wang.jl@example.com"
    manager.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        result = campaign_test_send_to(actor=manager, campaign=email_campaign, addresses=[])
    assert result["to"] == ["w***@example.com"]
    assert [m.to for m in mail.outbox] == [["wang.jl@example.com"], ["wang.jl@example.com"]]
