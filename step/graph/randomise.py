"""Degree-preserving randomisation of a gene-pair set: the null graphs of the ablation
(:mod:`step.jobs.ablate`) and of the Hi-C information test (:mod:`step.evaluation.hic_test`)."""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def randomise_pairs(pairs: np.ndarray, n_genes: int, seed: int, swaps_per_edge: int = 10) -> np.ndarray:
    """Degree-preserving randomisation of an undirected pair set by double edge swaps.

    Uses :func:`networkx.double_edge_swap` (no self loops, no repeated pairs).

    Parameters
    ----------
    pairs : int ``[P, 2]`` gene indices.
    n_genes : N (genes without partners stay without).
    seed : swaps are drawn from this seed.
    swaps_per_edge : swaps attempted per edge (``P * swaps_per_edge`` in all).

    Returns
    -------
    int ``[P, 2]`` with ``i < j``, sorted; every gene keeps its degree.
    """
    import networkx as nx

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) < 2:
        return pairs.copy()
    G = nx.Graph()
    G.add_nodes_from(range(n_genes))
    G.add_edges_from(map(tuple, pairs))
    nswap = swaps_per_edge * len(pairs)
    try:
        nx.double_edge_swap(G, nswap=nswap, max_tries=100 * nswap, seed=int(seed))
    except nx.NetworkXAlgorithmError as exc:  # e.g. a star: no swap possible
        log.warning("degree-preserving randomisation could not swap as asked (%s); using what it reached", exc)
    out = np.array(sorted((min(a, b), max(a, b)) for a, b in G.edges()), dtype=np.int64).reshape(-1, 2)
    return out
