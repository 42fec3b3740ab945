"""Per-time-point weighted gene graphs built from Hi-C features and expression.

The edges are the Hi-C pairs of the :class:`~step.data.course.GeneTimeCourse` (``i < j``);
they are the same at every time point, only their weights change. The weight of
pair ``(i, j)`` at time index ``t`` is the configurable weighted sum

``w_hic * hic_norm + w_compartment * same_compartment + w_tad * tad_sim
+ w_insulation * insulation_sim + w_expression * expr_sim(t)``

with the pair features of :func:`edge_features` and
``expr_sim(t) = 1 / (1 + |x_i(t) - x_j(t)|)`` computed on the expression in the
model's working scale (e.g. log1p counts for miRNA). A feature that is NaN (a
missing Hi-C value, insulation score, TAD distance or expression value)
contributes 0 to the weight and is logged with the genes concerned. Nothing here
depends on a gene's name: no gene-specific rules.

Causality: the weight at time ``t`` uses only the expression at ``t`` and the
static Hi-C features, so graphs at times ``<= e`` never see data after ``e``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from step.config import GraphConfig
from step.errors import InputError
from step.io import hash_parts

if TYPE_CHECKING:  # pragma: no cover
    from step.data.course import GeneTimeCourse

log = logging.getLogger(__name__)

FEATURES = ("hic_norm", "same_compartment", "tad_sim", "insulation_sim")
_WEIGHT_OF = {
    "hic_norm": "w_hic",
    "same_compartment": "w_compartment",
    "tad_sim": "w_tad",
    "insulation_sim": "w_insulation",
}


@dataclass
class TemporalGraphs:
    """One weighted undirected gene graph per time point, on a fixed edge set.

    Attributes
    ----------
    times : float array ``[T]``, the time of each graph.
    n_genes : number of nodes ``N``.
    edges : int array ``[E, 2]``, ``0 <= i < j < N``, no duplicates.
    weights : float array ``[T, E]``, finite and ``>= 0``; ``weights[t, e]`` is the
        weight of ``edges[e]`` at ``times[t]`` (0 means absent at that time).

    The constructor checks these shapes and ranges and raises ``ValueError``.
    """

    times: np.ndarray
    n_genes: int
    edges: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=float)
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        self.weights = np.asarray(self.weights, dtype=float)
        self.n_genes = int(self.n_genes)
        T, E = self.times.shape[0], self.edges.shape[0]
        if self.times.ndim != 1:
            raise ValueError(f"times must be 1-D, got shape {self.times.shape}")
        if self.weights.shape != (T, E):
            raise ValueError(f"weights shape {self.weights.shape} != (T, E) = {(T, E)}")
        if E:
            i, j = self.edges[:, 0], self.edges[:, 1]
            if i.min() < 0 or j.max() >= self.n_genes:
                raise ValueError(f"edge endpoints must lie in [0, {self.n_genes})")
            if np.any(i >= j):
                raise ValueError("edges must satisfy i < j (no self-loops, one orientation)")
            if np.unique(i * self.n_genes + j).size != E:
                raise ValueError("duplicate edges")
        if not np.all(np.isfinite(self.weights)) or np.any(self.weights < 0):
            raise ValueError("weights must be finite and >= 0")

    @property
    def n_times(self) -> int:
        return int(self.times.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    def adjacency(self, t: int) -> sp.csr_matrix:
        """Symmetric weighted adjacency at time index ``t``, ``[N, N]`` CSR, zeros dropped."""
        w = self.weights[t]
        keep = w > 0
        i, j, w = self.edges[keep, 0], self.edges[keep, 1], w[keep]
        a = sp.coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))),
            shape=(self.n_genes, self.n_genes),
        ).tocsr()
        a.sort_indices()
        return a

    def dense_mean(self, t_idx: Sequence[int]) -> np.ndarray:
        """Mean dense adjacency over the time indices ``t_idx``, ``[N, N]``."""
        t_idx = np.asarray(list(t_idx), dtype=np.int64)
        if t_idx.size == 0:
            raise ValueError("dense_mean needs at least one time index")
        w = self.weights[t_idx].mean(axis=0)
        out = np.zeros((self.n_genes, self.n_genes))
        out[self.edges[:, 0], self.edges[:, 1]] = w
        out[self.edges[:, 1], self.edges[:, 0]] = w
        return out

    def window_mean_weights(self, targets: Sequence[int], history: int) -> np.ndarray:
        """Mean edge weights over each window's input times ``k-history .. k-1``: ``[W, E]``."""
        c = np.vstack([np.zeros((1, self.n_edges)), np.cumsum(self.weights, axis=0)])
        k = np.asarray(list(targets), dtype=np.int64)
        if k.size and (k.min() < history or k.max() > self.n_times):
            raise ValueError(f"window targets must lie in [{history}, {self.n_times}]")
        return (c[k] - c[k - history]) / history

    def content_hash(self) -> str:
        """sha256 of times, n_genes, edges and weights (the cache key of derived data)."""
        return hash_parts("TemporalGraphs", self.times, self.n_genes, self.edges, self.weights)


