"""Buy-till-you-die models: BG/NBD, Pareto/NBD and Gamma-Gamma, fitted by maximum likelihood.

Plain NumPy/SciPy with no Django imports, so the models can be fitted in a Celery worker, a notebook
or a benchmark alike. Every function is vectorised over customers and takes the usual summary of a
customer's calibration period (see :mod:`guanxi.analytics.summary`):

* ``frequency`` (x): number of repeat purchases,
* ``recency`` (t_x): time of the last purchase, measured from the first,
* ``T``: time from the first purchase to the end of calibration,
* ``monetary_value`` (z̄): mean spend of the repeat purchases,

all in one time unit of the caller's choice (CDNOW uses weeks). Parameters are estimated on the log
scale so that the optimiser needs no positivity constraints, and customers that share the same
summary are collapsed into one weighted row (callers can also pass ``weights`` from a SQL
``GROUP BY``).

References:
    [FHL05a] Fader, Hardie & Lee (2005), "Counting Your Customers" the Easy Way: An Alternative to the
             Pareto/NBD Model. Marketing Science 24(2).
    [FH05]   Fader & Hardie (2005), A Note on Deriving the Pareto/NBD Model and Related Expressions.
    [SMC87]  Schmittlein, Morrison & Colombo (1987), Counting Your Customers. Management Science 33(1).
    [FHL05b] Fader, Hardie & Lee (2005), RFM and CLV: Using Iso-Value Curves for Customer Base
             Analysis. Journal of Marketing Research 42(4).
    [FH13]   Fader & Hardie (2013), The Gamma-Gamma Model of Monetary Value.
    [FH08]   Fader & Hardie (2008), Computing P(alive) Using the BG/NBD Model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

__all__ = [
    "BGNBD",
    "Fit",
    "GammaGamma",
    "ParetoNBD",
    "PurchaseModel",
    "customer_lifetime_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
]

FloatArray = NDArray[np.float64]
ModelT = TypeVar("ModelT")

_LOG_BOUND = 12.0
_MANY_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class Fit(Generic[ModelT]):
    """The outcome of a maximum-likelihood fit.

    ``log_likelihood`` is the total over customers, comparable with the published figures
    (−9582.4 for BG/NBD on CDNOW); ``n_customers`` counts customers, not collapsed rows.
    """

    params: ModelT
    log_likelihood: float
    n_customers: int
    iterations: int
    converged: bool
    message: str


class PurchaseModel(Protocol):
    """What :func:`customer_lifetime_value` needs from a transaction model."""

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...


def _f(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _collapse(columns: tuple[FloatArray, ...], weights: ArrayLike | None) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Merge customers with identical summaries into one weighted row; the likelihood is unchanged.

    A lexsort over the columns is several times faster than ``np.unique(axis=0)`` on a million rows.
    """
    n = len(columns[0])
    w = np.ones(n) if weights is None else np.broadcast_to(_f(weights), (n,))
    order = np.lexsort(columns[::-1])
    ordered = [np.asarray(column)[order] for column in columns]
    boundary = np.zeros(n, dtype=bool)
    boundary[:1] = True
    for column in ordered:
        boundary[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(boundary)
    counts = np.add.reduceat(w[order], starts)
    keep = counts > 0
    return tuple(column[starts][keep] for column in ordered), counts[keep]


def _check_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, t = np.broadcast_arrays(_f(frequency), _f(recency), _f(T))
    if x.size == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(x != np.rint(x)):
        raise ValueError("frequency must be a non-negative whole number of repeat purchases")
    if np.any(t_x < 0) or np.any(t_x > t):
        raise ValueError("recency must lie between 0 and T")
    if np.any((x > 0) & (t_x <= 0)):
        raise ValueError("customers with repeat purchases need a positive recency")
    return x.ravel(), t_x.ravel(), t.ravel()


def _maximise(
    objective: Callable[[FloatArray], tuple[float, FloatArray]] | Callable[[FloatArray], float],
    start: FloatArray,
    total_weight: float,
    *,
    analytic_gradient: bool,
    rows: int,
) -> tuple[FloatArray, float, int, bool, str]:
    """Minimise the mean negative log-likelihood over log-parameters, each kept within e^±12.

    The mean keeps the objective O(1) whatever the number of customers, so one set of tolerances
    suits CDNOW and a million-customer base alike. The optimiser depends on what an evaluation costs:

    * analytic gradient, few rows: truncated Newton (TNC). It makes no LAPACK calls, whereas
      L-BFGS-B's small Cholesky factorisations go through OpenBLAS threads that stall for tens of
      milliseconds on a busy machine, which would dominate a millisecond-scale fit;
    * analytic gradient, many rows: L-BFGS-B, which needs about half TNC's evaluations once an
      evaluation costs more than such a stall;
    * no analytic gradient: SLSQP with forward differences, the fewest likelihood evaluations.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    if analytic_gradient and rows < _MANY_ROWS:
        options: dict[str, float] = {"ftol": 1e-14, "gtol": 1e-9, "xtol": 1e-10, "maxfun": 2000}
        result = minimize(objective, start, jac=True, method="TNC", bounds=bounds, options=options)
    elif analytic_gradient:
        options = {"ftol": 1e-14, "gtol": 1e-9, "maxiter": 1000, "maxcor": 20}
        result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    else:
        options = {"ftol": 1e-14, "maxiter": 1000}
        result = minimize(objective, start, jac="2-point", method="SLSQP", bounds=bounds, options=options)
    return (
        np.exp(result.x),
        -float(result.fun) * float(total_weight),
        int(result.nit),
        bool(result.success),
        str(result.message),
    )


@dataclass(frozen=True, slots=True)
class BGNBD:
    """BG/NBD [FHL05a]: purchases Poisson(λ) while alive, λ ~ Gamma(r, α); after each repeat purchase
    the customer drops out with probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood, [FHL05a] eq. 6 written as a log-sum of its two terms."""
        x, t_x, t = np.broadcast_arrays(_f(frequency), _f(recency), _f(T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        repeat = x > 0
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
        alive = -(r + x) * np.log(alpha + t)
        with np.errstate(divide="ignore", invalid="ignore"):
            dropped = np.where(repeat, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
        return common + np.logaddexp(alive, dropped)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive | x, t_x, T) as in [FH08]; exactly 1 for customers with no repeat purchase."""
        x, t_x, t = np.broadcast_arrays(_f(frequency), _f(recency), _f(T))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(self.a) - np.log(self.b + x - 1) + (self.r + x) * np.log((self.alpha + t) / (self.alpha + t_x))
            )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.where(x > 0, log_odds, 0.0))), 1.0)

    def expected_repeat_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] for a customer just acquired, [FHL05a] eq. 9.

        Euler's transformation turns (α/(α+t))^r ₂F₁(r, b; a+b−1; z) into (1−z)^(a−1) ₂F₁(a+b−1−r, a−1;
        a+b−1; z), which stays finite for long horizons.
        """
        t = _f(t)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + t)
        tail = (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b - 1.0, z)
        return (a + b - 1.0) / (a - 1.0) * (1.0 - tail)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t periods, [FHL05a] eq. 10.

        The ₂F₁(r+x, b+x; a+b+x−1; z) factor grows without bound in x; after Euler's transformation the
        same quantity is (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), whose parameters do not grow.
        """
        alive = self.probability_alive(frequency, recency, T)
        t, x, big_t = np.broadcast_arrays(_f(t), _f(frequency), _f(T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + big_t + t)
        tail = (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        return (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail) * alive

    def simulate(self, T: ArrayLike, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """Draw (frequency, recency) for customers observed for T periods, by the assumptions of [FHL05a].

        The Poisson process would make K ~ Poisson(λT) repeat purchases in (0, T]; the customer survives
        a Geometric(p) number of them, so x = min(K, N) and t_x is the x-th of K uniform arrival times,
        T·Beta(x, K − x + 1).
        """
        t = np.ravel(_f(T))
        rate = rng.gamma(self.r, 1.0 / self.alpha, t.size)
        p = rng.beta(self.a, self.b, t.size)
        k = rng.poisson(rate * t)
        x = np.minimum(k, rng.geometric(np.maximum(p, 1e-300)))
        last = t * rng.beta(np.maximum(x, 1), k - x + 1)
        return x.astype(np.float64), np.where(x > 0, last, 0.0)


def _bgnbd_objective(
    x: FloatArray, t_x: FloatArray, t: FloatArray, w: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Mean negative log-likelihood of [FHL05a] eq. 6 and its gradient in log-parameters.

    Terms that depend on the customer only through x (the gamma and beta functions) are summed once
    per distinct x with the customer counts as weights; customers without a repeat purchase have only
    the 'still alive' term and are kept apart, so each row costs two logarithms and one log-sum-exp.
    """
    total = w.sum()
    zero = x == 0
    t0, w0 = t[zero], w[zero]
    t_x1, t1, w1 = t_x[~zero], t[~zero], w[~zero]
    k1 = x[~zero].astype(np.int64)
    x1 = k1.astype(np.float64)
    grid = np.arange(k1.max() + 1 if k1.size else 1, dtype=np.float64)
    count_by_x = np.bincount(k1, weights=w1, minlength=grid.size)
    count_by_x[0] = w0.sum()
    repeat_grid = grid[1:]

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(log_params)
        by_x = gammaln(r + grid) - gammaln(r) + gammaln(b + grid) - gammaln(b) - gammaln(a + b + grid) + gammaln(a + b)
        ll = float(count_by_x @ by_x) + total * r * np.log(alpha)
        d_r = float(count_by_x @ digamma(r + grid)) + total * (np.log(alpha) - digamma(r))
        d_alpha = total * r / alpha
        dg_ab = count_by_x @ digamma(a + b + grid)
        d_a = total * digamma(a + b) - dg_ab
        d_b = float(count_by_x @ digamma(b + grid)) + total * (digamma(a + b) - digamma(b)) - dg_ab

        log_at0 = np.log(alpha + t0)
        ll -= r * float(w0 @ log_at0)
        d_r -= float(w0 @ log_at0)
        d_alpha -= r * float(w0 @ (1.0 / (alpha + t0)))

        if k1.size:
            inv_bx1 = (1.0 / (b + repeat_grid - 1.0))[k1 - 1]
            rx = r + x1
            log_at, log_atx = np.log(alpha + t1), np.log(alpha + t_x1)
            alive = -rx * log_at
            dropped = np.log(a * inv_bx1) - rx * log_atx
            tail = np.logaddexp(alive, dropped)
            p_dropped = np.exp(dropped - tail)
            ll += float(w1 @ tail)
            d_r -= float(w1 @ (log_at + p_dropped * (log_atx - log_at)))
            d_alpha -= float(w1 @ (rx * (1.0 / (alpha + t1) + p_dropped * (1.0 / (alpha + t_x1) - 1.0 / (alpha + t1)))))
            d_a += float(w1 @ p_dropped) / a
            d_b -= float(w1 @ (p_dropped * inv_bx1))
        grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll / total, -grad / total

    return objective


def _start(guess: Any, default: list[float]) -> FloatArray:
    """Log-parameters to start from: a previous fit's when given and usable, else ``default``."""
    if guess is not None:
        values = np.array([float(v) for v in astuple(guess)])
        usable = values.shape == (len(default),) and np.all(np.isfinite(values)) and np.all(values > 0)
        if usable and np.all(np.abs(np.log(values)) < _LOG_BOUND):
            return np.log(values)
    return np.log(default)


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    start: BGNBD | None = None,
) -> Fit[BGNBD]:
    """Maximum-likelihood BG/NBD with the analytic gradient of [FHL05a] eq. 6.

    Starts from ``start`` (the previous refresh's parameters: a day's new orders barely move the
    optimum, so the optimiser needs a few steps instead of a few dozen), else from r = 1,
    α = 1/(mean purchase rate), a = b = 1, where the gamma mean matches the observed rate.
    """
    x, t_x, t = _check_rfm(frequency, recency, T)
    (x, t_x, t), w = _collapse((x, t_x, t), weights)
    rate = max(float(w @ x) / max(float(w @ t), 1e-12), 1e-6)
    params, ll, nit, ok, message = _maximise(
        _bgnbd_objective(x, t_x, t, w),
        _start(start, [1.0, 1.0 / rate, 1.0, 1.0]),
        w.sum(),
        analytic_gradient=True,
        rows=x.size,
    )
    return Fit(BGNBD(*map(float, params)), ll, int(round(w.sum())), nit, ok, message)


@dataclass(frozen=True, slots=True)
class ParetoNBD:
    """Pareto/NBD [SMC87]: purchases Poisson(λ) while alive, lifetime Exponential(μ), with
    λ ~ Gamma(r, α) and μ ~ Gamma(s, β)."""

    r: float
    alpha: float
    s: float
    beta: float

    def _log_a0(self, x: FloatArray, t_x: FloatArray, t: FloatArray) -> FloatArray:
        """log A₀ of [FH05] eq. 19–20: the probability of dying between t_x and T, up to a factor s/(r+s+x).

        [FH05] states A₀ with ₂F₁(r+s+x, ·; r+s+x+1; z), which overflows for heavy buyers or large s.
        Euler's transformation ₂F₁(a, b; c; z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z) turns it into
        ₂F₁(1, ·; r+s+x+1; z), bounded by (r+s+x)/s when α ≥ β and growing only like (1−z)^(r+x−1)
        otherwise. The difference of the two endpoint terms is taken as l₁ + log(1 − e^(l₂−l₁)).
        """
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        rx = r + x
        c = rx + s + 1.0

        def endpoint(u: FloatArray) -> FloatArray:
            log_a, log_b = np.log(alpha + u), np.log(beta + u)
            if alpha >= beta:
                return np.log(hyp2f1(1.0, rx, c, (alpha - beta) / (alpha + u))) - rx * log_a - s * log_b
            return np.log(hyp2f1(1.0, s + 1.0, c, (beta - alpha) / (beta + u))) - (rx - 1.0) * log_a - (s + 1.0) * log_b

        l1, l2 = endpoint(t_x), endpoint(t)
        with np.errstate(divide="ignore"):
            return l1 + np.log(-np.expm1(np.minimum(l2 - l1, 0.0)))

    def _log_terms(self, x: FloatArray, t_x: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """log of the 'alive at T' and 'died in (t_x, T]' parts of the likelihood, without the common factor."""
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        alive = -(r + x) * np.log(alpha + t) - s * np.log(beta + t)
        dead = np.log(s) - np.log(r + s + x) + self._log_a0(x, t_x, t)
        return alive, dead

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood, [FH05] eq. 18–20."""
        x, t_x, t = np.broadcast_arrays(_f(frequency), _f(recency), _f(T))
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive, dead = self._log_terms(x, t_x, t)
        return common + np.logaddexp(alive, dead)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive | x, t_x, T), [FH05] eqs. 36–37, as a logistic of the log-ratio of the two likelihood parts."""
        x, t_x, t = np.broadcast_arrays(_f(frequency), _f(recency), _f(T))
        alive, dead = self._log_terms(x, t_x, t)
        return np.exp(alive - np.logaddexp(alive, dead))

    def _rate_integral(self, t: FloatArray, start: FloatArray) -> FloatArray:
        """(1 − ((β+start)/(β+start+t))^(s−1)) / (s−1), continuous through s = 1 (where it is a log)."""
        log_ratio = np.log((self.beta + start) / (self.beta + start + t))
        s1 = self.s - 1.0
        if abs(s1) < 1e-10:
            return -log_ratio
        return -np.expm1(s1 * log_ratio) / s1

    def expected_repeat_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] for a customer just acquired, [FH05] eq. 27."""
        t = _f(t)
        return self.r * self.beta / self.alpha * self._rate_integral(t, np.zeros_like(t))

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t periods, [FH05] eq. 41."""
        alive = self.probability_alive(frequency, recency, T)
        t, x, big_t = np.broadcast_arrays(_f(t), _f(frequency), _f(T))
        r, alpha, beta = self.r, self.alpha, self.beta
        return (r + x) * (beta + big_t) / (alpha + big_t) * self._rate_integral(t, big_t) * alive

    def simulate(self, T: ArrayLike, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """Draw (frequency, recency) for customers observed for T periods, by the assumptions of [SMC87].

        The customer buys at rate λ until an exponential lifetime τ; over (0, min(τ, T)] that is
        x ~ Poisson(λ·min(τ, T)) purchases, the last of them at min(τ, T)·Beta(x, 1).
        """
        t = np.ravel(_f(T))
        rate = rng.gamma(self.r, 1.0 / self.alpha, t.size)
        death = rng.gamma(self.s, 1.0 / self.beta, t.size)
        observed = np.minimum(rng.exponential(1.0 / np.maximum(death, 1e-300)), t)
        x = rng.poisson(rate * observed)
        last = observed * rng.beta(np.maximum(x, 1), 1.0)
        return x.astype(np.float64), np.where(x > 0, last, 0.0)


def fit_pareto_nbd(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> Fit[ParetoNBD]:
    """Maximum-likelihood Pareto/NBD.

    The hypergeometric terms have no convenient derivatives in their parameters, so the gradient is
    taken by forward differences. The start is the BG/NBD fit, which is fast and lands the
    transaction process (r, α) close to its Pareto/NBD optimum.
    """
    x, t_x, t = _check_rfm(frequency, recency, T)
    (x, t_x, t), w = _collapse((x, t_x, t), weights)
    total = w.sum()
    bg = fit_bgnbd(x, t_x, t, weights=w).params
    start = np.log([bg.r, bg.alpha, 1.0, max(bg.alpha, 1.0)])
    x_int = x.astype(np.int64)
    grid = np.arange(x_int.max() + 1, dtype=np.float64)

    def objective(log_params: FloatArray) -> float:
        r, alpha, s, beta = np.exp(log_params)
        model = ParetoNBD(r, alpha, s, beta)
        alive, dead = model._log_terms(x, t_x, t)
        ll = gammaln(r + grid)[x_int] - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(alive, dead)
        return -float(w @ ll) / total

    params, ll, nit, ok, message = _maximise(objective, start, total, analytic_gradient=False, rows=x.size)
    return Fit(ParetoNBD(*map(float, params)), ll, int(round(total)), nit, ok, message)


@dataclass(frozen=True, slots=True)
class GammaGamma:
    """Gamma-Gamma spend model [FHL05b, FH13]: each transaction's value is Gamma(p, ν) with the
    customer's ν ~ Gamma(q, γ), independent of the purchase process."""

    p: float
    q: float
    gamma: float

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Per-customer log density of the observed mean spend z̄ given x transactions [FH13]: z̄ is
        Gamma(px, xν), and integrating over ν ~ Gamma(q, γ) gives a scaled beta-prime density."""
        x, m = np.broadcast_arrays(_f(frequency), _f(monetary_value))
        p, q, g = self.p, self.q, self.gamma
        px = p * x
        return (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(g)
            + (px - 1.0) * np.log(m)
            + px * np.log(x)
            - (px + q) * np.log(g + x * m)
        )

    def mean_spend(self) -> float:
        """Population mean transaction value E[Z] = pγ/(q − 1); infinite when q ≤ 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[Z | x, z̄] [FH13]: a weighted average of the population mean and the customer's own
        mean, with weight px/(px + q − 1) on the latter. Customers with no repeat purchase get the
        population mean."""
        x, m = np.broadcast_arrays(_f(frequency), _f(monetary_value))
        p, q, g = self.p, self.q, self.gamma
        return p * (g + x * m) / (p * x + q - 1.0)

    def simulate(self, frequency: ArrayLike, rng: np.random.Generator) -> FloatArray:
        """Draw each customer's mean spend over ``frequency`` transactions [FH13]: ν ~ Gamma(q, γ) and
        the mean of x Gamma(p, ν) values is Gamma(px, xν). Customers with x = 0 get 0."""
        x = np.ravel(_f(frequency))
        nu = rng.gamma(self.q, 1.0 / self.gamma, x.size)
        safe = np.maximum(x, 1.0)
        return np.where(x > 0, rng.gamma(self.p * safe, 1.0 / (safe * nu)), 0.0)


def _gamma_gamma_objective(
    x: FloatArray, m: FloatArray, w: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    total = w.sum()
    log_x, log_m, xm = np.log(x), np.log(m), x * m

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        p, q, g = np.exp(log_params)
        px = p * x
        log_gxm = np.log(g + xm)
        ll = (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(g)
            + (px - 1.0) * log_m
            + px * log_x
            - (px + q) * log_gxm
        )
        dg = digamma(px + q)
        d_p = x * (dg - digamma(px) + log_m + log_x - log_gxm)
        d_q = dg - digamma(q) + np.log(g) - log_gxm
        d_g = q / g - (px + q) / (g + xm)
        grad = np.array([w @ d_p, w @ d_q, w @ d_g]) * np.array([p, q, g])
        return -float(w @ ll) / total, -grad / total

    return objective


def fit_gamma_gamma(
    frequency: ArrayLike, monetary_value: ArrayLike, *, weights: ArrayLike | None = None
) -> Fit[GammaGamma]:
    """Maximum-likelihood Gamma-Gamma on the customers with at least one repeat purchase.

    Customers with x = 0 (or a non-positive mean spend) carry no information about spend and are
    left out, as in [FHL05b]; ``n_customers`` reports how many were used. The start takes p = 2, q from
    the squared coefficient of variation of z̄, and γ so that the population mean pγ/(q − 1) equals
    the observed mean spend. (A previous fit as the start saves nothing here: the moment start is as close.)
    """
    x, m = np.broadcast_arrays(_f(frequency), _f(monetary_value))
    w = np.ones(x.shape) if weights is None else np.broadcast_to(_f(weights), x.shape)
    used = (x > 0) & (m > 0)
    if not used.any():
        raise ValueError("Gamma-Gamma needs customers with at least one repeat purchase and positive spend")
    (x, m), w = _collapse((x[used], m[used]), w[used])
    total = w.sum()
    mean_m = float(w @ m) / total
    var_m = float(w @ (m - mean_m) ** 2) / total
    q0 = 2.0 + mean_m**2 / max(var_m, 1e-12)
    p0 = 2.0
    params, ll, nit, ok, message = _maximise(
        _gamma_gamma_objective(x, m, w),
        np.log([p0, q0, mean_m * (q0 - 1.0) / p0]),
        total,
        analytic_gradient=True,
        rows=x.size,
    )
    return Fit(GammaGamma(*map(float, params)), ll, int(round(total)), nit, ok, message)


def customer_lifetime_value(
    model: PurchaseModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    expected_spend: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    periods_per_month: float = 4.345,
) -> FloatArray:
    """Discounted value of each customer's purchases over the next ``months``.

    Month m contributes spend × (E[Y(m)] − E[Y(m−1)]) / (1 + d)^m, the discrete-time DCF used by
    lifetimes' ``customer_lifetime_value``; ``periods_per_month`` converts months into the model's
    time unit (4.345 for weeks, 30 for days). ``expected_spend`` is usually
    :meth:`GammaGamma.expected_spend` (or a margin on it).
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    x, t_x, t = (np.ravel(_f(v)) for v in (frequency, recency, T))
    horizon = periods_per_month * np.arange(months + 1, dtype=np.float64)
    cumulative = model.expected_purchases(horizon[None, :], x[:, None], t_x[:, None], t[:, None])
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)
    return _f(expected_spend).ravel() * (np.diff(cumulative, axis=1) @ discount)
