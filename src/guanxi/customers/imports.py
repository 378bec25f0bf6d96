"""Streaming imports of customers and orders from CSV or XLSX.

The file is read row by row and written in batches, so a million rows need no more memory than a
thousand. A dry run checks every row and writes nothing; the real run writes each good row once
(a phone or e-mail already on file matches the existing customer) and reports every rejected row
with its reason in a CSV the user can download, fix and import again.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.models import Store
from guanxi.core.audit import audit_record
from guanxi.core.crypto import EncryptedTextField, blind_index, encrypt
from guanxi.core.db import is_postgres
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


class ImportFileError(ValidationError):
    """The file itself cannot be read: its message names the problem and, where there is one, the line."""

    def __init__(self, message: str) -> None:
        super().__init__({"file": [message]})


def file_sha256(path: str) -> str:
    """The file's checksum: the same file imported again is recognised by it (``guanxi import``)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def _missing(path: str) -> ImportFileError:
    return ImportFileError(
        _("The file %(name)s is no longer on the server; upload it again.") % {"name": Path(path).name}
    )


def _text_encoding(path: str) -> str:
    """The encoding of a CSV file, from its byte-order mark or its first 64 kB; binary files are refused.

    Excel saves "CSV" as UTF-8 (with a BOM), as GBK/GB18030 on Chinese Windows, and "Unicode text"
    as UTF-16 (tab-separated): all are read. Anything holding NUL bytes that is not UTF-16 is binary.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except FileNotFoundError:
        raise _missing(path) from None
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(b"PK\x03\x04"):
        raise ImportFileError(_("This is an Excel workbook or another zip file, not CSV text: save it as .xlsx."))
    if b"\x00" in head:
        half = max(len(head) // 2, 1)
        if head[1::2].count(0) > half * 0.6 and head[0::2].count(0) == 0:
            return "utf-16-le"
        if head[0::2].count(0) > half * 0.6 and head[1::2].count(0) == 0:
            return "utf-16-be"
        raise ImportFileError(_("This is not a text file: upload a CSV or XLSX file."))
    for encoding in ("utf-8", "gb18030"):
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < 65536)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for char in text if char < " " and char not in "\t\r\n" or char == "\x7f")
        if controls > len(text) / 100:
            raise ImportFileError(_("This is not a text file: upload a CSV or XLSX file."))
        return encoding
    raise ImportFileError(_("The file is neither UTF-8 nor GB18030 text."))


@contextmanager
def _csv_reader(path: str) -> Iterator[Iterator[list[str]]]:
    """A csv reader over the file in its own encoding and delimiter; unreadable lines raise ``ImportFileError``.

    A field may be as long as ``GUANXI_IMPORT_MAX_FIELD`` characters; a longer one (an absurd line,
    or a stray quote swallowing the rest of the file) stops the import with the line it starts on.
    """
    encoding = _text_encoding(path)
    limit = settings.GUANXI_IMPORT_MAX_FIELD
    csv.field_size_limit(limit)
    with open(path, newline="", encoding=encoding) as handle:
        first = handle.readline(65536)
        handle.seek(0)
        delimiter = "\t" if "\t" in first and "," not in first else ","
        reader = csv.reader(handle, delimiter=delimiter)

        def rows() -> Iterator[list[str]]:
            while True:
                line = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if "field larger than field limit" in str(exc):
                        message = _(
                            "Line %(line)s holds a field longer than %(limit)s characters: the file cannot be read."
                        ) % {"line": line, "limit": f"{limit:,}"}
                    else:
                        message = _("Line %(line)s cannot be read: %(reason)s") % {"line": line, "reason": exc}
                    raise ImportFileError(message) from None
                except UnicodeDecodeError:
                    raise ImportFileError(
                        _("Line %(line)s is not %(encoding)s text like the lines before it.")
                        % {"line": line, "encoding": encoding.upper()}
                    ) from None
                yield values

        yield rows()


def _xlsx(path: str) -> bool:
    return str(path).lower().endswith((".xlsx", ".xlsm"))


@contextmanager
def _workbook_rows(path: str) -> Iterator[tuple[Any, Iterator[tuple]]]:
    """(workbook, rows of its first sheet); a damaged or not-really-XLSX file raises ``ImportFileError``."""
    from openpyxl import load_workbook

    broken = _("The file is not a readable Excel workbook (.xlsx): open it in Excel and save it again.")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise _missing(path) from None
    except Exception:  # openpyxl raises zip, XML, key and value errors of every kind for a damaged file
        raise ImportFileError(broken) from None
    try:

        def rows() -> Iterator[tuple]:
            source = workbook.worksheets[0].iter_rows(values_only=True)
            while True:
                try:
                    values = next(source)
                except StopIteration:
                    return
                except Exception:  # a damaged sheet inside a readable zip
                    raise ImportFileError(broken) from None
                yield values

        if not workbook.worksheets:
            raise ImportFileError(broken)
        yield workbook, rows()
    finally:
        workbook.close()


def read_rows(path: str) -> Iterator[dict[str, str]]:
    """Yield each data row as {header: text}, streaming both CSV and XLSX."""
    if _xlsx(path):
        with _workbook_rows(path) as (_book, rows):
            header = [str(h or "").strip() for h in next(rows, [])]
            for values in rows:
                if values is None or all(v in (None, "") for v in values):
                    continue
                yield {h: _cell(v) for h, v in zip(header, values, strict=False) if h}
        return
    with _csv_reader(path) as reader:
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
    if _xlsx(path):
        with _workbook_rows(path) as (_book, rows):
            return [str(h or "").strip() for h in next(rows, ()) or () if h not in (None, "")]
    with _csv_reader(path) as reader:
        return [h.strip() for h in next(reader, [])]


def count_rows(path: str) -> int:
    if _xlsx(path):
        with _workbook_rows(path) as (workbook, _rows):
            return max((workbook.worksheets[0].max_row or 1) - 1, 0)
    with _csv_reader(path) as reader:
        return max(sum(1 for _line in reader) - 1, 0)


def oversized_cell(row: dict[str, str]) -> tuple[dict[str, str], str] | None:
    """(the row with long cells cut, the reason) when a cell is longer than ``GUANXI_IMPORT_MAX_CELL``."""
    limit = settings.GUANXI_IMPORT_MAX_CELL
    long = [column for column, value in row.items() if len(value) > limit]
    if not long:
        return None
    reason = "; ".join(
        _("Column “%(column)s” holds %(length)s characters; a cell holds at most %(limit)s.")
        % {"column": column, "length": f"{len(row[column]):,}", "limit": f"{limit:,}"}
        for column in long
    )
    return {column: value[:limit] for column, value in row.items()}, reason


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


def _format_errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


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

    def __init__(self, mapping: dict[str, str], default_store: Store | None = None) -> None:
        self.mapping = {column: field for column, field in mapping.items() if field}
        self.stores = {s.code: s.pk for s in Store.objects.all()}
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
EVENT_COLUMNS = [
    "name",
    "aggregate",
    "aggregate_id",
    "customer_id",
    "actor_id",
    "payload",
    "created_at",
    "dispatched_at",
]
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _copy_converter(field: models.Field) -> Callable[[Any], str] | None:
    """Python value -> COPY text for one column, as the field itself would store it; None if unknown."""

    def nullable(convert: Callable[[Any], str]) -> Callable[[Any], str]:
        return lambda v: _NULL if v is None else convert(v)

    if isinstance(field, EncryptedTextField):  # before TextField: it is one
        return nullable(lambda v: encrypt(v).translate(_COPY_ESCAPES) if v != "" else "")
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def dump(v: Any) -> str:
            if v == {} or v == []:  # most rows: no attributes, interests or preferences
                return "{}" if isinstance(v, dict) else "[]"
            return json.dumps(v, cls=encoder).translate(_COPY_ESCAPES)

        return nullable(dump)
    if isinstance(field, models.BooleanField):
        return nullable(lambda v: "t" if v else "f")
    if isinstance(field, models.CharField | models.TextField):
        return nullable(lambda v: str(v).translate(_COPY_ESCAPES))
    if isinstance(field, models.IntegerField | models.DecimalField | models.ForeignKey):
        return nullable(str)
    if isinstance(field, models.DateTimeField):
        return nullable(lambda v: v.isoformat())
    if isinstance(field, models.DateField):
        return nullable(lambda v: v.isoformat())
    return None


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
        self.fields = [(f, _copy_converter(f)) for f in fields if f not in stamps]
        self.supported = all(convert is not None for _f, convert in self.fields)
        self.template = [convert(f.get_default()) if convert else "" for f, convert in self.fields]
        self.slots = {f.attname: (position, convert) for position, (f, convert) in enumerate(self.fields)}
        self.customer_columns = (
            [Customer._meta.pk.column] + [f.column for f, _c in self.fields] + [f.column for f in stamps]
        )
        self.stamps = len(stamps)
        self.encrypt_contact = _copy_converter(ContactPoint._meta.get_field("value"))

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


def _copy_lines(cursor: Any, model: type[models.Model], columns: list[str], text: str) -> None:
    if not text:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN") as copy:
        copy.write(text)


def _reserve_ids(cursor: Any, model: type[models.Model], count: int) -> list[int]:
    meta = model._meta
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [meta.db_table, meta.pk.column, count],
    )
    return [pk for (pk,) in cursor.fetchall()]


# ------------------------------------------------------------------ cleaning batches, in workers or not

#: A cleaned row: (line number, phone/e-mail blind indexes, tags, home store id, what to write), where
#: what to write is (customer text, contact texts) for COPY or (profile, attributes, contacts).
GoodRow = tuple[int, tuple[str, ...], list[str], int | None, tuple]
Rejected = list[tuple[int, dict[str, str], str]]


def _clean_customer_batch(
    rows: list[tuple[int, dict[str, str]]], cleaner: CustomerRowCleaner, copy_rows: CustomerCopyRows | None
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
            rejected.append((line_no, row, _format_errors(exc)))
            continue
        keys = tuple(idx for kind, _v, idx, _l in contacts if idx and kind in ("phone", "email"))
        if copy_rows is not None:
            payload: tuple = (copy_rows.customer(_customer_values(profile, attrs)), copy_rows.contacts(contacts))
        else:
            payload = (profile, attrs, contacts)
        good.append((line_no, keys, tags, profile.get("home_store"), payload))
    return good, rejected


_worker_state: dict[str, Any] = {}


def _worker_init(cleaner: CustomerRowCleaner, copy_rows: CustomerCopyRows | None) -> None:
    # A forked copy of the importing process: it cleans rows and never touches the database (the
    # parent's connection it inherited stays unused and is not closed, since the process ends with
    # os._exit).
    _worker_state["cleaner"], _worker_state["copy_rows"] = cleaner, copy_rows


def _worker_clean(rows: list[tuple[int, dict[str, str]]]) -> tuple[list[GoodRow], Rejected]:
    return _clean_customer_batch(rows, _worker_state["cleaner"], _worker_state["copy_rows"])


def import_workers(total_rows: int) -> int:
    """How many processes clean rows beside the importing one: one per core for big files, else none.

    Worker processes are forked, so they need the fork start method and a parent that may have
    children (a daemonic process, such as some task-queue pool workers, may not).
    """
    if total_rows < 4 * BATCH or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    if multiprocessing.current_process().daemon:
        return 0
    return min(os.cpu_count() or 1, 8) if (os.cpu_count() or 1) > 1 else 0


def _cleaned_batches(
    chunks: Iterable[list[tuple[int, dict[str, str]]]],
    cleaner: CustomerRowCleaner,
    copy_rows: CustomerCopyRows | None,
    workers: int,
) -> Iterator[tuple[int, list[GoodRow], Rejected]]:
    """(rows in batch, good rows, rejects) per batch, in file order, cleaned by ``workers`` processes.

    With workers the next batches are cleaned while the caller writes this one; dedup and writes stay
    in the caller, batch after batch in file order, so the outcome is the serial one.
    """
    if workers < 1:
        for chunk in chunks:
            yield len(chunk), *_clean_customer_batch(chunk, cleaner, copy_rows)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init,
        initargs=(cleaner, copy_rows),
    )
    try:
        pending: deque = deque()
        for chunk in chunks:
            pending.append((len(chunk), pool.submit(_worker_clean, chunk)))
            if len(pending) > 2 * workers:
                size, future = pending.popleft()
                yield size, *future.result()
        while pending:
            size, future = pending.popleft()
            yield size, *future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
        threads.submit(_serial_plans).result()
        previous = None
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


def _serial_plans() -> None:
    """On the look-up thread's own connection: plan without parallel workers.

    With a thousand-odd blind indexes in the ``= ANY`` array PostgreSQL plans a parallel bitmap scan,
    and starting a worker and shipping it the plan costs more CPU than the index look-ups themselves,
    on the cores the import's cleaning and writing need.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")


