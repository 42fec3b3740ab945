"""Sparse graph operators of the forecast windows (no ``N x N`` array anywhere).

Every time point's graph has the same edge set (the Hi-C pairs) with its own
weights, so each window's operator is one weight vector over that edge set:

- the scaled Laplacian ``L~ = -D^-1/2 A D^-1/2`` (``lambda_max = 2``; see
  :func:`step.forecasters.layers.scaled_laplacian`, the dense reference) for the Chebyshev
  graph convolution;
- the row-normalised adjacency ``D^-1 A`` (weighted mean of a gene's partners)
  for the neighbour-mean input channel.

A batch of windows is multiplied as one block-diagonal sparse matrix
``[B*N, B*N]`` (node ids offset per window, as PyG batches graphs), with
``torch.sparse.mm``: memory is ``O(B * E)``, not ``O(B * N^2)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from step.graph.graphs import structural_adjacency, structural_weights
from step.forecasters.layers import scaled_laplacian

__all__ = ["WindowOperators", "SparseBatch", "window_operators", "build_window_operators", "neighbour_means",
           "neighbour_means_at"]


@dataclass
class SparseBatch:
    """One batch of window operators as a block-diagonal sparse matrix.

    Shapes:
        matrix: ``[B*N, B*N]`` (sparse COO)
        :meth:`matmul_nodes`: ``[B, C, T, N] -> [B, C, T, N]``
    """

    matrix: Tensor
    batch: int
    n_nodes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.batch, self.n_nodes, self.n_nodes)

    def dim(self) -> int:  # reads like a batched [B, N, N] operator where shapes are checked
        return 3

    def matmul_nodes(self, x: Tensor) -> Tensor:
        """``(L~ x)[b, c, t, i] = sum_j L~_b[i, j] x[b, c, t, j]`` for every b, c, t."""
        B, C, T, N = x.shape
        if B != self.batch or N != self.n_nodes:
            raise ValueError(f"sparse operator is for {self.batch} windows x {self.n_nodes} nodes, "
                             f"input is {B} x {N}")
        y = x.permute(0, 3, 1, 2).reshape(B * N, C * T)
        out = torch.sparse.mm(self.matrix, y.to(self.matrix.dtype))
        return out.reshape(B, N, C, T).permute(0, 2, 3, 1).to(x.dtype)


@dataclass
class WindowOperators:
    """Per-window operators over one shared edge set.

    Attributes
    ----------
    edge_index : int64 ``[2, M]`` row (receiving gene) and column of every
        directed entry (each Hi-C pair twice), ``M = 2E``.
    lap : float32 ``[W, M]`` scaled-Laplacian entries per window (``W = 1``: one
        operator shared by every window).
    mean : float64 ``[W, M]`` row-normalised adjacency entries per window.
    n_nodes : N.
    """

    edge_index: Tensor
    lap: Tensor
    mean: np.ndarray
    n_nodes: int

    @property
    def n_windows(self) -> int:
        return int(self.lap.shape[0])

    def to(self, device: str | torch.device) -> "WindowOperators":
        return WindowOperators(self.edge_index.to(device), self.lap.to(device), self.mean, self.n_nodes)

    def batch(self, idx: Tensor) -> SparseBatch:
        """The operators of windows ``idx`` (any, for a shared operator) as one sparse matrix."""
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.lap.device).reshape(-1)
        B, N, M = len(idx), self.n_nodes, self.edge_index.shape[1]
        vals = self.lap[idx] if self.n_windows > 1 else self.lap[0].expand(B, M)  # [B, M]
        offs = (torch.arange(B, device=self.lap.device) * N)[:, None]            # [B, 1]
        rows = (self.edge_index[0][None, :] + offs).reshape(-1)
        cols = (self.edge_index[1][None, :] + offs).reshape(-1)
        mat = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals.reshape(-1), (B * N, B * N),
                                      is_coalesced=False, check_invariants=False).coalesce()
        return SparseBatch(mat, B, N)

    def neighbour_means(self, inputs: np.ndarray) -> np.ndarray:
        """Weighted mean of each gene's partners at every input time (0 without partners).

        ``inputs [W, L, N] -> [W, L, N]``; window ``w`` uses its own operator.
        """
        W, L, N = inputs.shape
        out = np.zeros_like(inputs, dtype=float)
        r, c = self.edge_index[0].cpu().numpy(), self.edge_index[1].cpu().numpy()
        shared = self.mean.shape[0] == 1
        if shared:
            P = sp.csr_matrix((self.mean[0], (r, c)), shape=(N, N))
            return (P @ inputs.reshape(W * L, N).T).T.reshape(W, L, N)
        for w in range(W):
            P = sp.csr_matrix((self.mean[w], (r, c)), shape=(N, N))
            out[w] = (P @ inputs[w].T).T
        return out


def window_operators(edges: np.ndarray, weights: np.ndarray, n_nodes: int) -> WindowOperators:
    """Build the operators from undirected edges and per-window weights.

    Parameters
    ----------
    edges : int ``[E, 2]`` gene pairs (``i < j``).
    weights : float ``[W, E]`` non-negative edge weight of each window's graph.
    n_nodes : N.
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    W = weights.shape[0]
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    a = np.concatenate([weights, weights], axis=1)                       # [W, M]
    deg = np.zeros((W, n_nodes))
    for w in range(W):
        deg[w] = np.bincount(rows, weights=a[w], minlength=n_nodes)
    dinv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    lap = -(dinv[:, rows] * a * dinv[:, cols])
    mean = np.where(deg[:, rows] > 0, a / np.where(deg[:, rows] > 0, deg[:, rows], 1.0), 0.0)
    return WindowOperators(torch.as_tensor(np.stack([rows, cols])), torch.as_tensor(lap, dtype=torch.float32),
                           mean, int(n_nodes))


