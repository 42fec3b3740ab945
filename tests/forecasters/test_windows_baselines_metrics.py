"""Windows and splits, baselines and metrics on small hand-made inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from step.forecasters.baselines import mean_last, neighbour_mean, persistence, ridge_ar, run_baselines
from step.errors import InputError
from step.evaluation.metrics import compute_metrics
from step.data.windows import Scaler, make_windows, split_windows


def test_make_windows_shapes_and_values():
    X = np.arange(12, dtype=float).reshape(6, 2)  # [T=6, N=2]
    inputs, targets, k = make_windows(X, 3)
    assert inputs.shape == (3, 3, 2) and targets.shape == (3, 2)
    np.testing.assert_array_equal(k, [3, 4, 5])
    np.testing.assert_array_equal(inputs[0], X[0:3])
    np.testing.assert_array_equal(targets[-1], X[5])
    with pytest.raises(InputError):
        make_windows(X[:3], 3)


def test_chronological_split_is_ordered_and_sized():
    ws = split_windows(43, 3, "chronological", 0.7, 0.1)
    assert len(ws.targets) == 40
    assert [len(ws.idx(s)) for s in ("train", "val", "test")] == [28, 4, 8]
    assert ws.idx("train").max() < ws.idx("val").min() < ws.idx("test").min()
    assert ws.report == "test" and not ws.optimistic
    # scalers may only see time points of training windows: inputs and targets up to the last train target
    assert ws.train_time_indices().max() == ws.targets[ws.idx("train")].max()


def test_paper_split_is_the_published_permutation():
    ws = split_windows(43, 3, "paper")
    torch.manual_seed(42)
    perm = torch.randperm(40).numpy()
    assert set(ws.idx("train")) == set(perm[:32]) and set(ws.idx("val")) == set(perm[32:])
    assert ws.report == "val" and ws.optimistic and len(ws.idx("test")) == 0


def test_scaler_fits_training_times_only():
    X = np.array([[1.0, 10.0], [3.0, 10.0], [100.0, -50.0]])
    sc = Scaler.fit(X, np.array([0, 1]), clip=np.inf)
    np.testing.assert_allclose(sc.mean, [2.0, 10.0])
    np.testing.assert_allclose(sc.inverse(sc.transform(X)), X)
    assert sc.std[1] > 0  # constant gene: floored, no division by zero


def test_scaler_floor_is_relative_to_the_typical_scale_and_values_are_clipped():
    rng = np.random.default_rng(0)
    X = rng.normal(scale=2.0, size=(20, 6))
    X[:, 0] = 5.0                      # constant over training
    X[:, 1] = 5.0 + 1e-9 * rng.normal(size=20)  # near-constant
    X[15:, :2] = 80.0                  # both jump after training
    sc = Scaler.fit(X, np.arange(15), floor=0.05, clip=10.0)
    typical = np.median(X[:15].std(axis=0))
    assert sc.n_floored == 2
    np.testing.assert_allclose(sc.std[:2], 0.05 * typical)
    Z = sc.transform(X)
    assert np.abs(Z).max() <= 10.0 and np.all(Z[15:, :2] == 10.0)
    np.testing.assert_array_equal(sc.bound(np.array([-1e9, 3.0, 1e9])), [-10.0, 3.0, 10.0])


def test_simple_baselines_and_neighbour_mean():
    inputs = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]])  # [W=1, L=3, N=2]
    np.testing.assert_array_equal(persistence(inputs), [[5.0, 9.0]])
    np.testing.assert_allclose(mean_last(inputs), [[3.0, 5.0]])
    nb = neighbour_mean(inputs, np.array([[0, 1]]), 2)
    np.testing.assert_array_equal(nb[0, :, 0], inputs[0, :, 1])
    np.testing.assert_array_equal(nb[0, :, 1], inputs[0, :, 0])
    iso = neighbour_mean(inputs, np.empty((0, 2), dtype=int), 2)
    assert (iso == 0).all()


def test_ridge_learns_a_known_ar_and_strong_shrinkage_tends_to_persistence():
    rng = np.random.default_rng(0)
    T, N = 80, 3
    X = np.zeros((T, N))
    X[:2] = rng.normal(size=(2, N))
    for t in range(2, T):  # x_t = 0.5 x_{t-1} + 0.3 x_{t-2} + small noise
        X[t] = 0.5 * X[t - 1] + 0.3 * X[t - 2] + 0.01 * rng.normal(size=N)
    inputs, targets, _ = make_windows(X, 2)
    W = len(targets)
    train, val = np.arange(0, W - 20), np.arange(W - 20, W - 10)
    pred, info = ridge_ar(inputs, targets, train, val, [1e-6, 1e-3, 1.0], pooled=True)
    test = np.arange(W - 10, W)
    assert np.sqrt(np.mean((pred[test] - targets[test]) ** 2)) < 0.05
    heavy, _ = ridge_ar(inputs, targets, train, val, [1e9], pooled=False)
    np.testing.assert_allclose(heavy, inputs[:, -1, :] + np.mean(targets[train] - inputs[train, -1], axis=0), atol=1e-3)
    preds, _ = run_baselines(inputs, targets, train, val, np.array([[0, 1]]), [0.1, 1.0])
    assert set(preds) == {"persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "ridge_ar_graph"}


def test_metrics_on_known_values():
    y_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_last = np.array([[0.0, 3.0], [3.0, 5.0]])
    y_pred = np.array([[2.0, 2.0], [3.0, 4.0]])
    m = compute_metrics(y_true, y_pred, y_last, mse_persistence=0.5, mse_best=0.25)
    assert m["rmse"] == pytest.approx(0.5) and m["mae"] == pytest.approx(0.25)
    assert m["skill_vs_persistence"] == pytest.approx(0.5) and m["skill_vs_best_baseline"] == pytest.approx(0.0)
    # true changes: +1, -1, 0 (excluded), -1; predicted: +2, -1, 0, -1 -> 3/3 right
    assert m["direction_accuracy"] == pytest.approx(1.0)
    assert m["n_windows"] == 2 and m["n_genes"] == 2
    assert m["r2"] == pytest.approx(1 - 1.0 / 5.0)


def test_per_gene_corr_matches_scipy_gene_by_gene():
    """The vectorised per-gene Pearson/Spearman equals scipy's, with NaNs, ties and constant genes."""
    from scipy import stats as st

    from step.evaluation.metrics import per_gene_corr

    rng = np.random.default_rng(4)
    W, N = 9, 40
    a = rng.normal(size=(W, N))
    b = a + rng.normal(size=(W, N))
    a[rng.random((W, N)) < 0.1] = np.nan
    b[2, 5] = np.nan
    b[:, 7] = 3.0            # constant prediction
    a[:, 8] = np.nan
    a[:7, 9] = np.nan        # one finite pair left
    b[:, 10] = np.round(b[:, 10])  # ties
    for kind in ("pearson", "spearman"):
        got = per_gene_corr(a, b, kind)
        for n in range(N):
            ok = np.isfinite(a[:, n]) & np.isfinite(b[:, n])
            x, y = a[ok, n], b[ok, n]
            if ok.sum() < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
                assert np.isnan(got[n]), (kind, n)
                continue
            want = st.pearsonr(x, y)[0] if kind == "pearson" else st.spearmanr(x, y)[0]
            assert got[n] == pytest.approx(want, abs=1e-12), (kind, n)


