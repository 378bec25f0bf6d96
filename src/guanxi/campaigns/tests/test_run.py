"""The campaign engine: the draw, materialising with coupons, idempotent chunked sending, the due sweep,
pause/resume, send window, throttle, the shared frequency cap and the pre-send report."""

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Count

from guanxi.campaigns import run as engine
from guanxi.campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignVariant, GlobalHoldout
from guanxi.campaigns.run import campaign_assign, campaign_preflight, campaign_run_execute, campaigns_due
from guanxi.campaigns.tests.helpers import bulk_customers, make_campaign
from guanxi.core.models import AuditLog
from guanxi.loyalty.models import Coupon, CouponTemplate
from guanxi.messaging.models import Consent, Message, Suppression
from guanxi.messaging.services import message_enqueue
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SH)  # a Monday morning, outside quiet hours


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def promo(db):
    return make_template(code="promo", body="{name}您好,送您{coupon}一张,券码{coupon_code}")


def _run_now(campaign: Campaign) -> CampaignRun:
    campaign.next_run_at = NOW
    campaign.save(update_fields=["next_run_at"])
    campaigns_due(NOW)
    return CampaignRun.objects.get(campaign=campaign)


def test_holdout_is_stable_and_close_to_its_percentage(admin_user):
    campaign = make_campaign(admin_user, variants=(("A", "promo", 70), ("B", "promo2", 30)), holdout="10")
    variants = list(campaign.variants.order_by("label"))
    ids = list(range(1, 10001))
    first = campaign_assign(campaign, ids, variants)
    again = campaign_assign(campaign, list(reversed(ids)), variants)
    assert sorted(first.control) == sorted(again.control)  # the same people, whatever the order
    assert len(first.control) == pytest.approx(1000, abs=120)
    a, b = (first.variants[v.pk] for v in variants)
    assert set(a) == set(again.variants[variants[0].pk])
    assert len(a) / (len(a) + len(b)) == pytest.approx(0.70, abs=0.02)
    assert len(first.control) + len(a) + len(b) == 10000
    # another campaign draws another control group
    other = make_campaign(admin_user, holdout="10")
    assert set(campaign_assign(other, ids, list(other.variants.all())).control) != set(first.control)


def test_global_holdout_is_left_out_of_every_campaign(admin_user):
    GlobalHoldout.objects.create(percent="5.00", salt="s1")
    one, two = make_campaign(admin_user), make_campaign(admin_user)
    ids = list(range(1, 10001))
    drawn = campaign_assign(one, ids, list(one.variants.all()))
    assert drawn.global_holdout == pytest.approx(500, abs=80)
    kept_one = set(drawn.control) | {c for v in drawn.variants.values() for c in v}
    drawn_two = campaign_assign(two, ids, list(two.variants.all()))
    kept_two = set(drawn_two.control) | {c for v in drawn_two.variants.values() for c in v}
    assert kept_one == kept_two  # the same customers are out of both
    one.use_global_holdout = False
    assert campaign_assign(one, ids, list(one.variants.all())).global_holdout == 0


def test_a_run_sends_each_recipient_once_with_their_own_coupon_and_a_rerun_changes_nothing(
    admin_user, promo, clock, django_assert_max_num_queries
):
    ids = bulk_customers(300)
    coupon = CouponTemplate.objects.create(name="满100减20", kind="threshold", amount="20.00", threshold="100.00")
    campaign = make_campaign(admin_user, coupon=coupon, holdout="10")
    run = _run_now(campaign)
    with django_assert_max_num_queries(100):  # set-based: a few queries per chunk (SQLite batches), not per row
        assert campaign_run_execute(run.pk).status == CampaignRun.Status.DONE
    rows = CampaignRecipient.objects.filter(run=run)
    statuses = Counter(rows.values_list("status", flat=True))
    assert statuses["control"] + statuses["queued"] == 300
    assert 10 < statuses["control"] < 55
    assert not rows.filter(status="control").exclude(coupon=None).exists()  # control gets nothing
    assert not Message.objects.filter(customer_id__in=rows.filter(status="control").values("customer_id")).exists()
    queued = rows.filter(status="queued").select_related("coupon", "message")
    for recipient in queued:
        assert recipient.coupon.code in recipient.message.body
        assert recipient.coupon.customer_id == recipient.customer_id
        assert recipient.coupon.reference == f"campaign-run:{run.pk}"
    assert len({r.coupon.code for r in queued}) == statuses["queued"]
    coupon.refresh_from_db()
    assert coupon.issued_count == statuses["queued"]
    assert AuditLog.objects.filter(action="coupon_issue", object_type="coupon").count() == statuses["queued"]
    run.refresh_from_db()
    assert (run.recipients, run.control) == (300, statuses["control"])
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    # executing again (a redelivered task) and materialising again: no second message, no second coupon
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.SENDING)
    campaign_run_execute(run.pk)
    engine.campaign_run_materialise(run, now=NOW)
    assert Message.objects.count() == statuses["queued"]
    assert Coupon.objects.count() == statuses["queued"]
    assert set(ids) >= set(rows.values_list("customer_id", flat=True))


