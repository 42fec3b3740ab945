"""Tests of the ETS baseline (step/forecasters/ets.py)."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from statsforecast.models import AutoETS

from step.forecasters import ets as ets_mod
from step.forecasters.ets import ets_forecasts


def _sf_fit(y: np.ndarray, model: str) -> dict:
    """statsforecast's own fit of one candidate (its ``model_`` dict: par, fitted, aicc, ...)."""
    return AutoETS(model="ANN" if model == "ANN" else "AAN", damped=model == "AAdN").fit(y).model_


def test_causality_scrambling_the_future_leaves_earlier_forecasts_unchanged():
    rng = np.random.default_rng(0)
    T, N, fit_end = 40, 6, 25
    X = np.cumsum(rng.standard_normal((T, N)), axis=0)
    X[:, 1] += 0.4 * np.arange(T)  # a trending gene, so AAdN is among the fits
    X[5, 2] = X[31, 2] = np.nan    # missing values before and after fit_end
    targets = np.arange(0, T + 1)
    base, info = ets_forecasts(X, targets, fit_end)
    assert base.shape == (T + 1, N) and np.isfinite(base).all()
    assert sum(info["models"].values()) == N and info["fit_end"] == fit_end
    for m in (fit_end, fit_end + 1, fit_end + 8):
        Y = X.copy()
        Y[m:] = rng.permutation(Y[m:]) * 3.0 + rng.standard_normal(Y[m:].shape)
        Y[m + 1, 3] = np.nan
        got, info_m = ets_forecasts(Y, targets, fit_end)
        early = targets <= m
        assert np.array_equal(got[early], base[early]), m
        assert info_m["models"] == info["models"]
        assert not np.allclose(got[~early], base[~early])  # the scramble did change later forecasts


def test_constant_level_with_noise_forecasts_the_level():
    rng = np.random.default_rng(1)
    T, fit_end, level = 80, 50, 2.0
    X = level + 0.1 * rng.standard_normal((T, 3))
    F, info = ets_forecasts(X, np.arange(fit_end, T), fit_end)
    assert info["fallbacks"] == 0
    assert np.abs(F - level).max() < 0.15
    assert np.abs(F - level).mean() < 0.06


def test_ses_matches_hand_recursion_with_the_library_parameters():
    rng = np.random.default_rng(2)
    T, fit_end, alpha_true = 400, 300, 0.3  # alpha estimate sd about 0.04 at 300 points
    y, lev = np.empty(T), 1.0
    for t in range(T):  # simulate ANN: y_t = l_{t-1} + e_t, l_t = l_{t-1} + alpha e_t
        e = 0.5 * rng.standard_normal()
        y[t] = lev + e
        lev += alpha_true * e
    res = _sf_fit(y[:fit_end], "ANN")
    alpha, l0 = res["par"][0], res["par"][4]
    assert abs(alpha - alpha_true) < 0.15
    hand, lev = np.empty(T + 1), l0  # independent loop over the whole series
    for t in range(T):
        hand[t] = lev
        lev = lev + alpha * (y[t] - lev)
    hand[T] = lev
    F, info = ets_forecasts(y[:, None], np.arange(T + 1), fit_end, models=("ANN",))
    assert info["models"] == {"ANN": 1}
    np.testing.assert_allclose(F[:, 0], hand, rtol=1e-10, atol=1e-12)
    # and statsforecast's own filter agrees on the fit period
    np.testing.assert_allclose(F[:fit_end, 0], res["fitted"], rtol=1e-10, atol=1e-12)
    # statsmodels' maximum-likelihood SES (the engine before 2026-12-07) finds the same optimum
    sm = pytest.importorskip("statsmodels.tsa.exponential_smoothing.ets")
    ref = sm.ETSModel(y[:fit_end], error="add", initialization_method="estimated").fit(disp=False)
    assert abs(ref.params[0] - alpha) < 0.01
    np.testing.assert_allclose(F[:fit_end, 0], ref.fittedvalues, rtol=0, atol=0.01)


