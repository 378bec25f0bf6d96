"""A campaign run in a real Celery worker process, killed with SIGKILL mid-send, then taken over: every
recipient gets exactly one message."""

import datetime as dt
import os
import signal

import pytest
from django.db.models import Count
from django.utils import timezone

from guanxi.campaigns.models import CampaignRecipient, CampaignRun
from guanxi.campaigns.run import campaign_run_execute, campaigns_due
from guanxi.campaigns.tasks import campaign_run_task
from guanxi.campaigns.tests.helpers import bulk_customers, make_campaign
from guanxi.core.tests.workers import _wait_for, producer_on, worker_on
from guanxi.messaging.models import Message
from guanxi.messaging.tests.factories import make_template

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

BROKER = "redis://127.0.0.1:6379/10"
RECIPIENTS = 3000


def test_a_worker_killed_mid_send_and_the_run_taken_over_send_each_recipient_once(admin_user, tmp_path, monkeypatch):
    from guanxi.core.tests.services import redis_or_skip

    redis_or_skip(BROKER, flush=True)
    monkeypatch.setenv("GUANXI_CAMPAIGN_CHUNK", "100")  # the worker's chunks: many, so the kill lands mid-send
    make_template(code="promo", body="{name}您好,本周会员日全场8折")
    bulk_customers(RECIPIENTS)
    campaign = make_campaign(admin_user, holdout="0", status="running")
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    queued = CampaignRecipient.objects.filter(run=run, status="queued")
    with producer_on(BROKER), worker_on(BROKER, tmp_path) as worker:
        campaign_run_task.apply_async((run.pk,), queue="celery")  # the test worker reads the default queue
        under_way = _wait_for(lambda: queued.count() >= 300, 90)
        assert under_way, (tmp_path / "worker.log").read_text()[-3000:]
        os.kill(worker.pid, signal.SIGKILL)  # as the OOM killer or a power cut would
        worker.wait(10)
    done_before = queued.count()
    assert done_before < RECIPIENTS, "the run finished before the kill; use more recipients"
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.SENDING
    assert campaign_run_execute(run.pk).claimed is False  # its heartbeat is fresh: nobody else takes it yet
    # after the stale interval the due sweep takes the run over (here in this process) and finishes it
    CampaignRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=10))
    assert campaigns_due(timezone.now()) == [run.pk]
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.DONE
    assert queued.count() == RECIPIENTS
    per_customer = Message.objects.values("customer_id").annotate(n=Count("id"))
    assert per_customer.count() == RECIPIENTS
    assert set(per_customer.values_list("n", flat=True)) == {1}
