"""The customers kind of import: a row is a customer with contacts, tags and custom attributes.

A dry run checks every row and writes nothing; the real run writes each good row once (a phone or
e-mail already on file, or earlier in the file, matches that customer instead) with its timeline entry
and ``customer.created`` event, batch by batch; on PostgreSQL the worker processes prepare each row's
COPY text (encrypted) and this process sends it.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from guanxi.accounts.models import Store
from guanxi.accounts.permissions import is_store_scoped
from guanxi.core.crypto import blind_index
from guanxi.core.db import integrity_errors, is_postgres, plan_without_parallel_workers
from guanxi.core.db.copy import (
    COPY_NULL,
    bulk_insert,
    bulk_insert_values,
    column_names,
    copy_converter,
    copy_from,
    field_column,
    reserve_ids,
)
from guanxi.core.db.lookups import filter_in
from guanxi.core.events import EventRow, events_record_many
from guanxi.customers.contacts import contact_indexes, normalize_contact
from guanxi.customers.forms import CustomerRowValidator, clean_custom_attributes
from guanxi.customers.imports import cleaning
from guanxi.customers.imports.cleaning import (
    Rejected,
    chunks,
    cleaned_batches,
    format_errors,
    import_workers,
    oversized_cell,
)
from guanxi.customers.imports.kinds import ImportKind, Row
from guanxi.customers.imports.writing import ImportRun
from guanxi.customers.lunar import lunar_md
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
#: The ways of writing a Chinese mobile number that ``phonenumbers.parse`` (region CN) reads as
#: country code 86 plus the eleven digits written: 13800138000, 138 0013 8000, 138-0013-8000,
#: +86 13800138000, +86-138…. Numbers starting 11, 12 or 179 are left to the parser, whose CN
#: carrier-prefix rules can apply to them.
_CN_MOBILE = re.compile(r"(?:\+86[- ]?)?(1(?:[3-68-9]\d|7[0-8]))[- ]?(\d{4})[- ]?(\d{4})")
#: Distinct values remembered per field (a million rows hold few distinct genders, stores, sources
#: and birthdays; names mostly differ and stop being remembered at this bound).
_FIELD_CACHE_LIMIT = 50_000
_MISSING = object()


class CustomerRowCleaner:
    """Turns one CSV row into a customer's profile, attributes, contacts and tags, or refuses it.

    Holds no database connection once built, so import worker processes can use a copy.
    """

    def __init__(
        self, mapping: dict[str, str], default_store: Store | None = None, own_store_ids: set[int] | None = None
    ) -> None:
        self.mapping = {column: field for column, field in mapping.items() if field}
        self.stores = {s.code: s.pk for s in Store.objects.all()}
        #: Store-bound importers put customers only in their own stores (None: any store).
        self.own_store_ids = own_store_ids
        self.definitions = list(CustomAttribute.objects.all())
        self.default_store = default_store
        self.validator = CustomerRowValidator()
        self._outcomes: dict[str, dict[Any, tuple[bool, Any]]] = {name: {} for name in self.validator.form.fields}
        self._fast_phones = settings.GUANXI_DEFAULT_REGION == "CN"

    def _clean_field(self, name: str, field: Any, value: Any) -> tuple[bool, Any]:
        """One field of ``CustomerRowValidator.clean``: (True, cleaned value) or (False, messages)."""
        form = self.validator.form
        form.cleaned_data = cleaned = {}
        try:
            result = cleaned[name] = field.clean(value)
            hook = getattr(form, f"clean_{name}", None)
            if hook is not None:
                result = hook()
            if result not in field.empty_values:
                self.validator.model_fields[name].run_validators(result)
        except ValidationError as exc:
            return False, exc.messages
        return True, result

    def validate(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """What ``CustomerRowValidator.clean(data)`` returns, each field's outcome remembered per value.

        The form's ``clean_<field>`` hooks read only their own field, so a field's outcome depends on
        its value alone (and on today's date, for birthdays); a million rows then run the form field
        machinery once per distinct value instead of once per cell.
        """
        cleaned: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, field in self.validator.form.fields.items():
            value = data.get(name)
            outcomes: dict[Any, tuple[bool, Any]] | None = self._outcomes[name]
            try:
                outcome = outcomes.get(value, _MISSING)  # type: ignore[union-attr]
            except TypeError:  # a list or dict value: not remembered
                outcome, outcomes = _MISSING, None
            if outcome is _MISSING:
                outcome = self._clean_field(name, field, value)
                if (
                    outcomes is not None
                    and len(outcomes) < _FIELD_CACHE_LIMIT
                    and not isinstance(outcome[1], list | dict)
                ):
                    outcomes[value] = outcome
            ok, result = outcome  # type: ignore[misc]
            if ok:
                cleaned[name] = result
            else:
                errors[name] = list(result)
        return cleaned, errors

    def normalize(self, kind: str, raw: str) -> str:
        """``normalize_contact``, with the common ways of writing a Chinese mobile number read directly."""
        if kind == "phone" and self._fast_phones:
            match = _CN_MOBILE.fullmatch(raw)
            if match:
                digits = "".join(match.groups())
                number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
                if phonenumbers.is_valid_number(number):
                    return "+86" + digits
        return normalize_contact(kind, raw)

    def clean(
        self, row: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str, str, str]], list[str]]:
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
            elif self.own_store_ids is not None and self.stores[store_code] not in self.own_store_ids:
                errors["home_store"] = [_("“%(store)s” is not one of your stores.") % {"store": store_code}]
            data["home_store"] = self.stores.get(store_code)
        elif self.default_store:
            data["home_store"] = self.default_store.pk
        form_data, form_errors = self.validate(data)
        for field, msgs in form_errors.items():
            errors.setdefault(field, []).extend(msgs)
        attrs = {field[5:]: value for field, value in values.items() if field.startswith("attr:")}
        cleaned_attrs: dict[str, Any] = {}
        if attrs or self.definitions:
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
                value = self.normalize(kind, raw)
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


def _customer_values(profile: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """{attname: value} of the customer a cleaned row creates (fields left out keep their defaults)."""
    values = {k: v for k, v in profile.items() if k != "home_store"}
    values["home_store_id"] = profile.get("home_store")
    values["custom_attributes"] = attrs
    birthday = values.get("birthday")
    values["birthday_md"] = birthday.month * 100 + birthday.day if birthday else None
    values["birthday_lunar_md"] = lunar_md(birthday) if values.get("birthday_is_lunar") else None
    if values.get("id_number"):
        values["id_number_index"] = blind_index("id_number", values["id_number"])
    return values


# ------------------------------------------------------------------ COPY text rows (PostgreSQL)

CONTACT_COLUMNS = [
    "customer",
    "kind",
    "value",
    "value_index",
    "last4_index",
    "label",
    "is_primary",
    "is_identity",
    "created_at",
]
TIMELINE_COLUMNS = ["customer", "kind", "occurred_at", "summary", "data", "actor", "event_id", "ref_type", "ref_id"]


class CustomerCopyRows:
    """New customers and their contacts as COPY text, built in the workers, sent by the parent.

    Each good row becomes the text of its customer row (every column but the id and the
    ``auto_now`` stamps) and of its contact rows (every column but the customer id and the stamp):
    contact values and ID numbers encrypted with ``core.crypto.encrypt``, JSON dumped with the
    field's encoder, so the table holds exactly what ``bulk_insert`` would have written. The parent
    adds the ids it reserved from the sequence and one timestamp per batch.
    """

    def __init__(self) -> None:
        fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
        stamps = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
        self.fields = [(f, copy_converter(f)) for f in fields if f not in stamps]
        self.supported = all(convert is not None for _f, convert in self.fields)
        self.template = [convert(f.get_default()) if convert else "" for f, convert in self.fields]
        self.slots = {  # used only when every column is ``supported``
            f.attname: (position, convert) for position, (f, convert) in enumerate(self.fields) if convert is not None
        }
        self.customer_columns = [field_column(f) for f in [Customer._meta.pk, *(f for f, _c in self.fields), *stamps]]
        self.stamps = len(stamps)
        self.encrypt_contact = copy_converter(ContactPoint._meta.get_field("value"))

    def customer(self, values: dict[str, Any]) -> str:
        """The customer row's text from {attname: value}; columns not given keep their default."""
        parts = self.template.copy()
        slots = self.slots
        for name, value in values.items():
            position, convert = slots[name]
            parts[position] = convert(value)
        return "\t".join(parts)

    def contacts(self, contacts: list[tuple[str, str, str, str]]) -> list[str]:
        """kind, value, value_index, last4_index, label, is_primary, is_identity: the first of each kind is
        primary, phones and e-mails claim the identity (``_is_identity``)."""
        lines, kinds = [], set()
        for kind, value, value_index, last4 in contacts:
            primary = "f" if kind in kinds else "t"
            kinds.add(kind)
            identity = "t" if _is_identity(kind, value_index) else "f"
            lines.append(f"{kind}\t{self.encrypt_contact(value)}\t{value_index}\t{last4}\t\t{primary}\t{identity}")  # type: ignore[misc]
        return lines


def _is_identity(kind: str, value_index: str) -> bool:
    """A new customer's phone and e-mail claim its identity, as ``customer_create`` does (contact_one_identity)."""
    return kind in ("phone", "email") and bool(value_index)


# ------------------------------------------------------------------ cleaning batches, in workers or not

#: A cleaned row: (line number, phone/e-mail blind indexes, tags, home store id, what to write), where
#: what to write is (customer text, contact texts) for COPY or (profile, attributes, contacts).
GoodRow = tuple[int, tuple[str, ...], list[str], int | None, tuple[Any, ...]]


def _clean_customer_batch(
    rows: list[Row], cleaner: CustomerRowCleaner, copy_rows: CustomerCopyRows | None
) -> tuple[list[GoodRow], Rejected]:
    good: list[GoodRow] = []
    rejected: Rejected = []
    for line_no, row in rows:
        too_long = oversized_cell(row)
        if too_long is not None:
            rejected.append((line_no, *too_long))
            continue
        try:
            profile, attrs, contacts, tags = cleaner.clean(row)
        except ValidationError as exc:
            rejected.append((line_no, row, format_errors(exc)))
            continue
        keys = tuple(idx for kind, _v, idx, _l in contacts if idx and kind in ("phone", "email"))
        if copy_rows is not None:
            payload: tuple[Any, ...] = (
                copy_rows.customer(_customer_values(profile, attrs)),
                copy_rows.contacts(contacts),
            )
        else:
            payload = (profile, attrs, contacts)
        good.append((line_no, keys, tags, profile.get("home_store"), payload))
    return good, rejected


def _looked_up_ahead(
    batches: Iterable[tuple[int, list[GoodRow], Rejected]],
) -> Iterator[tuple[int, list[GoodRow], Rejected, set[str] | None]]:
    """The batches with their contacts on file, the next batch's looked up while the caller writes this one.

    The look-up runs in a thread on its own database connection, so it needs committed data: only
    outside a transaction. It may run before the previous batch is written; that batch's rows are
    in the caller's ``seen`` by then, so a row repeating one of them is still matched.
    """
    threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-lookup")
    try:
        # With a thousand-odd blind indexes in the ``= ANY`` array PostgreSQL would plan a parallel scan,
        # on the cores the import's cleaning and writing need.
        threads.submit(plan_without_parallel_workers).result()
        previous: tuple[int, list[GoodRow], Rejected, Future[set[str]]] | None = None
        for size, good, rejected in batches:
            future = threads.submit(_on_file, _batch_keys(good))
            if previous is not None:
                yield previous[0], previous[1], previous[2], previous[3].result()
            previous = (size, good, rejected, future)
        if previous is not None:
            yield previous[0], previous[1], previous[2], previous[3].result()
    finally:
        threads.submit(connections.close_all).result()  # the thread's own connection
        threads.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------ dedup and writes, in the importing process


def _batch_keys(good: list[GoodRow]) -> set[str]:
    return {k for _line, keys, *_rest in good for k in keys}


def _on_file(indexes: set[str]) -> set[str]:
    """Those of these phone and e-mail blind indexes that belong to a customer on file (not merged away)."""
    if not indexes:
        return set()
    contacts = ContactPoint.objects.filter(kind__in=["phone", "email"], customer__merged_into__isnull=True)
    contacts = filter_in(contacts, "value_index", indexes)  # one array parameter on PostgreSQL
    return set(contacts.values_list("value_index", flat=True))


#: How often a batch is planned and written again when a customer created meanwhile by someone else
#: (the API, the counter, another import) holds one of its phones or e-mails (contact_one_identity).
CONFLICT_RETRIES = 5


def _plan_batch(
    good: list[GoodRow], existing: set[str], seen: dict[str, int]
) -> tuple[list[GoodRow], int, dict[str, int]]:
    """(rows to create, rows matched, their keys for ``seen``): a row matches a customer on file or an earlier row."""
    to_create: list[GoodRow] = []
    claimed: dict[str, int] = {}
    matched = 0
    for item in good:
        keys = item[1]
        if any(k in existing or k in seen or k in claimed for k in keys):
            matched += 1
            continue
        for k in keys:
            claimed[k] = item[0]
        to_create.append(item)
    return to_create, matched, claimed


def _process_customer_batch(
    good: list[GoodRow],
    *,
    job: ImportJob,
    dry_run: bool,
    seen: dict[str, int],
    copy_rows: CustomerCopyRows | None = None,
    on_file: set[str] | None = None,
    known_tags: dict[str, int] | None = None,
    checkpoint: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Match the batch's cleaned rows against customers on file and earlier rows, write the new ones.

    Returns (created, matched). A row matches when one of its phone or e-mail blind indexes belongs to
    a customer on file or to an earlier row of the file; the batch is written in one transaction,
    with ``checkpoint(created, matched)`` (the job's progress) in it. When a customer created meanwhile
    elsewhere claims one of the batch's phones or e-mails, the insert fails on contact_one_identity:
    the batch is rolled back, looked up again and written with that row matched, never dropped.
    ``on_file`` is ``_on_file`` of the batch's keys when the caller looked them up already;
    ``known_tags`` carries the tag ids found by earlier batches.
    """
    known_tags = {} if known_tags is None else known_tags
    existing = _on_file(_batch_keys(good)) if on_file is None else on_file
    conflicts = integrity_errors(connection)
    for attempt in range(CONFLICT_RETRIES + 1):
        to_create, matched, claimed = _plan_batch(good, existing, seen)
        if dry_run:
            seen.update(claimed)
            return len(to_create), matched
        tags_before = dict(known_tags)
        try:
            with transaction.atomic():
                if to_create:
                    _write_customer_batch(to_create, job=job, copy_rows=copy_rows, known_tags=known_tags)
                if checkpoint is not None:
                    checkpoint(len(to_create), matched)
        except conflicts:
            if attempt == CONFLICT_RETRIES:
                raise
            known_tags.clear()  # tags the rolled-back batch created are gone again
            known_tags.update(tags_before)
            existing = _on_file(_batch_keys(good))  # now holds what the other writer committed
            continue
        seen.update(claimed)
        return len(to_create), matched
    raise AssertionError("unreachable")  # pragma: no cover


def _write_customer_batch(
    to_create: list[GoodRow], *, job: ImportJob, copy_rows: CustomerCopyRows | None, known_tags: dict[str, int]
) -> None:
    """Write the batch's new customers, then their ``customer.created`` events (one dispatch per batch)."""
    if copy_rows is not None:
        ids = _write_customers_copy(to_create, job=job, copy_rows=copy_rows, known_tags=known_tags)
    else:
        ids = _write_customers_orm(to_create, job=job, known_tags=known_tags)
    payloads: dict[int | None, dict[str, Any]] = {}  # one payload per home store: each is dumped once
    events = []
    for pk, (_line, _keys, _tags, store_id, _what) in zip(ids, to_create, strict=True):
        payload = payloads.get(store_id)
        if payload is None:
            payload = payloads[store_id] = _event_payload(job, store_id)
        events.append(
            EventRow(
                name="customer.created",
                aggregate="customer",
                aggregate_id=pk,
                customer_id=pk,
                actor_id=job.created_by_id,
                payload=payload,
            )
        )
    events_record_many(events)


def _tag_ids(to_create: list[GoodRow], known: dict[str, int]) -> dict[str, int]:
    """{tag name: id} for the batch's tags, creating missing ones; ``known`` keeps them for later batches."""
    names = {t for item in to_create for t in item[2]} - set(known)
    if names:
        found = {t.name: t.pk for t in Tag.objects.filter(name__in=names)}
        for name in names - set(found):
            found[name] = Tag.objects.get_or_create(name=name[:50])[0].pk
        known.update(found)
    return known


def _event_payload(job: ImportJob, home_store_id: int | None) -> dict[str, Any]:
    return {"channel": "import", "import_job": job.pk, "home_store_id": home_store_id}


def _write_customers_copy(
    to_create: list[GoodRow], *, job: ImportJob, copy_rows: CustomerCopyRows, known_tags: dict[str, int]
) -> list[int]:
    """PostgreSQL: reserve the ids, then COPY the prepared text of customers, contacts, tags and timeline."""
    now = timezone.now().isoformat()
    actor = COPY_NULL if job.created_by_id is None else str(job.created_by_id)
    tags = _tag_ids(to_create, known_tags)
    stamps = f"\t{now}" * copy_rows.stamps
    timeline = "\t".join(
        ["customer.created", now, "created via import", json.dumps({"channel": "import"}), actor, COPY_NULL, "", ""]
    )
    with connection.cursor() as cursor:
        ids = reserve_ids(cursor, Customer, len(to_create))
        customers: list[str] = []
        contacts: list[str] = []
        tag_rows: list[str] = []
        timeline_rows: list[str] = []
        for pk, (_line, _keys, tag_list, _store, (customer, contact_lines)) in zip(ids, to_create, strict=True):
            customers.append(f"{pk}\t{customer}{stamps}\n")
            contacts.extend(f"{pk}\t{line}\t{now}\n" for line in contact_lines)
            tag_rows.extend(f"{pk}\t{tag}\n" for tag in {tags[t] for t in tag_list})
            timeline_rows.append(f"{pk}\t{timeline}\n")
        through = Customer.tags.through
        copy_from(cursor, Customer._meta.db_table, copy_rows.customer_columns, "".join(customers))
        copy_from(cursor, ContactPoint._meta.db_table, column_names(ContactPoint, CONTACT_COLUMNS), "".join(contacts))
        copy_from(cursor, through._meta.db_table, column_names(through, ["customer", "tag"]), "".join(tag_rows))
        copy_from(
            cursor, TimelineEntry._meta.db_table, column_names(TimelineEntry, TIMELINE_COLUMNS), "".join(timeline_rows)
        )
    return ids


def _write_customers_orm(to_create: list[GoodRow], *, job: ImportJob, known_tags: dict[str, int]) -> list[int]:
    """Any database: model instances through ``bulk_insert`` and value rows through ``bulk_insert_values``."""
    now = timezone.now()
    customers = [Customer(**_customer_values(profile, attrs)) for *_rest, (profile, attrs, _c) in to_create]
    bulk_insert(Customer, customers)
    tags = _tag_ids(to_create, known_tags)
    contact_rows: list[tuple[Any, ...]] = []
    tag_rows: list[tuple[int, int]] = []
    timeline_rows: list[tuple[Any, ...]] = []
    actor_id = job.created_by_id
    for customer, (_line, _keys, tag_list, _store, (_p, _a, contacts)) in zip(customers, to_create, strict=True):
        primary_done = set()
        for kind, value, value_index, last4 in contacts:
            contact_rows.append(
                (
                    customer.pk,
                    kind,
                    value,
                    value_index,
                    last4,
                    "",
                    kind not in primary_done,
                    _is_identity(kind, value_index),
                    now,
                )
            )
            primary_done.add(kind)
        tag_rows.extend((customer.pk, tag) for tag in {tags[t] for t in tag_list})
        timeline_rows.append(
            (customer.pk, "customer.created", now, "created via import", {"channel": "import"}, actor_id, None, "", "")
        )
    bulk_insert_values(ContactPoint, CONTACT_COLUMNS, contact_rows)
    bulk_insert_values(Customer.tags.through, ["customer", "tag"], tag_rows)
    bulk_insert_values(TimelineEntry, TIMELINE_COLUMNS, timeline_rows)
    return [c.pk for c in customers]


# ------------------------------------------------------------------ the customers kind


def run_customers(run: ImportRun, rows: Iterator[Row]) -> None:
    """The customers kind's part of ``import_run``: clean in batches (in worker processes for big files),
    then match and write each batch in file order."""
    job, dry_run = run.job, run.dry_run
    importer = job.created_by
    own = set(importer.stores.values_list("pk", flat=True)) if importer and is_store_scoped(importer) else None
    cleaner = CustomerRowCleaner(job.mapping, default_store=job.store, own_store_ids=own)
    copy_rows = None
    if not dry_run and is_postgres(connection):
        copy_rows = CustomerCopyRows()
        copy_rows = copy_rows if copy_rows.supported else None
    seen: dict[str, int] = {}
    known_tags: dict[str, int] = {}
    last_lines: deque[int] = deque()

    def batches() -> Iterator[list[Row]]:
        for batch in chunks(rows, cleaning.BATCH):
            last_lines.append(batch[-1][0])
            yield batch

    cleaned = cleaned_batches(
        batches(),
        partial(_clean_customer_batch, cleaner=cleaner, copy_rows=copy_rows),
        import_workers(job.total_rows) if run.workers is None else run.workers,
    )
    looked_up: Iterable[tuple[int, list[GoodRow], Rejected, set[str] | None]]
    if is_postgres(connection) and not connection.in_atomic_block:
        looked_up = _looked_up_ahead(cleaned)
    else:
        looked_up = ((size, good, rejected, None) for size, good, rejected in cleaned)
    for size, good, rejected, on_file in looked_up:
        last_line = last_lines.popleft()
        n_rejected = run.report(rejected)
        created, matched = _process_customer_batch(
            good,
            job=job,
            dry_run=dry_run,
            seen=seen,
            copy_rows=copy_rows,
            on_file=on_file,
            known_tags=known_tags,
            checkpoint=run.commit_point(last_line, size, n_rejected),
        )
        run.advance(last_line, size, created, matched, n_rejected)


#: What each field is called on the mapping page.
LABELS = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Mobile phone"),
    "email": gettext_lazy("E-mail"),
    "wechat": gettext_lazy("WeChat ID"),
    "address": gettext_lazy("Address"),
    "gender": gettext_lazy("Gender"),
    "birthday": gettext_lazy("Birthday"),
    "region": gettext_lazy("Region"),
    "occupation": gettext_lazy("Occupation"),
    "income_band": gettext_lazy("Income"),
    "education": gettext_lazy("Education"),
    "family_size": gettext_lazy("Family size"),
    "organisation_name": gettext_lazy("Organisation"),
    "id_number": gettext_lazy("ID number"),
    "home_store": gettext_lazy("Store"),
    "tags": gettext_lazy("Tags"),
    "is_key_account": gettext_lazy("Key account"),
    "source": gettext_lazy("Source"),
    "kind": pgettext_lazy("customer", "Person or organisation"),
}

CUSTOMERS = ImportKind(
    name="customers",
    fields=CUSTOMER_FIELDS,
    aliases=ALIASES,
    required=["name"],
    run=run_customers,
    custom_attributes=True,
    labels=LABELS,
)
