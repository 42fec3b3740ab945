"""The linear family of the models' start: its candidates, their sufficient statistics and
closed-form fits (the partially pooled ridge), and the blend's simplex weights.

The linear path (:class:`step.forecasters.models.LinearPath`) forecasts gene ``n`` from its
window as

    ``y[n] = z_L[n] + theta_n . f[n] + c_n``     (residual form: anchored at persistence)

with ``f[n]`` the gene's own lags (and, with neighbours, its Hi-C neighbours' lags).
Its start is a *hierarchical ridge* (partial pooling): a pooled ridge
``(beta, b)`` shared by all genes (strength ``alpha_pool``; sklearn's ``Ridge``
with an intercept, solved in closed form), then per gene

    ``min  sum_w (r_wn - theta_n . f_wn - c_n)^2 + alpha_gene |theta_n|^2
           + pooling (|theta_n - beta|^2 + (c_n - b)^2)``

so that ``pooling = 0`` is exactly the per-gene ridge of the baselines
(``ridge_ar_gene``: intercept free, lags shrunk towards persistence),
``pooling = inf`` exactly the pooled ridge (``ridge_ar_pooled``; with neighbour
lags ``ridge_ar_graph``), and values in between shrink each gene towards the
shared weights. The moving average (the untrained model) is one more candidate.

The choice among them on evidence is :mod:`step.forecasters.linear_fit`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Candidate", "LinearStart", "partial_pooled_fit", "pooled_fit", "simplex_weights", "blend_fit"]


@dataclass(frozen=True)
class Candidate:
    """One point of the linear family (``None`` fields: the moving average)."""

    graph: bool = False
    alpha_gene: float | None = None
    alpha_pool: float | None = None
    pooling: float | None = None
    base: str | None = None  # a global learner (step/forecasters/registry.py) as the start: a fixed offset

    @property
    def is_moving_average(self) -> bool:
        return self.pooling is None and self.base is None

    def label(self) -> str:
        if self.base is not None:
            return self.base
        if self.is_moving_average:
            return "moving_average"
        p = "inf" if np.isinf(self.pooling) else f"{self.pooling:g}"
        return (f"{'graph' if self.graph else 'own'}/gene{self.alpha_gene:g}/pool{self.alpha_pool:g}"
                f"/pooling{p}")


@dataclass
class LinearStart:
    """The chosen start: per-gene weights on the design ``[own lags, neighbour lags]`` in the
    model's form ``y = own . z + neighbour . nb + bias``.

    own ``[N, L]``, neighbour ``[N, L]`` (zeros without the graph term), bias ``[N]``.
    """

    candidate: Candidate
    own: np.ndarray
    neighbour: np.ndarray
    bias: np.ndarray
    evidence: str
    n_evidence: int
    scores: dict[str, float]
    rule: str = ""
    # a blend (selection.start_rule: blend): the global learners' weights (their forecasts a fixed
    # offset, summed with these weights); own/neighbour/bias already hold the linear part's share
    bases: dict[str, float] | None = None
    weights: dict[str, float] | None = None  # every blended candidate's weight (labels), for the record
    equal_share: float | None = None  # a blend: how far its weights were shrunk towards equal shares
    # [W, N] standardised out-of-sample forecasts of the evidence windows (prequential; a blend's with
    # its weights refitted without the window), NaN elsewhere; None for the moving average, whose
    # forecast of any window is out of sample (it fits nothing)
    oos: np.ndarray | None = None

    @property
    def base(self) -> str | None:
        return self.candidate.base

    @property
    def offsets(self) -> dict[str, float]:
        """``{global learner: weight}`` of the fixed offset (empty: none)."""
        if self.bases:
            return dict(self.bases)
        return {self.candidate.base: 1.0} if self.candidate.base is not None else {}

    def label(self) -> str:
        if self.weights:
            return "blend(" + ", ".join(f"{k} {v:.3f}" for k, v in self.weights.items()) + ")"
        return self.candidate.label()


# --------------------------------------------------------------------------- sufficient statistics

def _design(inputs: np.ndarray, nb: np.ndarray | None, graph: bool) -> np.ndarray:
    """Features ``[W, N, F + 1]``: own lags (, neighbour lags), then a constant."""
    parts = [inputs.transpose(0, 2, 1)]
    if graph:
        parts.append(nb.transpose(0, 2, 1))
    parts.append(np.ones(inputs.shape[0:1] + inputs.shape[2:3] + (1,)))
    return np.concatenate(parts, axis=2)


class _Stats:
    """Per-gene Gram matrices of the augmented design over a set of windows, built up window by
    window. ``S [N, F+1, F+1]``, ``s [N, F+1]``, ``cnt [N]`` (observed targets)."""

    def __init__(self, n_genes: int, n_feat: int):
        self.S = np.zeros((n_genes, n_feat, n_feat))
        self.s = np.zeros((n_genes, n_feat))
        self.cnt = np.zeros(n_genes)

    def add(self, X: np.ndarray, r: np.ndarray) -> None:
        """One window: ``X [N, F+1]``, residual target ``r [N]`` (NaN = missing, skipped)."""
        m = np.isfinite(r)
        Xm = X * m[:, None]
        self.S += np.einsum("nf,ng->nfg", Xm, Xm)
        self.s += Xm * np.where(m, r, 0.0)[:, None]
        self.cnt += m


def pooled_fit(S: np.ndarray, s: np.ndarray, alpha: float) -> np.ndarray:
    """Pooled ridge with an unpenalised intercept from per-gene statistics: ``[F+1]``
    (weights, then intercept), the closed form of ``sklearn.linear_model.Ridge(alpha)``."""
    G, h = S.sum(0), s.sum(0)
    pen = np.full(G.shape[0], float(alpha))
    pen[-1] = 0.0
    return np.linalg.solve(G + np.diag(pen) + 1e-12 * np.eye(G.shape[0]), h)


def partial_pooled_fit(S: np.ndarray, s: np.ndarray, cnt: np.ndarray, alpha_gene: float,
                       pooled: np.ndarray, pooling: float) -> np.ndarray:
    """Per-gene ``[N, F+1]`` (weights, then intercept) of the hierarchical ridge (module
    docstring) towards the pooled solution ``pooled [F+1]``. Genes with fewer than 2 observed
    targets take the pooled solution."""
    N, F1 = s.shape
    if np.isinf(pooling):
        return np.broadcast_to(pooled, (N, F1)).copy()
    pen = np.full(F1, float(alpha_gene) + float(pooling))
    pen[-1] = float(pooling)
    A = S + np.diag(pen)[None]
    rhs = s + float(pooling) * pooled[None, :]
    ok = cnt >= 2
    out = np.broadcast_to(pooled, (N, F1)).copy()
    if ok.any():
        out[ok] = np.linalg.solve(A[ok] + 1e-12 * np.eye(F1)[None], rhs[ok][:, :, None])[:, :, 0]
    return out


# --------------------------------------------------------------------------- the blend's weights

def simplex_weights(G: np.ndarray) -> np.ndarray:
    """``argmin_w w' G w`` over the probability simplex (``w >= 0``, ``sum w = 1``) for a small
    positive semi-definite ``G [K, K]``: every support set's equality-constrained solution, the
    best feasible one (exact; ``K`` is a handful). Ties go to the earlier, smaller support."""
    K = G.shape[0]
    best_w, best_v = np.eye(K)[int(np.argmin(np.diag(G)))], float(np.min(np.diag(G)))
    ridge = 1e-12 * max(float(np.trace(G)), 1e-300)
    for mask in range(1, 2 ** K):
        S = [k for k in range(K) if mask >> k & 1]
        if len(S) < 2:
            continue
        Gs = G[np.ix_(S, S)] + ridge * np.eye(len(S))
        try:
            u = np.linalg.solve(Gs, np.ones(len(S)))
        except np.linalg.LinAlgError:
            continue
        if not np.isfinite(u).all() or abs(u.sum()) < 1e-300:
            continue
        ws = u / u.sum()
        if (ws < -1e-12).any():
            continue
        w = np.zeros(K)
        w[S] = np.clip(ws, 0.0, None)
        w /= w.sum()
        v = float(w @ G @ w)
        if v < best_v * (1 - 1e-9) - 1e-300:
            best_w, best_v = w, v
    return best_w


def blend_fit(P: np.ndarray, y: np.ndarray, cell_w: np.ndarray) -> np.ndarray:
    """Simplex weights ``[K]`` of the forecasts ``P [K, V, N]`` of targets ``y [V, N]`` that
    minimise the weighted squared error ``sum cell_w (sum_k w_k P_k - y)^2`` (``cell_w [V, N]``;
    NaN targets carry no weight). Since the weights sum to one the blend's error is the weighted
    sum of the candidates' errors, so this is a quadratic form in their errors."""
    E = np.nan_to_num((P - y[None]) * np.sqrt(cell_w)[None], nan=0.0).reshape(P.shape[0], -1)
    return simplex_weights(E @ E.T)
