"""An interrupted import resumes after the rows it committed: none is written twice, in every path."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from guanxi.customers.imports import cleaning, import_job_create, import_run
from guanxi.customers.imports import customers as customer_import
from guanxi.customers.models import Customer, ImportJob
from guanxi.customers.tasks import import_job_run


class Killed(BaseException):
    """What a killed worker looks like to the code: it stops mid-batch, no handler runs."""


def _customers_file(tmp_path, rows=1200, name="customers.csv"):
    """Every other row has no phone and no e-mail: only the job's own record keeps them from repeating."""
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机", "门店"])
        writer.writerows([f"客户{i}", f"135{i:08d}" if i % 2 else "", "store-a"] for i in range(rows))
    return str(path)


def _crash_on_batch(monkeypatch, n, exc=Killed):
    real = customer_import._write_customer_batch
    calls = []

    def write(*args, **kwargs):
        calls.append(1)
        real(*args, **kwargs)
        if len(calls) == n:
            raise exc("killed in the middle of a batch")

    monkeypatch.setattr(customer_import, "_write_customer_batch", write)
    return lambda: monkeypatch.setattr(customer_import, "_write_customer_batch", real)


@pytest.mark.django_db
def test_a_redelivered_wizard_task_resumes_the_job_and_says_so(tmp_path, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 100)
    job = import_job_create(actor=None, path=_customers_file(tmp_path), dry_run=False)
    heal = _crash_on_batch(monkeypatch, 5)
    with pytest.raises(Killed):
        import_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING  # as a killed worker leaves it
    assert (job.committed_line, job.created_count, Customer.objects.count()) == (401, 400, 400)
    heal()
    assert import_job_run(job.pk) == 1200  # the broker delivers the task again
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert Customer.objects.count() == 1200 == job.created_count == job.processed_rows
    assert (job.resumed_at_line, job.resume_count, job.matched_count) == (401, 1, 0)
    assert import_job_run(job.pk) == 0  # delivered once more: nothing happens
    assert Customer.objects.count() == 1200


@pytest.mark.django_db
def test_the_wizard_page_tells_that_the_import_was_resumed(tmp_path, store_a, admin_user, client, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 100)
    job = import_job_create(actor=admin_user, path=_customers_file(tmp_path, rows=300), dry_run=False)
    heal = _crash_on_batch(monkeypatch, 2)
    with pytest.raises(Killed):
        import_job_run(job.pk)
    heal()
    import_job_run(job.pk)
    client.force_login(admin_user)
    page = client.get(f"/imports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "resumed after line 101" in page
    assert Customer.objects.count() == 300


@pytest.mark.django_db
def test_rejected_rows_reported_before_the_crash_stay_in_the_report_once(tmp_path, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 10)
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机", "门店"])
        writer.writerows([f"客户{i}", "123" if i % 10 == 0 else "", "store-a"] for i in range(50))
    job = import_job_create(actor=None, path=str(path), dry_run=False)
    heal = _crash_on_batch(monkeypatch, 3)
    with pytest.raises(Killed):
        import_run(job)
    heal()
    job = import_run(ImportJob.objects.get(pk=job.pk))
    with open(job.rejected_file, encoding="utf-8-sig") as handle:
        lines = [row[0] for row in list(csv.reader(handle))[1:]]
    assert lines == ["2", "12", "22", "32", "42"]
    assert job.rejected_count == 5
    assert Customer.objects.count() == 45 == job.created_count


@pytest.mark.django_db
def test_cli_refuses_to_repeat_an_interrupted_file_and_resumes_it(tmp_path, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 100)
    path = _customers_file(tmp_path)
    heal = _crash_on_batch(monkeypatch, 3, exc=RuntimeError)  # a database error: the job fails, reason kept
    with pytest.raises(RuntimeError):
        call_command("import_data", "customers", path, verbosity=0)
    heal()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert job.committed_line == 201
    with pytest.raises(CommandError, match=f"--resume {job.pk}"):
        call_command("import_data", "customers", path)
    assert Customer.objects.count() == 200
    out = _stdout(lambda out: call_command("import_data", "customers", path, resume=job.pk, stdout=out))
    assert "line 201" in out
    assert "1200 new" in out
    assert Customer.objects.count() == 1200
    with pytest.raises(CommandError, match="--again"):
        call_command("import_data", "customers", path)
    assert Customer.objects.count() == 1200


@pytest.mark.django_db
def test_resuming_needs_the_same_file(tmp_path, store_a, monkeypatch):
    monkeypatch.setattr(cleaning, "BATCH", 100)
    job = import_job_create(actor=None, path=_customers_file(tmp_path), dry_run=False)
    other = _customers_file(tmp_path, rows=10, name="other.csv")
    with pytest.raises(CommandError, match="different file"):
        call_command("import_data", "customers", other, resume=job.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_cli_import_resumes_where_it_stopped(tmp_path, store_a):
    """A real `guanxi import` process, killed with SIGKILL mid-file, then resumed: every row once."""
    rows = 60_000
    path = _customers_file(tmp_path, rows=rows)
    settings = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")}
    env["DATABASE_URL"] = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    env["DJANGO_SETTINGS_MODULE"] = "guanxi.settings.base"
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "import", "customers", path],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if ImportJob.objects.filter(committed_line__gte=2000).exists():
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.RUNNING
    assert 2000 <= job.committed_line < rows + 1
    assert Customer.objects.count() == job.created_count == job.committed_line - 1
    call_command("import_data", "customers", path, resume=job.pk, verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.resumed_at_line >= 2001
    assert Customer.objects.count() == rows == job.created_count


def _stdout(run) -> str:
    import io

    out = io.StringIO()
    run(out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_failed_wizard_import_is_continued_from_its_page(
    tmp_path, store_a, admin_user, client, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(cleaning, "BATCH", 100)
    job = import_job_create(actor=admin_user, path=_customers_file(tmp_path, rows=500), dry_run=False)
    heal = _crash_on_batch(monkeypatch, 3, exc=RuntimeError)
    with pytest.raises(RuntimeError):
        import_job_run(job.pk)
    heal()
    client.force_login(admin_user)
    page = client.get(f"/imports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The rows up to line 201 were imported" in page
    assert 'id="job-resume"' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imports/{job.pk}/", {"action": "run"})
    job.refresh_from_db()
    assert (job.status, job.created_count, job.resumed_at_line) == (ImportJob.Status.DONE, 500, 201)
    assert Customer.objects.count() == 500
