"""Streaming exports of customers: rows leave as they are read, and every row read is audited."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import audit_record_many
from guanxi.core.spreadsheet import safe_row, xlsx_row
from guanxi.customers.contacts import mask_value
from guanxi.customers.models import ContactPoint, Customer

BATCH = 2000


def export_columns() -> list[tuple[str, str]]:
    return [
        ("id", _("ID")),
        ("name", _("Name")),
        ("kind", _("Kind")),
        ("phone", _("Phone")),
        ("email", _("E-mail")),
        ("gender", _("Gender")),
        ("birthday", _("Birthday")),
        ("region", _("Region")),
        ("occupation", _("Occupation")),
        ("home_store", _("Home store")),
        ("tags", _("Tags")),
        ("is_key_account", _("Key account")),
        ("order_count", _("Orders")),
        ("total_spent", _("Total spent")),
        ("last_order_at", _("Last purchase")),
        ("created_at", _("Created")),
    ]


def export_rows(*, user: Any, queryset, channel: str = "web") -> Iterator[list[Any]]:
    """Keyset-walk the queryset in batches: constant memory, constant queries per batch."""
    full = user.sees_full_contacts
    last_id = None
    base = queryset.select_related("home_store").prefetch_related(None).order_by("pk")
    while True:
        page = base.filter(pk__gt=last_id) if last_id else base
        customers = list(page[:BATCH])
        if not customers:
            return
        ids = [c.pk for c in customers]
        contacts: dict[tuple[int, str], str] = {}
        for cp in ContactPoint.objects.filter(customer_id__in=ids, is_primary=True, kind__in=["phone", "email"]):
            contacts[(cp.customer_id, cp.kind)] = cp.value if full else mask_value(cp.kind, cp.value)
        tags: dict[int, list[str]] = {}
        for cid, name in Customer.tags.through.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "tag__name"
        ):
            tags.setdefault(cid, []).append(name)
        audit_record_many(actor=user, action="export", object_type="customer", customer_ids=ids, channel=channel)
        for c in customers:
            yield [
                c.pk,
                c.name,
                c.kind,
                contacts.get((c.pk, "phone"), ""),
                contacts.get((c.pk, "email"), ""),
                c.gender,
                c.birthday.isoformat() if c.birthday else "",
                c.region,
                c.occupation,
                c.home_store.code if c.home_store else "",
                ";".join(sorted(tags.get(c.pk, []))),
                "1" if c.is_key_account else "0",
                c.order_count,
                str(c.total_spent),
                timezone.localtime(c.last_order_at).isoformat() if c.last_order_at else "",
                timezone.localtime(c.created_at).isoformat(),
            ]
        last_id = ids[-1]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_stream(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(safe_row(header))
    for row in rows:
        yield writer.writerow(safe_row(row))


def write_csv(fileobj: io.TextIOBase, *, user: Any, queryset, channel: str = "cli") -> int:
    writer = csv.writer(fileobj)
    writer.writerow(safe_row(label for _k, label in export_columns()))
    n = 0
    for row in export_rows(user=user, queryset=queryset, channel=channel):
        writer.writerow(safe_row(row))
        n += 1
    return n


def write_xlsx(path: str, *, user: Any, queryset, channel: str = "cli") -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Customers"))
    sheet.append(xlsx_row(sheet, (label for _k, label in export_columns())))
    n = 0
    for row in export_rows(user=user, queryset=queryset, channel=channel):
        sheet.append(xlsx_row(sheet, row))
        n += 1
    workbook.save(path)
    return n


def export_response(*, user: Any, queryset, fmt: str = "csv", channel: str = "web"):
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "xlsx":
        handle = tempfile.NamedTemporaryFile(suffix=".xlsx")  # noqa: SIM115 - closed by FileResponse
        write_xlsx(handle.name, user=user, queryset=queryset, channel=channel)
        handle.seek(0)
        return FileResponse(handle, as_attachment=True, filename=f"customers-{stamp}.xlsx")
    header = [label for _k, label in export_columns()]
    response = StreamingHttpResponse(
        _csv_stream(header, export_rows(user=user, queryset=queryset, channel=channel)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response
