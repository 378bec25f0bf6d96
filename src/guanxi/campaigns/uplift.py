"""Uplift of a campaign variant over its control group, with 95% confidence intervals (pure functions).

Two comparisons, each from counts and sums a database can aggregate set-based (no per-recipient rows):

* **Difference of two proportions** (conversion rate of a variant minus the control's): the **Newcombe
  hybrid score interval** (Newcombe 1998, method 10), built from the Wilson score interval of each
  proportion. Chosen over the Wald interval because campaign conversion rates are small (a few percent)
  and groups can be small (a 10% hold-out of a few hundred customers): there the Wald interval is too
  narrow, collapses to a single point when a group has no converter (p = 0) or all converted, and can
  leave [-1, 1]; Newcombe's keeps close to its nominal 95% coverage in those cases and never leaves the
  range. Its p-value is the two-sided pooled score test (the z-test of two proportions with a pooled
  variance, identical to Pearson's chi-square test of the 2×2 table without continuity correction).
* **Difference of two means** (revenue per recipient): **Welch's t interval** — unequal variances, the
  Welch–Satterthwaite degrees of freedom — from n, the sum and the sum of squares of each group. Revenue is
  skewed (most recipients spend nothing), but with hundreds of recipients per group the t interval of a
  mean is reliable by the central limit theorem; with fewer than two recipients in a group, or no
  variation at all in either group, no interval is given.

Floats are used for the statistics only; amounts of money go in and come out as ``Decimal`` (rounded to
the cent). An interval that contains 0 is reported as "no significant difference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from scipy import stats

CONFIDENCE = 0.95
CENT = Decimal("0.01")
PROPORTION_METHOD = "Newcombe hybrid score interval (Wilson), pooled score test"
MEAN_METHOD = "Welch's t interval (unequal variances)"


def _z(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class ProportionDiff:
    """``variant rate − control rate`` (as fractions, e.g. 0.012 = 1.2 points) with its interval."""

    variant_rate: float | None
    control_rate: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    relative: float | None  # diff / control rate; None when the control rate is 0 or unknown
    method: str = PROPORTION_METHOD

    @property
    def computable(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0; False for "no significant difference" (or not computable)."""
        return self.computable and not (self.low <= 0 <= self.high)  # type: ignore[operator]


@dataclass(frozen=True)
class MeanDiff:
    """``variant mean − control mean`` in money (Decimal, to the cent) with Welch's interval."""

    variant_mean: Decimal | None
    control_mean: Decimal | None
    diff: Decimal | None
    low: Decimal | None
    high: Decimal | None
    p_value: float | None
    df: float | None
    relative: float | None
    method: str = MEAN_METHOD

    @property
    def computable(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def significant(self) -> bool:
        return self.computable and not (self.low <= 0 <= self.high)  # type: ignore[operator]


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of one proportion (``n`` > 0)."""
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_diff(
    variant_successes: int, variant_n: int, control_successes: int, control_n: int, confidence: float = CONFIDENCE
) -> ProportionDiff:
    """Difference of two proportions (variant − control) with Newcombe's interval and the score test p-value.

    A group with no one in it gives no estimate (all fields None but the rate that exists).
    """
    p1 = variant_successes / variant_n if variant_n > 0 else None
    p0 = control_successes / control_n if control_n > 0 else None
    if p1 is None or p0 is None:
        return ProportionDiff(p1, p0, None, None, None, None, None)
    l1, u1 = wilson_interval(variant_successes, variant_n, confidence)
    l0, u0 = wilson_interval(control_successes, control_n, confidence)
    d = p1 - p0
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    pooled = (variant_successes + control_successes) / (variant_n + control_n)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / variant_n + 1 / control_n))
    if se0 == 0:  # nobody converted, or everybody did, in both groups: no evidence of a difference
        p_value = 1.0
    else:
        p_value = float(2 * stats.norm.sf(abs(d) / se0))
    relative = d / p0 if p0 > 0 else None
    return ProportionDiff(p1, p0, d, max(-1.0, low), min(1.0, high), p_value, relative)


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _as_float(value: Decimal | float | int) -> float:
    return float(value)


def mean_diff(
    variant_n: int,
    variant_sum: Decimal | float | int,
    variant_sumsq: Decimal | float | int,
    control_n: int,
    control_sum: Decimal | float | int,
    control_sumsq: Decimal | float | int,
    confidence: float = CONFIDENCE,
) -> MeanDiff:
    """Difference of two means (variant − control) with Welch's t interval, from n, Σx and Σx² per group.

    The sample variance is ``(Σx² − (Σx)²/n) / (n − 1)``, computed in floats (clamped at 0 against rounding).
    Needs at least two in each group and some variation; otherwise the means are given without an interval.
    """
    m1 = _as_float(variant_sum) / variant_n if variant_n > 0 else None
    m0 = _as_float(control_sum) / control_n if control_n > 0 else None
    variant_mean = _money(m1) if m1 is not None else None
    control_mean = _money(m0) if m0 is not None else None
    if m1 is None or m0 is None:
        return MeanDiff(variant_mean, control_mean, None, None, None, None, None, None)
    d = m1 - m0
    relative = d / m0 if m0 > 0 else None
    if variant_n < 2 or control_n < 2:
        return MeanDiff(variant_mean, control_mean, _money(d), None, None, None, None, relative)
    v1 = max(0.0, (_as_float(variant_sumsq) - _as_float(variant_sum) ** 2 / variant_n) / (variant_n - 1))
    v0 = max(0.0, (_as_float(control_sumsq) - _as_float(control_sum) ** 2 / control_n) / (control_n - 1))
    a, b = v1 / variant_n, v0 / control_n
    se = math.sqrt(a + b)
    if se == 0 or not math.isfinite(se):
        return MeanDiff(variant_mean, control_mean, _money(d), None, None, None, None, relative)
    df = (a + b) ** 2 / ((a * a / (variant_n - 1) if a else 0.0) + (b * b / (control_n - 1) if b else 0.0))
    t = float(stats.t.ppf(0.5 + confidence / 2, df))
    p_value = float(2 * stats.t.sf(abs(d) / se, df))
    return MeanDiff(
        variant_mean, control_mean, _money(d), _money(d - t * se), _money(d + t * se), p_value, df, relative
    )


def incremental_revenue(variant_sum: Decimal, variant_n: int, control_sum: Decimal, control_n: int) -> Decimal | None:
    """(revenue per recipient of the variant − of the control) × the variant's recipients, to the cent.

    Computed from the exact sums: ``Σvariant − Σcontrol × n_variant / n_control``.
    """
    if variant_n <= 0 or control_n <= 0:
        return None
    value = Decimal(variant_sum) - Decimal(control_sum) * variant_n / control_n
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