def test_linear_trend_chooses_damped_trend_and_beats_persistence():
    rng = np.random.default_rng(3)
    T, fit_end = 60, 40
    t = np.arange(T, dtype=float)
    X = np.stack([0.5 * t - 3.0, -0.3 * t + 1.0 + 0.01 * rng.standard_normal(T)], axis=1)
    targets = np.arange(fit_end, T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library's warnings must not leak out
        F, info = ets_forecasts(X, targets, fit_end)
    assert info["models"] == {"AAdN": 2}
    err = np.abs(F - X[targets]).mean(axis=0)
    err_persistence = np.abs(X[targets - 1] - X[targets]).mean(axis=0)  # = |slope|
    assert (err < 0.1 * err_persistence).all(), (err, err_persistence)
    # the vectorised filter reproduces statsforecast's AAdN filter on the fit period
    res = _sf_fit(X[:fit_end, 1], "AAdN")
    Ffit, _ = ets_forecasts(X, np.arange(fit_end), fit_end)
    np.testing.assert_allclose(Ffit[:, 1], res["fitted"], rtol=1e-8, atol=1e-8)


def test_missing_values_and_constant_series_are_handled_and_counted(caplog):
    rng = np.random.default_rng(4)
    T, fit_end = 40, 25
    X = np.cumsum(rng.standard_normal((T, 6)), axis=0)
    X[[3, 4, 17, 30], 0] = np.nan      # interior gaps, in and after the fit period
    X[:6, 1] = np.nan                  # leading gap
    X[:, 2] = 1.5                      # constant
    X[:, 3] = np.nan
    X[30:, 3] = 0.7                    # nothing observed in the fit period
    X[:, 4] = np.nan
    X[[2, 9, 20], 4] = [0.1, 0.2, 0.3]  # only 3 observations in the fit period
    X[33:, 4] = 0.5
    targets = np.arange(T + 1)
    with caplog.at_level(logging.WARNING, logger="step.forecasters.ets"):
        F, info = ets_forecasts(X, targets, fit_end)
    assert info["fallbacks"] == 3
    assert info["fallback_reasons"] == {"constant": 1, "short": 2}
    assert info["models"]["persistence"] == 3 and sum(info["models"].values()) == 6
    assert any("fell back" in r.getMessage() for r in caplog.records)
    # constant gene: forecast is the constant; short gene: persistence of the last observation
    assert np.array_equal(F[:, 2], np.full(T + 1, 1.5))
    assert np.array_equal(F[21:34, 4], np.full(13, 0.3)) and np.array_equal(F[34:, 4], np.full(7, 0.5))
    # nothing observed yet: NaN, then persistence
    assert np.isnan(F[:31, 3]).all() and np.array_equal(F[31:, 3], np.full(10, 0.7))
    assert np.isfinite(F[:, [0, 1, 5]]).all()
    # interior gaps behave exactly as carrying the last value forward
    Xf = X.copy()
    for t in (3, 4, 17, 30):
        Xf[t, 0] = Xf[t - 1, 0]
    Ff, _ = ets_forecasts(Xf, targets, fit_end)
    np.testing.assert_allclose(F[:, 0], Ff[:, 0], rtol=0, atol=1e-12)
    # leading gap: with fixed parameters the filter does not look ahead to the first observation
    fit = ets_mod.fit_ets(X, fit_end)
    Y = X.copy()
    Y[6:, 1] += 5.0
    path_x, path_y = ets_mod.ets_filter(X, fit), ets_mod.ets_filter(Y, fit)
    assert np.array_equal(path_x[:7, 1], path_y[:7, 1]) and not np.allclose(path_x[7:, 1], path_y[7:, 1])
    np.testing.assert_allclose(path_x[:, :], F, rtol=0, atol=0)
    # a too-short fit period -> persistence for every gene
    Fs, info_s = ets_forecasts(X[:, [0, 5]], targets, 3)
    assert info_s["fallbacks"] == 2 and info_s["models"] == {"persistence": 2}
    assert np.array_equal(Fs[4:, 1], X[3:, 5])


def test_failed_fits_fall_back_to_ses_and_nonconvergence_is_counted(monkeypatch, caplog):
    rng = np.random.default_rng(5)
    X = np.cumsum(rng.standard_normal((30, 3)), axis=0)
    orig_fit = AutoETS.fit

    def fit(self, *a, **k):
        if self.damped:
            raise np.linalg.LinAlgError("boom")
        return orig_fit(self, *a, **k)

    monkeypatch.setattr(AutoETS, "fit", fit)
    with caplog.at_level(logging.WARNING, logger="step.forecasters.ets"):
        F, info = ets_forecasts(X, np.arange(20, 30), 20, models=("AAdN",))
    assert info["models"] == {"ANN": 3} and info["fallbacks"] == 3
    assert info["fallback_reasons"] == {"failed": 3}
    assert np.isfinite(F).all()

    orig_one = ets_mod._fit_one

    def not_converged(y, name, *rest):
        r = orig_one(y, name, *rest)
        return (r[0], r[1], False)

    monkeypatch.setattr(ets_mod, "_fit_one", not_converged)
    _, info = ets_forecasts(X, np.arange(20, 30), 20, models=("ANN",))
    assert info["nonconverged"] == 3 and info["fallbacks"] == 0


def test_bad_arguments():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError):
        ets_forecasts(X, np.array([11]), 5)
    with pytest.raises(ValueError):
        ets_forecasts(X, np.array([3]), 5, models=("MNM",))
    with pytest.raises(ValueError):
        ets_forecasts(X, np.array([3]), 11)