def test_a_crash_mid_send_and_a_rerun_send_every_recipient_exactly_once(admin_user, promo, clock, monkeypatch):
    bulk_customers(400)
    campaign = make_campaign(admin_user, holdout="0")
    run = _run_now(campaign)
    monkeypatch.setattr(engine, "CHUNK", 50)
    real = engine.message_enqueue
    calls = []

    def crashing(**kwargs):
        calls.append(1)
        result = real(**kwargs)  # the messages are written…
        if len(calls) == 3:
            raise RuntimeError("worker lost")  # …and the process dies before the chunk commits
        return result

    monkeypatch.setattr(engine, "message_enqueue", crashing)
    with pytest.raises(RuntimeError):
        campaign_run_execute(run.pk)
    assert CampaignRecipient.objects.filter(run=run, status="queued").count() == 100
    assert Message.objects.count() == 100  # the crashed chunk's messages went with its transaction
    monkeypatch.setattr(engine, "message_enqueue", real)
    assert campaign_run_execute(run.pk).status == CampaignRun.Status.DONE
    per_customer = Message.objects.values("customer_id").annotate(n=Count("id"))
    assert per_customer.count() == 400
    assert {row["n"] for row in per_customer} == {1}
    assert CampaignRecipient.objects.filter(run=run, status="queued").count() == 400


def test_a_stale_run_is_taken_over_and_a_live_one_is_not(admin_user, promo, clock):
    bulk_customers(20)
    campaign = make_campaign(admin_user, holdout="0")
    run = _run_now(campaign)
    CampaignRun.objects.filter(pk=run.pk).update(heartbeat_at=NOW, resume_at=None)  # a worker is on it
    assert campaign_run_execute(run.pk).claimed is False
    assert campaigns_due(NOW + dt.timedelta(seconds=30)) == []
    # that worker died: after the stale interval the sweep queues it again and it finishes
    later = NOW + dt.timedelta(minutes=5)
    clock.move_to(later)
    assert campaigns_due(later) == [run.pk]
    assert campaign_run_execute(run.pk).status == CampaignRun.Status.DONE
    assert Message.objects.count() == 20


def test_a_weekly_campaign_sends_each_occurrence_once(admin_user, promo, clock):
    bulk_customers(30)
    campaign = make_campaign(admin_user, holdout="0", schedule="weekly", weekday=0, send_time=dt.time(10, 0))
    campaign.next_run_at = NOW
    campaign.save(update_fields=["next_run_at"])
    campaigns_due(NOW)
    campaigns_due(NOW)  # a second sweep (or a second beat) at the same instant
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    campaign.refresh_from_db()
    assert campaign.next_run_at == NOW + dt.timedelta(weeks=1)
    for run in CampaignRun.objects.filter(campaign=campaign):
        campaign_run_execute(run.pk)
        campaign_run_execute(run.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.APPROVED  # waiting for next Monday
    week = NOW + dt.timedelta(weeks=1)
    clock.move_to(week)
    campaigns_due(week)
    campaigns_due(week)
    runs = list(CampaignRun.objects.filter(campaign=campaign).order_by("occurrence"))
    assert [r.occurrence for r in runs] == [NOW, week]
    campaign_run_execute(runs[1].pk)
    # each occurrence a message per customer; the second week's are within the cap (2 in 7 days)
    assert Message.objects.filter(batch_ref=f"campaign-{runs[0].pk}-A").count() == 30
    assert Message.objects.filter(batch_ref=f"campaign-{runs[1].pk}-A").count() == 30


def test_pause_and_resume_mid_send_continue_where_it_stopped(admin_user, promo, clock, monkeypatch):
    bulk_customers(200)
    campaign = make_campaign(admin_user, holdout="0")
    run = _run_now(campaign)
    monkeypatch.setattr(engine, "CHUNK", 50)
    real = engine.message_enqueue

    def pausing(**kwargs):
        result = real(**kwargs)
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)  # the manager clicks pause
        return result

    monkeypatch.setattr(engine, "message_enqueue", pausing)
    assert campaign_run_execute(run.pk).status == CampaignRun.Status.PAUSED
    assert CampaignRecipient.objects.filter(run=run, status="queued").count() == 50
    assert campaign_run_execute(run.pk).claimed is False  # paused: nothing more is sent
    assert campaigns_due(NOW) == []
    monkeypatch.setattr(engine, "message_enqueue", real)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)  # resumed
    assert campaigns_due(NOW) == [run.pk]
    assert campaign_run_execute(run.pk).status == CampaignRun.Status.DONE
    assert Message.objects.count() == 200
    assert Message.objects.values("customer_id").distinct().count() == 200


