"""Temporal graphs of a span of time points and node2vec walks on them (vectorised, numpy).

The temporal graph over time indices ``t_lo..t_hi``: every (gene, time) pair is a node, numbered
``(t - t_lo) * N + gene``; spatial edges are the gene graph at that time, temporal edges join
``(g, t)`` and ``(g, t + 1)``. :func:`biased_walks` advances every walk one step at a time (the
node2vec bias sampled exactly by rejection; see :mod:`step.graph.embeddings` for the whole method);
``tests/graph/reference_walks.py`` is the same process as a plain loop. The ``node2vec`` package's walk
generator is the optional reference backend (:func:`node2vec_package_walks`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from step.config import EmbeddingConfig
from step.errors import InputError
from step.graph.graphs import TemporalGraphs


def _row_of_entries(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))


def _check_csr(indptr: Any, indices: Any, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    data = np.asarray(data, dtype=float)
    if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0 or indptr[-1] != indices.size:
        raise ValueError("indptr must start at 0 and end at len(indices)")
    if data.shape != indices.shape:
        raise ValueError("data and indices must have the same length")
    if data.size and (not np.all(np.isfinite(data)) or data.min() <= 0):
        raise ValueError("edge weights must be finite and > 0 (drop zero entries first)")
    return indptr, indices, data


def biased_walks(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, starts: np.ndarray,
                 walk_length: int, p: float, q: float, rng: np.random.Generator) -> np.ndarray:
    """Weighted node2vec walks, all advancing one step together.

    Parameters
    ----------
    indptr, indices, data : CSR arrays of a symmetric weighted graph with ``n`` nodes;
        column indices sorted within each row, weights ``> 0``.
    starts : ``[n_walks]`` start node of each walk.
    walk_length : number of nodes per walk (including the start).
    p, q : node2vec return and in-out parameters (> 0).
    rng : numpy Generator (the only source of randomness).

    Returns
    -------
    int64 array ``[n_walks, walk_length]``; a walk that starts at an isolated node
    is ``[start, -1, -1, ...]`` (the only way a walk can stop early).
    """
    indptr, indices, data = _check_csr(indptr, indices, data)
    if p <= 0 or q <= 0:
        raise ValueError(f"p and q must be > 0, got p={p}, q={q}")
    n = indptr.size - 1
    starts = np.asarray(starts, dtype=np.int64)
    walks = np.full((starts.size, max(int(walk_length), 0)), -1, dtype=np.int64)
    if walk_length < 1 or starts.size == 0:
        return walks
    walks[:, 0] = starts
    if walk_length == 1:
        return walks

    row = _row_of_entries(indptr)
    # Per-row CDF as "row + cumulative share": strictly inside (row, row + 1], last entry exactly
    # row + 1, so one global searchsorted finds the entry within the right row.
    csum = np.cumsum(data)
    before = np.concatenate([[0.0], csum])[indptr[:-1]]
    total = np.concatenate([[0.0], csum])[indptr[1:]] - before
    key = np.empty_like(data)
    if data.size:
        key = (csum - before[row]) / total[row]
        last = indptr[1:][np.diff(indptr) > 0] - 1
        key[last] = 1.0
        key += row
    edge_key = row * n + indices  # globally sorted: membership test for the p/q bias
    has_nbr = np.diff(indptr) > 0

    def step_from(cur: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(key, cur + rng.random(cur.size), side="right")
        return indices[np.minimum(pos, indptr[cur + 1] - 1)]

    alive = np.flatnonzero(has_nbr[starts])
    if alive.size == 0:
        return walks
    prev = starts[alive]
    cur = step_from(prev)
    walks[alive, 1] = cur
    unbiased = p == 1.0 and q == 1.0
    inv_p, inv_q = 1.0 / p, 1.0 / q
    amax = max(inv_p, 1.0, inv_q)
    for s in range(2, walk_length):
        if unbiased:
            nxt = step_from(cur)
        else:
            nxt = np.empty_like(cur)
            todo = np.arange(cur.size)
            while todo.size:
                cand = step_from(cur[todo])
                back = cand == prev[todo]
                k = prev[todo] * n + cand
                pos = np.minimum(np.searchsorted(edge_key, k), edge_key.size - 1)
                near = edge_key[pos] == k
                alpha = np.where(back, inv_p, np.where(near, 1.0, inv_q))
                ok = rng.random(todo.size) * amax < alpha
                nxt[todo[ok]] = cand[ok]
                todo = todo[~ok]
        walks[alive, s] = nxt
        prev, cur = cur, nxt
    return walks


def temporal_graph(graphs: TemporalGraphs, t_lo: int, t_hi: int, temporal_weight: float) -> sp.csr_matrix:
    """Adjacency of the temporal graph over time indices ``t_lo..t_hi``.

    Returns a symmetric CSR ``[S * N, S * N]`` (``S = t_hi - t_lo + 1``), node
    ``s * N + g`` = gene ``g`` at time index ``t_lo + s``; zero weights dropped.
    """
    N, S = graphs.n_genes, t_hi - t_lo + 1
    rows, cols, vals = [], [], []
    i, j = graphs.edges[:, 0], graphs.edges[:, 1]
    for s in range(S):
        w = graphs.weights[t_lo + s]
        keep = w > 0
        rows.append(s * N + i[keep])
        cols.append(s * N + j[keep])
        vals.append(w[keep])
    if temporal_weight > 0 and S > 1:
        g = np.arange((S - 1) * N, dtype=np.int64)
        rows.append(g)
        cols.append(g + N)
        vals.append(np.full(g.size, float(temporal_weight)))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    a = sp.coo_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                      shape=(S * N, S * N)).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return a


def walk(adj: sp.csr_matrix, starts: np.ndarray, cfg: EmbeddingConfig, rng: np.random.Generator) -> np.ndarray:
    """Walks ``[len(starts), walk_length]`` (-1 padded) on ``adj`` with ``cfg.backend``.

    ``numpy``: :func:`biased_walks`. ``node2vec``: the PyPI ``node2vec`` package's walk generator
    (precomputed transition tables over networkx; optional dependency, slow, for comparison only):
    ``cfg.walks_per_node`` walks from every node of ``adj`` that appears in ``starts``, seeded from ``rng``.
    """
    if cfg.backend == "numpy":
        return biased_walks(adj.indptr, adj.indices, adj.data, starts, cfg.walk_length, cfg.p, cfg.q, rng)
    return node2vec_package_walks(adj, np.unique(starts), cfg, int(rng.integers(2**31 - 1)))


def node2vec_package_walks(adj: sp.csr_matrix, nodes: np.ndarray, cfg: EmbeddingConfig, seed: int) -> np.ndarray:
    """``cfg.walks_per_node`` walks from each of ``nodes`` by the ``node2vec`` package, ``[W, walk_length]``."""
    try:
        from node2vec import Node2Vec
    except ImportError:
        raise InputError("embedding.backend: node2vec needs the optional 'node2vec' package (the extra "
                         "'node2vec'): pip install -e '.[node2vec]'. That extra's node2vec==0.5.0 pins numpy<2, "
                         "so pip downgrades numpy; to keep this project's numpy (it runs with it), `make venv` "
                         "installs it with: pip install --no-deps node2vec==0.5.0. The default backend is "
                         "numpy.") from None
    import networkx as nx

    sub = adj.tocoo()
    G = nx.Graph()
    G.add_nodes_from(range(adj.shape[0]))
    G.add_weighted_edges_from(zip(sub.row.tolist(), sub.col.tolist(), sub.data.tolist()))
    # the package walks from every node; restrict to ``nodes`` afterwards (it has no start list)
    n2v = Node2Vec(G, dimensions=cfg.dim, walk_length=cfg.walk_length, num_walks=cfg.walks_per_node,
                   p=cfg.p, q=cfg.q, weight_key="weight", workers=1, quiet=True, seed=seed)
    keep = set(int(k) for k in nodes)
    out = np.full((0, cfg.walk_length), -1, dtype=np.int64)
    rows = [[int(x) for x in w] for w in n2v.walks if int(w[0]) in keep]
    if rows:
        out = np.full((len(rows), cfg.walk_length), -1, dtype=np.int64)
        for r, w in enumerate(rows):
            out[r, :len(w)] = w
    return out


def _sentences(walks: np.ndarray, tokens: np.ndarray) -> list[list[str]]:
    """Walks ``[W, K]`` of node ids (-1 padded) -> Word2Vec sentences of string tokens."""
    if (walks < 0).any():
        return [tokens[w[w >= 0]].tolist() for w in walks]
    return tokens[walks].tolist()
