import csv

import pytest

from guanxi.customers.imports import auto_mapping, import_job_create, import_run, read_header
from guanxi.customers.models import ContactPoint, Customer, ImportJob
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

ROWS = [
    ["姓名", "手机", "邮箱", "生日", "门店", "标签"],
    ["李雷", "13800001111", "lilei@example.com", "1990-03-04", "store-a", "VIP;学生"],
    ["韩梅梅", "138-0000-2222", "", "1991-02-30", "store-a", ""],
    ["王芳", "13800003333", "", "", "store-a", "VIP"],
    ["王芳二号", "+86 138 0000 3333", "", "", "store-a", ""],
    ["张伟", "13800004444", "", "", "no-such-store", ""],
]


def _write(tmp_path, rows, name="customers.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def test_mapping_is_guessed_from_chinese_headings(tmp_path):
    path = _write(tmp_path, ROWS)
    assert auto_mapping(read_header(path)) == {
        "姓名": "name",
        "手机": "phone",
        "邮箱": "email",
        "生日": "birthday",
        "门店": "home_store",
        "标签": "tags",
    }


def test_dry_run_reports_every_bad_row_and_writes_nothing(tmp_path, store_a):
    job = import_run(import_job_create(actor=None, path=_write(tmp_path, ROWS), dry_run=True))
    assert job.status == ImportJob.Status.VALIDATED
    assert (job.created_count, job.matched_count, job.rejected_count) == (2, 1, 2)
    assert not Customer.objects.exists()
    with open(job.rejected_file, encoding="utf-8-sig") as handle:
        rejected = list(csv.reader(handle))
    assert [row[0] for row in rejected[1:]] == ["3", "6"]
    assert "birthday" in rejected[1][-1]
    assert "home_store" in rejected[2][-1]


def test_import_creates_good_rows_dedups_and_matches_existing(tmp_path, store_a):
    existing = make_customer(store=store_a, name="老李", email="LILEI@example.com", phone=None)
    job = import_run(import_job_create(actor=None, path=_write(tmp_path, ROWS), dry_run=False))
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.matched_count, job.rejected_count) == (1, 2, 2)
    assert job.processed_rows == 5
    names = set(Customer.objects.values_list("name", flat=True))
    assert names == {"老李", "王芳"}
    wang = Customer.objects.get(name="王芳")
    assert wang.home_store == store_a
    assert list(wang.tags.values_list("name", flat=True)) == ["VIP"]
    assert ContactPoint.objects.filter(customer=existing).count() == 1
    again = import_run(import_job_create(actor=None, path=_write(tmp_path, ROWS), dry_run=False))
    assert again.created_count == 0
    assert Customer.objects.count() == 2


def test_xlsx_import(tmp_path, store_a):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in ROWS[:2]:
        sheet.append(row)
    path = str(tmp_path / "c.xlsx")
    workbook.save(path)
    job = import_run(import_job_create(actor=None, path=path, dry_run=False))
    assert job.created_count == 1
    assert Customer.objects.get().birthday.isoformat() == "1990-03-04"


def test_import_streams_a_large_file_in_batches(tmp_path, store_a, django_assert_max_num_queries):
    rows = [["name", "phone"]] + [[f"客户{i}", f"1390{i:07d}"] for i in range(2500)]
    job = import_job_create(actor=None, path=_write(tmp_path, rows), dry_run=False)
    # per batch of 1,000 rows a bounded number of statements, never one per row (SQLite splits
    # bulk inserts at its 999-variable limit, so it needs more statements than PostgreSQL's ~20)
    with django_assert_max_num_queries(250):
        job = import_run(job)
    assert job.created_count == 2500
    assert Customer.objects.count() == 2500
