"""Exponential-smoothing (ETS) baseline, fitted per gene and run causally.

Each gene's series is modelled on its own with an additive-error, non-seasonal
ETS state-space model:

``"ANN"``
    simple exponential smoothing (level only);
``"AAN"``
    additive (Holt) trend;
``"AAdN"``
    additive damped trend.

With level ``l``, trend ``b`` (0 for ``ANN``), damping ``phi`` (1 for ``ANN`` /
``AAN``) and smoothing weights ``alpha``, ``beta`` the one-step recursion
(error-correction form, the parameterisation of R's ``forecast::ets`` and statsforecast) is::

    yhat_t = l_{t-1} + phi * b_{t-1}          # forecast of y_t from y_0 .. y_{t-1}
    e_t    = y_t - yhat_t
    l_t    = l_{t-1} + phi * b_{t-1} + alpha * e_t
    b_t    = phi * b_{t-1} + beta * e_t

Fitting
-------
For every gene the parameters ``alpha, beta, phi`` *and* the initial state
``l_{-1}, b_{-1}`` are estimated by maximum likelihood with statsforecast's ETS
(``AutoETS(season_length=1)`` with the model fixed: the port of R's
``forecast::ets``, Nelder-Mead on the Gaussian likelihood, R's usual and
admissible parameter bounds) on ``series[:fit_end]`` only, once per candidate
model; the candidate with the lowest AICc wins. Until 2026-12-07 the fits were
statsmodels' ``ETSModel`` (``initialization_method="estimated"``): the same
model and criterion, and on simple exponential smoothing (the default
``baselines.ets_models: [ANN]``) the same optimum (fitted RMSE within 0.002 on
50 random walks of 33 points), but 1.4 ms per
fit against statsforecast's 0.13 ms (including this module's per-gene work):
the two ETS fits of a 20,000-gene job took ~50 s of its 3.4 min (the 0.002 was
measured on 2026-12-07 with a script, not by the test, which checks one
300-point series). With trend the two optimisers can stop at different optima
(Nelder-Mead is R's choice). A fit that used all of statsforecast's iterations
is counted as not converged. statsforecast refuses fit periods of fewer than
7 (ANN), 9 (AAN) or 10 (AAdN) points; those are still fitted by statsmodels
(a rolling job's first training-only fit of a short course has 6).

Filtering
---------
The forecasts are *not* taken from the library: after fitting, the recursion
above is run with the fixed fitted parameters over the whole series (all genes
at once, vectorised over genes), and the forecast for target ``k`` is
``yhat_k``, which depends only on ``series[:k]`` and the parameters. Since the
parameters depend only on ``series[:fit_end]``, a forecast for ``k <= m`` (any
``m >= fit_end``) does not change when ``series[m:]`` changes. Forecasts for
``k < fit_end`` use parameters fitted on data up to ``fit_end``: they are
in-sample for training windows, exactly as the ridge baselines are. On the fit
period (without missing values) the forecasts equal statsforecast's
``fitted`` values.

Missing values
--------------
Non-finite values are missing. For fitting, missing values are carried forward
from the last observed value; leading missing values take the first observed
value of the fit period. For filtering, a missing value is likewise replaced by
the last observed value; but a missing value with nothing observed before it
(leading) gives no update (``e_t = 0``: the state just propagates from the
fitted initial state), because using the first observed value would look ahead.

Fallbacks
---------
A gene falls back (logged, counted in ``info["fallbacks"]``) to

* persistence (``alpha = 1``, initial level = first observed value) when its
  fit period has fewer than :data:`MIN_POINTS` observed values or is constant;
  a gene with nothing observed in the fit period forecasts NaN until its first
  observation, then persistence;
* the simplest candidate that could be fitted (ANN before AAN before AAdN) when
  every fitted candidate has an infinite AICc (too few points for the
  correction);
* SES (``ANN``), then persistence, when every candidate fit raised or returned
  non-finite parameters.

The library's warnings while optimising are suppressed; fits whose optimiser
ran out of iterations are counted in ``info["nonconverged"]`` (their parameters
are still used).
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

MIN_POINTS = 4
"""Fewest observed values in the fit period for an ETS fit (fewer -> persistence)."""

PERSISTENCE = "persistence"

# model name -> (trend, damped, complexity rank)
_SPECS = {"ANN": (None, False, 0), "AAN": ("add", False, 1), "AAdN": ("add", True, 2)}


@dataclass(frozen=True)
class EtsFit:
    """Per-gene fitted ETS parameters. Every array is ``[N]``.

    Attributes
    ----------
    model : str ``[N]``, the chosen model (``"ANN"``, ``"AAdN"``, ... or ``"persistence"``).
    alpha, beta, phi : smoothing weights and damping (``beta = 0``, ``phi = 1`` without trend).
    level0, trend0 : initial state ``l_{-1}, b_{-1}`` (``trend0 = 0`` without trend; ``level0``
        NaN only for a gene with nothing observed in the fit period).
    info : counts, see :func:`ets_forecasts`.
    """

    model: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    phi: np.ndarray
    level0: np.ndarray
    trend0: np.ndarray
    info: dict


def _one_blas_thread():
    """Limit BLAS to one thread while fitting: the many tiny fits gain nothing from
    threads, and on a busy machine OpenBLAS' spinning threads doubled the CPU time."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fill(y: np.ndarray) -> np.ndarray:
    """Carry the last observed value forward; leading gaps take the first observed value.

    ``y [T]`` with at least one finite value -> ``[T]`` without NaN.
    """
    ok = np.isfinite(y)
    idx = np.where(ok, np.arange(len(y)), -1)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.argmax(ok))
    idx[idx < 0] = first
    return y[idx]


