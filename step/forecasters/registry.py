"""Every baseline and library peer behind one interface, fitted on the same windows.

A :class:`Forecaster` is fitted at one origin on :class:`FitData` and forecasts windows:

    ``f = REGISTRY[name](ctx).fit(d)``;  ``f.predict(z [V, L, N], nb [V, L, N], windows [V]) -> [V, N]``

in the fit's standardised scale. ``d.fit`` are the windows it may learn from: every window whose
target is at or before the origin (training and validation alike; the paper protocol, whose
validation windows are its reported ones, fits on the training windows). Its own choices (ridge
strengths) are made inside those windows: on the validation windows by a fit on the training
windows, then refitted on all of them. ``f.val_oos`` (``[len(d.val), N]`` or None) holds the
validation windows' forecasts of the training-only fit, the out-of-sample evidence of a first fit
(None: the forecaster has no cheaper out-of-sample forecast of them, its fitted one is used).
Horizons go through ``predict`` (the orchestrator feeds forecasts back as inputs).

The library peers are what a user would run instead, with their libraries' defaults:
statsforecast's ``AutoETS`` per gene (season length 1), and two *global* learners fitted across
genes on the raw (working-scale) lags ``1..baselines.global_lags`` -- ``global_linear``
(scikit-learn's ``LinearRegression``) and ``global_gbm`` (LightGBM's ``LGBMRegressor`` with its
defaults: the model of ``mlforecast.MLForecast(models=[LGBMRegressor()], lags=[1, 2, 3])``, on
the same rows). LightGBM rather than scikit-learn's HistGradientBoosting: it is what the users'
forecasting library (mlforecast) runs, and it needs no binning set-up to match it.

Global learners read the working scale (not the per-gene standardised one), so their fits do not
depend on a fold's scaler: :class:`GlobalCache` keeps, per learner, the fit on the windows before
``k`` and its forecasts of window ``k`` (prequential: out of sample), shared by every fold and by
the model's choice of its start (:mod:`step.jobs.forecast`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from step.config import BASELINE_NAMES, GLOBAL, PEERS, PER_GENE_PEERS  # noqa: F401  (the names a config may use)
from step.data.windows import Scaler
from step.forecasters.global_learners import SES_ALPHAS, GlobalCache, ffill

log = logging.getLogger(__name__)



@dataclass
class FitData:
    """What a forecaster may read at one fit (standardised scale unless said).

    inputs ``[W, L, N]``, targets ``[W, N]`` (NaN = missing), nb ``[W, L, N]`` (the Hi-C neighbours'
    weighted mean of the inputs), Z ``[T, N]``; target_idx ``[W]`` each window's target time index;
    train / val / fit: window numbers (``fit`` is what it is fitted on); scaler: the fold's;
    fold: the job's :class:`step.forecasters.fold_data.FoldData` it was made from (the models read their
    graph operators and embeddings through the job context, their protocol through it), or None.
    """

    inputs: np.ndarray
    targets: np.ndarray
    nb: np.ndarray
    Z: np.ndarray
    scaler: Scaler
    target_idx: np.ndarray
    train: np.ndarray
    val: np.ndarray
    fit: np.ndarray
    want_val_oos: bool = True
    fold: object = None

    @property
    def fit_end(self) -> int:
        """Time points ``< fit_end`` may be used to estimate parameters."""
        return int(self.target_idx[self.fit].max()) + 1


@dataclass
class JobContext:
    """What every fit of a job shares: settings, the working-scale windows and the global cache."""

    alphas: list[float]
    ets_models: tuple[str, ...]
    global_lags: int
    seed: int
    Xw: np.ndarray                      # [T, N] working scale
    history: int
    cache: "GlobalCache | None" = None
    pairs: np.ndarray | None = None
    model: object = None                # step.forecasters.model_forecaster.ModelContext: what a model's fit needs


class Forecaster:
    """The interface: ``fit(d) -> self``; ``predict(z, nb, windows) -> [V, N]`` (standardised)."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "baseline"     # "baseline" (the project's) or "peer" (a library's)
    fits_nothing: ClassVar[bool] = False  # True: its forecast of any window is out of sample
    # True: the fit reads only the fold's series, windows and scaler (FitData.Z, target_idx, train, val,
    # fit, scaler) and the job's ets settings -- no graph, embedding or seed -- and ``predict`` depends on
    # ``windows`` only; its results may then be shared by the runs of an ablation (:class:`SharedFits`).
    # tests/forecasters/test_forecasters.py checks both for every forecaster that says so.
    shareable: ClassVar[bool] = False

    def __init__(self, ctx: JobContext):
        self.ctx = ctx
        self.info: dict = {}
        self.val_oos: np.ndarray | None = None
        self.fitted_windows: np.ndarray | None = None

    def fit(self, d: FitData) -> "Forecaster":
        self.fitted_windows = np.asarray(d.fit)
        self.scaler = d.scaler
        return self

    def predict(self, z: np.ndarray, nb: np.ndarray, windows: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


REGISTRY: dict[str, type[Forecaster]] = {}


def register(cls: type[Forecaster]) -> type[Forecaster]:
    REGISTRY[cls.name] = cls
    return cls


def enabled_names(peers: list[str], n_genes: int, per_gene_max: int) -> list[str]:
    """The forecasters of a job: every baseline, then the configured peers (a per-gene peer is
    skipped, and said so, above ``per_gene_max`` genes)."""
    out = list(BASELINE_NAMES)
    for p in peers:
        if p in PER_GENE_PEERS and n_genes > per_gene_max:
            log.info("peer %s skipped: %d genes > baselines.per_gene_peer_max_genes (%d)", p, n_genes, per_gene_max)
            continue
        out.append(p)
    return out


# --------------------------------------------------------------------------- the project's baselines

@register
class Persistence(Forecaster):
    name = "persistence"
    fits_nothing = True

    def predict(self, z, nb, windows):
        return z[:, -1, :].copy()


@register
class MeanLast(Forecaster):
    name = "mean_last"
    fits_nothing = True

    def predict(self, z, nb, windows):
        return z.mean(axis=1)


class _Ridge(Forecaster):
    """Ridge AR in residual form (:func:`step.forecasters.baselines.ridge_ar`): strength chosen on the
    validation windows by the training-only fit, then refitted on every fit window."""

    pooled: ClassVar[bool] = True
    graph: ClassVar[bool] = False

    def fit(self, d: FitData) -> "_Ridge":
        from step.forecasters.baselines import ridge_ar

        super().fit(d)
        extra = d.nb if self.graph else None
        fns: dict = {}
        has_val = len(d.val) > 0 and not np.array_equal(np.sort(d.fit), np.sort(d.train))
        val = d.val if len(d.val) else None
        preds, info = ridge_ar(d.inputs, d.targets, d.train, val, self.ctx.alphas, self.pooled, extra, fns, "f")
        self.val_oos = preds[d.val] if has_val else None
        if has_val:  # refit at the chosen strength on every fit window (its only candidate)
            fns = {}
            ridge_ar(d.inputs, d.targets, np.sort(d.fit), np.sort(d.fit), [info["alpha"]], self.pooled, extra,
                     fns, "f")
        self._f = fns["f"]
        self.info = {**info, "fit_windows": int(len(d.fit))}
        return self

    def predict(self, z, nb, windows):
        return self._f(z, nb if self.graph else None)


@register
class RidgeGene(_Ridge):
    name, pooled = "ridge_ar_gene", False


@register
class RidgePooled(_Ridge):
    name = "ridge_ar_pooled"


@register
class RidgeGraph(_Ridge):
    name, graph = "ridge_ar_graph", True


def _train_end(d: FitData) -> int:
    """Time points ``< _train_end`` are those a training-only fit may use (the training windows'
    targets and inputs): the fit whose validation forecasts are out of sample."""
    return int(d.target_idx[d.train].max()) + 1


@register
class ETS(Forecaster):
    """The project's exponential smoothing (:mod:`step.forecasters.ets`, statsforecast's ETS fits): parameters estimated on
    the time points up to the origin, then run as a causal one-step filter. Horizons: its
    one-step forecast from the origin (exact for ANN, whose forecast is flat)."""

    name = "ets"
    shareable = True

    def fit(self, d: FitData) -> "ETS":
        from step.forecasters.ets import ets_forecasts

        super().fit(d)
        self._path, self.info = ets_forecasts(d.Z, d.target_idx, d.fit_end, self.ctx.ets_models)
        self.val_oos = None
        if d.want_val_oos and len(d.val) and len(d.train):  # the validation windows by a training-only fit
            self.val_oos = ets_forecasts(d.Z, d.target_idx, _train_end(d), self.ctx.ets_models)[0][d.val]
        return self

    def predict(self, z, nb, windows):
        return self._path[np.asarray(windows)]


# --------------------------------------------------------------------------- library peers

class _StatsforecastPeer(Forecaster):
    """A statsforecast model per gene on the working scale, fitted on the time points up to the
    origin, then applied causally (``forward(..., fitted=True)``: the one-step forecast of every
    later time from the series before it, the fit's parameters). A gene whose fit fails (for example
    a constant series) falls back to persistence (counted)."""

    kind = "peer"
    shareable = True

    @staticmethod
    def _model():  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def fit(self, d: FitData) -> "_StatsforecastPeer":
        os.environ.setdefault("NIXTLA_NUMBA_CACHE", "1")  # statsforecast's numba cache: compiled once
        super().fit(d)
        X = ffill(d.scaler.inverse(d.Z))                     # [T, N] working scale
        self._path, fails = self._one_step(X, d.fit_end, d.scaler)
        self._targets = np.asarray(d.target_idx)
        self.val_oos = None
        if d.want_val_oos and len(d.val) and len(d.train):  # the validation windows by a training-only fit
            self.val_oos = self._one_step(X, _train_end(d), d.scaler)[0][self._targets[d.val]]
        self.info = {"fit_end": d.fit_end, "fallbacks": fails}
        if fails:
            log.info("%s: %d of %d gene(s) fell back to persistence (fit failed)", self.name, fails, X.shape[1])
        return self

    def _one_step(self, X: np.ndarray, end: int, scaler: Scaler) -> tuple[np.ndarray, int]:
        """``[T, N]`` standardised one-step forecasts of every time by per-gene fits on ``X[:end]``
        (working scale ``X [T, N]``), and the number of genes that fell back to persistence."""
        T, N = X.shape
        path = np.full((T, N), np.nan)
        fails = 0
        for n in range(N):
            y = X[:, n]
            try:
                m = self._model().fit(y[:end])
                path[1:, n] = m.forward(y, h=1, fitted=True)["fitted"][1:]
            except Exception:  # noqa: BLE001  (statsforecast raises several kinds on degenerate series)
                fails += 1
        bad = ~np.isfinite(path)
        path[bad] = np.vstack([X[:1], X[:-1]])[bad]         # fallback: the previous value
        with np.errstate(invalid="ignore"):
            return scaler.bound((path - scaler.mean) / scaler.std), fails

    def predict(self, z, nb, windows):
        """Each window's one-step forecast (horizons: the origin's, like ``ets``)."""
        return self._path[self._targets[np.asarray(windows)]]


@register
class AutoETSPeer(_StatsforecastPeer):
    """statsforecast's ``AutoETS(season_length=1)`` (a default peer)."""

    name = "auto_ets"

    @staticmethod
    def _model():
        from statsforecast.models import AutoETS

        return AutoETS(season_length=1)


# statsforecast's AutoARIMA and AutoTheta are not offered: their ``forward`` is not causal as a filter
# (a value after the origin changes their one-step forecasts before it; the contract test of
# tests/forecasters/test_forecasters.py fails for both), and refitting them per target would give them data the
# other forecasters do not get.


class _Global(Forecaster):
    """A global learner (:class:`GlobalCache`) as a forecaster of one fold."""

    kind = "peer"

    def fit(self, d: FitData) -> "_Global":
        super().fit(d)
        self._end = int(np.max(d.fit)) + 1
        if not np.array_equal(np.sort(d.fit), np.arange(self._end)):  # paper: random windows
            raise ValueError(f"{self.name}: the fit windows must be every window before the origin")
        cache = self.ctx.cache
        self.val_oos = None
        if d.want_val_oos and len(d.val):
            self.val_oos = self._z(cache.prequential(self.name, d.val))
        m = cache.model(self.name, self._end)
        self.info = {"fit_windows": int(self._end), "lags": cache.p,
                     **({"coef": [round(float(c), 6) for c in m.coef_], "intercept": round(float(m.intercept_), 6)}
                        if self.name == "global_linear" and m is not None else {})}
        return self

    def _z(self, raw: np.ndarray) -> np.ndarray:
        s = self.scaler
        return s.bound((raw - s.mean) / s.std)

    def predict(self, z, nb, windows):
        raw = self.scaler.inverse(np.asarray(z, dtype=float))
        return self._z(self.ctx.cache.predict_raw(self.name, self._end, raw))


@register
class GlobalSES(Forecaster):
    """Simple exponential smoothing with one smoothing weight shared by every gene, chosen on the
    pooled one-step errors of the times up to the origin (:class:`SES`); a causal filter from then
    on. A candidate of the model's start (``selection.global_bases``), not a reported baseline. Horizons:
    its one-step forecast from the origin (flat, as SES's is)."""

    name, kind = "global_ses", "peer"

    def _weights(self, ses, fit_end: int) -> np.ndarray:
        """Each gene's smoothing-weight index ``[N]`` chosen on the errors of the times before ``fit_end``."""
        return np.full(ses.F.shape[2], ses.alpha_index(fit_end))

    @staticmethod
    def _info(w: np.ndarray) -> dict:
        return {"alpha": float(w[0])}

    def fit(self, d: FitData) -> "GlobalSES":
        super().fit(d)
        cache = self.ctx.cache
        self._a = self._weights(cache.ses, d.fit_end)
        self._targets = np.asarray(d.target_idx)
        self.val_oos = None
        if d.want_val_oos and len(d.val):
            self.val_oos = self._z(cache.prequential(self.name, d.val))
        self.info = {**self._info(np.asarray(SES_ALPHAS)[self._a]), "fit_end": d.fit_end}
        return self

    def _z(self, raw: np.ndarray) -> np.ndarray:
        s = self.scaler
        return s.bound((raw - s.mean) / s.std)

    def predict(self, z, nb, windows):
        F = self.ctx.cache.ses.F[:, self._targets[np.asarray(windows)]]          # [A, V, N]
        return self._z(np.take_along_axis(F, np.broadcast_to(self._a, F.shape[1:])[None], axis=0)[0])


@register
class GeneSES(GlobalSES):
    """Simple exponential smoothing with each gene's own smoothing weight, chosen on that gene's
    one-step errors of the times up to the origin (:class:`SES`; a per-gene ETS(A,N,N) on a grid of
    weights, causal); a candidate of the model's start (``selection.global_bases``), not a reported
    baseline (``auto_ets`` is the per-gene library peer)."""

    name, kind = "gene_ses", "peer"

    def _weights(self, ses, fit_end: int) -> np.ndarray:
        return ses.gene_idx[int(fit_end)]

    @staticmethod
    def _info(w: np.ndarray) -> dict:
        return {"alpha_median": float(np.median(w)),
                "alpha_iqr": [float(np.quantile(w, 0.25)), float(np.quantile(w, 0.75))]}


@register
class GlobalLinear(_Global):
    name = "global_linear"


@register
class GlobalGBM(_Global):
    name = "global_gbm"


def fit_all(names: list[str], ctx: JobContext, d: FitData, shared: "SharedFits | None" = None
            ) -> dict[str, Forecaster]:
    """Fit every named forecaster on ``d``; the paper protocol (random windows) has no global peers.
    With ``shared``, a ``shareable`` forecaster already fitted on the same data by another run is
    read back instead of refitted (the same numbers)."""
    out: dict[str, Forecaster] = {}
    for n in names:
        if n in GLOBAL and not np.array_equal(np.sort(d.fit), np.arange(int(np.max(d.fit)) + 1)):
            continue
        if shared is not None and REGISTRY[n].shareable:
            out[n] = shared.fit(REGISTRY[n], ctx, d)
        else:
            out[n] = REGISTRY[n](ctx).fit(d)
        if out[n].info:
            log.info("forecaster %s: %s", n, {k: v for k, v in out[n].info.items() if k != "coef"})
    return out


class _Stored(Forecaster):
    """A ``shareable`` forecaster's fit read back from :class:`SharedFits`: its forecasts of every
    window of the fold, its info and its out-of-sample validation forecasts."""

    def __init__(self, ctx: JobContext, name: str, pred: np.ndarray, info: dict, val_oos: np.ndarray | None,
                 fitted_windows: np.ndarray) -> None:
        super().__init__(ctx)
        self.name, self._pred, self.info, self.val_oos = name, pred, info, val_oos
        self.kind = REGISTRY[name].kind
        self.fitted_windows = fitted_windows

    def predict(self, z, nb, windows):
        return self._pred[np.asarray(windows)]


class SharedFits:
    """Fits of the ``shareable`` forecasters in a folder that the runs of one ablation share (its
    variants and seeds change the graph, the embedding or the seed, none of which such a fit reads).

    An entry's name is a sha256 of the forecaster's name, the job's ETS candidates and every
    :class:`FitData` field it reads (series, target indices, train / validation / fit windows, whether
    validation forecasts are wanted, the scaler), so a run on other data or windows never reads it.
    Entries are written atomically; two processes that miss at once both fit and write the same
    arrays (either file is then read). The folder lives as long as the ablation
    (:func:`step.jobs.ablate.run_ablation`).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        from pathlib import Path

        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(cls: type[Forecaster], ctx: JobContext, d: FitData) -> str:
        import hashlib
        import pickle

        parts = (cls.name, tuple(ctx.ets_models), np.ascontiguousarray(d.Z), np.asarray(d.target_idx),
                 np.asarray(d.train), np.asarray(d.val), np.asarray(d.fit), bool(d.want_val_oos),
                 np.asarray(d.scaler.mean), np.asarray(d.scaler.std), float(d.scaler.clip), int(d.scaler.n_floored))
        return hashlib.sha256(pickle.dumps(parts, protocol=4)).hexdigest()

    def entry(self, cls: type[Forecaster], ctx: JobContext, d: FitData):
        """The path of the entry of ``cls`` fitted on ``d``."""
        return self.folder / f"{cls.name}-{self.key(cls, ctx, d)}.npz"

    def fit(self, cls: type[Forecaster], ctx: JobContext, d: FitData) -> Forecaster:
        import json

        from step.io import write_with

        path = self.entry(cls, ctx, d)
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                self.hits += 1
                val = z["val_oos"] if bool(z["has_val_oos"]) else None
                return _Stored(ctx, cls.name, z["pred"], json.loads(str(z["info"])), val, z["fitted_windows"])
        self.misses += 1
        f = cls(ctx).fit(d)
        pred = f.predict(d.inputs, d.nb, np.arange(d.inputs.shape[0]))
        val = f.val_oos if f.val_oos is not None else np.zeros((0, pred.shape[1]))
        info = json.dumps(f.info, default=lambda o: o.item() if hasattr(o, "item") else str(o))
        arrays = {"pred": pred, "info": np.array(info), "val_oos": val,
                  "has_val_oos": np.array(f.val_oos is not None), "fitted_windows": np.asarray(f.fitted_windows)}

        def save(tmp) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        self.folder.mkdir(parents=True, exist_ok=True)
        write_with(path, save)
        return f


__all__ = ["FitData", "JobContext", "Forecaster", "REGISTRY", "register", "GlobalCache", "fit_all", "SharedFits",
           "enabled_names", "BASELINE_NAMES", "PEERS", "GLOBAL"]
