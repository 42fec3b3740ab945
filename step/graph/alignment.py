"""Rigid alignment of one window's embedding to the previous window's, component by component
of the temporal graph (orthogonal Procrustes on the (gene, time) nodes they share; see
:mod:`step.graph.embeddings`, "Causal windows", step 2)."""
from __future__ import annotations

import logging

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.sparse.csgraph import connected_components

from step.config import EmbeddingConfig
from step.graph.graphs import TemporalGraphs
from step.graph.walks import temporal_graph

log = logging.getLogger("step.graph.embeddings")


def _align(cur: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rigid map of ``cur`` onto ``ref`` (rows matched): returns ``R, mu_cur, mu_ref`` with
    ``(cur - mu_cur) @ R + mu_ref ~ ref`` (centre, rotate by orthogonal Procrustes, shift)."""
    mu_c, mu_r = cur.mean(axis=0), ref.mean(axis=0)
    R, _ = orthogonal_procrustes(cur - mu_c, ref - mu_r)
    return R, mu_c, mu_r


def _align_components(graphs: TemporalGraphs, lo: int, hi: int, temporal_weight: float,
                      emb: np.ndarray, ref: np.ndarray, offset: int) -> np.ndarray:
    """Align ``emb`` ``[S, N, D]`` (times ``lo..hi``) to ``ref`` ``[S', N, D]``, the previous
    window's aligned embedding of times ``lo + offset .. lo + offset + S' - 1``, component by
    component of the temporal graph over ``lo..hi``."""
    S, N, D = emb.shape
    n_sh = ref.shape[0]
    _, lab = connected_components(temporal_graph(graphs, lo, hi, temporal_weight), directed=False)
    lab = lab.reshape(S, N)
    cur_sh, lab_sh = emb[offset:offset + n_sh].reshape(-1, D), lab[offset:offset + n_sh].ravel()
    ref_sh = ref.reshape(-1, D)
    R_all, mu_c_all, mu_r_all = _align(cur_sh, ref_sh)
    out = (emb - mu_c_all) @ R_all + mu_r_all
    for k in np.unique(lab):
        sel = lab_sh == k
        if not sel.any():
            continue
        R, mu_c, mu_r = _align(cur_sh[sel], ref_sh[sel])
        m = lab == k
        out[m] = (emb[m] - mu_c) @ R + mu_r
    return out


def _align_window(graphs: TemporalGraphs, cfg: EmbeddingConfig, e: int, fit: np.ndarray,
                  prev: np.ndarray | None, prev_lo: int, warned: bool
                  ) -> tuple[np.ndarray, int, bool]:
    """Align the fit of window ``e`` to the previous window's aligned span ``prev`` (times
    from ``prev_lo``); returns the aligned span ``[S, N, D]`` (float64), its first time index
    and the updated ``warned`` flag."""
    lo = max(0, e - cfg.span + 1)
    emb = fit.astype(np.float64)
    if prev is not None:
        s_lo = max(lo, prev_lo)  # shared times s_lo..e-1
        if s_lo <= e - 1:
            emb = _align_components(graphs, lo, e, cfg.temporal_weight, emb,
                                    prev[s_lo - prev_lo:e - prev_lo], s_lo - lo)
        elif not warned:
            log.warning("embedding.span = 1: consecutive windows share no time point; "
                        "embeddings are not aligned across windows")
            warned = True
    return emb, lo, warned