def _check_weights(cfg: GraphConfig) -> None:
    for name in ("w_hic", "w_compartment", "w_tad", "w_insulation", "w_expression"):
        val = getattr(cfg, name)
        if not np.isfinite(val) or val < 0:
            raise InputError(f"graph.{name} = {val!r}: edge-weight coefficients must be finite and >= 0.")


def _gene_list(course: "GeneTimeCourse", idx: np.ndarray, limit: int = 20) -> str:
    names = [course.genes[k] for k in idx[:limit]]
    more = f" (+{idx.size - limit} more)" if idx.size > limit else ""
    return ", ".join(names) + more


def edge_features(course: "GeneTimeCourse") -> pd.DataFrame:
    """Static features of every Hi-C pair, in ``[0, 1]``.

    Parameters
    ----------
    course : the gene time course (uses ``pairs``, ``hic``, ``compartment``,
        ``tad_distance``, ``insulation``).

    Returns
    -------
    DataFrame with one row per pair (in ``course.pairs`` order) and columns
    ``i, j`` (gene indices), ``gene1, gene2`` (names), ``hic_norm``
    (``log1p(hic)`` min-max scaled over the pairs; 1 if all pairs are equal),
    ``same_compartment`` (1 if both genes have the same known compartment, else
    0), ``tad_sim = 1/(1+|dA-dB|)``, ``insulation_sim = 1/(1+|iA-iB|)``.
    NaN where an input is missing (logged); :func:`build_graphs` counts NaN as 0.
    """
    pairs = np.asarray(course.pairs, dtype=np.int64).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    hic = np.asarray(course.hic, dtype=float)
    if np.any(hic[np.isfinite(hic)] < 0):
        bad = np.flatnonzero(hic < 0)
        raise InputError(
            f"{course.source or 'interaction data'}: HiC_Interaction must be >= 0; "
            f"negative for pair(s) {[(course.genes[i[k]], course.genes[j[k]]) for k in bad[:5]]}."
        )
    lh = np.log1p(hic)
    fin = np.isfinite(lh)
    hic_norm = np.full(lh.shape, np.nan)
    if fin.any():
        lo, hi = lh[fin].min(), lh[fin].max()
        hic_norm[fin] = (lh[fin] - lo) / (hi - lo) if hi > lo else 1.0
    if not fin.all():
        bad = np.flatnonzero(~fin)
        log.warning("Hi-C value missing for %d pair(s), counted as 0: %s", bad.size,
                    ", ".join(f"{course.genes[i[k]]}-{course.genes[j[k]]}" for k in bad[:20]))

    comp = np.asarray(course.compartment, dtype=object).astype(str)
    known = np.isin(comp, ["A", "B"])
    same = (known[i] & known[j] & (comp[i] == comp[j])).astype(float)
    if not known.all():
        log.info("compartment unknown for %d gene(s) (same_compartment = 0 for their pairs): %s",
                 int((~known).sum()), _gene_list(course, np.flatnonzero(~known)))

    out = {"i": i, "j": j,
           "gene1": [course.genes[k] for k in i], "gene2": [course.genes[k] for k in j],
           "hic_norm": hic_norm, "same_compartment": same}
    for col, values, label in (("tad_sim", course.tad_distance, "TAD boundary distance"),
                               ("insulation_sim", course.insulation, "insulation score")):
        v = np.asarray(values, dtype=float)
        out[col] = 1.0 / (1.0 + np.abs(v[i] - v[j]))
        miss = ~np.isfinite(v)
        if miss.any():
            log.warning("%s missing for %d gene(s), their pairs get %s = 0: %s", label,
                        int(miss.sum()), col, _gene_list(course, np.flatnonzero(miss)))
    return pd.DataFrame(out)