def _batch_keys(good: list[GoodRow]) -> set[str]:
    return {k for _line, keys, *_rest in good for k in keys}


def _on_file(indexes: set[str]) -> set[str]:
    """Those of these phone and e-mail blind indexes that belong to a customer on file (not merged away)."""
    if not indexes:
        return set()
    contacts = ContactPoint.objects.filter(kind__in=["phone", "email"], customer__merged_into__isnull=True)
    if is_postgres(connection):
        # One array parameter: an IN list of a thousand and more placeholders costs more to build,
        # send and plan than the index lookups it asks for.
        quote = connection.ops.quote_name
        column = f"{quote(ContactPoint._meta.db_table)}.{quote(ContactPoint._meta.get_field('value_index').column)}"
        any_of = RawSQL(f"{column} = ANY(%s)", [list(indexes)], output_field=models.BooleanField())  # noqa: S611 - identifiers from the model, values as a parameter
        contacts = contacts.filter(any_of)
    else:
        contacts = contacts.filter(value_index__in=indexes)
    return set(contacts.values_list("value_index", flat=True))


#: How often a batch is planned and written again when a customer created meanwhile by someone else
#: (the API, the counter, another import) holds one of its phones or e-mails (contact_one_identity).
CONFLICT_RETRIES = 5


def _integrity_errors() -> tuple[type[BaseException], ...]:
    """Django's IntegrityError, and psycopg's (COPY runs on the raw cursor, outside Django's error wrapper)."""
    errors: tuple[type[BaseException], ...] = (IntegrityError,)
    if is_postgres(connection):
        import psycopg

        errors += (psycopg.IntegrityError,)
    return errors


