"""Per-customer recency/frequency/monetary summaries for the buy-till-you-die models.

Follows the convention of Fader, Hardie & Lee (2005) on CDNOW, also used by the ``lifetimes`` and
``BTYD`` packages: purchases on the same calendar day are one purchase (their amounts summed); the
first purchase day starts the customer's clock and is not counted;

* ``frequency`` is the number of later purchase days up to the end of calibration,
* ``recency`` is the time from the first to the last purchase day of calibration,
* ``T`` is the time from the first purchase day to the end of calibration (inclusive date),
* ``monetary_value`` is the mean amount of the repeat purchase days (0 without any).

Times are in periods of ``period_days`` days (7: weeks, as in the papers). Everything is computed
set-based with sorts and grouped reductions; no Python loop touches a customer.

No Django imports: callers pass arrays that a selector aggregated in SQL or that
:func:`read_cdnow` read from the public CDNOW files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CustomerSummary", "Transactions", "read_cdnow", "summarize_transactions"]


@dataclass(frozen=True, slots=True)
class Transactions:
    """Transaction rows as parallel arrays."""

    customer_id: NDArray[np.int64]
    date: NDArray[np.datetime64]
    quantity: NDArray[np.int64]
    amount: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.customer_id)


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """One row per customer whose first purchase falls on or before the end of calibration, sorted by id.

    ``holdout_frequency`` counts purchase days after calibration up to the holdout end (inclusive),
    and ``holdout_monetary_value`` is their mean amount; both are ``None`` when no holdout end was given.
    """

    customer_id: NDArray[np.generic]
    first_purchase: NDArray[np.datetime64]
    frequency: NDArray[np.int64]
    recency: NDArray[np.float64]
    T: NDArray[np.float64]
    monetary_value: NDArray[np.float64]
    holdout_frequency: NDArray[np.int64] | None = None
    holdout_monetary_value: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self.customer_id)


def _day(value: dt.date | str | np.datetime64) -> np.int64:
    day = value.astype("datetime64[D]") if isinstance(value, np.datetime64) else np.datetime64(value, "D")
    return day.astype(np.int64)


def _mean(total: NDArray[np.float64], count: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.divide(total, count, out=np.zeros(total.shape, dtype=np.float64), where=count > 0)


def summarize_transactions(
    customer_id: ArrayLike,
    date: ArrayLike,
    amount: ArrayLike,
    *,
    calibration_end: dt.date | str | np.datetime64,
    holdout_end: dt.date | str | np.datetime64 | None = None,
    period_days: float = 7.0,
) -> CustomerSummary:
    """Summarise transaction rows (in any order) into the inputs of the BG/NBD, Pareto/NBD and
    Gamma-Gamma models, and optionally the holdout purchases the forecasts are judged against.

    ``date`` is truncated to the day; callers convert timestamps to the organisation's local date first,
    since "same day" means the customer's calendar day.
    """
    ids = np.asarray(customer_id)
    days = np.asarray(date, dtype="datetime64[D]").astype(np.int64)
    amounts = np.asarray(amount, dtype=np.float64)
    if not (ids.shape == days.shape == amounts.shape) or ids.ndim != 1:
        raise ValueError("customer_id, date and amount must be 1-d arrays of the same length")
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    cal_end = _day(calibration_end)
    last_day = cal_end if holdout_end is None else _day(holdout_end)
    if last_day < cal_end:
        raise ValueError("holdout_end must not precede calibration_end")

    in_window = days <= last_day
    ids, days, amounts = ids[in_window], days[in_window], amounts[in_window]
    unique_ids, code = _customer_codes(ids)
    n_customers = len(unique_ids)
    origin = int(days.min()) if days.size else 0
    span = int(days.max()) - origin + 1 if days.size else 1
    key = code * span + (days - origin)
    order = np.argsort(key)
    key, amounts = key[order], amounts[order]

    boundary = np.ones(len(key), dtype=bool)
    boundary[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(boundary)
    day_code, day_date = np.divmod(key[starts], span)
    day_date += origin
    day_amount = np.add.reduceat(amounts, starts) if len(starts) else amounts[:0]

    first_of_customer = np.ones(len(day_code), dtype=bool)
    first_of_customer[1:] = day_code[1:] != day_code[:-1]
    first_day = np.full(n_customers, np.iinfo(np.int64).max)
    first_day[day_code[first_of_customer]] = day_date[first_of_customer]

    calibration = day_date <= cal_end
    repeat = calibration & ~first_of_customer
    holdout = ~calibration

    frequency = np.bincount(day_code, weights=repeat, minlength=n_customers).astype(np.int64)
    # With weights bincount sums floats; asarray (no copy) tells the stubs, which always say intp.
    repeat_total = np.asarray(
        np.bincount(day_code, weights=np.where(repeat, day_amount, 0.0), minlength=n_customers), dtype=np.float64
    )
    last_purchase = first_day.copy()
    np.maximum.at(last_purchase, day_code[repeat], day_date[repeat])

    acquired = first_day <= cal_end
    first = first_day[acquired]
    holdout_frequency = holdout_monetary = None
    if holdout_end is not None:
        holdout_count = np.bincount(day_code, weights=holdout, minlength=n_customers).astype(np.int64)
        holdout_total = np.asarray(
            np.bincount(day_code, weights=np.where(holdout, day_amount, 0.0), minlength=n_customers), dtype=np.float64
        )
        holdout_frequency = holdout_count[acquired]
        holdout_monetary = _mean(holdout_total, holdout_count)[acquired]

    return CustomerSummary(
        customer_id=unique_ids[acquired],
        first_purchase=first.astype("datetime64[D]"),
        frequency=frequency[acquired],
        recency=(last_purchase[acquired] - first) / period_days,
        T=(cal_end - first) / period_days,
        monetary_value=_mean(repeat_total, frequency)[acquired],
        holdout_frequency=holdout_frequency,
        holdout_monetary_value=holdout_monetary,
    )


def _customer_codes(ids: NDArray[np.generic]) -> tuple[NDArray[np.generic], NDArray[np.int64]]:
    """Number customers 0..n−1 in id order.

    Dense integer ids (database primary keys) are their own codes after subtracting the smallest,
    which saves a sort of the whole log; ids that never bought are dropped later with everyone
    acquired after calibration. Other ids (strings, sparse integers) go through ``np.unique``.
    """
    if ids.size and np.issubdtype(ids.dtype, np.integer):
        low, high = int(ids.min()), int(ids.max())
        if high - low <= 4 * ids.size:
            return np.arange(low, high + 1, dtype=ids.dtype), (ids - low).astype(np.int64)
    unique_ids, code = np.unique(ids, return_inverse=True)
    return unique_ids, code.astype(np.int64).ravel()


def _yyyymmdd(values: NDArray[np.int64]) -> NDArray[np.datetime64]:
    years = (values // 10000 - 1970).astype("datetime64[Y]")
    months = years.astype("datetime64[M]") + (values // 100 % 100 - 1)
    return months.astype("datetime64[D]") + (values % 100 - 1).astype("timedelta64[D]")


def read_cdnow(path: str | Path) -> Transactions:
    """Read a CDNOW transaction file as distributed with ``lifetimes``.

    ``CDNOW_sample.txt`` (no header: master id, sample id, YYYYMMDD, CDs, dollars) yields the sample
    id 1–2357, the id used by the published summaries; ``CDNOW_master.txt`` (a header, then id,
    date, CDs, dollars) yields the master id.
    """
    path = Path(path)
    with path.open() as handle:
        first = handle.readline().split()
    header = not first[0].isdigit()
    table = np.loadtxt(path, skiprows=1 if header else 0, ndmin=2)
    id_column = 1 if table.shape[1] == 5 else 0
    date_column = id_column + 1
    return Transactions(
        customer_id=table[:, id_column].astype(np.int64),
        date=_yyyymmdd(table[:, date_column].astype(np.int64)),
        quantity=table[:, date_column + 1].astype(np.int64),
        amount=table[:, date_column + 2],
    )