def _fit_one(y: np.ndarray, name: str, short: bool = False):
    """Fit one candidate on a gap-free ``y [n]`` with statsforecast's ETS (``AutoETS`` with the
    model fixed: the port of R's ``forecast::ets``); with statsmodels' ``ETSModel``, as before
    2026-12-07, when ``short`` or when ``y`` is shorter than statsforecast accepts for this model
    (:data:`_SF_MIN_POINTS`). The candidates of one gene must come from one library: their AICcs
    differ by a constant between the two (:func:`_fit_gene` sets ``short``).

    Returns ``(aicc, params dict, converged)`` or None when the fit failed.
    """
    if short or len(y) < _SF_MIN_POINTS[name]:
        return _fit_one_statsmodels(y, name)
    from statsforecast.models import AutoETS

    trend, damped, _ = _SPECS[name]
    try:
        fit = AutoETS(season_length=1, model="AAN" if trend else "ANN", damped=bool(damped)).fit(y).model_
    except Exception as exc:  # noqa: BLE001 - any library failure -> fallback
        log.debug("ETS %s fit failed: %s", name, exc)
        return None
    par = np.asarray(fit["par"], dtype=float)  # alpha, beta, gamma, phi, then the initial states l, (b)
    params = {
        "alpha": par[0],
        "beta": par[1] if trend else 0.0,
        "phi": par[3] if damped else 1.0,
        "level0": par[4],
        "trend0": par[5] if trend else 0.0,
    }
    if not (all(np.isfinite(v) for v in params.values()) and np.isfinite(fit["loglik"])):
        return None
    converged = int(fit["fit"].nit) < _SF_MAXIT
    aicc = float(fit["aicc"])
    return (aicc if not np.isnan(aicc) else np.inf), params, converged


# statsforecast's Nelder-Mead stops after this many iterations (statsforecast.ets.optimize_ets_target_fn);
# a fit that used them all is counted as not converged
_SF_MAXIT = 1000
# statsforecast refuses a series of n <= (parameters + 4) points ("tiny datasets"): 2 parameters for
# ANN (alpha, level), 4 for AAN, 5 for AAdN; shorter fit periods are fitted by statsmodels
_SF_MIN_POINTS = {"ANN": 7, "AAN": 9, "AAdN": 10}