def _plan_batch(good: list[GoodRow], existing: set[str], seen: dict[str, int]) -> tuple[list[GoodRow], int, dict]:
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
    conflicts = _integrity_errors()
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
    if copy_rows is not None:
        ids = _write_customers_copy(to_create, job=job, copy_rows=copy_rows, known_tags=known_tags)
    else:
        ids = _write_customers_orm(to_create, job=job, known_tags=known_tags)
    if subscribers_for("customer.created"):
        from guanxi.core.events import dispatch_after_commit

        first = Event.objects.filter(name="customer.created", customer_id__in=ids).order_by("id").first()
        if first is not None:
            dispatch_after_commit(first.pk)  # one task drains the batch's events


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
    """PostgreSQL: reserve the ids, then COPY the prepared text of customers, contacts, tags, timeline, events."""
    now = timezone.now().isoformat()
    actor = _NULL if job.created_by_id is None else str(job.created_by_id)
    tags = _tag_ids(to_create, known_tags)
    stamps = f"\t{now}" * copy_rows.stamps
    timeline = "\t".join(
        ["customer.created", now, "created via import", json.dumps({"channel": "import"}), actor, _NULL, "", ""]
    )
    payloads: dict[int | None, str] = {}
    with connection.cursor() as cursor:
        ids = _reserve_ids(cursor, Customer, len(to_create))
        customers, contacts, tag_rows, timeline_rows, events = [], [], [], [], []
        for pk, (_line, _keys, tag_list, store_id, (customer, contact_lines)) in zip(ids, to_create, strict=True):
            customers.append(f"{pk}\t{customer}{stamps}\n")
            contacts.extend(f"{pk}\t{line}\t{now}\n" for line in contact_lines)
            tag_rows.extend(f"{pk}\t{tag}\n" for tag in {tags[t] for t in tag_list})
            timeline_rows.append(f"{pk}\t{timeline}\n")
            payload = payloads.get(store_id)
            if payload is None:
                payload = payloads[store_id] = json.dumps(_event_payload(job, store_id)).translate(_COPY_ESCAPES)
            events.append(f"customer.created\tcustomer\t{pk}\t{pk}\t{actor}\t{payload}\t{now}\t{_NULL}\n")

        def columns(model: type[models.Model], names: Iterable[str]) -> list[str]:
            return [model._meta.get_field(name).column for name in names]

        _copy_lines(cursor, Customer, copy_rows.customer_columns, "".join(customers))
        _copy_lines(cursor, ContactPoint, columns(ContactPoint, CONTACT_COLUMNS), "".join(contacts))
        through = Customer.tags.through
        _copy_lines(cursor, through, columns(through, ["customer", "tag"]), "".join(tag_rows))
        _copy_lines(
            cursor,
            TimelineEntry,
            columns(TimelineEntry, TIMELINE_COLUMNS),
            "".join(timeline_rows),
        )
        _copy_lines(
            cursor,
            Event,
            columns(Event, EVENT_COLUMNS),
            "".join(events),
        )
    return ids


