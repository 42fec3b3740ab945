"""The plain-loop reference walker the vectorised walks are tested against (tests only)."""
from __future__ import annotations

import numpy as np

from step.graph.walks import _check_csr


def reference_walks(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, starts: np.ndarray,
                    walk_length: int, p: float, q: float, rng: np.random.Generator) -> np.ndarray:
    """Plain-loop version of :func:`biased_walks` (same semantics, different random stream).

    Each step computes the biased weights of the current node's neighbours
    explicitly and draws with ``rng.choice``. Slow; the second route of tests/graph/test_embeddings.py.
    """
    indptr, indices, data = _check_csr(indptr, indices, data)
    starts = np.asarray(starts, dtype=np.int64)
    walks = np.full((starts.size, max(int(walk_length), 0)), -1, dtype=np.int64)
    for w, start in enumerate(starts):
        if walk_length < 1:
            break
        walks[w, 0] = start
        prev = -1
        cur = int(start)
        for s in range(1, walk_length):
            nbr = indices[indptr[cur]:indptr[cur + 1]]
            wts = data[indptr[cur]:indptr[cur + 1]].copy()
            if nbr.size == 0:
                break
            if prev >= 0:
                prev_nbr = set(indices[indptr[prev]:indptr[prev + 1]].tolist())
                for k, x in enumerate(nbr):
                    if x == prev:
                        wts[k] /= p
                    elif int(x) not in prev_nbr:
                        wts[k] /= q
            nxt = int(rng.choice(nbr, p=wts / wts.sum()))
            walks[w, s] = nxt
            prev, cur = cur, nxt
    return walks
