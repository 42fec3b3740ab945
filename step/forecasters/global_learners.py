"""The global learners' numerics, apart from the forecaster interface (:mod:`step.forecasters.registry`):
causal forward fill, lag rows as mlforecast builds them, the learners, simple exponential smoothing
with a shared or per-gene weight (:class:`SES`), and :class:`GlobalCache`, the fits on the windows
before ``k`` shared by every fold and by the model's choice of its start."""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np


def ffill(X: np.ndarray) -> np.ndarray:
    """Missing values replaced causally: by the gene's previous observed value; before its first
    observation, by the mean of the genes observed at that time (0 where none is). ``[T, N]``."""
    X = np.array(X, dtype=float)
    for t in range(1, len(X)):
        m = ~np.isfinite(X[t])
        X[t, m] = X[t - 1, m]
    lead = ~np.isfinite(X)
    if lead.any():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            row = np.nanmean(np.where(lead, np.nan, X), axis=1)  # [T] the observed genes' mean
        X = np.where(lead, np.nan_to_num(row)[:, None], X)
    return X


def lag_rows(raw_inputs: np.ndarray, p: int) -> np.ndarray:
    """``[V, L, N] -> [V * N, p]``: lag 1 (the last input) first, as mlforecast's ``lag1..lagp``."""
    lags = raw_inputs[:, ::-1, :][:, :p, :]                  # [V, p, N], lag 1 first
    return lags.transpose(0, 2, 1).reshape(-1, p)


def make_learner(name: str, seed: int):
    if name == "global_linear":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    from lightgbm import LGBMRegressor

    return LGBMRegressor(random_state=seed, verbose=-1, n_jobs=lightgbm_threads(),
                         deterministic=True, force_row_wise=True)


#: the job's processes that keep a core busy beside it while they run (see :func:`sharing_cores_with`)
_BUSY: list = []


@contextlib.contextmanager
def sharing_cores_with(proc):
    """Inside the block, while ``proc`` (anything with ``is_alive()``: the embedding's stream, the
    per-gene smoothers' process of :mod:`step.forecasters.beside`; None: no process) runs, LightGBM uses one thread. A
    second OpenMP thread spinning on the core that process keeps busy made the job's LightGBM fits
    several times slower; LightGBM's fits are bit for bit the same on any number of threads
    (``deterministic=True`` with ``force_row_wise=True``; tests/forecasters/test_beside.py)."""
    if proc is None:
        yield
        return
    _BUSY.append(proc)
    try:
        yield
    finally:
        _BUSY.remove(proc)


def lightgbm_threads() -> int:
    """LightGBM's threads: ``OMP_NUM_THREADS`` when set (LightGBM runs OpenMP; a process pool such as the
    ablation's sets it to 1 in each worker: two workers with two spinning OpenMP threads each on 2 cores
    made tasks up to 25x slower, 2026-12-07), else the cores, at most 4; 1 while a process of
    :func:`sharing_cores_with` runs."""
    if any(p.is_alive() for p in _BUSY):
        return 1
    return _lightgbm_threads()


def _lightgbm_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(os.cpu_count() or 1, 4))


SES_ALPHAS = tuple(np.round(np.linspace(0.05, 1.0, 20), 2))