def _write_customers_orm(to_create: list[GoodRow], *, job: ImportJob, known_tags: dict[str, int]) -> list[int]:
    """Any database: model instances through ``bulk_insert`` and value rows through ``bulk_insert_values``."""
    now = timezone.now()
    customers = [Customer(**_customer_values(profile, attrs)) for *_rest, (profile, attrs, _c) in to_create]
    bulk_insert(Customer, customers)
    tags = _tag_ids(to_create, known_tags)
    contact_rows, tag_rows, timeline_rows, event_rows = [], [], [], []
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
        event_rows.append(
            (
                "customer.created",
                "customer",
                str(customer.pk),
                customer.pk,
                actor_id,
                _event_payload(job, customer.home_store_id),
                now,
                None,
            )
        )
    bulk_insert_values(
        ContactPoint,
        CONTACT_COLUMNS,
        contact_rows,
    )
    bulk_insert_values(Customer.tags.through, ["customer", "tag"], tag_rows)
    bulk_insert_values(
        TimelineEntry,
        TIMELINE_COLUMNS,
        timeline_rows,
    )
    bulk_insert_values(
        Event,
        EVENT_COLUMNS,
        event_rows,
    )
    return [c.pk for c in customers]


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


@dataclass(frozen=True)
class OrderImport:
    """How an order import validates and records orders; the sales app registers it in ``ready()``.

    Orders live in ``sales``, a layer above ``customers``, so this module reaches them through this hook
    instead of importing them: ``clean(data)`` raises a ValidationError naming every bad field,
    ``ingest(actor=, data=, channel=)`` returns a result whose ``created`` says whether the order is new,
    and ``exists(source, external_ref)`` says whether that order is already recorded.
    """

    clean: Callable[[dict[str, Any]], Any]
    ingest: Callable[..., Any]
    exists: Callable[[str, str], bool]


