"""Rolling-origin protocol: fold structure, end-to-end outputs and the leak test."""
from __future__ import annotations

from step.auto import resolve_auto

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures_run import CONFIG, TINY, job_config, scramble_times
from step.errors import InputError
from step.jobs.pipeline import run_job
from step.data.windows import rolling_folds



def _cfg(tmp_path: Path, **over):
    return job_config(CONFIG, tmp_path, **{"split.protocol": "rolling", "split.rolling_test_frac": 0.3,
                                           "split.refit_every": 2, "split.rolling_min_val": 2, **over})


@pytest.mark.parametrize("refit", [1, 2, 3])
def test_rolling_folds_forecast_each_test_target_once_from_the_past(refit):
    ws, folds = rolling_folds(n_times=30, history=3, test_frac=0.4, val_frac=0.1, refit_every=refit, min_val=2)
    W = 27
    test = ws.idx("test")
    assert len(test) == round(0.4 * W) and test[-1] == W - 1
    seen = np.concatenate([f.forecast for f in folds])
    assert sorted(seen) == list(range(W))  # every window forecast exactly once
    for f in folds:
        fs = f.split
        used = np.concatenate([fs.idx("train"), fs.idx("val")])
        # a fit trains and validates only on windows whose target is at or before its origin
        assert fs.targets[used].max() == f.origin
        # and everything it forecasts out of sample lies after the origin
        assert fs.targets[fs.idx("test")].min() == f.origin + 1
        assert len(fs.idx("test")) <= refit and len(fs.idx("val")) >= 2
        # the scaler's time points never pass the origin
        assert fs.train_time_indices().max() <= f.origin
    assert len(folds) == int(np.ceil(len(test) / refit))


def test_rolling_folds_reject_too_short_series():
    with pytest.raises(InputError, match="too few"):
        rolling_folds(n_times=8, history=3, test_frac=0.5, val_frac=0.1, refit_every=1, min_val=2)


@pytest.fixture(scope="module")
def rolling_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roll")
    return run_job(_cfg(tmp), tmp / "out")


def test_rolling_outputs_keep_their_shape(rolling_run):
    d = rolling_run.run_dir
    m = json.loads((d / "metrics.json").read_text())
    assert m["protocol"] == "rolling" and m["report_split"] == "test" and not m["optimistic"]
    pred = pd.read_csv(d / "predictions.csv")
    assert list(pred.columns) == ["model", "seed", "split", "target_time", "gene", "y_true", "y_pred",
                                  "lo_80", "hi_80", "lo_95", "hi_95", "horizon"]
    # intervals only on out-of-sample (test) rows, inside which the forecast lies
    assert pred.loc[pred.split != "test", ["lo_95", "hi_95"]].isna().all().all()
    t = pred[(pred.split == "test") & pred.lo_95.notna()]
    assert len(t) and (t.lo_95 <= t.y_pred).all() and (t.y_pred <= t.hi_95).all() and (t.lo_80 >= t.lo_95).all()
    assert set(pred.split) == {"train", "val", "test"}
    assert pred.y_pred.notna().all()
    assert m["rolling"]["n_fits"] == len(m["rolling"]["origins"]) >= 2
    comp = m["comparisons"]["vs_baselines"]
    composite = ["best_per_origin"] if len(set(m["best_baseline_per_origin"])) > 1 else []
    assert set(comp) == {"persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "ridge_ar_graph", "ets",
                         "auto_ets", "global_linear", "global_gbm", *composite}
    for r in comp.values():  # the tiny fixture's test period is shorter than evaluation.min_target_times
        assert r["n_times"] == len(m["splits"]["test"]) < 15
        assert r["verdict"] == "too few target times to tell"
        lo, hi = r["rmse_diff_ci95"]
        assert lo <= r["rmse_diff"] <= hi
    assert "Verdict:" in (d / "results.txt").read_text()


