"""Streaming imports of customers and orders from CSV or XLSX.

The file is read row by row and written in batches, so a million rows need no more memory than a
thousand. A dry run checks every row and writes nothing; the real run writes each good row once
(a phone or e-mail already on file matches the existing customer) and reports every rejected row
with its reason in a CSV the user can download, fix and import again.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.models import Store
from guanxi.core.audit import audit_record
from guanxi.core.db.copy import bulk_insert, bulk_insert_values
from guanxi.core.events import subscribers_for
from guanxi.core.models import Event
from guanxi.customers.contacts import contact_indexes, normalize_contact
from guanxi.customers.forms import CustomerRowValidator, clean_custom_attributes
from guanxi.customers.models import ContactPoint, CustomAttribute, Customer, ImportJob, Tag, TimelineEntry

CUSTOMER_FIELDS = [
    "name",
    "phone",
    "email",
    "wechat",
    "address",
    "gender",
    "birthday",
    "region",
    "occupation",
    "income_band",
    "education",
    "family_size",
    "organisation_name",
    "id_number",
    "home_store",
    "tags",
    "is_key_account",
    "source",
    "kind",
]
ALIASES = {
    "姓名": "name",
    "名字": "name",
    "客户名称": "name",
    "name": "name",
    "手机": "phone",
    "手机号": "phone",
    "电话": "phone",
    "mobile": "phone",
    "phone": "phone",
    "邮箱": "email",
    "电子邮件": "email",
    "e-mail": "email",
    "email": "email",
    "微信": "wechat",
    "wechat": "wechat",
    "地址": "address",
    "address": "address",
    "性别": "gender",
    "gender": "gender",
    "sex": "gender",
    "生日": "birthday",
    "出生日期": "birthday",
    "birthday": "birthday",
    "date of birth": "birthday",
    "地区": "region",
    "region": "region",
    "city": "region",
    "职业": "occupation",
    "occupation": "occupation",
    "门店": "home_store",
    "store": "home_store",
    "home store": "home_store",
    "home_store": "home_store",
    "标签": "tags",
    "tags": "tags",
    "大客户": "is_key_account",
    "key account": "is_key_account",
    "来源": "source",
    "source": "source",
    "身份证": "id_number",
    "身份证号": "id_number",
    "id number": "id_number",
    "家庭人数": "family_size",
    "family size": "family_size",
    "单位": "organisation_name",
    "company": "organisation_name",
    "学历": "education",
    "education": "education",
    "收入": "income_band",
}
GENDERS = {
    "男": "male",
    "女": "female",
    "m": "male",
    "f": "female",
    "male": "male",
    "female": "female",
    "其他": "other",
    "other": "other",
    "": "",
}
BATCH = 1000


def import_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open_csv(path: str):
    for encoding in ("utf-8-sig", "gb18030"):
        handle = open(path, newline="", encoding=encoding)  # noqa: SIM115 - the caller's generator closes it
        try:
            handle.read(65536)
            handle.seek(0)
            return handle
        except UnicodeDecodeError:
            handle.close()
    raise ValidationError({"file": [_("The file is neither UTF-8 nor GB18030 text.")]})


def read_rows(path: str) -> Iterator[dict[str, str]]:
    """Yield each data row as {header: text}, streaming both CSV and XLSX."""
    if str(path).lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            header = [str(h or "").strip() for h in next(rows, [])]
            for values in rows:
                if values is None or all(v in (None, "") for v in values):
                    continue
                yield {h: _cell(v) for h, v in zip(header, values, strict=False) if h}
        finally:
            workbook.close()
        return
    with _open_csv(path) as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            yield {h: v.strip() for h, v in zip(header, values, strict=False) if h}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_header(path: str) -> list[str]:
    if str(path).lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            first = next(workbook.worksheets[0].iter_rows(values_only=True), [])
            return [str(h or "").strip() for h in first if h not in (None, "")]
        finally:
            workbook.close()
    with _open_csv(path) as handle:
        return [h.strip() for h in next(csv.reader(handle), [])]


def count_rows(path: str) -> int:
    if str(path).lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            return max((workbook.worksheets[0].max_row or 1) - 1, 0)
        finally:
            workbook.close()
    with _open_csv(path) as handle:
        return max(sum(1 for _line in csv.reader(handle)) - 1, 0)


def auto_mapping(header: list[str], target: str = ImportJob.Target.CUSTOMERS) -> dict[str, str]:
    """{column: field} guessed from common Chinese and English headings."""
    fields = set(CUSTOMER_FIELDS) if target == ImportJob.Target.CUSTOMERS else set(ORDER_FIELDS)
    attributes = set(CustomAttribute.objects.values_list("key", flat=True))
    mapping = {}
    for column in header:
        key = column.strip().lower()
        field = ALIASES.get(key, key) if target == ImportJob.Target.CUSTOMERS else ORDER_ALIASES.get(key, key)
        if field in fields:
            mapping[column] = field
        elif target == ImportJob.Target.CUSTOMERS and key in attributes:
            mapping[column] = f"attr:{key}"
    return mapping


def validate_mapping(mapping: dict[str, str], target: str) -> None:
    allowed = set(CUSTOMER_FIELDS if target == ImportJob.Target.CUSTOMERS else ORDER_FIELDS)
    attributes = set(CustomAttribute.objects.values_list("key", flat=True))
    errors = []
    for column, field in mapping.items():
        if field and field not in allowed and not (field.startswith("attr:") and field[5:] in attributes):
            errors.append(
                _("Column “%(column)s” is mapped to an unknown field “%(field)s”.") % {"column": column, "field": field}
            )
    needed = ["name"] if target == ImportJob.Target.CUSTOMERS else ["external_ref", "unit_price"]
    for field in needed:
        if field not in mapping.values():
            errors.append(_("Map a column to “%(field)s”: it is required.") % {"field": field})
    if errors:
        raise ValidationError({"mapping": errors})


class _Batch:
    """What one batch of rows produced: good rows to write, rejects with reasons."""

    def __init__(self) -> None:
        self.good: list[tuple[int, dict[str, Any], dict[str, Any], list[tuple[str, str, str, str]], list[str]]] = []
        self.rejected: list[tuple[int, dict[str, str], str]] = []


def _format_errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


class CustomerRowCleaner:
    def __init__(self, mapping: dict[str, str], default_store: Store | None = None) -> None:
        self.mapping = {column: field for column, field in mapping.items() if field}
        self.stores = {s.code: s.pk for s in Store.objects.all()}
        self.definitions = list(CustomAttribute.objects.all())
        self.default_store = default_store
        self.validator = CustomerRowValidator()

    def clean(self, row: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], list, list[str]]:
        values = {field: row.get(column, "") for column, field in self.mapping.items()}
        errors: dict[str, list[str]] = {}
        data: dict[str, Any] = {
            "kind": values.get("kind") or Customer.Kind.PERSON,
            "name": values.get("name", ""),
            "gender": GENDERS.get((values.get("gender") or "").strip().lower(), values.get("gender")),
            "birthday": values.get("birthday") or None,
            "region": values.get("region", ""),
            "occupation": values.get("occupation", ""),
            "income_band": values.get("income_band", ""),
            "education": values.get("education", ""),
            "family_size": values.get("family_size") or None,
            "organisation_name": values.get("organisation_name", ""),
            "id_number": values.get("id_number", ""),
            "source": values.get("source") or "import",
            "is_key_account": (values.get("is_key_account") or "").strip().lower() in ("1", "yes", "true", "是", "y"),
            "interests": [],
            "preferences": {},
        }
        store_code = (values.get("home_store") or "").strip()
        if store_code:
            if store_code not in self.stores:
                errors["home_store"] = [_("There is no store “%(store)s”.") % {"store": store_code}]
            data["home_store"] = self.stores.get(store_code)
        elif self.default_store:
            data["home_store"] = self.default_store.pk
        form_data, form_errors = self.validator.clean(data)
        for field, msgs in form_errors.items():
            errors.setdefault(field, []).extend(msgs)
        attrs = {field[5:]: value for field, value in values.items() if field.startswith("attr:")}
        cleaned_attrs: dict[str, Any] = {}
        try:
            cleaned_attrs = clean_custom_attributes(attrs, definitions=self.definitions)
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                errors.setdefault(field, []).extend(msgs)
        contacts = []
        for kind in ("phone", "email", "wechat", "address"):
            raw = (values.get(kind) or "").strip()
            if not raw:
                continue
            try:
                value = normalize_contact(kind, raw)
            except ValidationError as exc:
                errors.setdefault(kind, []).extend(exc.messages)
                continue
            value_index, last4 = contact_indexes(kind, value)
            contacts.append((kind, value, value_index, last4))
        if errors:
            raise ValidationError(errors)
        profile = dict(form_data)
        profile["home_store"] = data.get("home_store")
        tags = [
            t.strip() for t in (values.get("tags") or "").replace("；", ";").replace(",", ";").split(";") if t.strip()
        ]
        return profile, cleaned_attrs, contacts, tags


def _process_customer_batch(
    rows: list[tuple[int, dict[str, str]]],
    cleaner: CustomerRowCleaner,
    *,
    job: ImportJob,
    dry_run: bool,
    seen: dict[str, int],
) -> tuple[int, int, list[tuple[int, dict[str, str], str]]]:
    batch = _Batch()
    for line_no, row in rows:
        try:
            profile, attrs, contacts, tags = cleaner.clean(row)
        except ValidationError as exc:
            batch.rejected.append((line_no, row, _format_errors(exc)))
            continue
        batch.good.append((line_no, profile, attrs, contacts, tags))
    indexes = {idx for *_rest, contacts, _t in batch.good for _k, _v, idx, _l in contacts if idx}
    existing = (
        dict(
            ContactPoint.objects.filter(
                value_index__in=indexes, kind__in=["phone", "email"], customer__merged_into__isnull=True
            )
            .order_by("customer_id")
            .values_list("value_index", "customer_id")
        )
        if indexes
        else {}
    )
    to_create, matched = [], 0
    for item in batch.good:
        keys = [idx for kind, _v, idx, _l in item[3] if idx and kind in ("phone", "email")]
        if any(k in existing or k in seen for k in keys):
            matched += 1
            continue
        for k in keys:
            seen[k] = item[0]
        to_create.append(item)
    if dry_run or not to_create:
        return len(to_create), matched, batch.rejected
    with transaction.atomic():
        now = timezone.now()
        customers = []
        for _line, profile, attrs, _contacts, _tags in to_create:
            customer = Customer(
                **{k: v for k, v in profile.items() if k != "home_store"},
                home_store_id=profile.get("home_store"),
                custom_attributes=attrs,
            )
            b = customer.birthday
            customer.birthday_md = b.month * 100 + b.day if b else None
            if customer.id_number:
                from guanxi.core.crypto import blind_index

                customer.id_number_index = blind_index("id_number", customer.id_number)
            customers.append(customer)
        bulk_insert(Customer, customers)
        contact_rows, tag_rows, timeline_rows, event_rows = [], [], [], []
        tag_names = {t for item in to_create for t in item[4]}
        tags = {t.name: t.pk for t in Tag.objects.filter(name__in=tag_names)}
        for name in tag_names - set(tags):
            tags[name] = Tag.objects.get_or_create(name=name[:50])[0].pk
        actor_id = job.created_by_id
        for customer, (_line, _p, _a, contacts, tag_list) in zip(customers, to_create, strict=True):
            primary_done = set()
            for kind, value, value_index, last4 in contacts:
                contact_rows.append((customer.pk, kind, value, value_index, last4, "", kind not in primary_done, now))
                primary_done.add(kind)
            tag_rows.extend((customer.pk, tags[t[:50]]) for t in set(tag_list))
            timeline_rows.append(
                (
                    customer.pk,
                    "customer.created",
                    now,
                    "created via import",
                    {"channel": "import"},
                    actor_id,
                    None,
                    "",
                    "",
                )
            )
            event_rows.append(
                (
                    "customer.created",
                    "customer",
                    str(customer.pk),
                    customer.pk,
                    actor_id,
                    {"channel": "import", "import_job": job.pk, "home_store_id": customer.home_store_id},
                    now,
                    None,
                )
            )
        bulk_insert_values(
            ContactPoint,
            ["customer", "kind", "value", "value_index", "last4_index", "label", "is_primary", "created_at"],
            contact_rows,
        )
        bulk_insert_values(Customer.tags.through, ["customer", "tag"], tag_rows)
        bulk_insert_values(
            TimelineEntry,
            ["customer", "kind", "occurred_at", "summary", "data", "actor", "event_id", "ref_type", "ref_id"],
            timeline_rows,
        )
        bulk_insert_values(
            Event,
            ["name", "aggregate", "aggregate_id", "customer_id", "actor_id", "payload", "created_at", "dispatched_at"],
            event_rows,
        )
        if subscribers_for("customer.created"):
            from guanxi.core.tasks import dispatch_event

            ids = list(
                Event.objects.filter(name="customer.created", customer_id__in=[c.pk for c in customers]).values_list(
                    "id", flat=True
                )
            )
            transaction.on_commit(lambda: [dispatch_event.delay(i) for i in ids])
    return len(to_create), matched, batch.rejected


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


def _order_groups(rows: Iterator[tuple[int, dict[str, str]]], mapping: dict[str, str]):
    """Consecutive rows with the same order number form one order."""
    current_ref, group = None, []
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


def _order_from_group(group) -> dict[str, Any]:
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


def import_run(job: ImportJob, *, progress: Callable[[int], None] | None = None) -> ImportJob:
    """Check (dry run) or perform an import job; safe to call again on a finished dry run."""
    from guanxi.sales.services import order_clean, order_ingest

    dry_run = job.dry_run
    job.status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.RUNNING
    job.total_rows = count_rows(job.file)
    job.processed_rows = job.created_count = job.matched_count = job.rejected_count = 0
    job.error = ""
    job.save()
    reject_path = Path(job.file).with_suffix(".rejected.csv")
    header = read_header(job.file)
    rows = ((i + 2, row) for i, row in enumerate(read_rows(job.file)))
    try:
        with open(reject_path, "w", newline="", encoding="utf-8-sig") as reject_handle:
            rejects = csv.writer(reject_handle)
            rejects.writerow([_("line"), *header, _("reason")])

            def report(items):
                for line_no, row, reason in items:
                    rejects.writerow([line_no, *[row.get(h, "") for h in header], reason])
                job.rejected_count += len(items)

            def tick(n: int) -> None:
                job.processed_rows += n
                ImportJob.objects.filter(pk=job.pk).update(
                    processed_rows=job.processed_rows,
                    created_count=job.created_count,
                    matched_count=job.matched_count,
                    rejected_count=job.rejected_count,
                )
                if progress:
                    progress(n)

            if job.target == ImportJob.Target.CUSTOMERS:
                cleaner = CustomerRowCleaner(job.mapping, default_store=job.store)
                seen: dict[str, int] = {}
                chunk: list[tuple[int, dict[str, str]]] = []
                for item in rows:
                    chunk.append(item)
                    if len(chunk) >= BATCH:
                        created, matched, rejected = _process_customer_batch(
                            chunk, cleaner, job=job, dry_run=dry_run, seen=seen
                        )
                        job.created_count += created
                        job.matched_count += matched
                        report(rejected)
                        tick(len(chunk))
                        chunk = []
                if chunk:
                    created, matched, rejected = _process_customer_batch(
                        chunk, cleaner, job=job, dry_run=dry_run, seen=seen
                    )
                    job.created_count += created
                    job.matched_count += matched
                    report(rejected)
                    tick(len(chunk))
            else:
                pending = 0
                seen_refs: set[tuple[str, str]] = set()
                for group in _order_groups(rows, job.mapping):
                    data = _order_from_group(group)
                    try:
                        if dry_run:
                            order_clean(data)
                            key = (str(data["source"]), str(data["external_ref"]))
                            from guanxi.sales.models import Order

                            if key in seen_refs or Order.objects.filter(source=key[0], external_ref=key[1]).exists():
                                job.matched_count += 1
                            else:
                                job.created_count += 1
                            seen_refs.add(key)
                        else:
                            result = order_ingest(actor=job.created_by, data=data, channel="import")
                            if result.created:
                                job.created_count += 1
                            else:
                                job.matched_count += 1
                    except ValidationError as exc:
                        reason = _format_errors(exc)
                        report([(line_no, row, reason) for line_no, row, _v in group])
                    pending += len(group)
                    if pending >= 200:
                        tick(pending)
                        pending = 0
                if pending:
                    tick(pending)
    except Exception as exc:
        job.status = ImportJob.Status.FAILED
        job.error = str(exc)[:2000]
        job.finished_at = timezone.now()
        job.save()
        raise
    job.rejected_file = str(reject_path)
    job.status = ImportJob.Status.VALIDATED if dry_run else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save()
    if not dry_run:
        audit_record(
            actor=job.created_by,
            action="import",
            object_type=f"{job.target}_import",
            object_id=job.pk,
            channel="import",
            changes={"created": job.created_count, "matched": job.matched_count, "rejected": job.rejected_count},
        )
    return job


def import_job_create(
    *,
    actor: Any,
    path: str,
    target: str = ImportJob.Target.CUSTOMERS,
    mapping: dict[str, str] | None = None,
    dry_run: bool = True,
    store: Store | None = None,
    original_name: str = "",
) -> ImportJob:
    if not os.path.exists(path):
        raise ValidationError({"file": [_("The file %(path)s does not exist.") % {"path": path}]})
    if not str(path).lower().endswith((".csv", ".xlsx", ".xlsm", ".txt")):
        raise ValidationError({"file": [_("Upload a CSV or XLSX file.")]})
    header = read_header(path)
    mapping = mapping if mapping is not None else auto_mapping(header, target)
    missing = [c for c in mapping if c not in header]
    if missing:
        raise ValidationError({"mapping": [_("The file has no column “%(column)s”.") % {"column": c} for c in missing]})
    validate_mapping(mapping, target)
    return ImportJob.objects.create(
        target=target,
        file=str(path),
        original_name=original_name or Path(path).name,
        mapping=mapping,
        dry_run=dry_run,
        store=store,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
