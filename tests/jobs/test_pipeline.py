"""End to end on the tiny fixture: outputs, no leakage, determinism, metrics agree with predictions."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures_run import CONFIG, TINY, job_config, scramble_times
from step.config import load_config
from step.evaluation.metrics import metrics_from_predictions
from step.jobs.pipeline import run_job



def _cfg(tmp_path: Path, **over):
    return job_config(CONFIG, tmp_path, **over)


def _preds(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "predictions.csv")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("full")
    cfg = load_config(CONFIG, {"embedding.cache_dir": str(tmp / "cache")})
    return run_job(cfg, tmp / "out")


def test_run_writes_every_output(full_run):
    d = full_run.run_dir
    for name in ("config.yaml", "metrics.json", "predictions.csv", "results.txt", "model.pt", "history.csv",
                 "gene_features.csv", "series.csv", "splits.json", "embeddings.npz", "run.log"):
        assert (d / name).is_file(), name
    assert not list(d.parent.glob(".*.partial*"))
    plots = list((d / "plots").glob("*.png"))
    assert len(plots) >= 5
    assert (d / "genes.csv").is_file()
    assert list((d / "enrichment").glob("*.csv"))
    txt = (d / "results.txt").read_text()
    assert txt.index("STEPmr") < txt.index("Best and worst genes")
    cfg = (d / "config.yaml").read_text()
    assert "data_checksums_sha256" in cfg and "package_versions" in cfg and "seeds" in cfg


def test_predictions_table_and_persistence(full_run):
    pred = _preds(full_run.run_dir)
    assert list(pred.columns) == ["model", "seed", "split", "target_time", "gene", "y_true", "y_pred",
                                  "lo_80", "hi_80", "lo_95", "hi_95", "horizon"]
    assert set(pred.model) == {"STEPmr", "persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "ridge_ar_graph",
                               "ets", "auto_ets", "global_linear", "global_gbm"}
    assert set(pred.split) == {"train", "val", "test"}
    # persistence = the previous observed value, in the original scale
    series = pd.read_csv(full_run.run_dir / "series.csv").pivot(index="time", columns="gene", values="value")
    times = list(series.index)
    per = pred[pred.model == "persistence"]
    prev = [times[times.index(t) - 1] for t in per.target_time]
    expected = series.stack().reindex(list(zip(prev, per.gene))).to_numpy()
    np.testing.assert_allclose(per.y_pred.to_numpy(), expected, rtol=1e-9)
    truth = series.stack().reindex(list(zip(per.target_time, per.gene))).to_numpy()
    np.testing.assert_allclose(per.y_true.to_numpy(), truth, rtol=1e-9)


def test_metrics_json_recomputes_from_predictions(full_run):
    d = full_run.run_dir
    m = json.loads((d / "metrics.json").read_text())
    pred = _preds(d)
    assert m["protocol"] == "chronological" and m["report_split"] == "test"
    for model in m["models"]:
        for split in ("train", "val", "test"):
            got = metrics_from_predictions(pred, model, split, m["best_baseline"])
            for k, v in got.items():
                assert np.isclose(m["models"][model][split][k], v, rtol=1e-6, atol=1e-9, equal_nan=True), (model, split, k)
    # chronological: every test target is later than every val target, which is later than train
    s = m["splits"]
    assert max(s["train"]) < min(s["val"]) <= max(s["val"]) < min(s["test"])


def test_same_seed_same_numbers(tmp_path):
    a = run_job(_cfg(tmp_path), tmp_path / "a")
    b = run_job(_cfg(tmp_path), tmp_path / "b")
    pa, pb = _preds(a.run_dir), _preds(b.run_dir)
    pd.testing.assert_frame_equal(pa, pb)


def test_predictions_without_training_rows_leave_every_other_number_unchanged(tmp_path, full_run):
    """output.prediction_splits [val, test] (the default above output.auto_genes): the table is built
    without the training rows (a 20,000-gene job's memory), the kept rows and results.txt are the
    same as with every split."""
    r = run_job(_cfg(tmp_path, **{"embedding.cache_dir": str(full_run.run_dir.parent.parent / "cache"),
                                  "output.prediction_splits": ["val", "test"]}), tmp_path / "vt")
    a, b = _preds(full_run.run_dir), _preds(r.run_dir)
    assert set(b["split"]) == {"val", "test"}
    pd.testing.assert_frame_equal(a[a["split"] != "train"].reset_index(drop=True), b.reset_index(drop=True))
    def numbers(p: Path) -> list[str]:  # results.txt up to the analysis (off in _cfg), without its folder
        text = p.read_text().split("=== Biological analysis ===")[0].rstrip()
        return [l for l in text.splitlines() if str(p.parent) not in l]

    assert numbers(full_run.run_dir / "results.txt") == numbers(r.run_dir / "results.txt")


def test_no_test_period_information_reaches_train_or_val(tmp_path):
    cfg = _cfg(tmp_path)
    ref = run_job(cfg, tmp_path / "ref")
    m = json.loads((ref.run_dir / "metrics.json").read_text())
    test_times = set(m["splits"]["test"])
    # scramble every gene's expression at the test-period times (consistently across rows)
    scrambled = scramble_times(TINY, test_times, tmp_path / "scrambled.csv", seed=123)
    alt = run_job(_cfg(tmp_path, **{"data.path": str(scrambled)}), tmp_path / "alt")
    pr, pa = _preds(ref.run_dir), _preds(alt.run_dir)
    keep = pr.split.isin(["train", "val"])
    pd.testing.assert_frame_equal(pr[keep].reset_index(drop=True), pa[keep].reset_index(drop=True))
    # and the scrambling did change the test period (the test is not vacuous)
    assert not np.allclose(pr[~keep].y_true, pa[~keep].y_true)


def test_multi_seed_reports_mean_and_std(tmp_path):
    r = run_job(_cfg(tmp_path, **{"train.seeds": 2}), tmp_path / "s")
    m = r.metrics["models"]["STEPmr"]
    assert m["seeds"] == [0, 1]
    assert len(m["test_per_seed"]) == 2
    assert np.isclose(m["test"]["rmse"], np.mean([s["rmse"] for s in m["test_per_seed"]]))
    pred = _preds(r.run_dir)
    assert set(pred[pred.model == "STEPmr"].seed) == {0, 1}


def test_paper_protocol_is_labelled_optimistic(tmp_path):
    r = run_job(_cfg(tmp_path, **{"split.protocol": "paper"}), tmp_path / "p")
    assert r.metrics["optimistic"] is True and r.metrics["report_split"] == "val"
    assert "test" not in r.metrics["splits"]
    assert "OPTIMISTIC" in (r.run_dir / "results.txt").read_text()


def test_masked_missing_values_run_end_to_end(tmp_path):
    df = pd.read_csv(TINY)
    df.loc[df.Gene1 == "Gene1", "Gene1_Time_3.0"] = np.nan  # one gene, one (training) time point
    p = tmp_path / "missing.csv"
    df.to_csv(p, index=False)
    r = run_job(_cfg(tmp_path, **{"data.path": str(p), "data.allow_missing": True}), tmp_path / "m")
    pred = _preds(r.run_dir)
    missing = pred[(pred.gene == "Gene1") & (pred.target_time == 3.0)]
    assert missing.y_true.isna().all() and len(missing) == 10  # STEPmr + 6 baselines + 3 peers
    assert np.isfinite(pred[pred.model == "STEPmr"].y_pred).all()
    for model, splits in r.metrics["models"].items():
        assert np.isfinite(splits["test"]["rmse"]) and np.isfinite(splits["train"]["rmse"]), model
    hist = pd.read_csv(r.run_dir / "history.csv")
    assert np.isfinite(hist.train_loss).all()


def test_gene_never_observed_in_training_still_runs(tmp_path):
    """allow_missing: a gene masked at every training time gets a plain scaler, persistence-like
    baselines, and every reported metric stays finite."""
    df = pd.read_csv(TINY)
    cols = [c for c in df.columns if "_Time_" in c and float(c.split("_Time_")[1]) <= 7.0]  # all training times
    for c in cols:
        side = c.split("_")[0]
        df.loc[df[side] == "Gene2", c] = np.nan
    p = tmp_path / "masked.csv"
    df.to_csv(p, index=False)
    r = run_job(_cfg(tmp_path, **{"data.path": str(p), "data.allow_missing": True}), tmp_path / "m")
    for name, block in r.metrics["models"].items():
        assert np.isfinite(block["test"]["rmse"]), name
    pred = _preds(r.run_dir)
    test = pred[(pred.split == "test") & (pred.gene == "Gene2")]
    assert len(test) and test.y_pred.notna().all()


def test_an_implausible_value_is_refused_naming_gene_and_time(tmp_path):
    """One value of 1e300 (a unit or parsing error): an error naming the file, gene and time, exit 1,
    no run folder; a value within data.max_abs_value is accepted."""
    import subprocess
    import sys

    import pandas as pd

    src = Path(__file__).parents[1] / "data" / "tiny_mrna.csv"
    df = pd.read_csv(src)
    col = [c for c in df.columns if c.startswith("Gene1_Time_")][2]
    g = df.loc[3, "Gene1"]
    df.loc[df.Gene1 == g, col] = 1e300                      # every row of the gene: no series conflict
    df.loc[df.Gene2 == g, col.replace("Gene1_", "Gene2_")] = 1e300
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "mrna.STEPmr_train_test", "--config", "configs/test_tiny_mrna.yaml",
                        "--data", str(bad), "--out", str(out), "--epochs", "1", "--no-plots", "--no-analysis"],
                       capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "bad.csv" in r.stderr and "1e+300" in r.stderr and f"gene '{g}'" in r.stderr
    assert not out.exists() or not any(p for p in out.rglob("metrics.json"))


def test_a_dead_runs_unfinished_folder_is_cleared_and_a_live_ones_kept(tmp_path):
    """A run killed before publishing leaves only a hidden staging folder; the next run removes it
    (its process is gone) and keeps one whose process is alive (a run going on beside it)."""
    import socket
    import subprocess
    import sys

    from step.outputs.runs import RunFolder

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / f".20260101-000000-abc.partial-{host}-{dead.pid}"
    live = tmp_path / f".20260101-000001-abc.partial-{host}-{os.getpid()}"
    other = tmp_path / f".20260101-000002-abc.partial-elsewhere-{dead.pid}"
    for d in (stale, live, other):
        (d / "plots").mkdir(parents=True)
    run = RunFolder(tmp_path, "20260101-000003-abc")
    assert not stale.exists() and live.exists() and other.exists()
    assert run.path.name.startswith(".20260101-000003-abc.partial-") and run.path.exists()
    final = run.publish()
    assert final.name == "20260101-000003-abc" and not run.path.exists()


def test_run_log_holds_the_whole_job_not_only_its_outputs(tmp_path, caplog):
    """run.log starts with the loader's summary and holds the fits' choices, before the outputs' lines."""
    import logging

    caplog.set_level(logging.INFO)
    res = run_job(_cfg(tmp_path))
    lines = (res.run_dir / "run.log").read_text(encoding="utf-8").splitlines()
    loaded = [i for i, s in enumerate(lines) if "step.data.interaction_csv" in s and "time points" in s]
    fitted = [i for i, s in enumerate(lines) if "step.forecasters" in s]
    written = [i for i, s in enumerate(lines) if "results written" in s or "step.outputs" in s]
    assert loaded and fitted and written, lines[:5]
    assert loaded[0] < fitted[0] < max(written)
    assert len(loaded) == 1  # written once: the buffer, then the file handler, never both
