"""Files that are not what they claim get a clear, translated error; uploads do not outlive their use."""

import codecs
import csv
import datetime as dt
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from openpyxl import Workbook

from guanxi.customers.imports import import_dir, import_files_cleanup, import_job_create, import_run
from guanxi.customers.models import Customer, ImportJob
from guanxi.customers.tasks import import_job_run

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings


def _csv(path, rows, encoding="utf-8", delimiter=","):
    with open(path, "w", newline="", encoding=encoding) as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return str(path)


def _error(exc_info) -> str:
    return " ".join(exc_info.value.messages)


def test_a_row_with_a_megabyte_cell_is_rejected_naming_the_column_and_the_rest_imports(tmp_path, store_a):
    path = _csv(
        tmp_path / "big.csv",
        [
            ["姓名", "手机", "地区"],
            ["甲", "13700000001", "北京"],
            ["乙", "13700000002", "x" * 1_000_000],
            ["丙", "", ""],
        ],
    )
    job = import_run(import_job_create(actor=None, path=path, dry_run=False))
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.rejected_count) == (2, 1)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["丙", "甲"]
    with open(job.rejected_file, encoding="utf-8-sig") as handle:
        rejected = list(csv.reader(handle))[1]
    assert rejected[0] == "3"
    assert "地区" in rejected[-1]
    assert "1,000,000" in rejected[-1]
    assert len(rejected[3]) == 10_000  # the report keeps the cell's start, not the megabyte


def test_a_wizard_check_of_a_file_with_an_absurd_field_fails_with_the_line_instead_of_hanging(tmp_path, store_a):
    path = _csv(tmp_path / "absurd.csv", [["姓名", "备注"], ["甲", "ok"], ["乙", "y" * 3_000_000]])
    job = import_job_create(actor=None, path=path, dry_run=True)
    assert import_job_run(job.pk) == 0
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "Line 3" in job.error or "第 3 行" in job.error


def test_excel_unicode_text_utf16_tab_separated_imports(tmp_path, store_a):
    path = _csv(
        tmp_path / "unicode.txt",
        [["姓名", "手机", "门店"], ["张三", "13700000011", "store-a"], ["李四", "13700000012", "store-a"]],
        encoding="utf-16",
        delimiter="\t",
    )
    assert open(path, "rb").read(2) == codecs.BOM_UTF16_LE
    job = import_run(import_job_create(actor=None, path=path, dry_run=False))
    assert (job.status, job.created_count, job.rejected_count) == (ImportJob.Status.DONE, 2, 0)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "李四"]


def test_gbk_csv_from_chinese_excel_imports(tmp_path, store_a):
    path = _csv(tmp_path / "gbk.csv", [["姓名", "手机"], ["王五", "13700000021"], ["赵六", "13700000022"]], "gb18030")
    job = import_run(import_job_create(actor=None, path=path, dry_run=False))
    assert job.created_count == 2
    assert set(Customer.objects.values_list("name", flat=True)) == {"王五", "赵六"}


def test_a_binary_file_is_refused_clearly_in_english_and_chinese(tmp_path):
    path = tmp_path / "photo.csv"
    rng = random.Random(7)
    path.write_bytes(bytes(rng.randrange(256) for _ in range(5000)))
    with translation.override("en"), pytest.raises(ValidationError) as english:
        import_job_create(actor=None, path=str(path))
    with translation.override("zh-hans"), pytest.raises(ValidationError) as chinese:
        import_job_create(actor=None, path=str(path))
    assert "not a text file" in _error(english)
    assert "不是文本文件" in _error(chinese)
    assert list(english.value.message_dict) == ["file"]


@pytest.mark.parametrize("damage", ["not_a_zip", "truncated"])
def test_a_broken_xlsx_is_refused_clearly(tmp_path, damage):
    path = tmp_path / "broken.xlsx"
    if damage == "not_a_zip":
        path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    else:
        book = Workbook()
        book.active.append(["姓名", "手机"])
        for i in range(2000):
            book.active.append([f"客户{i}", f"137{i:08d}"])
        book.save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        import_job_create(actor=None, path=str(path))
    assert "not a readable Excel workbook" in _error(exc)


