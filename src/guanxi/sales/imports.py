"""The orders kind of import: consecutive rows with the same order number form one order.

Registered in ``SalesConfig.ready()``; the file reading, row checks, checkpoints and resume are the
import machinery's in ``customers.imports``. Each order is validated and recorded as the API records it
(``order_clean``, ``order_ingest``), so an order number already on file is matched, never repeated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from guanxi.customers.imports import ImportKind, ImportRun, Row, format_errors, oversized_cell
from guanxi.customers.imports.cleaning import Rejected
from guanxi.sales.services import order_by_number, order_clean, order_ingest, order_store

#: A row of an order: (line number, the row, {field: text}).
OrderRow = tuple[int, dict[str, str], dict[str, str]]

ORDER_FIELDS = [
    "external_ref",
    "source",
    "ordered_at",
    "customer_id",
    "phone",
    "email",
    "name",
    "store",
    "sku",
    "item",
    "quantity",
    "unit_price",
    "discount_amount",
    "payment_method",
]
ORDER_ALIASES = {
    "订单号": "external_ref",
    "order": "external_ref",
    "order number": "external_ref",
    "external_ref": "external_ref",
    "时间": "ordered_at",
    "下单时间": "ordered_at",
    "date": "ordered_at",
    "ordered_at": "ordered_at",
    "手机": "phone",
    "手机号": "phone",
    "phone": "phone",
    "邮箱": "email",
    "email": "email",
    "姓名": "name",
    "name": "name",
    "客户id": "customer_id",
    "customer_id": "customer_id",
    "门店": "store",
    "store": "store",
    "sku": "sku",
    "商品编码": "sku",
    "商品": "item",
    "item": "item",
    "数量": "quantity",
    "quantity": "quantity",
    "单价": "unit_price",
    "unit_price": "unit_price",
    "price": "unit_price",
    "优惠": "discount_amount",
    "discount": "discount_amount",
    "discount_amount": "discount_amount",
    "支付方式": "payment_method",
    "payment_method": "payment_method",
    "来源": "source",
    "source": "source",
}


def _order_groups(rows: Iterable[Row], mapping: dict[str, str]) -> Iterator[list[OrderRow]]:
    """Consecutive rows with the same order number form one order."""
    current_ref: str | None = None
    group: list[OrderRow] = []
    for line_no, row in rows:
        values = {field: row.get(column, "") for column, field in mapping.items() if field}
        ref = values.get("external_ref", "")
        if group and ref != current_ref:
            yield group
            group = []
        current_ref = ref
        group.append((line_no, row, values))
    if group:
        yield group


def _order_from_group(group: list[OrderRow]) -> dict[str, Any]:
    first = group[0][2]
    data: dict[str, Any] = {
        "external_ref": first.get("external_ref"),
        "source": first.get("source") or "import",
        "ordered_at": first.get("ordered_at") or None,
        "store": first.get("store") or None,
        "payment_method": first.get("payment_method") or "other",
        "discount_amount": first.get("discount_amount") or "0",
        "lines": [
            {
                "sku": v.get("sku") or "",
                "name": v.get("item") or "",
                "quantity": v.get("quantity") or "1",
                "unit_price": v.get("unit_price") or "",
            }
            for _l, _r, v in group
        ],
    }
    if first.get("customer_id"):
        data["customer_id"] = first["customer_id"]
    else:
        data["customer"] = {
            "name": first.get("name") or "",
            "phone": first.get("phone") or "",
            "email": first.get("email") or "",
        }
    return data


def _order_chunks(groups: Iterable[list[OrderRow]], rows: int = 200) -> Iterator[list[list[OrderRow]]]:
    chunk: list[list[OrderRow]] = []
    size = 0
    for group in groups:
        chunk.append(group)
        size += len(group)
        if size >= rows:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def run_orders(run: ImportRun, rows: Iterator[Row]) -> None:
    """The orders kind's part of ``import_run``: orders in chunks of about 200 rows, one transaction each."""
    job, dry_run = run.job, run.dry_run
    seen_refs: set[tuple[str, int | None, str]] = set()
    for chunk in _order_chunks(_order_groups(rows, job.mapping)):
        created = matched = 0
        bad: Rejected = []
        with transaction.atomic() if not dry_run else nullcontext():
            for group in chunk:
                too_long = next(filter(None, (oversized_cell(row) for _l, row, _v in group)), None)
                if too_long is not None:
                    bad.extend((line_no, row, too_long[1]) for line_no, row, _v in group)
                    continue
                data = _order_from_group(group)
                try:
                    if dry_run:
                        cleaned = order_clean(data)
                        store = order_store(job.created_by, data)  # the number's namespace: the order's store
                        key = (cleaned["source"], store.pk if store else None, cleaned["external_ref"])
                        if key in seen_refs or order_by_number(source=key[0], store=store, external_ref=key[2]):
                            matched += 1
                        else:
                            created += 1
                        seen_refs.add(key)
                    elif order_ingest(actor=job.created_by, data=data, channel="import").created:
                        created += 1
                    else:
                        matched += 1
                except ValidationError as exc:
                    reason = format_errors(exc)
                    bad.extend((line_no, row, reason) for line_no, row, _v in group)
            size = sum(len(group) for group in chunk)
            last_line = chunk[-1][-1][0]
            n_rejected = run.report(bad)
            write = run.commit_point(last_line, size, n_rejected)
            if write is not None:
                write(created, matched)
        run.advance(last_line, size, created, matched, n_rejected)


#: What each field is called on the mapping page.
ORDER_LABELS = {
    "external_ref": gettext_lazy("Order number"),
    "source": gettext_lazy("Sales channel"),
    "ordered_at": gettext_lazy("Order time"),
    "customer_id": gettext_lazy("Customer number"),
    "phone": gettext_lazy("Mobile phone"),
    "email": gettext_lazy("E-mail"),
    "name": gettext_lazy("Customer name"),
    "store": gettext_lazy("Store"),
    "sku": gettext_lazy("Product code"),
    "item": gettext_lazy("Product name"),
    "quantity": gettext_lazy("Quantity"),
    "unit_price": gettext_lazy("Unit price"),
    "discount_amount": gettext_lazy("Discount"),
    "payment_method": gettext_lazy("Payment method"),
}

ORDERS = ImportKind(
    name="orders",
    fields=ORDER_FIELDS,
    aliases=ORDER_ALIASES,
    required=["external_ref", "unit_price"],
    run=run_orders,
    labels=ORDER_LABELS,
)
