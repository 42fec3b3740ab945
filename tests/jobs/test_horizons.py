"""Multi-step forecasts (split.horizon, --horizon): the recursion by hand, causality, one-step rows
unchanged, per-horizon metrics."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from fixtures_run import CONFIG, TINY, job_config, scramble_times
from step.jobs.forecast import FoldData, recursive_forecasts
from step.jobs.pipeline import run_job
from step.data.windows import Scaler



def _fold(inputs: np.ndarray) -> FoldData:
    W, L, N = inputs.shape
    return FoldData(None, Scaler(np.zeros(N), np.ones(N), np.inf), None, inputs, np.zeros((W, N)), np.zeros_like(inputs))


def test_recursion_on_a_hand_made_linear_case():
    """AR(1) on the last value and the moving average over L = 2, by hand."""
    z = np.array([[[1.0, 10.0], [2.0, 20.0]]])          # one origin window, L = 2, N = 2
    feats = SimpleNamespace(nbr=np.zeros((2, 2)))
    ar = recursive_forecasts(lambda x, nb, o: 0.5 * x[:, -1], _fold(z), feats, np.array([0]), 3)
    np.testing.assert_allclose([ar[h][0] for h in (1, 2, 3)], [[1.0, 10.0], [0.5, 5.0], [0.25, 2.5]])
    ma = recursive_forecasts(lambda x, nb, o: x.mean(axis=1), _fold(z), feats, np.array([0]), 3)
    # inputs [1, 2] -> 1.5; [2, 1.5] -> 1.75; [1.5, 1.75] -> 1.625 (gene 0; gene 1 is 10x)
    np.testing.assert_allclose([ma[h][0, 0] for h in (1, 2, 3)], [1.5, 1.75, 1.625])
    np.testing.assert_allclose([ma[h][0, 1] for h in (1, 2, 3)], [15.0, 17.5, 16.25])
    # the neighbour means are recomputed from the recursive inputs (origin window's operator)
    P = np.array([[0.0, 1.0], [1.0, 0.0]])
    seen = []
    recursive_forecasts(lambda x, nb, o: seen.append(nb.copy()) or x[:, -1], _fold(z), SimpleNamespace(nbr=P),
                        np.array([0]), 2)
    np.testing.assert_allclose(seen[0][0], [[10.0, 1.0], [20.0, 2.0]])


def _cfg(tmp: Path, **over):
    # interval_min_times 1: the tiny course has few h-step residuals
    return job_config(CONFIG, tmp, **{"split.protocol": "rolling", "split.refit_every": 2, "split.rolling_min_val": 2,
                                      "split.horizon": 3, "evaluation.interval_min_times": 1, **over})


def test_horizons_end_to_end_causal_and_one_step_rows_unchanged(tmp_path):
    run = run_job(_cfg(tmp_path), tmp_path / "h3")
    one = run_job(_cfg(tmp_path, **{"split.horizon": 1}), tmp_path / "h1")
    p3, p1 = pd.read_csv(run.run_dir / "predictions.csv"), pd.read_csv(one.run_dir / "predictions.csv")
    assert set(p3.horizon) == {1, 2, 3} and set(p1.horizon) == {1}
    cols = ["model", "seed", "split", "target_time", "gene", "y_pred"]
    pd.testing.assert_frame_equal(p3.loc[p3.horizon == 1, cols].reset_index(drop=True), p1[cols])
    assert (p3.loc[p3.horizon > 1, "split"] == "test").all()
    m = json.loads((run.run_dir / "metrics.json").read_text())
    hz = m["horizons"]["per_horizon"]
    assert set(hz) == {"1", "2", "3"} and hz["1"]["n_windows"] > hz["2"]["n_windows"] > hz["3"]["n_windows"]
    assert set(m["horizons"]["mean_over_horizons"]) >= {"STEPmr", "persistence", "ets"}
    assert "RMSE per horizon" in (run.run_dir / "results.txt").read_text()
    # h-step rows carry intervals from earlier h-step out-of-sample residuals, around the forecast
    hrows = p3[(p3.horizon > 1) & p3.lo_80.notna()]
    assert len(hrows) and set(hrows.model) >= {"STEPmr", "persistence"}
    assert ((hrows.lo_80 <= hrows.y_pred) & (hrows.y_pred <= hrows.hi_80)).all()
    w95 = hrows[hrows.lo_95.notna()]   # 95 % needs more residuals than 80 % for a finite quantile
    assert ((w95.lo_95 <= w95.lo_80) & (w95.hi_80 <= w95.hi_95)).all()
    assert "80" in hz["2"]["intervals"]["STEPmr"]
    # the first h-step targets have no earlier h-step residuals: no interval there
    first_h2 = p3[(p3.horizon == 2)].target_time.min()
    assert p3[(p3.horizon == 2) & (p3.target_time == first_h2)].lo_80.isna().all()
    # persistence h steps ahead is the value at the origin
    pers = p3[(p3.model == "persistence") & (p3.horizon == 3)]
    series = pd.read_csv(run.run_dir / "series.csv").pivot(index="time", columns="gene", values="value")
    all_times = list(series.index)
    for _, r in pers.head(20).iterrows():
        origin = all_times[all_times.index(r.target_time) - 3]
        assert abs(r.y_pred - series.loc[origin, r.gene]) < 1e-9
    # causality: scramble every time after an origin; its h-step forecasts stay bit-identical
    first_test = min(m["splits"]["test"])
    origin = all_times[all_times.index(first_test) - 1]
    scrambled = scramble_times(TINY, [t for t in all_times if t > origin], tmp_path / "s.csv", seed=3)
    alt = run_job(_cfg(tmp_path, **{"data.path": str(scrambled)}), tmp_path / "alt")
    pa = pd.read_csv(alt.run_dir / "predictions.csv")
    key = ["model", "seed", "horizon", "target_time", "gene"]
    a = p3[p3.split == "test"].set_index(key)["y_pred"]
    b = pa[pa.split == "test"].set_index(key)["y_pred"]
    idx = [k for k in a.index if all_times[all_times.index(k[3]) - k[2]] <= origin]
    assert len(idx) >= 3 * 2
    np.testing.assert_array_equal(a.loc[idx].to_numpy(), b.loc[idx].to_numpy())
    assert not np.allclose(a.drop(idx).to_numpy(), b.drop(idx).to_numpy())  # not vacuous