def test_a_broken_upload_gets_a_form_error_and_is_not_kept(client, admin_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(admin_user)
    upload = SimpleUploadedFile("客户.xlsx", b"PK\x03\x04 broken", content_type="application/octet-stream")
    response = client.post("/imports/", {"file": upload, "target": "customers"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "not a readable Excel workbook" in response.content.decode()
    assert list(import_dir().iterdir()) == []
    assert not ImportJob.objects.exists()


def test_the_cli_says_one_line_for_an_unreadable_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\x1b\x01\x02\x7f\x03 control codes, no NUL\n" * 100)
    with pytest.raises(CommandError, match="not a text file"):
        call_command("import_data", "customers", str(path))


def test_the_cli_process_exits_non_zero_without_a_traceback(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\x00\x01\x02\xff" * 1000)
    env = {**os.environ, "LANGUAGE": "en"}
    env.pop("DATABASE_URL", None)
    env["GUANXI_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "guanxi.cli", "import", "customers", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "不是文本文件" in lines[0] or "not a text file" in lines[0], done.stderr


# ------------------------------------------------------------------ uploads and reports: deleted when done


def _upload(rows) -> str:
    path = import_dir() / "0123abcd.csv"
    return _csv(path, rows)


def test_the_upload_is_deleted_when_its_import_is_done_and_the_report_after_a_week(store_a):
    with time_machine.travel(NOW, tick=False):
        path = _upload([["姓名", "手机"], ["甲", "13700000031"], ["坏", "123"]])
        dry = import_run(import_job_create(actor=None, path=path, dry_run=True))
        assert Path(path).exists()  # checked, not yet imported: the real run needs it
        dry.dry_run = False
        dry.save()
        job = import_run(dry)
        assert job.status == ImportJob.Status.DONE
        assert not Path(path).exists()
        report = Path(job.rejected_file)
        assert report.exists()
    with time_machine.travel(NOW + dt.timedelta(days=6), tick=False):
        assert import_files_cleanup()["rejected"] == 0
        assert report.exists()
    with time_machine.travel(NOW + dt.timedelta(days=7, minutes=1), tick=False):
        assert import_files_cleanup()["rejected"] == 1
    assert not report.exists()
    job.refresh_from_db()
    assert job.rejected_file == ""


def test_a_failed_or_abandoned_upload_is_kept_for_the_retention_then_deleted(store_a, settings):
    settings.GUANXI_IMPORT_UPLOAD_RETENTION = 3600
    with time_machine.travel(NOW, tick=False):
        broken = import_dir() / "failed.csv"
        broken.write_text("姓名\n甲\n", "utf-8")
        failed = import_job_create(actor=None, path=str(broken), dry_run=False)
        ImportJob.objects.filter(pk=failed.pk).update(status=ImportJob.Status.FAILED, finished_at=NOW)
        abandoned = _upload([["姓名"], ["乙"]])
        import_run(import_job_create(actor=None, path=abandoned, dry_run=True))
        orphan = import_dir() / "orphan.csv"
        orphan.write_text("x", "utf-8")
        os.utime(orphan, (NOW.timestamp(), NOW.timestamp()))
    with time_machine.travel(NOW + dt.timedelta(minutes=59), tick=False):
        assert import_files_cleanup() == {"uploads": 0, "rejected": 0, "orphans": 0}
    with time_machine.travel(NOW + dt.timedelta(minutes=61), tick=False):
        assert import_files_cleanup() == {"uploads": 2, "rejected": 0, "orphans": 1}
    assert not broken.exists()
    assert not Path(abandoned).exists()
    assert not orphan.exists()


def test_a_file_imported_from_the_command_line_is_never_deleted(tmp_path, store_a):
    path = _csv(tmp_path / "mine.csv", [["姓名"], ["甲"]])
    call_command("import_data", "customers", path, verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=30), tick=False):
        import_files_cleanup()
    assert Path(path).exists()
