"""Campaign drafting and the approval state machine (审批), four eyes included, and every refused input."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from guanxi.campaigns.models import Campaign, CampaignRun, CampaignVariant
from guanxi.campaigns.services import (
    CampaignStateConflict,
    campaign_approve,
    campaign_cancel,
    campaign_pause,
    campaign_reject,
    campaign_resume,
    campaign_save,
    campaign_submit,
)
from guanxi.campaigns.tests import campaign_helpers
from guanxi.campaigns.tests.campaign_helpers import campaign_data, draft
from guanxi.core.models import AuditLog, Event
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.django_db
people, setup = campaign_helpers.people, campaign_helpers.setup  # the shared fixtures
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday, 17:00 in Shanghai


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _audits(campaign):
    return list(AuditLog.objects.filter(object_type="campaigns.campaign", object_id=str(campaign.pk)).order_by("id"))


def test_a_draft_is_saved_with_its_variants_audit_and_event(setup):
    campaign = draft(setup)
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.store == setup["store_a"]
    assert campaign.created_by == setup["marketer"]
    assert [(v.label, v.template_code, v.split_percent) for v in campaign.variants.all()] == [
        ("A", "winback", 50),
        ("B", "hello", 50),
    ]
    (audit,) = _audits(campaign)
    assert audit.action == "create"
    assert audit.changes["name"] == "沉睡会员唤醒"
    assert Event.objects.filter(name="campaign.created", aggregate_id=str(campaign.pk)).count() == 1

    campaign = campaign_save(
        actor=setup["marketer"],
        campaign=campaign,
        data={"name": "唤醒", "variants": [{"label": "A", "template_code": "winback", "split_percent": 100}]},
    )
    assert campaign.name == "唤醒"
    assert campaign.goal == "让90天未购的金卡会员回店"
    assert list(campaign.variants.values_list("label", flat=True)) == ["A"]
    assert set(_audits(campaign)[-1].changes) == {"name", "variants"}
    assert Event.objects.get(name="campaign.updated").payload == {"fields": ["name", "variants"]}


def test_marketer_drafts_and_submits_a_manager_approves(setup):
    campaign = draft(setup)
    campaign = campaign_submit(actor=setup["marketer"], campaign=campaign)
    assert campaign.status == Campaign.Status.PENDING
    assert campaign.submitted_by == setup["marketer"]
    with pytest.raises(PermissionDenied):
        campaign_approve(actor=setup["marketer"], campaign=campaign)  # marketers draft, managers approve
    campaign = campaign_approve(actor=setup["manager"], campaign=campaign)
    assert campaign.status == Campaign.Status.APPROVED
    assert campaign.approved_by == setup["manager"]
    assert campaign.approved_at == NOW
    assert campaign.next_run_at == NOW  # "now": as soon as approved
    assert [a.changes["status"] for a in _audits(campaign)[1:]] == [["draft", "pending"], ["pending", "approved"]]
    assert list(
        Event.objects.filter(aggregate="campaign", aggregate_id=str(campaign.pk)).values_list("name", flat=True)
    ) == ["campaign.created", "campaign.submitted", "campaign.approved"]


def test_four_eyes_the_submitter_never_approves_their_own_campaign(setup):
    """A manager may draft and submit, but approval needs a second manager (or an admin)."""
    campaign = draft(setup, actor=setup["manager"])
    campaign = campaign_submit(actor=setup["manager"], campaign=campaign)
    with translation.override("en"), pytest.raises(PermissionDenied, match="another manager"):
        campaign_approve(actor=setup["manager"], campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PENDING
    assert campaign.approved_by is None
    campaign = campaign_approve(actor=setup["manager2"], campaign=campaign)
    assert campaign.status == Campaign.Status.APPROVED
    assert campaign.approved_by == setup["manager2"]


def test_approving_twice_changes_nothing_the_second_time(setup):
    campaign = campaign_submit(actor=setup["marketer"], campaign=draft(setup))
    campaign_approve(actor=setup["manager"], campaign=campaign)
    audits, events = len(_audits(campaign)), Event.objects.count()
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
        again = campaign_approve(actor=setup["manager2"], campaign=campaign)
    assert again.status == Campaign.Status.APPROVED
    assert again.approved_by == setup["manager"]
    assert again.approved_at == NOW
    assert len(_audits(campaign)) == audits
    assert Event.objects.count() == events


def test_once_approval_schedules_the_set_time_and_refuses_a_time_that_passed(setup):
    at = NOW + dt.timedelta(days=1)
    campaign = campaign_submit(actor=setup["marketer"], campaign=draft(setup, schedule="once", starts_at=at))
    assert campaign_approve(actor=setup["manager"], campaign=campaign).next_run_at == at

    late = campaign_submit(actor=setup["marketer"], campaign=draft(setup, schedule="once", starts_at=at))
    with time_machine.travel(at + dt.timedelta(minutes=1), tick=False), pytest.raises(ValidationError) as err:
        campaign_approve(actor=setup["manager"], campaign=late)
    assert "starts_at" in err.value.message_dict
    late.refresh_from_db()
    assert late.status == Campaign.Status.PENDING


def test_recurring_approval_asks_the_scheduler(setup):
    scheduling = pytest.importorskip("guanxi.campaigns.scheduling")  # the send engine's; wired at merge
    campaign = draft(setup, schedule="weekly", weekday=0, send_time=dt.time(10, 0))
    campaign = campaign_approve(
        actor=setup["manager"], campaign=campaign_submit(actor=setup["marketer"], campaign=campaign)
    )
    assert campaign.next_run_at == scheduling.next_occurrence(campaign, NOW)
    assert campaign.next_run_at is not None
    assert campaign.next_run_at > NOW


def test_reject_sends_it_back_to_draft_with_the_reason_audited(setup):
    campaign = campaign_submit(actor=setup["marketer"], campaign=draft(setup))
    with pytest.raises(ValidationError) as err:
        campaign_reject(actor=setup["manager"], campaign=campaign, reason="  ")
    assert "reason" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        campaign_reject(actor=setup["marketer"], campaign=campaign, reason="不行")
    campaign = campaign_reject(actor=setup["manager"], campaign=campaign, reason="券面额太大")
    assert campaign.status == Campaign.Status.DRAFT
    assert _audits(campaign)[-1].changes == {"status": ["pending", "draft"], "reason": "券面额太大"}
    # a draft again: editable and submittable
    campaign = campaign_save(actor=setup["marketer"], campaign=campaign, data={"coupon_template": None, "variants": [
        {"label": "A", "template_code": "hello", "split_percent": 100}]})  # fmt: skip
    assert campaign_submit(actor=setup["marketer"], campaign=campaign).status == Campaign.Status.PENDING
    with pytest.raises(CampaignStateConflict):
        campaign_reject(actor=setup["manager"], campaign=draft(setup), reason="还没提交")


def test_only_drafts_are_edited(setup):
    campaign = campaign_submit(actor=setup["marketer"], campaign=draft(setup))
    with pytest.raises(CampaignStateConflict) as err:
        campaign_save(actor=setup["marketer"], campaign=campaign, data={"name": "改名"})
    assert "status" in err.value.message_dict
    campaign.refresh_from_db()
    assert campaign.name == "沉睡会员唤醒"


def test_pause_resume_and_cancel_carry_the_active_run(setup):
    campaign = campaign_approve(
        actor=setup["manager"], campaign=campaign_submit(actor=setup["marketer"], campaign=draft(setup))
    )
    run = CampaignRun.objects.create(
        campaign=campaign, occurrence=NOW, status=CampaignRun.Status.SENDING, recipients=10
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)  # as the engine does
    test_run = CampaignRun.objects.create(
        campaign=campaign, occurrence=NOW, is_test=True, status=CampaignRun.Status.DONE
    )

    campaign = campaign_pause(actor=setup["marketer"], campaign=campaign)
    run.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert run.status == CampaignRun.Status.PAUSED
    assert campaign_pause(actor=setup["marketer"], campaign=campaign).status == Campaign.Status.PAUSED  # idempotent
    with pytest.raises(PermissionDenied):
        campaign_resume(actor=setup["marketer"], campaign=campaign)  # sending again needs approval rights
    campaign = campaign_resume(actor=setup["manager"], campaign=campaign)
    run.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert run.status == CampaignRun.Status.SENDING

    campaign = campaign_cancel(actor=setup["marketer"], campaign=campaign)
    run.refresh_from_db()
    test_run.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert campaign.next_run_at is None
    assert run.status == CampaignRun.Status.CANCELLED
    assert test_run.status == CampaignRun.Status.DONE
    with pytest.raises(CampaignStateConflict):
        campaign_resume(actor=setup["manager"], campaign=campaign)
    with pytest.raises(CampaignStateConflict):
        campaign_pause(actor=setup["marketer"], campaign=campaign)
    assert [a.changes["status"] for a in _audits(campaign)[-3:]] == [
        ["running", "paused"], ["paused", "running"], ["running", "cancelled"]
    ]  # fmt: skip


def test_resume_without_a_started_run_is_approved_again(setup):
    campaign = campaign_approve(
        actor=setup["manager"], campaign=campaign_submit(actor=setup["marketer"], campaign=draft(setup))
    )
    campaign = campaign_resume(
        actor=setup["manager"], campaign=campaign_pause(actor=setup["marketer"], campaign=campaign)
    )
    assert campaign.status == Campaign.Status.APPROVED


def test_state_rules(setup):
    campaign = draft(setup)
    with pytest.raises(CampaignStateConflict):
        campaign_approve(actor=setup["manager"], campaign=campaign)  # a draft is not approved
    with pytest.raises(CampaignStateConflict):
        campaign_pause(actor=setup["marketer"], campaign=campaign)
    with pytest.raises(CampaignStateConflict):
        campaign_resume(actor=setup["manager"], campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    with pytest.raises(CampaignStateConflict):
        campaign_cancel(actor=setup["marketer"], campaign=campaign)
    with pytest.raises(CampaignStateConflict):
        campaign_submit(actor=setup["marketer"], campaign=campaign)


def test_roles_and_stores(setup):
    with pytest.raises(PermissionDenied):
        draft(setup, actor=setup["analyst"])  # analysts read
    with pytest.raises(PermissionDenied):
        draft(setup, actor=setup["staff"])
    campaign = draft(setup)
    for actor in (setup["marketer_b"], setup["manager_b"]):
        with pytest.raises(Campaign.DoesNotExist):
            campaign_save(actor=actor, campaign=campaign, data={"name": "乙店改名"})
        with pytest.raises(Campaign.DoesNotExist):
            campaign_submit(actor=actor, campaign=campaign)
        with pytest.raises(Campaign.DoesNotExist):
            campaign_cancel(actor=actor, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.name == "沉睡会员唤醒"


# --- every refused input names its field, and nothing is written ------------------------------------------


def _later(**kw):
    return NOW + dt.timedelta(**kw)


REFUSED = [
    ({"name": ""}, "name"),
    ({"name": "名" * 121}, "name"),
    ({"goal": "x" * 2001}, "goal"),
    ({"segment": None}, "segment"),
    ({"segment": 999999}, "segment"),
    ({"segment": "segment_b"}, "segment"),  # another store's segment
    ({"segment": 2**70}, "segment"),
    ({"channel": "fax"}, "channel"),
    ({"purpose": "spam"}, "purpose"),
    ({"channel": "wechat", "purpose": "marketing"}, "channel"),
    ({"purpose": "transactional"}, "purpose"),  # SMS campaigns are marketing
    ({"coupon_template": 999999}, "coupon_template"),
    ({"coupon_template": "inactive"}, "coupon_template"),
    ({"coupon_template": None}, "coupon_template"),  # {coupon_code} in variant A without a coupon
    ({"schedule": "hourly"}, "schedule"),
    ({"schedule": "once"}, "starts_at"),
    ({"schedule": "once", "starts_at": _later(minutes=-1)}, "starts_at"),
    ({"schedule": "once", "starts_at": "not a time"}, "starts_at"),
    ({"schedule": "weekly", "send_time": dt.time(10)}, "weekday"),
    ({"schedule": "weekly", "weekday": 7, "send_time": dt.time(10)}, "weekday"),
    ({"schedule": "weekly", "weekday": 0}, "send_time"),
    ({"schedule": "monthly", "send_time": dt.time(10)}, "day_of_month"),
    ({"schedule": "monthly", "day_of_month": 32, "send_time": dt.time(10)}, "day_of_month"),
    ({"schedule": "monthly", "day_of_month": 0, "send_time": dt.time(10)}, "day_of_month"),
    ({"schedule": "weekly", "weekday": 1, "send_time": dt.time(10), "ends_on": dt.date(2026, 3, 1)}, "ends_on"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"window_start": dt.time(9)}, "window_end"),
    ({"window_end": dt.time(20)}, "window_start"),
    ({"window_start": dt.time(9), "window_end": dt.time(9)}, "window_end"),
    ({"throttle_per_minute": 0}, "throttle_per_minute"),
    ({"throttle_per_minute": 10**12}, "throttle_per_minute"),
    ({"throttle_per_minute": True}, "throttle_per_minute"),
    ({"holdout_percent": "50.5"}, "holdout_percent"),
    ({"holdout_percent": "-1"}, "holdout_percent"),
    ({"holdout_percent": "10.001"}, "holdout_percent"),
    ({"holdout_percent": "NaN"}, "holdout_percent"),
    ({"attribution_days": 0}, "attribution_days"),
    ({"attribution_days": 91}, "attribution_days"),
    ({"store": "store_b"}, "store"),
    ({"variants": []}, "variants"),
    ({"variants": [{"label": x, "template_code": "hello", "split_percent": 20} for x in "ABCDA"]}, "variants"),
    ({"variants": [{"label": "A", "template_code": "hello", "split_percent": 60}]}, "variants"),
    ({"variants": [{"label": "A", "template_code": "hello", "split_percent": 50}] * 2}, "variants"),
    ({"variants": [{"label": "E", "template_code": "hello", "split_percent": 100}]}, "variants[0].label"),
    ({"variants": [{"label": "A", "template_code": "hello", "split_percent": 0}]}, "variants[0].split_percent"),
    ({"variants": [{"label": "A", "template_code": "", "split_percent": 100}]}, "variants[0].template_code"),
    ({"variants": [{"label": "A", "template_code": "nope", "split_percent": 100}]}, "variants[0].template_code"),
    ({"variants": [{"label": "A", "template_code": "old", "split_percent": 100}]}, "variants[0].template_code"),
    ({"variants": [{"label": "A", "template_code": "otp", "split_percent": 100}]}, "variants[0].template_code"),
    ({"variants": [{"label": "A", "template_code": "mail", "split_percent": 100}]}, "variants[0].template_code"),
    ({"variants": [{"label": "A", "template_code": "amount", "split_percent": 100}]}, "variants[0].template_code"),
    ({"variants": [{"label": "A", "template_code": "optout", "split_percent": 100}]}, "variants[0].template_code"),
    ({"nonsense": 1}, "nonsense"),
]


@pytest.mark.parametrize(("overrides", "field"), REFUSED, ids=[f"{f}-{i}" for i, (_o, f) in enumerate(REFUSED)])
def test_every_refused_input_names_its_field_and_writes_nothing(setup, overrides, field):
    make_template(code="old", body="{name}您好", is_active=False)
    make_template(code="otp", purpose="transactional", body="验证码{name}")
    make_template(code="mail", channel="email", body="{name}您好")
    make_template(code="amount", body="{name}您好,您消费了{amount}元")  # a variable no campaign fills
    make_template(code="optout", body="{name}您好,回T退订,本周8折")  # the opt-out text would appear twice
    from guanxi.loyalty.models import CouponTemplate

    inactive = CouponTemplate.objects.create(name="停用券", kind="fixed", amount="5.00", active=False)
    resolved = {
        k: setup[v].pk if v in ("segment_b", "store_b") else inactive.pk if v == "inactive" else v
        for k, v in overrides.items()
    }
    before = (
        Campaign.objects.count(),
        CampaignVariant.objects.count(),
        AuditLog.objects.count(),
        Event.objects.count(),
    )
    with pytest.raises(ValidationError) as err:
        campaign_save(actor=setup["marketer"], data=campaign_data(setup, **resolved))
    assert field in err.value.message_dict, err.value.message_dict
    assert all(str(m) for m in err.value.message_dict[field])
    after = (Campaign.objects.count(), CampaignVariant.objects.count(), AuditLog.objects.count(), Event.objects.count())
    assert after == before


def test_a_call_list_needs_no_template_and_a_wechat_service_notice_is_allowed(setup):
    call = draft(setup, channel="call", coupon_template=None, variants=[{"label": "A", "split_percent": 100}])
    assert call.variants.get().template_code == ""
    make_template(code="points-expiry", channel="wechat", purpose="transactional", body="{name}您好,您的积分即将到期")
    notice = draft(
        setup,
        channel="wechat",
        purpose="transactional",
        coupon_template=None,
        variants=[{"label": "A", "template_code": "points-expiry", "split_percent": 100}],
    )
    assert notice.channel == "wechat"


def test_a_template_deactivated_after_saving_stops_the_submission(setup):
    campaign = draft(setup)
    setup["plain"].is_active = False
    setup["plain"].save()
    with pytest.raises(ValidationError) as err:
        campaign_submit(actor=setup["marketer"], campaign=campaign)
    assert "variants[1].template_code" in err.value.message_dict
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_schedule_fields_that_do_not_apply_are_cleared(setup):
    campaign = draft(
        setup, schedule="monthly", day_of_month=31, weekday=3, send_time=dt.time(10), starts_at=_later(days=2)
    )
    assert (campaign.day_of_month, campaign.weekday, campaign.send_time) == (31, None, dt.time(10))
    campaign = campaign_save(actor=setup["marketer"], campaign=campaign, data={"schedule": "now"})
    assert (campaign.day_of_month, campaign.send_time, campaign.starts_at) == (None, None, None)
    assert timezone.now() == NOW