def test_cancel_stops_a_run(admin_user, promo, clock, monkeypatch):
    bulk_customers(100)
    campaign = make_campaign(admin_user, holdout="0")
    run = _run_now(campaign)
    monkeypatch.setattr(engine, "CHUNK", 50)
    real = engine.message_enqueue

    def cancelling(**kwargs):
        result = real(**kwargs)
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
        return result

    monkeypatch.setattr(engine, "message_enqueue", cancelling)
    assert campaign_run_execute(run.pk).status == CampaignRun.Status.CANCELLED
    assert Message.objects.count() == 50
    assert campaign_run_execute(run.pk).claimed is False


def test_outside_the_send_window_the_run_waits_for_it_to_open(admin_user, promo, clock):
    bulk_customers(40)
    campaign = make_campaign(admin_user, holdout="0", window_start=dt.time(11, 0), window_end=dt.time(20, 0))
    run = _run_now(campaign)
    result = campaign_run_execute(run.pk)
    assert result.resume_at == dt.datetime(2026, 3, 2, 11, 0, tzinfo=SH)
    assert Message.objects.count() == 0
    assert CampaignRecipient.objects.filter(run=run, status="pending").count() == 40  # chosen, not sent
    assert campaigns_due(NOW + dt.timedelta(minutes=30)) == []
    opens = dt.datetime(2026, 3, 2, 11, 0, tzinfo=SH)
    clock.move_to(opens)
    assert campaigns_due(opens) == [run.pk]
    assert campaign_run_execute(run.pk).status == CampaignRun.Status.DONE
    assert Message.objects.count() == 40


def test_the_throttle_sends_at_most_its_number_a_minute(admin_user, promo, clock):
    bulk_customers(250)
    campaign = make_campaign(admin_user, holdout="0", throttle_per_minute=100)
    run = _run_now(campaign)
    sent = []
    at = NOW
    for _ in range(3):
        clock.move_to(at)
        result = campaign_run_execute(run.pk)
        sent.append(Message.objects.count())
        if result.resume_at:
            assert result.resume_at == at + dt.timedelta(minutes=1)
            assert campaign_run_execute(run.pk).claimed is False  # too early
            at = result.resume_at
    assert sent == [100, 200, 250]
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.DONE


def test_a_call_list_gets_no_message(admin_user, clock):
    bulk_customers(30)
    campaign = make_campaign(admin_user, holdout="10", channel="call", variants=(("A", "", 100),))
    run = _run_now(campaign)
    campaign_run_execute(run.pk)
    statuses = Counter(CampaignRecipient.objects.filter(run=run).values_list("status", flat=True))
    assert set(statuses) <= {"call", "control"}
    assert statuses["call"] > 0
    assert Message.objects.count() == 0


