"""An import whose worker died never shows "importing… 40%" forever: the reaper re-queues lost jobs and fails
those interrupted mid-way, with the reason, within a bounded time."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from guanxi.customers.imports import import_job_create
from guanxi.customers.models import Customer, ImportJob
from guanxi.customers.services import import_jobs_reap_stale
from guanxi.customers.tasks import import_job_run

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("姓名,手机\n林一,13700001111\n林二,13700002222\n", encoding="utf-8")
    return str(path)


def _job(csv_file, *, status, dry_run=False, processed=0):
    with time_machine.travel(T0, tick=False):
        job = import_job_create(actor=None, path=csv_file, dry_run=dry_run)
        job.status, job.processed_rows, job.total_rows = status, processed, 2
        job.save()
    return job


def test_a_job_whose_worker_died_mid_import_is_failed_with_the_reason(csv_file, settings):
    settings.GUANXI_IMPORT_STALE_SECONDS = 180
    dead = _job(csv_file, status=ImportJob.Status.RUNNING, processed=1)
    checking = _job(csv_file, status=ImportJob.Status.VALIDATING, dry_run=True)
    with time_machine.travel(T0 + dt.timedelta(seconds=170), tick=False):
        assert import_jobs_reap_stale().failed == []  # not stale yet: it may still be working
    with time_machine.travel(T0 + dt.timedelta(seconds=181), tick=False):
        result = import_jobs_reap_stale()
    assert sorted(result.failed) == sorted([dead.pk, checking.pk])
    dead.refresh_from_db()
    assert dead.status == ImportJob.Status.FAILED
    assert "ended unexpectedly" in dead.error or "意外" in dead.error
    assert dead.finished_at == T0 + dt.timedelta(seconds=181)


def test_progress_keeps_a_job_alive(csv_file, settings):
    settings.GUANXI_IMPORT_STALE_SECONDS = 180
    job = _job(csv_file, status=ImportJob.Status.RUNNING, processed=1)
    with time_machine.travel(T0 + dt.timedelta(seconds=150), tick=False):
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())  # what each batch's tick writes
    with time_machine.travel(T0 + dt.timedelta(seconds=250), tick=False):
        assert import_jobs_reap_stale().failed == []
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING


def test_a_queued_job_whose_task_was_lost_is_queued_again_and_runs_once(csv_file, settings):
    settings.GUANXI_IMPORT_STALE_SECONDS = 180
    job = _job(csv_file, status=ImportJob.Status.PENDING)  # queued while the broker was down
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        result = import_jobs_reap_stale()  # eager here: the re-queued task runs at once
    assert result.requeued == [job.pk]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.created_count == 2
    # The original task, delivered late, finds the job done and leaves it alone: no twin rows.
    assert import_job_run(job.pk) == 0
    assert Customer.objects.count() == 2


def test_the_import_ticks_its_heartbeat(csv_file):
    from guanxi.customers.imports import import_run

    job = _job(csv_file, status=ImportJob.Status.PENDING)
    later = T0 + dt.timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        import_run(job)
    job.refresh_from_db()
    assert job.heartbeat_at == later


def test_each_committed_batch_is_a_sign_of_life_so_a_long_import_is_not_reaped(csv_file, settings):
    """A real run writes its progress with ``update`` (no ``auto_now``): the checkpoint itself sets the heartbeat."""
    from guanxi.customers.imports.writing import _checkpoint

    settings.GUANXI_IMPORT_STALE_SECONDS = 180
    job = _job(csv_file, status=ImportJob.Status.RUNNING, processed=0)
    for minute in range(1, 6):  # a batch a minute, for five minutes: longer than the stale limit
        with time_machine.travel(T0 + dt.timedelta(minutes=minute), tick=False):
            _checkpoint(job, committed_line=minute + 1, processed_rows=minute)
            job.committed_line = minute + 1
            assert import_jobs_reap_stale().failed == []
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert job.heartbeat_at == T0 + dt.timedelta(minutes=5)