_order_import: OrderImport | None = None


def order_import_register(hook: OrderImport) -> None:
    global _order_import
    _order_import = hook


def _order_import_hook() -> OrderImport:
    if _order_import is None:
        raise ImproperlyConfigured("Order imports need the sales app (guanxi.sales) in INSTALLED_APPS.")
    return _order_import


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ImportTakenOver(Exception):  # noqa: N818 - a situation, not a failure
    """Another run of the same job (a task delivered twice) committed first; this run stops and leaves it be."""


def _checkpoint(job: ImportJob, **values: int) -> None:
    """Record progress with the rows it covers, in their transaction, if no other run of the job moved it."""
    if not ImportJob.objects.filter(pk=job.pk, committed_line=job.committed_line).update(**values):
        raise ImportTakenOver(job.pk)


def _rejects_kept(path: Path, up_to_line: int) -> list[list[str]]:
    """The rejected rows an interrupted run reported for lines it committed (the report's rows before)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            return [row for row in reader if row and row[0].isdigit() and int(row[0]) <= up_to_line]
    except OSError:
        return []


def _order_chunks(groups: Iterable[list], rows: int = 200) -> Iterator[list[list]]:
    chunk: list[list] = []
    size = 0
    for group in groups:
        chunk.append(group)
        size += len(group)
        if size >= rows:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def import_run(
    job: ImportJob, *, progress: Callable[[int], None] | None = None, workers: int | None = None
) -> ImportJob:
    """Check (dry run) or perform an import job; safe to call again on a finished dry run.

    Customer rows are cleaned in batches of ``BATCH``, by ``workers`` forked processes beside this one
    (default: ``import_workers(total rows)``, one per core for big files; 0 cleans here); this process
    matches and writes the batches in file order, each in its own transaction.

    A real run is idempotent per (job, row): each batch commits with the line it reaches
    (``committed_line``), so calling this again on a job that was interrupted (a crash, a killed
    worker, a redelivered task) resumes after that line, and on a finished job does nothing. The job
    records that it was resumed, and where.
    """
    dry_run = job.dry_run
    if not dry_run:
        job.refresh_from_db()
        if job.status == ImportJob.Status.DONE:
            return job
    interrupted = not dry_run and (
        job.status in (ImportJob.Status.RUNNING, ImportJob.Status.FAILED) or job.committed_line > 0
    )
    resume_after = job.committed_line if interrupted else 0
    reject_path = Path(job.file).with_suffix(".rejected.csv")
    try:
        header = read_header(job.file)
        total_rows = count_rows(job.file)
    except ValidationError as exc:
        _fail(job, "; ".join(exc.messages))
        raise
    job.status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.RUNNING
    job.total_rows = total_rows
    job.error = ""
    if interrupted:
        job.resumed_at_line = resume_after
        job.resume_count += 1
    else:
        job.processed_rows = job.created_count = job.matched_count = job.rejected_count = job.committed_line = 0
        job.resumed_at_line = None
    job.save()
    kept_rejects = _rejects_kept(reject_path, resume_after) if resume_after else []
    rows = (
        (line_no, row)
        for line_no, row in ((i + 2, row) for i, row in enumerate(read_rows(job.file)))
        if line_no > resume_after
    )
    try:
        with open(reject_path, "w", newline="", encoding="utf-8-sig") as reject_handle:
            from guanxi.core.spreadsheet import safe_row  # formulas in rejected rows stay text (OWASP CSV injection)

            rejects = csv.writer(reject_handle)
            rejects.writerow(safe_row([_("line"), *header, _("reason")]))
            for kept in kept_rejects:
                rejects.writerow(kept)  # written safe by the interrupted run
            if progress and job.processed_rows:
                progress(job.processed_rows)

            def report(items) -> int:
                for line_no, row, reason in items:
                    rejects.writerow(safe_row([line_no, *[row.get(h, "") for h in header], reason]))
                reject_handle.flush()  # on disk before the rows' batch commits: a resumed run keeps them
                return len(items)

            def tick(n: int) -> None:
                job.processed_rows += n
                ImportJob.objects.filter(pk=job.pk).update(
                    heartbeat_at=timezone.now(),
                    processed_rows=job.processed_rows,
                    created_count=job.created_count,
                    matched_count=job.matched_count,
                    rejected_count=job.rejected_count,
                )
                if progress:
                    progress(n)

            def commit_point(last_line: int, size: int, rejected: int) -> Callable[[int, int], None] | None:
                """The checkpoint a real run writes with a batch: its last line and the counts after it."""
                if dry_run:
                    return None

                def write(created: int, matched: int) -> None:
                    _checkpoint(
                        job,
                        committed_line=last_line,
                        processed_rows=job.processed_rows + size,
                        created_count=job.created_count + created,
                        matched_count=job.matched_count + matched,
                        rejected_count=job.rejected_count + rejected,
                    )

                return write

            def advance(last_line: int, size: int, created: int, matched: int, rejected: int) -> None:
                job.created_count += created
                job.matched_count += matched
                job.rejected_count += rejected
                if dry_run:
                    tick(size)
                    return
                job.committed_line = last_line
                job.processed_rows += size
                if progress:
                    progress(size)

            if job.target == ImportJob.Target.CUSTOMERS:
                cleaner = CustomerRowCleaner(job.mapping, default_store=job.store)
                copy_rows = None
                if not dry_run and is_postgres(connection):
                    copy_rows = CustomerCopyRows()
                    copy_rows = copy_rows if copy_rows.supported else None
                seen: dict[str, int] = {}
                known_tags: dict[str, int] = {}
                last_lines: deque[int] = deque()

                def chunks() -> Iterator[list[tuple[int, dict[str, str]]]]:
                    for chunk in _chunks(rows, BATCH):
                        last_lines.append(chunk[-1][0])
                        yield chunk

                batches = _cleaned_batches(
                    chunks(),
                    cleaner,
                    copy_rows,
                    import_workers(job.total_rows) if workers is None else workers,
                )
                if is_postgres(connection) and not connection.in_atomic_block:
                    looked_up = _looked_up_ahead(batches)
                else:
                    looked_up = ((size, good, rejected, None) for size, good, rejected in batches)
                for size, good, rejected, on_file in looked_up:
                    last_line = last_lines.popleft()
                    n_rejected = report(rejected)
                    created, matched = _process_customer_batch(
                        good,
                        job=job,
                        dry_run=dry_run,
                        seen=seen,
                        copy_rows=copy_rows,
                        on_file=on_file,
                        known_tags=known_tags,
                        checkpoint=commit_point(last_line, size, n_rejected),
                    )
                    advance(last_line, size, created, matched, n_rejected)
            else:
                seen_refs: set[tuple[str, str]] = set()
                orders = _order_import_hook()

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
                                    orders.clean(data)
                                    key = (str(data["source"]), str(data["external_ref"]))
                                    if key in seen_refs or orders.exists(*key):
                                        matched += 1
                                    else:
                                        created += 1
                                    seen_refs.add(key)
                                elif orders.ingest(actor=job.created_by, data=data, channel="import").created:
                                    created += 1
                                else:
                                    matched += 1
                            except ValidationError as exc:
                                reason = _format_errors(exc)
                                bad.extend((line_no, row, reason) for line_no, row, _v in group)
                        size = sum(len(group) for group in chunk)
                        last_line = chunk[-1][-1][0]
                        n_rejected = report(bad)
                        write = commit_point(last_line, size, n_rejected)
                        if write is not None:
                            write(created, matched)
                    advance(last_line, size, created, matched, n_rejected)
    except ImportTakenOver:
        raise  # the other run owns the job now
    except ValidationError as exc:
        _fail(job, "; ".join(exc.messages))
        raise
    except Exception as exc:
        _fail(job, str(exc))
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
            changes={
                "created": job.created_count,
                "matched": job.matched_count,
                "rejected": job.rejected_count,
                "resumed_at_line": job.resumed_at_line,
            },
        )
        upload_discard(job)
    return job


def _fail(job: ImportJob, error: str) -> None:
    """Mark the job failed with the reason the user reads; the counts stay those last committed."""
    job.status = ImportJob.Status.FAILED
    job.error = error[:2000]
    job.finished_at = timezone.now()
    job.save()


# ------------------------------------------------------------------ uploaded files: deleted when no longer needed


def _is_upload(path: str) -> bool:
    """True for files the wizard saved under ``import_dir()``; files named on the command line are the user's."""
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(import_dir().resolve())
    except (OSError, ValueError):
        return False


