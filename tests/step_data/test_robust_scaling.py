"""A gene constant over the training period among ordinary genes: the scaler floor and the clip
keep every standardised value, neighbour mean and forecast (every baseline, both models) bounded."""
from __future__ import annotations

from step.auto import resolve_auto

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from step.forecasters.baselines import BASELINES
from step.config import load_config
from step.data.course import working_scale
from step.data.load import load_course
from step.jobs.pipeline import features_stage, forecast_stage, load_stage, plan_stage, standardise

ROOT = Path(__file__).resolve().parents[2]


def _with_constant_gene(src: Path, dst: Path, gene: str, jump: float) -> Path:
    """``gene`` constant over the first 60 % of times, then ``jump`` higher."""
    df = pd.read_csv(src)
    times = [c[len("Gene1_Time_"):] for c in df.columns if c.startswith("Gene1_Time_")]
    cut = int(0.6 * len(times))
    for side in ("Gene1", "Gene2"):
        rows = df[side] == gene
        base = float(df.loc[rows, f"{side}_Time_{times[0]}"].iloc[0]) if rows.any() else None
        for i, t in enumerate(times):
            if rows.any() and df[f"{side}_Time_{t}"].notna().any():  # an empty column stays empty
                df.loc[rows, f"{side}_Time_{t}"] = base if i < cut else base + jump
    df.to_csv(dst, index=False)
    return dst


CASES = [("configs/test_tiny_mrna.yaml", "tests/data/tiny_mrna.csv", "Gene1", 40.0),
         ("configs/test_tiny_mirna.yaml", "tests/data/tiny_mirna.csv", "Gene1", 50000.0)]


def _forecasts(tmp_path: Path, config: str, data: Path, **over):
    cfg = load_config(ROOT / config, {"data.path": str(data), "embedding.cache_dir": str(tmp_path / "cache"),
                                      "split.protocol": "rolling", "split.rolling_min_val": 2, **over})
    course = load_stage(cfg)
    cfg, _ = resolve_auto(cfg, course.n_genes)
    ws, folds = plan_stage(cfg, course)
    feats = features_stage(cfg, course)
    fc = forecast_stage(cfg, feats, folds, [0], {})
    return cfg, course, feats, folds, fc


@pytest.mark.parametrize("config,src,gene,jump", CASES)
def test_constant_gene_keeps_every_value_and_forecast_bounded(tmp_path, config, src, gene, jump):
    data = _with_constant_gene(ROOT / src, tmp_path / "const.csv", gene, jump)
    cfg, course, feats, folds, fc = _forecasts(tmp_path, config, data)
    g = course.genes.index(gene)
    Xw = feats.Xw
    clip = cfg.data.z_clip
    for i, fold in enumerate(folds):
        fd = standardise(cfg, feats, fold)
        if i == 0:  # constant over the first fit's training period: floored
            assert fd.scaler.n_floored >= 1 and fd.scaler.std[g] > 0
            assert np.nanmax(np.abs(fd.Z[:, g])) == clip  # the jump is clipped
        assert np.nanmax(np.abs(fd.Z)) <= clip and np.abs(fd.inputs).max() <= clip
        assert np.abs(fd.nb).max() <= clip + 1e-9  # neighbour means: convex combinations
    typical = float(np.median(np.nanstd(Xw, axis=0)))
    lo, hi = np.nanmin(Xw, axis=0), np.nanmax(Xw, axis=0)
    sd = np.maximum(np.nanstd(Xw, axis=0), typical)
    preds = {**{b: fc.base[b] for b in BASELINES}, cfg.model_name: fc.model[0]}
    for name, P in preds.items():
        Pw = working_scale(P, cfg.data.transform)
        ok = np.isfinite(Pw)
        assert ok.any(), name
        over = (Pw > hi + 12 * sd) | (Pw < lo - 12 * sd)
        assert not over[ok].any(), f"{name}: forecast out of range for {np.flatnonzero(over.any(0))}"


def test_without_the_floor_and_clip_the_graph_ridge_explodes(tmp_path):
    """The control: the same data with the old tiny floor and no clip blows up (the test can fail)."""
    config, src, gene, jump = CASES[0]
    data = _with_constant_gene(ROOT / src, tmp_path / "const.csv", gene, jump)
    cfg, course, feats, folds, fc = _forecasts(tmp_path, config, data, **{"data.scale_floor": 1e-7,
                                                                         "data.z_clip": 1e12})
    g = course.genes.index(gene)
    fd = standardise(cfg, feats, folds[0])
    assert np.nanmax(np.abs(fd.Z[:, g])) > 1e6
    span = np.nanmax(feats.Xw) - np.nanmin(feats.Xw)
    worst = max(np.nanmax(np.abs(fc.base[b] - np.nanmean(feats.Xw))) for b in ("ridge_ar_graph", "ridge_ar_pooled"))
    assert worst > 10 * span


def test_log1p_refuses_negative_values_in_every_entry_point(tmp_path):
    """Log ratios under data.transform: log1p: the loader (train/test jobs, ablation, tuning) and the
    embedding job stop with an error naming the file and the fix."""
    from step.graph.embedding_job import build_embedding_cache
    from step.errors import InputError

    df = pd.read_csv(ROOT / "tests/data/tiny_mrna.csv")
    col = [c for c in df.columns if c.startswith("Gene1_Time_")][0]
    df.loc[0, col] = -0.25  # in (-1, 0): log1p would accept it silently
    bad = tmp_path / "ratios.csv"
    df.to_csv(bad, index=False)
    cfg = load_config(ROOT / "configs/test_tiny_mrna.yaml", {"data.path": str(bad), "data.transform": "log1p"})
    with pytest.raises(InputError, match=r"ratios\.csv.*negative.*data\.transform: none"):
        load_course(bad, cfg.data)
    with pytest.raises(InputError, match=r"ratios\.csv.*negative.*data\.transform: none"):
        load_stage(cfg)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(f"extends: {ROOT / 'configs/test_tiny_mrna.yaml'}\ndata:\n  transform: log1p\n"
                        f"embedding:\n  cache_dir: {tmp_path / 'cache'}\n")
    with pytest.raises(InputError, match=r"ratios\.csv.*negative"):
        build_embedding_cache(cfg_path, str(bad))
    # transform none accepts the same file
    assert load_course(bad, load_config(ROOT / "configs/test_tiny_mrna.yaml").data).n_genes > 0
