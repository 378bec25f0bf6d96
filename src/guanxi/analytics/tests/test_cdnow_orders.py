"""The CDNOW sample loaded as Guanxi orders: the summary Guanxi computes in SQL from its own order rows is
the published one, and the model code fitted on it reproduces the published BG/NBD and Gamma-Gamma
estimates (Fader, Hardie & Lee 2005). The same holds through the scores refresh, which works in days."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from guanxi.analytics import btyd, sql
from guanxi.analytics.loaders import cdnow_load
from guanxi.analytics.models import ModelFit
from guanxi.analytics.services import scores_refresh
from guanxi.analytics.tests import cdnow

CALIBRATION_END = dt.date(1997, 9, 30)
HOLDOUT_END = dt.date(1998, 6, 30)
ROUNDING = 0.005 + 1e-9  # the published files round to two decimals


def three_figures(value: float, published: float) -> bool:
    return abs(value - published) <= 0.5 * 10 ** (math.floor(math.log10(abs(published))) - 2)


@pytest.mark.django_db
def test_cdnow_orders_give_the_published_summary_and_estimates(capsys):
    ids = cdnow_load(cdnow.DATA / "CDNOW_sample.txt")
    assert len(ids) == 2357

    summary = sql.order_summary(as_of=CALIBRATION_END, holdout_end=HOLDOUT_END, period_days=7.0)
    published, spend = cdnow.published_summary(), cdnow.published_spend()
    by_pk = {pk: cdnow_id for cdnow_id, pk in ids.items()}
    np.testing.assert_array_equal([by_pk[int(pk)] for pk in summary.customer_id], published["ID"])
    np.testing.assert_array_equal(summary.frequency, published["frequency"])
    np.testing.assert_allclose(summary.recency, published["recency"], rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(summary.T, published["T"], rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(summary.monetary_value, spend["zbar"], rtol=0, atol=ROUNDING)
    assert summary.frequency.sum() == 2457
    assert (summary.frequency == 0).sum() == 1411
    assert summary.holdout_frequency.sum() == 1882

    # identical to the NumPy summary built from the text file
    numpy_summary = cdnow.summary()
    np.testing.assert_array_equal(summary.frequency, numpy_summary.frequency)
    np.testing.assert_allclose(summary.recency, numpy_summary.recency, rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary.T, numpy_summary.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary.monetary_value, numpy_summary.monetary_value, rtol=0, atol=1e-9)

    bg = btyd.fit_bgnbd(summary.frequency, summary.recency, summary.T)
    assert bg.converged
    for name, value in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert three_figures(getattr(bg.params, name), value), (name, getattr(bg.params, name))
    assert bg.log_likelihood == pytest.approx(-9582.4, abs=0.05)

    gg = btyd.fit_gamma_gamma(summary.frequency, summary.monetary_value)
    assert gg.n_customers == 946
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert three_figures(getattr(gg.params, name), value), (name, getattr(gg.params, name))

    forecast = float(bg.params.expected_purchases(39.0, summary.frequency, summary.recency, summary.T).sum())
    with capsys.disabled():
        print(f"\nCDNOW holdout weeks 40-78: BG/NBD forecast {forecast:.0f} repeat purchases, actual 1882")  # noqa: T201 - the figure is the point of the run
    # the models' known ~12 % under-forecast of this holdout (see test_btyd), from Guanxi's own rows
    assert forecast == pytest.approx(1653.4, abs=1.0)

    # The scores refresh (time unit: days) fits the same model: r, a, b unchanged, alpha seven times larger.
    result = scores_refresh(as_of=CALIBRATION_END)
    assert result.customers == 2357
    fit = ModelFit.objects.get(model=ModelFit.Kind.BGNBD)
    assert fit.params["r"] == pytest.approx(bg.params.r, rel=1e-3)
    assert fit.params["alpha"] == pytest.approx(7 * bg.params.alpha, rel=1e-3)
    assert fit.params["a"] == pytest.approx(bg.params.a, rel=1e-3)
    assert fit.params["b"] == pytest.approx(bg.params.b, rel=1e-3)
    # a change of time unit shifts the log-likelihood by -sum(x) * log(7)
    assert fit.log_likelihood == pytest.approx(bg.log_likelihood - 2457 * math.log(7), abs=0.05)
