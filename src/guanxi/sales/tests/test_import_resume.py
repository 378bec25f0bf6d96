"""An interrupted order import resumes after the orders it committed: none is recorded twice."""

import csv

import pytest

from guanxi.customers.imports import import_job_create
from guanxi.customers.tasks import import_job_run
from guanxi.customers.tests.factories import make_customer
from guanxi.sales import imports as sales_imports
from guanxi.sales.models import Order


class Killed(BaseException):
    """What a killed worker looks like to the code: it stops mid-batch, no handler runs."""


@pytest.mark.django_db
def test_an_interrupted_order_import_resumes_without_repeating_an_order(tmp_path, store_a, monkeypatch):
    customer = make_customer(store=store_a, name="老客户")
    path = tmp_path / "orders.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["订单号", "客户id", "门店", "商品", "单价"])
        writer.writerows([f"NO-{i}", customer.pk, "store-a", "茶叶", "10.00"] for i in range(1200))
    job = import_job_create(actor=None, path=str(path), target="orders", dry_run=False)
    real = sales_imports.order_ingest  # what the orders kind records each order with
    calls = []

    def ingest(**kwargs):
        calls.append(1)
        if len(calls) == 700:
            raise Killed
        return real(**kwargs)

    monkeypatch.setattr(sales_imports, "order_ingest", ingest)
    with pytest.raises(Killed):
        import_job_run(job.pk)
    job.refresh_from_db()
    assert (job.committed_line, Order.objects.count()) == (601, 600)  # orders 601-699 rolled back with their chunk
    monkeypatch.setattr(sales_imports, "order_ingest", real)
    import_job_run(job.pk)
    job.refresh_from_db()
    assert (job.created_count, job.matched_count, job.resumed_at_line) == (1200, 0, 601)
    assert Order.objects.count() == 1200
    customer.refresh_from_db()
    assert customer.order_count == 1200
