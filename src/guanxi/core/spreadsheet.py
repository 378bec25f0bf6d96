"""Cells for files a spreadsheet will open: CSV and XLSX exports, rejected-rows reports.

OWASP "CSV Injection": a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read by Excel, LibreOffice and WPS as a formula (``=HYPERLINK(...)``, DDE). ``safe_cell`` prefixes
such text with a single quote, which the spreadsheet shows as text, and does the same for the
full-width forms (``＝＋－＠``) that some spreadsheets in Chinese locales also take as formulas.
Numbers, dates and other non-text values pass unchanged (a negative number is a number, not a formula).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will show it literally: text that could start a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """A row for an openpyxl sheet in which text is always a string cell (data type ``s``), never a formula.

    openpyxl turns any string starting with ``=`` into a formula cell; write-only sheets take
    ``WriteOnlyCell`` objects, whose type we set after the value.
    """
    from openpyxl.cell import WriteOnlyCell

    row: list[Any] = []
    for value in values:
        value = safe_cell(value)
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row