class SES:
    """Simple exponential smoothing of every gene with one shared smoothing weight: the level
    ``l_t = a x_t + (1 - a) l_{t-1}`` (``l_0 = x_0``) forecasts ``x_{t+1}``; ``a`` is the one of
    :data:`SES_ALPHAS` with the lowest one-step squared error pooled over genes and the times before
    the forecast (causal: a forecast of time t uses values before t only). ``Xf [T, N]`` working
    scale, missing values filled causally; ``Xw`` the observed values (NaN = missing) for the errors."""

    def __init__(self, Xf: np.ndarray, Xw: np.ndarray):
        T, N = Xf.shape
        self.F = np.full((len(SES_ALPHAS), T, N), np.nan)           # F[a, t]: forecast of time t
        for i, a in enumerate(SES_ALPHAS):
            lev = Xf[0].copy()
            for t in range(1, T):
                self.F[i, t] = lev
                lev = a * Xf[t] + (1 - a) * lev
        err = (self.F - np.asarray(Xw, dtype=float)[None]) ** 2       # [A, T, N]
        err = np.where(np.isfinite(err), err, 0.0)
        per_t = err.sum(axis=2)                                       # [A, T]
        self.cum = np.concatenate([np.zeros((len(SES_ALPHAS), 1)), np.cumsum(per_t, axis=1)], axis=1)  # [A, T+1]
        # per gene: row t is the weight with the lowest one-step error of that gene over the times
        # before t (ties: the smaller weight), [T+1, N]; before two errors exist, the middle weight
        A = len(SES_ALPHAS)
        self.gene_idx = np.full((T + 1, N), A // 2, dtype=np.int64)
        run = np.zeros((A, N))
        for t in range(T + 1):
            if t > 1:
                self.gene_idx[t] = np.argmin(run, axis=0)
            if t < T:
                run += err[:, t]

    def alpha_index(self, t: int) -> int:
        """The smoothing weight chosen on the errors of the times before ``t``."""
        return int(np.argmin(self.cum[:, int(t)])) if t > 1 else len(SES_ALPHAS) // 2

    def forecast(self, t: int, a_idx: int | None = None) -> np.ndarray:
        return self.F[self.alpha_index(t) if a_idx is None else a_idx, int(t)]

    def forecast_gene(self, t: int, idx: np.ndarray | None = None) -> np.ndarray:
        """Time ``t``'s forecast ``[N]`` of every gene with its own weight (``idx [N]``; default the
        weights chosen on the errors of the times before ``t``)."""
        idx = self.gene_idx[int(t)] if idx is None else np.asarray(idx)
        return np.take_along_axis(self.F[:, int(t)], idx[None], axis=0)[0]


class GlobalCache:
    """Global learners fitted on the working-scale windows before ``k``, shared by every fold.

    ``raw_inputs [W, L, N]`` (masked lags: the gene's previous observed value), ``raw_targets
    [W, N]``. :meth:`model` fits (once) a learner on the windows ``< k`` with an observed target;
    :meth:`prequential` forecasts windows ``ks`` each from the fit on the windows before it
    (working scale, NaN where fewer than 2 windows precede it). Fits are refitted every
    ``block`` windows (1 for small jobs: every window; larger at genome scale).
    """

    def __init__(self, Xw: np.ndarray, history: int, lags: int, seed: int, max_rows: int = 400_000):
        from step.data.windows import make_windows

        inputs, targets, _ = make_windows(ffill(Xw), history)
        self.raw_inputs = inputs
        self.raw_targets = np.asarray(Xw, dtype=float)[history:]
        self.p = min(lags, history)
        self.seed = seed
        W, N = self.raw_targets.shape
        self.block = max(1, int(np.ceil(W * N / max_rows)))  # refits every `block` windows at scale
        self._fits: dict[tuple[str, int], object] = {}
        self._pre: dict[tuple[str, int], np.ndarray] = {}
        self.history = history
        self._Xw = np.asarray(Xw, dtype=float)
        self._ses: SES | None = None

    @property
    def ses(self) -> "SES":
        if self._ses is None:
            self._ses = SES(ffill(self._Xw), self._Xw)
        return self._ses

    def boundary(self, k: int) -> int:
        return int(k) if self.block == 1 else int(k) - int(k) % self.block

    def model(self, name: str, end: int):
        """The learner ``name`` fitted on windows ``< end`` (None if fewer than 2)."""
        key = (name, int(end))
        if key not in self._fits:
            if end < 2:
                self._fits[key] = None
            else:
                X = lag_rows(self.raw_inputs[:end], self.p)
                y = self.raw_targets[:end].reshape(-1)
                ok = np.isfinite(y)
                self._fits[key] = make_learner(name, self.seed).fit(X[ok], y[ok])
        return self._fits[key]

    def predict_raw(self, name: str, end: int, raw_inputs: np.ndarray) -> np.ndarray:
        """Working-scale forecasts ``[V, N]`` of windows ``raw_inputs [V, L, N]`` by the fit on ``< end``."""
        m = self.model(name, end)
        V, _, N = raw_inputs.shape
        if m is None or V == 0:
            return np.full((V, N), np.nan)
        return np.asarray(m.predict(lag_rows(raw_inputs, self.p)), dtype=float).reshape(V, N)

    def prequential(self, name: str, ks: np.ndarray) -> np.ndarray:
        """Window ``k``'s forecast by the fit on the windows before it (its block's start), ``[V, N]``."""
        N = self.raw_targets.shape[1]
        if name in ("global_ses", "gene_ses"):  # smoothing weights chosen on the times before window k's target
            one = self.ses.forecast if name == "global_ses" else self.ses.forecast_gene
            return np.stack([one(int(k) + self.history) for k in np.asarray(ks, dtype=int)]) \
                if len(ks) else np.zeros((0, N))
        out = np.full((len(ks), N), np.nan)
        for i, k in enumerate(np.asarray(ks, dtype=int)):
            key = (name, int(k))
            if key not in self._pre:
                self._pre[key] = self.predict_raw(name, self.boundary(k), self.raw_inputs[k:k + 1])[0]
            out[i] = self._pre[key]
        return out