def _fit_one_statsmodels(y: np.ndarray, name: str):
    """:func:`_fit_one` by statsmodels' ``ETSModel`` (``initialization_method="estimated"``), for fit
    periods too short for statsforecast (at least :data:`MIN_POINTS` points)."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    trend, damped, _ = _SPECS[name]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", module=r"statsmodels\..*")
            res = ETSModel(y, error="add", trend=trend, damped_trend=damped,
                           initialization_method="estimated").fit(disp=False)
    except Exception as exc:  # noqa: BLE001 - any library failure -> fallback
        log.debug("ETS %s fit (statsmodels) failed: %s", name, exc)
        return None
    p = dict(zip(res.model.param_names, np.asarray(res.params, dtype=float)))
    params = {"alpha": p["smoothing_level"], "beta": p.get("smoothing_trend", 0.0),
              "phi": p.get("damping_trend", 1.0), "level0": p["initial_level"], "trend0": p.get("initial_trend", 0.0)}
    if not (all(np.isfinite(v) for v in params.values()) and np.isfinite(res.llf)):
        return None
    converged = bool(res.mle_retvals.get("converged", True)) if isinstance(res.mle_retvals, dict) else True
    aicc = float(res.aicc)
    return (aicc if not np.isnan(aicc) else np.inf), params, converged


# Genes per fitting process above which fit_ets spreads the per-gene fits over a process pool
# (the fits are independent, so the result is identical; start method: step.procs.pool_context).
POOL_MIN_GENES = 5000


def _fit_chunk(args: tuple) -> "EtsFit":
    series, fit_end, models = args
    log.setLevel(logging.WARNING)  # the parent logs the totals
    return fit_ets(series, fit_end, models, processes=1)


def _fit_pooled(series: np.ndarray, fit_end: int, models: tuple, processes: int) -> "EtsFit":
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    chunks = np.array_split(np.arange(series.shape[1]), processes * 4)
    from step.procs import pool_context

    with ProcessPoolExecutor(max_workers=processes, mp_context=pool_context(["step.forecasters.ets"])) as ex:
        parts = list(ex.map(_fit_chunk, [(series[:, c], fit_end, models) for c in chunks]))
    cat = {k: np.concatenate([getattr(p, k) for p in parts])
           for k in ("model", "alpha", "beta", "phi", "level0", "trend0")}
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for p in parts:
        for k, v in p.info["models"].items():
            counts[k] = counts.get(k, 0) + v
        for k, v in p.info["fallback_reasons"].items():
            reasons[k] = reasons.get(k, 0) + v
    info = {"models": counts, "fit_end": fit_end, "fallbacks": sum(p.info["fallbacks"] for p in parts),
            "fallback_reasons": reasons, "nonconverged": sum(p.info["nonconverged"] for p in parts)}
    if info["fallbacks"]:
        log.warning("ETS: %d of %d genes fell back (%s)", info["fallbacks"], series.shape[1],
                    ", ".join(f"{k} {v}" for k, v in reasons.items()))
    log.info("ETS fitted on %d time points in %d processes: %s", fit_end, processes, counts)
    return EtsFit(info=info, **cat)


def fit_ets(series: np.ndarray, fit_end: int, models=("ANN", "AAdN"), processes: int | None = None) -> EtsFit:
    """Fit every gene's ETS parameters on ``series[:fit_end]`` and choose a model by AICc.

    Parameters
    ----------
    series : float ``[T, N]``; non-finite = missing.
    fit_end : number of leading time points used for fitting (``0 <= fit_end <= T``).
    models : candidate model names among ``"ANN"``, ``"AAN"``, ``"AAdN"``.
    processes : fitting processes; None = all CPUs when there are at least
        :data:`POOL_MIN_GENES` genes per process (same result for any value).

    Returns
    -------
    EtsFit with ``[N]`` arrays.
    """
    import sys

    if processes is None:
        from step.procs import usable_cpus

        processes = max(1, min(usable_cpus(), np.asarray(series).shape[-1] // POOL_MIN_GENES))
    import multiprocessing as mp

    if processes > 1 and sys.platform.startswith("linux") and not mp.current_process().daemon:
        return _fit_pooled(np.asarray(series, dtype=float), int(fit_end), tuple(models), processes)
    series, fit_end, models = _checked_args(series, fit_end, models)
    N = series.shape[1]
    simplest_first = sorted(models, key=lambda m: _SPECS[m][2])

    chosen = np.empty(N, dtype=object)
    par = {k: np.empty(N) for k in ("alpha", "beta", "phi", "level0", "trend0")}
    reasons = {"short": 0, "constant": 0, "no_finite_aicc": 0, "failed": 0}
    nonconverged = 0
    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", module=r"statsforecast\..*")
        for n in range(N):
            chosen[n], params, nc = _fit_gene(series[:fit_end, n], models, simplest_first, reasons)
            nonconverged += nc
            for k, v in params.items():
                par[k][n] = v
    info = _fit_info(chosen, reasons, nonconverged, fit_end, N)
    return EtsFit(chosen.astype(str), par["alpha"], par["beta"], par["phi"], par["level0"],
                  par["trend0"], info)


def _checked_args(series: np.ndarray, fit_end: int, models) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """``series`` as float ``[T, N]``, ``fit_end`` in ``0..T`` and the known ``models`` without duplicates, or ValueError."""
    series = np.asarray(series, dtype=float)
    if series.ndim != 2:
        raise ValueError(f"series must be [T, N]; got shape {series.shape}.")
    T, N = series.shape
    fit_end = int(fit_end)
    if not 0 <= fit_end <= T:
        raise ValueError(f"fit_end={fit_end} is outside 0..{T}.")
    models = tuple(models)
    bad = [m for m in models if m not in _SPECS]
    if not models or bad:
        raise ValueError(f"unknown ETS models {bad}; choose from {sorted(_SPECS)}.")
    models = tuple(dict.fromkeys(models))  # drop duplicates, keep order
    return series, fit_end, models


def _persistence(level0: float) -> tuple[str, dict[str, float], int]:
    """The persistence fallback's ``(model, params, nonconverged)`` from its initial level."""
    return PERSISTENCE, {"alpha": 1.0, "beta": 0.0, "phi": 1.0, "level0": level0, "trend0": 0.0}, 0