# --------------------------------------------------------------------------- built from the job's graphs

def build_window_operators(graphs, ws_targets: np.ndarray, history: int, operator: str, course,
                      graph_cfg, sparse: bool = True):
    """Each window's graph as the scaled Laplacian (for the graph convolutions) and as
    the row-normalised adjacency (weighted neighbour mean, for the linear path).

    ``sparse`` (default): one :class:`step.graph.sparse_ops.WindowOperators` serving as
    both, ``O(W * E)`` memory. Otherwise the dense reference: a ``[W, N, N]``
    (``operator: window``) or ``[N, N]`` (``structural``) Laplacian tensor and
    the matching row-normalised numpy array.
    """
    N = course.n_genes
    if sparse:
        if operator == "structural":
            edges, w = structural_weights(course, graph_cfg)
            ops = window_operators(edges, w[None, :], N)
        else:
            ops = window_operators(graphs.edges, graphs.window_mean_weights(ws_targets, history), N)
        return ops, ops
    if operator == "structural":
        A = np.asarray(structural_adjacency(course, graph_cfg), dtype=float)
    else:
        A = np.stack([graphs.dense_mean(list(range(k - history, k))) for k in ws_targets])
    deg = A.sum(-1, keepdims=True)
    P = np.divide(A, deg, out=np.zeros_like(A), where=deg > 0)
    return scaled_laplacian(torch.as_tensor(A, dtype=torch.float32)), P

def neighbour_means_at(P, inputs: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """:func:`neighbour_means` of ``inputs [V, L, N]`` with the operators of the windows
    ``windows [V]`` (multi-step recursion: every step uses its origin window's graph)."""
    windows = np.asarray(windows, dtype=int)
    if hasattr(P, "neighbour_means"):
        sub = P if P.mean.shape[0] == 1 else WindowOperators(P.edge_index, P.lap[torch.as_tensor(windows)],
                                                               P.mean[windows], P.n_nodes)
        return sub.neighbour_means(inputs)
    return neighbour_means(P[windows] if P.ndim == 3 else P, inputs)


def neighbour_means(P, inputs: np.ndarray) -> np.ndarray:
    """Weighted mean of each gene's Hi-C partners at every input time (0 without partners).

    ``P``: a :class:`step.graph.sparse_ops.WindowOperators`, or the dense row-normalised
    adjacency ``[W, N, N]`` / ``[N, N]``; ``inputs [W, L, N]`` -> ``[W, L, N]``.
    """
    if hasattr(P, "neighbour_means"):
        return P.neighbour_means(inputs)
    return np.einsum("wnm,wlm->wln" if P.ndim == 3 else "nm,wlm->wln", P, inputs)
