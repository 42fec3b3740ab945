"""Sparse window operators against the dense reference (two routes that must agree)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from step.config import load_config
from step.forecasters.layers import ChebGraphConv, chebyshev_basis, scaled_laplacian
from step.jobs.pipeline import run_job
from step.graph.sparse_ops import window_operators

ROOT = Path(__file__).resolve().parents[2]


def _random_graph(n=9, e=14, W=4, seed=0):
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < e:
        i, j = sorted(rng.choice(n - 1, 2, replace=False))  # node n-1 stays isolated
        pairs.add((i, j))
    edges = np.array(sorted(pairs))
    w = rng.uniform(0, 2, (W, e))
    w[0, :3] = 0.0  # zero weights are allowed
    dense = np.zeros((W, n, n))
    for k in range(W):
        dense[k, edges[:, 0], edges[:, 1]] = w[k]
        dense[k, edges[:, 1], edges[:, 0]] = w[k]
    return edges, w, dense


@pytest.mark.parametrize("K", [1, 2, 3])
def test_sparse_chebyshev_matches_dense(K):
    edges, w, dense = _random_graph()
    ops = window_operators(edges, w, 9)
    x = torch.randn(3, 2, 4, 9)
    idx = torch.tensor([2, 0, 3])
    ref = chebyshev_basis(x, scaled_laplacian(torch.as_tensor(dense[idx.numpy()], dtype=torch.float32)), K)
    got = chebyshev_basis(x, ops.batch(idx), K)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    conv = ChebGraphConv(2, 5, K)
    torch.testing.assert_close(conv(x, ops.batch(idx)), conv(x, scaled_laplacian(
        torch.as_tensor(dense[idx.numpy()], dtype=torch.float32))), rtol=1e-5, atol=1e-6)


def test_shared_operator_and_neighbour_means_match_dense():
    edges, w, dense = _random_graph(W=3)
    shared = window_operators(edges, w[:1], 9)
    x = torch.randn(4, 1, 2, 9)
    ref = chebyshev_basis(x, scaled_laplacian(torch.as_tensor(dense[0], dtype=torch.float32)), 3)
    torch.testing.assert_close(chebyshev_basis(x, shared.batch(torch.arange(4)), 3), ref, rtol=1e-5, atol=1e-6)
    ops = window_operators(edges, w, 9)
    inputs = np.random.default_rng(1).normal(size=(3, 2, 9))
    deg = dense.sum(-1, keepdims=True)
    P = np.divide(dense, deg, out=np.zeros_like(dense), where=deg > 0)
    np.testing.assert_allclose(ops.neighbour_means(inputs), np.einsum("wnm,wlm->wln", P, inputs), atol=1e-12)
    assert np.all(ops.neighbour_means(inputs)[:, :, 8] == 0)  # isolated gene: no partners, mean 0


def test_sparse_gradients_flow():
    edges, w, _ = _random_graph()
    ops = window_operators(edges, w, 9)
    x = torch.randn(2, 3, 4, 9, requires_grad=True)
    chebyshev_basis(x, ops.batch(torch.tensor([0, 1])), 3).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("operator", ["window", "structural"])
def test_published_mrna_sparse_path_equals_dense_path(tmp_path, operator):
    """The published mRNA panel, end to end: the same predictions either way (float tolerance)."""
    over = {"embedding.cache_dir": str(tmp_path / "cache"), "output.plots": False, "analysis.enabled": False,
            "train.epochs": 4, "train.patience": 4, "selection.rule": "best", "graph.operator": operator}
    runs = {sp: run_job(load_config(ROOT / "configs/mrna.yaml", {**over, "graph.sparse": sp}), tmp_path / sp)
            for sp in ("sparse", "dense")}
    a = pd.read_csv(runs["sparse"].run_dir / "predictions.csv")
    b = pd.read_csv(runs["dense"].run_dir / "predictions.csv")
    pd.testing.assert_frame_equal(a.drop(columns="y_pred"), b.drop(columns="y_pred"))
    np.testing.assert_allclose(a.y_pred, b.y_pred, rtol=1e-4, atol=1e-4)
    model = a.model == "STEPmr"
    assert not np.allclose(a.y_pred[model], a.y_true[model])  # a real forecast, not a copy of the truth