def test_process_pool_gives_the_same_fit():
    """Genome scale: the per-gene fits spread over processes give exactly the in-process result."""
    from step.forecasters.ets import fit_ets

    rng = np.random.default_rng(7)
    series = np.cumsum(rng.normal(size=(20, 24)), axis=0)
    series[:, 3] = 1.0  # constant: persistence fallback
    one = fit_ets(series, 15, ("ANN",), processes=1)
    two = fit_ets(series, 15, ("ANN",), processes=2)
    for k in ("model", "alpha", "beta", "phi", "level0", "trend0"):
        np.testing.assert_array_equal(getattr(one, k), getattr(two, k))
    assert one.info["models"] == two.info["models"] and two.info["fallbacks"] == one.info["fallbacks"] == 1


@pytest.mark.parametrize("fit_end", [4, 5, 6, 7, 9])
def test_short_fit_periods_are_fitted_not_persistence(fit_end):
    """statsforecast refuses fewer than 7 points for SES: those fit periods are fitted by statsmodels
    (its optimum, as before), not dropped to persistence; from 7 points statsforecast fits."""
    rng = np.random.default_rng(8)
    X = np.cumsum(rng.standard_normal((12, 4)), axis=0)
    F, info = ets_forecasts(X, np.arange(13), fit_end, models=("ANN",))
    assert info["models"] == {"ANN": 4}
    # at 4 points the small-sample AICc is infinite: the (only) candidate is kept, counted as such
    assert info["fallback_reasons"] == ({"no_finite_aicc": 4} if fit_end == 4 else {})
    if fit_end < 7:
        sm = pytest.importorskip("statsmodels.tsa.exponential_smoothing.ets")
        ref = sm.ETSModel(X[:fit_end, 0], error="add", initialization_method="estimated").fit(disp=False)
        np.testing.assert_allclose(F[:fit_end, 0], ref.fittedvalues, rtol=1e-8, atol=1e-10)
    else:
        np.testing.assert_allclose(F[:fit_end, 0], _sf_fit(X[:fit_end, 0], "ANN")["fitted"], rtol=1e-8, atol=1e-10)


def test_candidates_of_a_gene_come_from_one_library(monkeypatch):
    """With ANN and AAdN on 8 points (statsforecast takes ANN but not AAdN there) both are fitted by
    statsmodels, so their AICcs are comparable."""
    calls = []
    orig_sm = ets_mod._fit_one_statsmodels
    monkeypatch.setattr(ets_mod, "_fit_one_statsmodels", lambda y, m: calls.append(m) or orig_sm(y, m))
    rng = np.random.default_rng(9)
    X = np.cumsum(rng.standard_normal((12, 2)), axis=0)
    _, info = ets_forecasts(X, np.arange(13), 8, models=("ANN", "AAdN"))
    assert sorted(set(calls)) == ["AAdN", "ANN"] and info["fallbacks"] == 0
    calls.clear()
    ets_forecasts(X, np.arange(13), 8, models=("ANN",))  # ANN alone on 8 points: statsforecast
    assert calls == []
