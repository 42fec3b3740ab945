"""Baselines evaluated on exactly the model's windows.

All work in the standardised working scale (scaler fitted on training times)
and predict every window of every split; ridge models are fitted on training
windows only, in residual form (target = change from the last input, so strong
shrinkage tends to persistence), with the ridge strength chosen on the
validation windows (or by leave-one-out on training windows when the protocol
has no separate validation split).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.linear_model import Ridge

log = logging.getLogger(__name__)

# every name a forecaster of step/forecasters/registry.py may have in a run (the baselines, then the library peers)
BASELINES = ("persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "ridge_ar_graph", "ets",
             "auto_ets", "global_linear", "global_gbm", "best_per_origin")


def persistence(inputs: np.ndarray) -> np.ndarray:
    """Last input value. ``inputs [W, L, N] -> [W, N]``."""
    return inputs[:, -1, :].copy()


def mean_last(inputs: np.ndarray) -> np.ndarray:
    """Mean of the L inputs. ``inputs [W, L, N] -> [W, N]``."""
    return inputs.mean(axis=1)


def neighbour_mean(inputs: np.ndarray, pairs: np.ndarray, n_genes: int) -> np.ndarray:
    """Plain (unweighted) mean over each gene's Hi-C partners of their lags; 0 for genes without
    partners: the neighbour-mean operator of :mod:`step.graph.sparse_ops` with unit edge weights.

    ``inputs [W, L, N] -> [W, L, N]``.
    """
    from step.graph.sparse_ops import window_operators  # here: step.outputs.rundata reads BASELINES without torch

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        return np.zeros_like(np.asarray(inputs, dtype=float))
    return window_operators(pairs, np.ones((1, len(pairs))), n_genes).neighbour_means(inputs)


def _fit_ridge(Xtr: np.ndarray, ytr: np.ndarray, Xva: np.ndarray | None, yva: np.ndarray | None,
               alphas: list[float]) -> tuple["Ridge", float]:
    from sklearn.linear_model import Ridge, RidgeCV  # imported here: ~0.8 s at start-up otherwise

    if Xva is not None and len(Xva):
        best, best_mse = None, np.inf
        for a in alphas:
            m = Ridge(alpha=a).fit(Xtr, ytr)
            mse = float(np.mean((m.predict(Xva) - yva) ** 2))  # yva has no NaN (filtered in stack)
            if mse < best_mse - 1e-15:
                best, best_mse = (m, a), mse
        return best  # type: ignore[return-value]
    m = RidgeCV(alphas=alphas).fit(Xtr, ytr)
    return Ridge(alpha=float(m.alpha_)).fit(Xtr, ytr), float(m.alpha_)


def ridge_ar(inputs: np.ndarray, targets: np.ndarray, train: np.ndarray, val: np.ndarray | None,
             alphas: list[float], pooled: bool, extra: np.ndarray | None = None,
             predictors: dict | None = None, name: str = "") -> tuple[np.ndarray, dict]:
    """Ridge autoregression on each gene's own lags (``pooled=False``: one model per
    gene; ``True``: one model for all genes), optionally with extra lag features.

    Parameters
    ----------
    inputs : ``[W, L, N]`` standardised lags; targets ``[W, N]``.
    train, val : window numbers; ``val`` None or empty -> leave-one-out on train.
    extra : ``[W, L, N]`` further per-gene features (e.g. neighbour means) or None.

    Returns
    -------
    predictions ``[W, N]`` for every window, and a dict of the chosen alphas. With
    ``predictors`` (a dict), ``predictors[name]`` is set to the fitted forecaster
    ``f(inputs [V, L, N], extra [V, L, N] | None) -> [V, N]`` for new windows (multi-step recursion).
    """
    W, L, N = inputs.shape
    feats = inputs if extra is None else np.concatenate([inputs, extra], axis=1)  # [W, F, N]
    last = inputs[:, -1, :]
    resid = targets - last
    preds = np.empty((W, N))
    has_val = val is not None and len(val) > 0
    if pooled:
        def stack(idx):
            X, y = feats[idx].transpose(0, 2, 1).reshape(-1, feats.shape[1]), resid[idx].reshape(-1)
            ok = np.isfinite(y)  # missing targets (data.allow_missing) are left out of the fit
            return X[ok], y[ok]
        Xtr, ytr = stack(train)
        Xva, yva = stack(val) if has_val else (None, None)
        model, alpha = _fit_ridge(Xtr, ytr, Xva, yva, alphas)
        allX = feats.transpose(0, 2, 1).reshape(-1, feats.shape[1])
        preds = last + model.predict(allX).reshape(W, N)
        if predictors is not None:
            def f_pooled(z: np.ndarray, nb: np.ndarray | None) -> np.ndarray:
                F = z if extra is None else np.concatenate([z, nb], axis=1)
                return z[:, -1, :] + model.predict(F.transpose(0, 2, 1).reshape(-1, F.shape[1])).reshape(z.shape[0], N)
            predictors[name] = f_pooled
        return preds, {"alpha": alpha}
    # per gene: choose one alpha for all genes on the pooled validation error
    ridge = _PerGeneRidge(feats, resid, train)
    cand = []
    for a in alphas:
        P = last + ridge.predict(a)
        score = float(np.nanmean((P[val] - targets[val]) ** 2)) if has_val else _loo_score(feats, resid, train, a)
        cand.append((score, a, P))
    score, alpha, preds = min(cand, key=lambda c: (c[0], c[1]))
    if predictors is not None:
        predictors[name] = lambda z, nb, a=alpha: z[:, -1, :] + ridge.predict_new(z if extra is None else
                                                                                  np.concatenate([z, nb], axis=1), a)
    return preds, {"alpha": alpha}


class _PerGeneRidge:
    """One ridge regression with intercept per gene, all genes at once (the closed form that
    ``sklearn.linear_model.Ridge`` solves, batched over genes; a test checks it against sklearn).

    ``feats [W, F, N]``, ``resid [W, N]`` (NaN = no target: left out of that gene's fit), ``train``
    window numbers. A gene with fewer than 2 training targets predicts 0 (persistence).
    """

    def __init__(self, feats: np.ndarray, resid: np.ndarray, train: np.ndarray):
        X = np.transpose(feats, (2, 0, 1))                      # [N, W, F]
        m = np.isfinite(resid[train]).T.astype(float)           # [N, n_tr]
        y = np.nan_to_num(resid[train]).T                       # [N, n_tr]
        Xt = X[:, train]                                        # [N, n_tr, F]
        cnt = m.sum(axis=1)                                     # [N]
        self.ok = cnt >= 2
        c = np.maximum(cnt, 1)[:, None]
        self.xm = np.einsum("nw,nwf->nf", m, Xt) / c            # [N, F]
        self.ym = (m * y).sum(axis=1) / c[:, 0]                 # [N]
        Xc = (Xt - self.xm[:, None, :]) * m[:, :, None]
        yc = (y - self.ym[:, None]) * m
        self.G = np.einsum("nwf,nwg->nfg", Xc, Xc)              # [N, F, F]
        self.h = np.einsum("nwf,nw->nf", Xc, yc)                # [N, F]
        self.X = X

    def predict(self, alpha: float) -> np.ndarray:
        """Fitted residual predictions ``[W, N]`` for every window at ridge strength ``alpha``."""
        F = self.G.shape[1]
        w = np.linalg.solve(self.G + alpha * np.eye(F), self.h[:, :, None])[:, :, 0]   # [N, F]
        out = np.einsum("nwf,nf->wn", self.X - self.xm[:, None, :], w) + self.ym[None, :]
        out[:, ~self.ok] = 0.0
        return out

    def predict_new(self, feats: np.ndarray, alpha: float) -> np.ndarray:
        """Residual predictions ``[V, N]`` for new windows ``feats [V, F, N]`` at strength ``alpha``."""
        F = self.G.shape[1]
        w = np.linalg.solve(self.G + alpha * np.eye(F), self.h[:, :, None])[:, :, 0]   # [N, F]
        out = np.einsum("nvf,nf->vn", np.transpose(feats, (2, 0, 1)) - self.xm[:, None, :], w) + self.ym[None, :]
        out[:, ~self.ok] = 0.0
        return out


def _loo_score(feats: np.ndarray, resid: np.ndarray, train: np.ndarray, alpha: float) -> float:
    from sklearn.linear_model import RidgeCV

    errs = []
    for n in range(feats.shape[2]):
        ok = train[np.isfinite(resid[train, n])]
        if len(ok) < 3:  # too few training targets for leave-one-out
            continue
        cv = RidgeCV(alphas=[alpha], store_cv_results=True).fit(feats[ok, :, n], resid[ok, n])
        errs.append(float(np.mean(cv.cv_results_)))
    return float(np.mean(errs))


def run_baselines(inputs: np.ndarray, targets: np.ndarray, train: np.ndarray, val: np.ndarray | None,
                  pairs: np.ndarray, alphas: list[float], series: np.ndarray | None = None,
                  targets_idx: np.ndarray | None = None,
                  fit_end: int | None = None,
                  ets_models: tuple[str, ...] = ("ANN",),
                  neighbours: np.ndarray | None = None,
                  predictors: dict | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Every baseline's predictions ``[W, N]`` (standardised scale) and its fitted settings.

    ``neighbours [W, L, N]``: the neighbour means ``ridge_ar_graph`` reads (the jobs pass the
    models' own input channel, the window graph's weighted partner mean, so that the graph
    ridge is a point of the models' linear family); None = the plain mean over ``pairs``.

    ``series [T, N]`` (the standardised course), ``targets_idx [W]`` (each window's
    target time index) and ``fit_end`` (time points ``< fit_end`` may be used to
    estimate parameters) enable the ``ets`` baseline (:mod:`step.forecasters.ets`); without
    them it is left out.
    """
    N = inputs.shape[2]
    out: dict[str, np.ndarray] = {"persistence": persistence(inputs), "mean_last": mean_last(inputs)}
    info: dict[str, dict] = {"persistence": {}, "mean_last": {}}
    out["ridge_ar_gene"], info["ridge_ar_gene"] = ridge_ar(inputs, targets, train, val, alphas, pooled=False,
                                                           predictors=predictors, name="ridge_ar_gene")
    out["ridge_ar_pooled"], info["ridge_ar_pooled"] = ridge_ar(inputs, targets, train, val, alphas, pooled=True,
                                                               predictors=predictors, name="ridge_ar_pooled")
    nb = neighbour_mean(inputs, pairs, N) if neighbours is None else neighbours
    out["ridge_ar_graph"], info["ridge_ar_graph"] = ridge_ar(inputs, targets, train, val, alphas, pooled=True, extra=nb,
                                                             predictors=predictors, name="ridge_ar_graph")
    if predictors is not None:
        predictors["persistence"] = lambda z, nb: persistence(z)
        predictors["mean_last"] = lambda z, nb: mean_last(z)
    if series is not None and targets_idx is not None and fit_end is not None:
        from step.forecasters.ets import ets_forecasts

        out["ets"], info["ets"] = ets_forecasts(series, np.asarray(targets_idx), int(fit_end), tuple(ets_models))
    for k, v in info.items():
        if v:
            log.info("baseline %s: %s", k, v)
    return out, info
