"""Reading an import file: CSV in any encoding Excel writes, or XLSX, streamed row by row; and the
mapping of its columns to the fields of an import kind.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi.customers.imports.kinds import import_kind
from guanxi.customers.models import CustomAttribute


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
def _workbook_rows(path: str) -> Iterator[tuple[Any, Iterator[tuple[Any, ...]]]]:
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

        def rows() -> Iterator[tuple[Any, ...]]:
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
        for cells in reader:
            if not any(v.strip() for v in cells):
                continue
            yield {h: v.strip() for h, v in zip(header, cells, strict=False) if h}


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


def auto_mapping(header: list[str], target: str = "customers") -> dict[str, str]:
    """{column: field} guessed from common Chinese and English headings, for the kind ``target``."""
    kind = import_kind(target)
    fields = set(kind.fields)
    attributes = set(CustomAttribute.objects.values_list("key", flat=True))
    mapping = {}
    for column in header:
        key = column.strip().lower()
        field = kind.aliases.get(key, key)
        if field in fields:
            mapping[column] = field
        elif kind.custom_attributes and key in attributes:
            mapping[column] = f"attr:{key}"
    return mapping


def validate_mapping(mapping: dict[str, str], target: str) -> None:
    kind = import_kind(target)
    allowed = set(kind.fields)
    attributes = set(CustomAttribute.objects.values_list("key", flat=True))
    errors = []
    for column, field in mapping.items():
        if field and field not in allowed and not (field.startswith("attr:") and field[5:] in attributes):
            errors.append(
                _("Column “%(column)s” is mapped to an unknown field “%(field)s”.") % {"column": column, "field": field}
            )
    for field in kind.required:
        if field not in mapping.values():
            errors.append(_("Map a column to “%(field)s”: it is required.") % {"field": field})
    if errors:
        raise ValidationError({"mapping": errors})