def test_the_frequency_cap_counts_care_with_campaigns_but_never_transactional(admin_user, promo, clock, settings):
    settings.GUANXI_MESSAGING_FREQUENCY_CAP = (2, 7)
    care = make_template(code="care", purpose="care", body="{name},好久不见,我们想您了")
    receipt = make_template(code="receipt", purpose="transactional", body="您已消费{amount}元")
    capped, free, untouched = bulk_customers(3)
    message_enqueue(channel="sms", template_code=care.code, customer_ids=[capped], purpose="care", dedupe_prefix="c1")
    message_enqueue(channel="sms", template_code="promo", customer_ids=[capped], purpose="marketing", dedupe_prefix="m")
    for i in range(3):  # transactional messages never count
        message_enqueue(channel="sms", template_code=receipt.code, customer_ids=[free], dedupe_prefix=f"t{i}")
    campaign = make_campaign(admin_user, holdout="0")
    preflight = campaign_preflight(campaign)
    assert preflight.suppressed == {"frequency cap": 1}
    run = _run_now(campaign)
    campaign_run_execute(run.pk)
    got = dict(CampaignRecipient.objects.filter(run=run).values_list("customer_id", "reason"))
    assert got == {capped: "frequency cap", free: "", untouched: ""}
    # and a care message after the campaign is capped by it too
    second = message_enqueue(channel="sms", template_code=care.code, customer_ids=[free], purpose="care")
    third = message_enqueue(channel="sms", template_code=care.code, customer_ids=[free], purpose="care")
    assert (second.queued, third.suppressed["frequency cap"]) == (1, 1)


def test_care_needs_the_marketing_consent_and_follows_an_opt_out(admin_user, clock):
    from guanxi.messaging.services import consent_record

    care = make_template(code="care", purpose="care", body="{name},生日快乐")
    consenting, refusing = bulk_customers(2)
    never = bulk_customers(1, consent=False)[0]
    from guanxi.customers.models import Customer

    consent_record(
        actor=None, customer=Customer.objects.get(pk=refusing), channel="sms", purpose="marketing", granted=False,
        source="sms reply",
    )  # fmt: skip
    result = message_enqueue(channel="sms", template_code=care.code, customer_ids=[consenting, refusing, never])
    assert result.queued == 1
    assert result.suppressed == {"no consent": 2}
    assert Message.objects.get(customer_id=consenting).purpose == "care"  # the template's purpose by default
    with pytest.raises(Exception, match="purpose"):
        consent_record(actor=None, customer=Customer.objects.get(pk=never), channel="sms", purpose="care",
                       granted=True, source="web")  # fmt: skip


def test_preflight_counts_what_the_send_then_suppresses_and_writes_nothing(admin_user, promo, clock):
    from guanxi.customers.models import ContactPoint

    ids = bulk_customers(120)
    bulk_customers(15, consent=False)
    no_phone = bulk_customers(7)
    ContactPoint.objects.filter(customer_id__in=no_phone).delete()
    opted_out = ids[:9]
    for index in ContactPoint.objects.filter(customer_id__in=opted_out).values_list("value_index", flat=True):
        Suppression.objects.create(channel="sms", address_index=index, scope="marketing", reason="sms reply")
    make_template(code="promo2", body="{name},第二版文案:" + "好" * 80)  # two SMS segments
    coupon = CouponTemplate.objects.create(name="满100减20", kind="fixed", amount="20.00", budget=100)
    campaign = make_campaign(
        admin_user, coupon=coupon, holdout="10", variants=(("A", "promo", 50), ("B", "promo2", 50))
    )
    before = (
        Message.objects.count(),
        Coupon.objects.count(),
        CampaignRecipient.objects.count(),
        Consent.objects.count(),
    )
    report = campaign_preflight(campaign)
    assert before == (
        Message.objects.count(), Coupon.objects.count(), CampaignRecipient.objects.count(), Consent.objects.count()
    )  # fmt: skip
    assert report.audience == 142
    assert report.control + sum(report.variants.values()) == 142
    assert report.segments == {"A": 1, "B": 2}
    assert report.cost == (report.price * (report.sendable["A"] + 2 * report.sendable["B"])).quantize(
        report.cost
    )  # fmt: skip
    assert set(report.suppressed) <= {"no consent", "no address", "opted out", "coupon budget"}
    run = _run_now(campaign)
    campaign_run_execute(run.pk)
    run.refresh_from_db()
    assert run.suppressed == report.suppressed
    assert run.control == report.control
    sent = Counter(CampaignRecipient.objects.filter(run=run, status="queued").values_list("variant__label", flat=True))
    assert dict(sent) == {k: v for k, v in report.sendable.items() if v}
    assert CampaignVariant.objects.filter(campaign=campaign).count() == 2


def test_the_draw_is_hash_bucket_of_campaign_and_customer(admin_user):
    campaign = make_campaign(admin_user, holdout="50")
    drawn = campaign_assign(campaign, list(range(1, 501)), list(campaign.variants.all()))
    assert drawn.control == [c for c in range(1, 501) if engine.hash_bucket("holdout", campaign.pk, c) < 5000]
