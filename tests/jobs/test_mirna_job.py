"""The miRNA job on a tiny miRNA-shaped fixture: counts, log1p, the empty-column rule."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures_run import job_config
from step.config import DataConfig, load_config
from step.data.course import original_scale, working_scale
from step.data.load import load_course
from step.errors import InputError
from step.evaluation.metrics import metrics_from_predictions
from step.jobs.pipeline import run_job

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests/data/tiny_mirna.csv"
CONFIG = ROOT / "configs/test_tiny_mirna.yaml"


def _cfg(tmp_path: Path, **over):
    return job_config(CONFIG, tmp_path, **over)


def test_empty_time_column_is_dropped_with_a_reason(caplog):
    with caplog.at_level(logging.WARNING):
        c = load_course(TINY)
    assert 24.0 not in c.times and len(c.times) == 29
    assert "Gene1_Time_24.0" in caplog.text and "empty for every gene" in caplog.text
    with pytest.raises(InputError, match="drop_empty_times"):
        load_course(TINY, DataConfig(drop_empty_times=False))


def test_partly_missing_column_fails_unless_masking_allowed(tmp_path):
    df = pd.read_csv(TINY, dtype=str, keep_default_na=False)
    df.loc[df.Gene1 == "Gene1", "Gene1_Time_5.0"] = ""
    p = tmp_path / "partly.csv"
    df.to_csv(p, index=False)
    with pytest.raises(InputError, match="Gene1_Time_5.0"):
        load_course(p)
    c = load_course(p, DataConfig(allow_missing=True))
    assert np.isnan(c.X).sum() == 1


def test_log1p_round_trip():
    X = np.array([[1.0, 19592.0], [0.0, 37.0]])
    np.testing.assert_allclose(original_scale(working_scale(X, "log1p"), "log1p"), X, rtol=1e-12)


@pytest.fixture(scope="module")
def mirna_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mirna")
    return run_job(load_config(CONFIG, {"embedding.cache_dir": str(tmp / "cache")}), tmp / "out")


def test_mirna_run_outputs_counts_and_log1p_block(mirna_run):
    d = mirna_run.run_dir
    for name in ("config.yaml", "metrics.json", "predictions.csv", "results.txt", "model.pt", "genes.csv"):
        assert (d / name).is_file(), name
    m = json.loads((d / "metrics.json").read_text())
    assert m["main_model"] == "STEPmi" and m["transform"] == "log1p" and "log1p" in m
    pred = pd.read_csv(d / "predictions.csv")
    # predictions are back in counts: y_true are the file's integer counts
    raw = load_course(TINY)
    assert np.allclose(pred.y_true, np.round(pred.y_true)) and pred.y_true.min() >= 1
    assert set(pred.y_true.round()) <= set(np.round(raw.X.ravel()))
    assert (pred.y_pred > 0).all()
    # metrics in both scales recompute from predictions.csv
    for model in m["models"]:
        for split in ("val", "test"):
            for block, f in ((m["models"], None), (m["log1p"]["models"], np.log1p)):
                got = metrics_from_predictions(pred, model, split, m["best_baseline"], transform=f)
                for k, v in got.items():
                    assert np.isclose(block[model][split][k], v, rtol=1e-6, equal_nan=True), (model, split, k)
    assert "log1p" in (d / "results.txt").read_text()


def test_mirna_no_leakage_and_determinism(tmp_path):
    ref = run_job(_cfg(tmp_path), tmp_path / "ref")
    again = run_job(_cfg(tmp_path), tmp_path / "again")
    pr = pd.read_csv(ref.run_dir / "predictions.csv")
    pd.testing.assert_frame_equal(pr, pd.read_csv(again.run_dir / "predictions.csv"))
    test_times = set(ref.metrics["splits"]["test"])
    df = pd.read_csv(TINY)
    for t in test_times:
        for side in ("Gene1", "Gene2"):
            col = f"{side}_Time_{t:.1f}"
            df[col] = np.round(df[col] * 3.0 + 7)
    p = tmp_path / "scrambled.csv"
    df.to_csv(p, index=False)
    alt = run_job(_cfg(tmp_path, **{"data.path": str(p)}), tmp_path / "alt")
    pa = pd.read_csv(alt.run_dir / "predictions.csv")
    keep = pr.split.isin(["train", "val"])
    pd.testing.assert_frame_equal(pr[keep].reset_index(drop=True), pa[keep].reset_index(drop=True))
    assert not np.allclose(pr[~keep].y_true, pa[~keep].y_true)


def test_mirna_cli_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mirna.STEPmi_train_test", "--config", str(CONFIG), "--out",
                        str(tmp_path / "o"), "--epochs", "1", "--no-plots", "--no-analysis"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "STEPmi" in r.stdout and "Results:" in r.stdout
    # the mRNA entry point refuses a STEPmi config
    r2 = subprocess.run([sys.executable, "-m", "mrna.STEPmr_train_test", "--config", str(CONFIG), "--out",
                         str(tmp_path / "o2")], cwd=ROOT, capture_output=True, text=True)
    assert r2.returncode == 1 and "STEPmi" in r2.stderr