def test_per_gene_ridge_matches_sklearn_gene_by_gene():
    """The batched per-gene ridge equals sklearn's Ridge fitted gene by gene (with masked targets)."""
    from sklearn.linear_model import Ridge

    from step.forecasters.baselines import _PerGeneRidge

    rng = np.random.default_rng(5)
    W, F, N = 14, 4, 12
    feats = rng.normal(size=(W, F, N))
    resid = rng.normal(size=(W, N))
    resid[rng.random((W, N)) < 0.15] = np.nan
    resid[:, 3] = np.nan
    resid[:9, 4] = np.nan   # one training target left: persistence
    train = np.arange(10)
    r = _PerGeneRidge(feats, resid, train)
    for alpha in (0.1, 10.0):
        got = r.predict(alpha)
        for n in range(N):
            ok = train[np.isfinite(resid[train, n])]
            if len(ok) < 2:
                np.testing.assert_array_equal(got[:, n], 0.0)
                continue
            m = Ridge(alpha=alpha).fit(feats[ok, :, n], resid[ok, n])
            np.testing.assert_allclose(got[:, n], m.predict(feats[:, :, n]), rtol=1e-9, atol=1e-10)


def test_mase_by_hand():
    """MASE = mean |error| / the gene's mean absolute one-step naive error on the training windows."""
    from step.evaluation.metrics import naive_scale

    # training windows: gene 0 moves by 1, 3 (scale 2); gene 1 by 0.5, 0.5 (scale 0.5); gene 2 constant
    tr_true = np.array([[1.0, 0.5, 4.0], [4.0, 1.0, 4.0]])
    tr_last = np.array([[0.0, 0.0, 4.0], [1.0, 0.5, 4.0]])
    scale = naive_scale(tr_true, tr_last)
    np.testing.assert_allclose(scale[:2], [2.0, 0.5])
    assert np.isnan(scale[2])  # no scale: left out
    y_true = np.array([[1.0, 1.0, 4.0], [2.0, 2.0, 5.0]])
    y_pred = np.array([[2.0, 1.5, 4.0], [2.0, 1.0, 9.0]])
    m = compute_metrics(y_true, y_pred, y_true - 1, 1.0, 1.0, scale)
    # |e| / scale: gene 0: 1/2, 0/2; gene 1: 0.5/0.5, 1/0.5 -> mean of [0.5, 0, 1, 2] = 0.875
    assert m["mase"] == pytest.approx(0.875)
    assert np.isnan(compute_metrics(y_true, y_pred, y_true - 1)["mase"])
