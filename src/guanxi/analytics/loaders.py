"""Loading public transaction data (CDNOW) as Guanxi customers and orders, in bulk.

Used by the validation test (the model code must read summaries that Guanxi computes from its own order
rows) and by ``guanxi analytics_load_cdnow`` for a demo with real purchase behaviour. Customers are
created without contact points; orders are written with ``bulk_create`` (no events, timeline or audit
rows: this is historical data, like an import of a legacy system's archive).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.db import transaction

from guanxi.analytics.sql import local_zone
from guanxi.analytics.summary import read_cdnow
from guanxi.customers.models import Customer
from guanxi.sales.models import Order, PaymentMethod
from guanxi.sales.services import customer_order_stats_refresh


@transaction.atomic
def cdnow_load(path: str | Path, *, source: str = "cdnow", batch_size: int = 5000) -> dict[int, int]:
    """Create one customer per CDNOW id and one paid order per transaction row (at local noon).

    Returns {CDNOW id: customer pk}. Customer pks increase with the CDNOW id.
    """
    rows = read_cdnow(path)
    ids = np.unique(rows.customer_id)
    customers = Customer.objects.bulk_create(
        [Customer(name=f"CDNOW {int(i):05d}", source=source) for i in ids], batch_size=batch_size
    )
    pk_of = {int(i): c.pk for i, c in zip(ids, customers, strict=True)}
    zone = local_zone()
    noon = dt.time(12)
    orders = []
    for n, (cid, day, amount) in enumerate(zip(rows.customer_id, rows.date, rows.amount, strict=True)):
        value = Decimal(f"{amount:.2f}")
        orders.append(
            Order(
                source=source,
                external_ref=f"{int(cid)}-{n}",
                customer_id=pk_of[int(cid)],
                ordered_at=dt.datetime.combine(day.item(), noon, tzinfo=zone),
                total_amount=value,
                paid_amount=value,
                payment_method=PaymentMethod.OTHER,
            )
        )
    Order.objects.bulk_create(orders, batch_size=batch_size)
    customer_order_stats_refresh(customer_ids=list(pk_of.values()))
    return pk_of
