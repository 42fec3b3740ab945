"""The Hi-C information test (step/evaluation/hic_test.py): finds a graph signal that is there, stays quiet on
null data, keeps degrees, sees no future, pools courses, and says how large an effect it could see."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from step.graph.randomise import randomise_pairs
from step.config import RunConfig
from step.evaluation.hic_test import (course_result, mde_percent, mean_operator, pooled, rolling_hic_forecasts,
                                      loss_differentials)
from step.evaluation.uncertainty import TOO_FEW, diebold_mariano, ewc_df, ewc_long_run_variance

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("synthetic", ROOT / "benchmarks/synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("synthetic", synthetic)
_spec.loader.exec_module(synthetic)


def _test(X, pairs, K=2, seed=0, expression=True):
    return rolling_hic_forecasts(X, pairs, history=3, lags=3, test_frac=0.7, randomisations=K, seed=seed,
                                 expression_max_genes=3000 if expression else 0)


def test_mean_operator_and_randomised_graphs_keep_every_degree():
    syn = synthetic.make_synthetic(mode="graph", seed=1)
    N = len(syn.genes)
    M = mean_operator(syn.pairs, N)
    x = np.arange(N, dtype=float)
    i, j = syn.pairs[0]
    partners = {b for a, b in syn.pairs if a == i} | {a for a, b in syn.pairs if b == i}
    assert np.isclose((M @ x)[i], np.mean(sorted(partners)))
    deg = np.bincount(syn.pairs.ravel(), minlength=N)
    for k in range(3):
        r = randomise_pairs(syn.pairs, N, seed=k)
        assert np.array_equal(np.bincount(r.ravel(), minlength=N), deg)
        assert len({tuple(p) for p in r} & {tuple(p) for p in syn.pairs}) < len(r)  # really rewired


def test_graph_driven_data_is_detected_with_the_truth_in_the_interval():
    syn = synthetic.make_synthetic(mode="graph", seed=0)
    fc = _test(syn.X, syn.pairs)
    res = course_result(fc, RunConfig())
    r = res["hic_vs_own"]
    assert res["_forecasts_differ"]
    assert r["verdict"] == "better" and r["pvalue"] < 0.05 and r["n_times"] >= 15
    # the truth: the effect the test estimates, averaged over 12 replicate courses of this design
    # (the same genes and Hi-C graph, new innovations)
    eff = []
    for rep in range(12):
        fr = _test(synthetic.make_synthetic(mode="graph", seed=0, series_seed=rep).X, syn.pairs, K=0,
                   expression=False)
        eff.append(100 * (np.sqrt(np.mean((fr.preds["hic"] - fr.y) ** 2)) / np.sqrt(np.mean((fr.preds["own"] - fr.y) ** 2)) - 1))
    truth = float(np.mean(eff))
    assert r["ci_pct"][0] <= truth <= r["ci_pct"][1], (r["ci_pct"], truth)
    assert res["hic_vs_randomised"]["verdict"] == "better"
    assert np.isfinite(r["mde_pct"]) and 0 < r["mde_pct"] < abs(r["effect_pct"])


def test_null_data_gives_few_false_verdicts():
    """Independent genes: neighbours carry nothing. 40 replicates (the benchmark runs 200)."""
    false = 0
    for rep in range(40):
        syn = synthetic.make_synthetic(mode="null", seed=100 + rep)
        res = course_result(_test(syn.X, syn.pairs, K=1, seed=rep, expression=False), RunConfig())
        false += res["hic_vs_own"]["verdict"] in ("better", "worse")
    assert false <= 4, false


def test_no_look_ahead():
    syn = synthetic.make_synthetic(mode="graph", seed=2)
    a = _test(syn.X, syn.pairs)
    X = syn.X.copy()
    cut = a.target_times[5]
    X[cut + 1:] += 100.0
    b = _test(X, syn.pairs)
    for g in a.preds:
        np.testing.assert_allclose(a.preds[g][:6], b.preds[g][:6], atol=1e-8)
        assert not np.allclose(a.preds[g][7:], b.preds[g][7:])


def test_missing_values_and_short_course():
    syn = synthetic.make_synthetic(mode="graph", seed=3, n_times=20)
    X = syn.X.copy()
    X[10, 4] = np.nan
    fc = _test(X, syn.pairs)
    assert all(np.isfinite(P).all() for P in fc.preds.values())
    res = course_result(fc, RunConfig())
    assert res["hic_vs_own"]["verdict"] == TOO_FEW and "not enough target times" in res["hic_vs_own"]["sentence"]
    from step.errors import InputError

    with pytest.raises(InputError, match="windows"):
        _test(syn.X[:8], syn.pairs)


def test_pooling_adds_target_times_and_power():
    diffs = []
    for seed in (0, 1):
        syn = synthetic.make_synthetic(mode="graph", seed=seed, n_times=20)
        fc = _test(syn.X, syn.pairs, K=0, expression=False)
        diffs.append(loss_differentials(fc.y, fc.preds["hic"], fc.preds["own"]))
    one = pooled(diffs[:1], 0.95, 15)
    both = pooled(diffs, 0.95, 15)
    assert one["verdict"] == TOO_FEW and both["n_times"] == sum(len(d) for d, _, _ in diffs) >= 15
    assert both["verdict"] in ("better", "no detectable difference")
    assert both["mde_pct"] < one["mde_pct"]


def test_ewc_variance_is_the_dm_one_and_mde_shrinks_with_more_times():
    rng = np.random.default_rng(0)
    d = rng.normal(0.1, 1, 40)
    nu = ewc_df(40)
    stat, _ = diebold_mariano(d)
    assert np.isclose(stat, d.mean() / np.sqrt(ewc_long_run_variance(d, nu) / 40) * np.sqrt(39 / 40))
    assert mde_percent(1.0, 100, 20, 10.0) < mde_percent(1.0, 25, 20, 10.0) < mde_percent(1.0, 25, 3, 10.0)