def test_rolling_backtest_sees_no_future(tmp_path, rolling_run):
    """Scramble every time from a test target on: its forecast and all earlier ones stay bit-identical."""
    ref = rolling_run.run_dir
    m = json.loads((ref / "metrics.json").read_text())
    test_times = m["splits"]["test"]
    cut = test_times[2]  # the first target of the second fit (refit_every = 2)
    cols = pd.read_csv(TINY, nrows=0).columns
    times = sorted({float(c.split("_Time_")[1]) for c in cols if "_Time_" in c})
    scrambled = scramble_times(TINY, [t for t in times if t >= cut], tmp_path / "scrambled.csv", seed=7)
    alt = run_job(_cfg(tmp_path, **{"data.path": str(scrambled)}), tmp_path / "alt")
    pr, pa = pd.read_csv(ref / "predictions.csv"), pd.read_csv(alt.run_dir / "predictions.csv")
    keep = pr.target_time <= cut
    # the forecasts and their intervals (the residuals behind them are earlier targets)
    cols = ["model", "seed", "split", "target_time", "gene", "y_pred", "lo_80", "hi_80", "lo_95", "hi_95"]
    pd.testing.assert_frame_equal(pr.loc[keep, cols].reset_index(drop=True), pa.loc[keep, cols].reset_index(drop=True))
    later = pr.target_time > cut
    assert not np.allclose(pr.loc[later, "y_pred"], pa.loc[later, "y_pred"])  # not vacuous
    # and the choices of the fits whose origin is before the cut: the model's start, the best baseline
    ma = json.loads((alt.run_dir / "metrics.json").read_text())
    n_before = sum(1 for r in m["linear_start"] if r["origin_time_index"] < times.index(cut))
    assert n_before >= 1
    assert m["linear_start"][:n_before] == ma["linear_start"][:n_before]
    assert m["best_baseline_per_origin"][:n_before] == ma["best_baseline_per_origin"][:n_before]


def test_every_interval_is_centred_on_the_reported_forecast(tmp_path):
    """Conformal intervals are symmetric in the working scale around the forecast that is reported
    (persistence included: its reported forecast is the unclipped previous value; a tight
    data.z_clip makes the clipped and reported values differ)."""
    run = run_job(_cfg(tmp_path, **{"data.z_clip": 1.0}), tmp_path / "out")
    p = pd.read_csv(run.run_dir / "predictions.csv")
    p = p[np.isfinite(p.lo_80)]
    assert len(p) and "persistence" in set(p.model)
    for _, g in p.groupby("model"):
        np.testing.assert_allclose((g.lo_80 + g.hi_80) / 2, g.y_pred, rtol=1e-6, atol=1e-6)


def test_best_per_origin_is_each_fits_own_choice(tmp_path):
    """The composite forecasts, at every fit's forecast windows, exactly what that fit's chosen
    baseline forecast (a forecaster one could have run), beside the majority label."""
    from step.jobs.forecast import COMPOSITE, forecast_stage
    from step.jobs.pipeline import features_stage, load_stage, plan_stage

    cfg = _cfg(tmp_path)
    course = load_stage(cfg)
    cfg, _ = resolve_auto(cfg, course.n_genes)
    _, folds = plan_stage(cfg, course)
    fc = forecast_stage(cfg, features_stage(cfg, course), folds, [cfg.train.seed], {})
    votes = fc.best_per_origin
    assert len(votes) == len(folds)
    if len(set(votes)) < 2:
        assert COMPOSITE not in fc.base
        return
    for v, fold in zip(votes, folds):
        f = fold.forecast
        assert np.array_equal(fc.base[COMPOSITE][f], fc.base[v][f], equal_nan=True)
        for lv, (lo, hi) in fc.base_intervals[COMPOSITE].items():
            assert np.array_equal(lo[f], fc.base_intervals[v][lv][0][f], equal_nan=True)


def _synthetic():
    import importlib.util
    import sys

    if "synthetic" not in sys.modules:
        spec = importlib.util.spec_from_file_location("synthetic", Path(__file__).resolve().parents[2] / "benchmarks/synthetic.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["synthetic"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["synthetic"]


def test_a_long_course_reaches_better_and_worse_end_to_end(tiny_mrna_config, tmp_path):
    """23 rolling target times of 20 independent AR(1) genes (coefficient 0.7 around their own levels):
    the job's own comparisons reach both decisive verdicts. The default model (its start chosen on
    the evidence: the per-gene ridges' mean reversion) beats persistence; with its start switched
    off (``selection.linear_init: false``: the moving average) it loses to the per-gene ridge, and ties
    mean_last, which it then is."""
    from step.jobs.pipeline import run_job

    syn = _synthetic()
    csv = syn.write_synthetic(syn.make_synthetic(n_genes=20, n_times=60, mode="null", seed=5), tmp_path / "ar1.csv")
    over = {"data.path": str(csv), "split.protocol": "rolling", "split.refit_every": 6}
    good = run_job(tiny_mrna_config(**over), tmp_path / "runs").metrics["comparisons"]["vs_baselines"]
    assert good["persistence"]["n_times"] >= 15
    assert good["persistence"]["verdict"] == "better" and good["persistence"]["rmse_diff"] < 0
    bad = run_job(tiny_mrna_config(**over, **{"selection.linear_init": False}), tmp_path / "runs").metrics
    vs = bad["comparisons"]["vs_baselines"]
    assert vs["ridge_ar_gene"]["verdict"] == "worse" and vs["ridge_ar_gene"]["rmse_diff"] > 0
    assert vs["mean_last"]["verdict"] == "no detectable difference"