def _static_weights(course: "GeneTimeCourse", cfg: GraphConfig) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``[E, 2]`` and the expression-free part of their weight ``[E]``."""
    _check_weights(cfg)
    feats = edge_features(course)
    w = np.zeros(len(feats))
    for col in FEATURES:
        w += getattr(cfg, _WEIGHT_OF[col]) * np.nan_to_num(feats[col].to_numpy(float), nan=0.0)
    return feats[["i", "j"]].to_numpy(np.int64), w


def expression_similarity(X: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``1 / (1 + |x_i(t) - x_j(t)|)`` for every time and edge, ``[T, E]``; NaN -> 0."""
    X = np.asarray(X, dtype=float)
    sim = 1.0 / (1.0 + np.abs(X[:, edges[:, 0]] - X[:, edges[:, 1]]))
    return np.nan_to_num(sim, nan=0.0)


def build_graphs(course: "GeneTimeCourse", cfg: GraphConfig, X: np.ndarray) -> TemporalGraphs:
    """One weighted graph per time point.

    Parameters
    ----------
    course : gene time course (pairs and static Hi-C features).
    cfg : edge-weight coefficients (``w_hic, w_compartment, w_tad, w_insulation, w_expression``).
    X : ``[T, N]`` expression in the model's working scale (may differ from ``course.X``,
        e.g. log1p counts).

    Returns
    -------
    TemporalGraphs with ``edges = course.pairs`` and ``weights [T, E]``.
    """
    X = np.asarray(X, dtype=float)
    T, N = course.n_times, course.n_genes
    if X.shape != (T, N):
        raise ValueError(f"X shape {X.shape} != (T, N) = {(T, N)}")
    edges, static = _static_weights(course, cfg)
    weights = np.repeat(static[None, :], T, axis=0)
    if cfg.w_expression:
        nan = ~np.isfinite(X)
        if nan.any():
            genes = np.flatnonzero(nan.any(axis=0))
            log.warning("expression missing at %d (time, gene) cell(s) of %d gene(s); the "
                        "expression similarity of their pairs is 0 there: %s",
                        int(nan.sum()), genes.size, _gene_list(course, genes))
        weights = weights + cfg.w_expression * expression_similarity(X, edges)
    graphs = TemporalGraphs(times=np.asarray(course.times, float), n_genes=N, edges=edges,
                            weights=weights)
    log.info("graphs: %d genes, %d edges, %d time points, weight range [%.3g, %.3g]",
             N, graphs.n_edges, T, float(weights.min()) if weights.size else 0.0,
             float(weights.max()) if weights.size else 0.0)
    return graphs


def structural_weights(course: "GeneTimeCourse", cfg: GraphConfig) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``[E, 2]`` and their Hi-C feature weights ``[E]`` (no expression term)."""
    return _static_weights(course, cfg)


def structural_adjacency(course: "GeneTimeCourse", cfg: GraphConfig) -> np.ndarray:
    """Dense symmetric ``[N, N]`` adjacency with the Hi-C feature weights only (no expression)."""
    edges, w = _static_weights(course, cfg)
    N = course.n_genes
    out = np.zeros((N, N))
    out[edges[:, 0], edges[:, 1]] = w
    out[edges[:, 1], edges[:, 0]] = w
    return out