def upload_discard(job: ImportJob) -> bool:
    """Delete the job's uploaded file (not a file of the user's own); True if there was one."""
    if not _is_upload(job.file):
        return False
    try:
        Path(job.file).unlink()
    except FileNotFoundError:
        return False
    return True


def import_files_cleanup(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete uploads and rejected-row reports that are no longer needed; run periodically.

    Uploads of finished imports go at once (``import_run`` deletes them; this catches a crash in
    between); uploads of failed, abandoned or never-run jobs after ``GUANXI_IMPORT_UPLOAD_RETENTION``
    seconds (kept so far for a retry or resume); rejected-row reports, which hold personal data,
    after ``GUANXI_IMPORT_REJECTS_RETENTION``; files no job names after the upload retention.
    Running and checking jobs keep their files.
    """
    now = now or timezone.now()
    upload_cutoff = now - dt.timedelta(seconds=settings.GUANXI_IMPORT_UPLOAD_RETENTION)
    rejects_cutoff = now - dt.timedelta(seconds=settings.GUANXI_IMPORT_REJECTS_RETENTION)
    active = [ImportJob.Status.PENDING, ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING]
    counts = {"uploads": 0, "rejected": 0, "orphans": 0}
    for job in ImportJob.objects.exclude(status__in=active).only("file", "status", "created_at", "finished_at"):
        ended = job.finished_at or job.created_at
        if (job.status == ImportJob.Status.DONE and not job.dry_run) or ended < upload_cutoff:
            counts["uploads"] += upload_discard(job)
    for job in (
        ImportJob.objects.exclude(rejected_file="").filter(finished_at__lt=rejects_cutoff).exclude(status__in=active)
    ):
        if _is_upload(job.rejected_file):
            Path(job.rejected_file).unlink(missing_ok=True)
            counts["rejected"] += 1
        ImportJob.objects.filter(pk=job.pk).update(rejected_file="")
    named = set()
    for file, rejected in ImportJob.objects.values_list("file", "rejected_file"):
        named.update(str(Path(p).resolve()) for p in (file, rejected) if p)
    for path in import_dir().iterdir():
        if not path.is_file() or str(path.resolve()) in named:
            continue
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
        if modified < upload_cutoff:
            path.unlink(missing_ok=True)
            counts["orphans"] += 1
    return counts


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
        file_sha256=file_sha256(str(path)),
        original_name=original_name or Path(path).name,
        mapping=mapping,
        dry_run=dry_run,
        store=store,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
