"""The orders kind of import (``sales.imports``): lines grouped into orders, replays matched."""

import csv

import pytest

from guanxi.customers.imports import import_job_create, import_run
from guanxi.sales.models import Order

pytestmark = pytest.mark.django_db


def _write(tmp_path, rows, name="customers.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def test_order_import_groups_lines_and_replays_nothing(tmp_path, store_a):
    rows = [
        ["订单号", "手机", "姓名", "门店", "商品", "数量", "单价", "时间"],
        ["A1", "13800005555", "陈", "store-a", "衬衫", "1", "459.00", "2026-03-01 10:00"],
        ["A1", "13800005555", "陈", "store-a", "袜子", "2", "39.00", "2026-03-01 10:00"],
        ["A2", "13800005555", "陈", "store-a", "鞋", "1", "abc", "2026-03-02 10:00"],
    ]
    path = _write(tmp_path, rows, "orders.csv")
    job = import_run(import_job_create(actor=None, path=path, target="orders", dry_run=False))
    assert (job.created_count, job.rejected_count) == (1, 1)
    order = Order.objects.get()
    assert order.total_amount == 537
    assert order.lines.count() == 2
    again = import_run(import_job_create(actor=None, path=path, target="orders", dry_run=False))
    assert again.matched_count == 1
    assert Order.objects.count() == 1