def _fit_gene(y: np.ndarray, models: tuple[str, ...], simplest_first: list[str],
              reasons: dict[str, int]) -> tuple[str, dict[str, float], int]:
    """One gene's fit on its fit period ``y [fit_end]``: ``(model, params, fits that did not converge)``;
    a fallback counts in ``reasons``."""
    obs = y[np.isfinite(y)]
    if len(obs) < MIN_POINTS:
        reasons["short"] += 1
        return _persistence(obs[0] if len(obs) else np.nan)
    if np.ptp(obs) <= 1e-12 * (1.0 + np.max(np.abs(obs))):
        reasons["constant"] += 1
        return _persistence(obs[0])
    yf = _fill(y)
    nonconverged = 0
    fits = {}
    short = len(yf) < max(_SF_MIN_POINTS[m] for m in models)  # one library for every candidate
    for m in models:
        r = _fit_one(yf, m, short)
        if r is not None:
            fits[m] = r
            nonconverged += not r[2]
    finite = {m: r for m, r in fits.items() if np.isfinite(r[0])}
    if finite:
        best = min(finite, key=lambda m: (finite[m][0], _SPECS[m][2]))
    elif fits:
        reasons["no_finite_aicc"] += 1
        best = next(m for m in simplest_first if m in fits)
    else:
        reasons["failed"] += 1
        r = _fit_one(yf, "ANN") if "ANN" not in models else None
        if r is None:
            return _persistence(obs[0])
        nonconverged += not r[2]
        fits["ANN"], best = r, "ANN"
    return best, fits[best][1], nonconverged


