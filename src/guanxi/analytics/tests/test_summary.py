"""The RFM summary builder reproduces the published CDNOW summary and the literature's conventions."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.summary import read_cdnow, summarize_transactions
from guanxi.analytics.tests import cdnow

# The published files round weeks and dollars to two decimals.
ROUNDING = 0.005 + 1e-9


def test_reader_parses_the_cdnow_sample():
    rows = cdnow.transactions()
    assert len(rows) == 6919
    assert len(np.unique(rows.customer_id)) == 2357
    assert rows.customer_id.min() == 1
    assert rows.customer_id.max() == 2357
    assert rows.date.min() == np.datetime64("1997-01-01")
    assert rows.date.max() == np.datetime64("1998-06-30")
    assert rows.quantity[0] == 2
    assert rows.amount[0] == pytest.approx(29.33)


def test_reader_parses_the_master_layout_with_header(tmp_path):
    path = tmp_path / "master.txt"
    path.write_text(
        " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970112  5   77.00\n"
    )
    rows = read_cdnow(path)
    assert rows.customer_id.tolist() == [1, 2]
    assert rows.date.tolist() == [np.datetime64("1997-01-01", "D").item(), np.datetime64("1997-01-12", "D").item()]
    assert rows.quantity.tolist() == [1, 5]
    assert rows.amount.tolist() == [11.77, 77.0]


def test_cdnow_summary_matches_the_published_summary_file():
    built, published = cdnow.summary(), cdnow.published_summary()
    assert len(built) == len(published) == 2357
    np.testing.assert_array_equal(built.customer_id, published["ID"])
    np.testing.assert_array_equal(built.frequency, published["frequency"])
    np.testing.assert_allclose(built.recency, published["recency"], rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(built.T, published["T"], rtol=0, atol=ROUNDING)
    assert built.frequency.sum() == 2457
    assert (built.frequency == 0).sum() == 1411


def test_cdnow_mean_repeat_spend_matches_the_published_file():
    built, published = cdnow.summary(), cdnow.published_spend()
    np.testing.assert_array_equal(built.customer_id, published["ID"])
    np.testing.assert_allclose(built.monetary_value, published["zbar"], rtol=0, atol=ROUNDING)
    assert (built.monetary_value > 0).sum() == 946


def test_cdnow_holdout_has_1882_repeat_purchase_days():
    built = cdnow.summary()
    assert built.holdout_frequency is not None
    assert built.holdout_frequency.sum() == 1882
    assert len(built) + built.frequency.sum() + built.holdout_frequency.sum() == 6696


def test_string_sparse_and_dense_ids_summarise_alike():
    """Dense integer ids skip the sort of the ids; strings and sparse integers take np.unique. Same answer."""
    rows = cdnow.transactions()
    dense = cdnow.summary()
    spread = 1_000_003
    for ids, original_id in (
        (rows.customer_id.astype(str), lambda v: v.astype(np.int64)),
        (rows.customer_id * spread, lambda v: v // spread),
    ):
        other = summarize_transactions(
            ids, rows.date, rows.amount, calibration_end=cdnow.CALIBRATION_END, holdout_end=cdnow.HOLDOUT_END
        )
        original = original_id(other.customer_id)
        order = np.argsort(original)
        np.testing.assert_array_equal(original[order], dense.customer_id)
        for field in ("frequency", "recency", "T", "monetary_value", "holdout_frequency"):
            np.testing.assert_array_equal(getattr(other, field)[order], getattr(dense, field))


def test_same_day_purchases_are_one_purchase_with_summed_spend():
    summary = summarize_transactions(
        ["b", "a", "a", "a", "a", "b"],
        np.array(
            ["2024-01-08", "2024-01-01", "2024-01-15T18:30", "2024-01-15T09:00", "2024-01-29", "2024-01-01"],
            dtype="datetime64[m]",
        ),
        [5.0, 10.0, 4.0, 6.0, 30.0, 7.0],
        calibration_end="2024-01-29",
    )
    assert summary.customer_id.tolist() == ["a", "b"]
    assert summary.frequency.tolist() == [2, 1]
    assert summary.recency.tolist() == [4.0, 1.0]
    assert summary.T.tolist() == [4.0, 4.0]
    assert summary.monetary_value.tolist() == [20.0, 5.0]
    assert summary.first_purchase.tolist() == [np.datetime64("2024-01-01").item()] * 2
    assert summary.holdout_frequency is None


def test_first_day_spend_is_not_a_repeat_purchase():
    summary = summarize_transactions([1, 1], ["2024-01-01", "2024-01-01"], [10.0, 20.0], calibration_end="2024-03-01")
    assert summary.frequency.tolist() == [0]
    assert summary.recency.tolist() == [0.0]
    assert summary.monetary_value.tolist() == [0.0]


def test_customers_acquired_after_calibration_are_left_out_and_holdout_is_bounded():
    summary = summarize_transactions(
        [1, 1, 1, 1, 2],
        ["2024-01-01", "2024-01-10", "2024-02-05", "2024-03-30", "2024-01-20"],
        [1.0, 2.0, 3.0, 4.0, 5.0],
        calibration_end="2024-01-15",
        holdout_end="2024-02-29",
        period_days=1,
    )
    assert summary.customer_id.tolist() == [1]
    assert summary.frequency.tolist() == [1]
    assert summary.recency.tolist() == [9.0]
    assert summary.T.tolist() == [14.0]
    assert summary.holdout_frequency.tolist() == [1]
    assert summary.holdout_monetary_value.tolist() == [3.0]


def test_summary_of_no_transactions_is_empty():
    summary = summarize_transactions(
        np.array([], dtype=np.int64), np.array([], dtype="datetime64[D]"), [], calibration_end="2024-01-01"
    )
    assert len(summary) == 0


def test_summary_rejects_misaligned_columns_and_bad_windows():
    with pytest.raises(ValueError, match="same length"):
        summarize_transactions([1, 2], ["2024-01-01"], [1.0, 2.0], calibration_end="2024-01-02")
    with pytest.raises(ValueError, match="holdout_end"):
        summarize_transactions([1], ["2024-01-01"], [1.0], calibration_end="2024-01-02", holdout_end="2024-01-01")


def test_summary_handles_a_large_unsorted_log():
    rng = np.random.default_rng(3)
    n = 300_000
    ids = rng.integers(0, 50_000, n)
    days = np.datetime64("2023-01-01") + rng.integers(0, 730, n).astype("timedelta64[D]")
    summary = summarize_transactions(ids, days, rng.gamma(2.0, 20.0, n), calibration_end="2024-06-30")
    assert len(summary) <= 50_000
    assert np.all(summary.recency <= summary.T)
    assert np.all((summary.frequency > 0) == (summary.monetary_value > 0))
