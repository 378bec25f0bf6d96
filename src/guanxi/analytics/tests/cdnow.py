"""The CDNOW sample and its published summaries, loaded once per test session."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from guanxi.analytics.summary import CustomerSummary, Transactions, read_cdnow, summarize_transactions

DATA = Path(__file__).parent / "data" / "cdnow"
CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
HOLDOUT_WEEKS = 39.0


@cache
def transactions() -> Transactions:
    return read_cdnow(DATA / "CDNOW_sample.txt")


@cache
def summary() -> CustomerSummary:
    rows = transactions()
    return summarize_transactions(
        rows.customer_id, rows.date, rows.amount, calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END
    )


@cache
def published_summary() -> np.ndarray:
    return np.genfromtxt(DATA / "cdnow_customers_summary.csv", delimiter=",", names=True)


@cache
def published_spend() -> np.ndarray:
    return np.genfromtxt(DATA / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True)