def _fit_info(chosen: np.ndarray, reasons: dict[str, int], nonconverged: int, fit_end: int, N: int) -> dict:
    """``EtsFit.info`` from the chosen models ``[N]`` and the fallback counts; logs the totals."""
    counts: dict[str, int] = {}
    for m in chosen:
        counts[m] = counts.get(m, 0) + 1
    n_fallback = sum(reasons.values())
    info = {"models": counts, "fit_end": fit_end, "fallbacks": n_fallback,
            "fallback_reasons": {k: v for k, v in reasons.items() if v}, "nonconverged": nonconverged}
    if n_fallback:
        log.warning("ETS: %d of %d genes fell back (%s)", n_fallback, N,
                    ", ".join(f"{k} {v}" for k, v in reasons.items() if v))
    if nonconverged:
        log.info("ETS: %d fits did not report convergence (parameters used anyway)", nonconverged)
    log.info("ETS fitted on %d time points: %s", fit_end, counts)
    return info


def ets_filter(series: np.ndarray, fit: EtsFit) -> np.ndarray:
    """Run the ETS recursion with fixed parameters over the whole series.

    Parameters
    ----------
    series : float ``[T, N]``; non-finite = missing (see the module notes).
    fit : parameters from :func:`fit_ets` (``[N]`` arrays).

    Returns
    -------
    ``[T + 1, N]`` one-step-ahead forecasts: row ``k`` forecasts ``series[k]`` from
    ``series[:k]`` only (row ``T`` is the forecast past the end).
    """
    series = np.asarray(series, dtype=float)
    T, N = series.shape
    if len(fit.alpha) != N:
        raise ValueError(f"the fit has {len(fit.alpha)} genes; the series has {N}.")
    alpha, beta, phi = fit.alpha, fit.beta, fit.phi
    level, trend = fit.level0.copy(), fit.trend0.copy()
    last = np.full(N, np.nan)  # last observed value
    out = np.empty((T + 1, N))
    for t in range(T):
        yhat = level + phi * trend
        out[t] = yhat
        y = series[t]
        ok = np.isfinite(y)
        last = np.where(ok, y, last)
        seen = np.isfinite(last)
        e = np.where(seen, last - yhat, 0.0)  # carry forward; leading gap: no update
        level = yhat + alpha * e
        trend = phi * trend + beta * e
        # persistence genes with nothing observed in the fit period: start at the first observation
        start = seen & ~np.isfinite(level)
        if start.any():
            level = np.where(start, last, level)
            trend = np.where(start, 0.0, trend)
    out[T] = level + phi * trend
    return out


def ets_forecasts(series: np.ndarray, targets: np.ndarray, fit_end: int,
                  models=("ANN", "AAdN")) -> tuple[np.ndarray, dict]:
    """One-step-ahead ETS forecasts for the given target time indices.

    Parameters
    ----------
    series : float ``[T, N]`` (standardised expression, time x genes); NaN = missing.
    targets : int ``[W]`` target time indices ``k`` in ``0..T`` (the forecast of
        ``series[k]`` uses only ``series[:k]``).
    fit_end : parameters (smoothing weights, initial state, model choice by AICc
        among ``models``) of each gene are estimated on ``series[:fit_end]`` only.
    models : candidate models, among ``"ANN"``, ``"AAN"``, ``"AAdN"``.

    Returns
    -------
    forecasts : ``[W, N]``.
    info : ``{"models": {model_name: n_genes_choosing_it}, "fit_end": fit_end,
        "fallbacks": n_genes_that_fell_back, "fallback_reasons": {reason: n_genes},
        "nonconverged": n_fits_not_converged}``; ``"persistence"`` appears in
        ``models`` for genes that fell back to it.
    """
    series = np.asarray(series, dtype=float)
    if series.ndim != 2:
        raise ValueError(f"series must be [T, N]; got shape {series.shape}.")
    targets = np.asarray(targets)
    if targets.ndim != 1 or (len(targets) and not np.issubdtype(targets.dtype, np.integer)):
        raise ValueError("targets must be a 1-d integer array of time indices.")
    T = series.shape[0]
    if len(targets) and (targets.min() < 0 or targets.max() > T):
        raise ValueError(f"targets must lie in 0..{T}; got {targets.min()}..{targets.max()}.")
    fit = fit_ets(series, fit_end, models)
    path = ets_filter(series, fit)
    return path[targets.astype(np.int64)], fit.info
