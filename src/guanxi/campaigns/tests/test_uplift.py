"""The uplift statistics against scipy.stats on synthetic data: known effect detected, no effect reported as such."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats

from guanxi.campaigns.uplift import incremental_revenue, mean_diff, proportion_diff, wilson_interval


def _newcombe_reference(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """Newcombe's interval assembled from scipy's Wilson intervals (an independent implementation)."""
    w1 = stats.binomtest(x1, n1).proportion_ci(confidence_level=0.95, method="wilson")
    w0 = stats.binomtest(x0, n0).proportion_ci(confidence_level=0.95, method="wilson")
    p1, p0 = x1 / n1, x0 / n0
    d = p1 - p0
    return (
        d - math.sqrt((p1 - w1.low) ** 2 + (w0.high - p0) ** 2),
        d + math.sqrt((w1.high - p1) ** 2 + (p0 - w0.low) ** 2),
    )


@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 10), (10, 10), (50, 2000), (1, 1)])
def test_wilson_matches_scipy(x, n):
    ref = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(x, n)
    assert low == pytest.approx(ref.low, abs=1e-12)
    assert high == pytest.approx(ref.high, abs=1e-12)


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), [(180, 1800, 10, 200), (41, 1000, 29, 1000), (0, 50, 3, 40)])
def test_proportion_diff_matches_reference(x1, n1, x0, n0):
    est = proportion_diff(x1, n1, x0, n0)
    low, high = _newcombe_reference(x1, n1, x0, n0)
    assert est.diff == pytest.approx(x1 / n1 - x0 / n0)
    assert est.low == pytest.approx(low, abs=1e-12)
    assert est.high == pytest.approx(high, abs=1e-12)
    # the pooled score test is Pearson's chi-square on the 2x2 table without continuity correction
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    chi = stats.chi2_contingency(table, correction=False)
    assert est.p_value == pytest.approx(chi.pvalue, rel=1e-9)
    assert est.relative == (pytest.approx((x1 / n1 - x0 / n0) / (x0 / n0)) if x0 else None)


def test_proportion_known_effect_detected():
    rng = np.random.default_rng(16)
    v = rng.random(1800) < 0.10
    c = rng.random(2000) < 0.05
    est = proportion_diff(int(v.sum()), 1800, int(c.sum()), 2000)
    assert est.significant
    assert est.low > 0
    assert est.low < 0.05 < est.high
    assert est.p_value < 0.001


def test_proportion_no_effect_coverage():
    """With no true difference the interval covers 0 in about 95% of seeded repetitions."""
    rng = np.random.default_rng(2026)
    covered = 0
    reps = 200
    for _ in range(reps):
        x1 = int(rng.binomial(900, 0.05))
        x0 = int(rng.binomial(100, 0.05))
        est = proportion_diff(x1, 900, x0, 100)
        covered += not est.significant
    assert 0.9 <= covered / reps <= 0.99


def test_proportion_edge_cases():
    empty = proportion_diff(0, 0, 5, 100)
    assert empty.diff is None
    assert empty.low is None
    assert not empty.significant
    assert empty.control_rate == 0.05
    assert empty.variant_rate is None
    none_converted = proportion_diff(0, 100, 0, 100)
    assert none_converted.diff == 0
    assert none_converted.p_value == 1.0
    assert not none_converted.significant
    assert none_converted.low < 0 < none_converted.high  # Wilson keeps an interval where Wald collapses to 0
    assert none_converted.relative is None
    all_converted = proportion_diff(100, 100, 100, 100)
    assert all_converted.diff == 0
    assert all_converted.p_value == 1.0
    assert not all_converted.significant
    assert -1 <= all_converted.low <= 0 <= all_converted.high <= 1
    extreme = proportion_diff(10, 10, 0, 10)
    assert extreme.significant
    assert extreme.high <= 1


def _sums(values: np.ndarray) -> tuple[int, Decimal, Decimal]:
    cents = [Decimal(str(v)) for v in np.round(values, 2)]
    return len(cents), sum(cents, Decimal(0)), sum((c * c for c in cents), Decimal(0))


def _revenue(rng, n: int, rate: float, mean_basket: float) -> np.ndarray:
    """Revenue per recipient: 0 for most, a lognormal basket for converters."""
    converted = rng.random(n) < rate
    baskets = rng.lognormal(math.log(mean_basket), 0.6, n)
    return np.round(np.where(converted, baskets, 0.0), 2)


def test_mean_diff_matches_scipy_welch():
    rng = np.random.default_rng(7)
    v, c = _revenue(rng, 1800, 0.10, 300), _revenue(rng, 200, 0.05, 300)
    est = mean_diff(*_sums(v), *_sums(c))
    ref = stats.ttest_ind(v, c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert est.diff == Decimal(str(round(v.mean() - c.mean(), 2)))
    assert float(est.low) == pytest.approx(ci.low, abs=0.006)
    assert float(est.high) == pytest.approx(ci.high, abs=0.006)
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert est.df == pytest.approx(ref.df, rel=1e-9)
    assert isinstance(est.low, Decimal)
    assert est.low.as_tuple().exponent == -2


def test_mean_known_effect_detected_and_no_effect_coverage():
    rng = np.random.default_rng(99)
    v, c = _revenue(rng, 5000, 0.12, 300), _revenue(rng, 5000, 0.05, 300)
    assert mean_diff(*_sums(v), *_sums(c)).significant
    covered = 0
    reps = 200
    for _ in range(reps):
        v, c = rng.normal(100, 30, 400), rng.normal(100, 10, 60)  # equal means, unequal variances
        n1, s1, q1 = len(v), float(v.sum()), float((v * v).sum())
        n0, s0, q0 = len(c), float(c.sum()), float((c * c).sum())
        covered += not mean_diff(n1, s1, q1, n0, s0, q0).significant
    assert 0.9 <= covered / reps <= 0.99


def test_mean_edge_cases():
    assert mean_diff(0, 0, 0, 10, 100, 1000).diff is None
    one = mean_diff(1, Decimal("50"), Decimal("2500"), 10, Decimal("100"), Decimal("1000"))
    assert one.diff == Decimal("40.00")
    assert one.low is None
    assert not one.significant
    flat = mean_diff(10, Decimal("0"), Decimal("0"), 10, Decimal("0"), Decimal("0"))  # nobody bought
    assert flat.diff == Decimal("0.00")
    assert flat.low is None
    assert flat.p_value is None
    assert not flat.significant
    one_sided = mean_diff(10, Decimal("100"), Decimal("1000"), 10, Decimal("0"), Decimal("0"))  # all spent 10
    assert one_sided.diff == Decimal("10.00")
    assert one_sided.low is None
    half = mean_diff(4, Decimal("20"), Decimal("200"), 4, Decimal("0"), Decimal("0"))  # 10,10,0,0 vs 0s
    ref = stats.ttest_ind([10, 10, 0, 0], [0, 0, 0, 0], equal_var=False)
    assert half.p_value == pytest.approx(ref.pvalue)


def test_incremental_revenue():
    assert incremental_revenue(Decimal("1000"), 100, Decimal("50"), 10) == Decimal("500.00")
    assert incremental_revenue(Decimal("1000"), 100, Decimal("0"), 0) is None
    assert incremental_revenue(Decimal("10"), 3, Decimal("10"), 3) == Decimal("0.00")
