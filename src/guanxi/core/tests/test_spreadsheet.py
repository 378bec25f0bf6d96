"""The OWASP CSV-injection neutraliser every export and rejected-rows report uses."""

import datetime as dt
from decimal import Decimal

import pytest

from guanxi.core.spreadsheet import safe_cell


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","点我")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1",
     "＝1+1", "＋1", "－1", "＠SUM(A1)"],
)  # fmt: skip
def test_text_that_could_start_a_formula_gets_a_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", ["王小明", "a=b", "138****8000", "", -5, 3, Decimal("-1.50"), dt.date(2026, 1, 2), None]
)
def test_everything_else_passes_unchanged(value):
    assert safe_cell(value) == value
