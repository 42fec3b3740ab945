"""step.jobs.ablate: degree-preserving randomisation and the ablation folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from step.jobs.ablate import randomise_pairs, run_ablation, variants_of
from step.config import load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/test_tiny_mrna.yaml"


def _degree(pairs, n):
    d = np.zeros(n, dtype=int)
    np.add.at(d, pairs[:, 0], 1)
    np.add.at(d, pairs[:, 1], 1)
    return d


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_randomised_graph_keeps_every_degree(seed):
    rng = np.random.default_rng(seed)
    n = 40
    edges = {tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(90)}
    pairs = np.array(sorted(edges))
    new = randomise_pairs(pairs, n, seed=seed)
    assert np.array_equal(_degree(new, n), _degree(pairs, n))
    assert (new[:, 0] < new[:, 1]).all()                      # no self pairs, i < j
    assert len({tuple(p) for p in new}) == len(new) == len(pairs)  # no repeated pairs
    overlap = len({tuple(p) for p in new} & edges) / len(edges)
    assert overlap < 0.5                                      # it did rewire
    assert np.array_equal(new, randomise_pairs(pairs, n, seed=seed))  # seeded


def test_ablation_folder(tmp_path):
    cfg = load_config(CONFIG, {"embedding.cache_dir": str(tmp_path / "cache"), "ablation.randomisations": 1,
                               "ablation.variants": ["no_graph"]})
    assert variants_of(cfg) == ["real", "randomised_1", "no_graph"]
    d = run_ablation(cfg, tmp_path / "abl", seeds=[0, 1], jobs=1)
    tab = pd.read_csv(d / "ablation.csv")
    assert list(tab.columns[:5]) == ["variant", "seed", "rmse", "mae", "skill_vs_best_baseline"]
    assert len(tab) == 3 * 2 and set(tab.variant) == {"real", "randomised_1", "no_graph"}
    v = json.loads((d / "verdict.json").read_text())
    for key in ("real_vs_randomised", "real_vs_no_graph"):
        # the tiny fixture has fewer target times than evaluation.min_target_times: no verdict
        assert v[key]["n_times"] < cfg.evaluation.min_target_times
        assert v[key]["verdict"] == "too few target times to tell"
        assert len(v[key]["ci95"]) == 2
    assert (d / "ablation.png").stat().st_size > 1000
    assert not list((tmp_path / "abl").glob(".ablation-fits*"))  # the shared fits' folder is gone
    # the model-independent Hi-C test: a fixed family whose variants really differ, with power
    h = json.loads((d / "hic_test.json").read_text())
    assert h["_forecasts_differ"] and h["_about"]["learner"] == "global_linear"
    for key in ("hic_vs_own", "hic_vs_randomised"):
        assert h[key]["verdict"] in ("better", "worse", "no detectable difference", "too few target times to tell")
        assert np.isfinite(h[key]["mde_pct"]) and h[key]["sentence"] in (d / "summary.txt").read_text()
    # rmse in the table agrees with the saved predictions
    p = pd.read_csv(d / "predictions.csv")
    real0 = p[(p.variant == "real") & (p.seed == 0)]
    assert np.isclose(np.sqrt(((real0.y_pred - real0.y_true) ** 2).mean()),
                      tab[(tab.variant == "real") & (tab.seed == 0)].rmse.iloc[0])


def test_identical_forecasts_are_said_to_be_identical_not_no_difference():
    """A variant whose forecasts are the real graph's bit for bit is reported as identical (the model
    never used what it changes), not as a test verdict; a variant that differs gets the test's verdict."""
    from step.jobs.ablate import IDENTICAL, _compare_variants, summary_text

    cfg = load_config(CONFIG)
    rng = np.random.default_rng(0)
    W, N, seeds = 30, 6, [0, 1]
    y = rng.normal(size=(W, N))
    real = {s: y + rng.normal(scale=0.5, size=(W, N)) for s in seeds}
    by = {}
    for s in seeds:
        base = {"best_work": y + 1.0, "best_baseline": "mean_last"}
        by[("real", s)] = {"model_work": real[s], **base}
        by[("randomised_1", s)] = {"model_work": real[s].copy(), **base}      # the same forecasts
        by[("no_graph", s)] = {"model_work": real[s] + 0.3, **base}           # different, worse
    verdict, _ = _compare_variants(cfg, ["real", "randomised_1", "no_graph"], seeds, by, y)
    assert verdict["real_vs_randomised"]["verdict"] == IDENTICAL
    assert verdict["real_vs_randomised"]["identical_forecasts"] is True
    assert verdict["real_vs_randomised"]["share_of_runs_real_lower"] is None
    assert verdict["real_vs_no_graph"]["identical_forecasts"] is False
    assert verdict["real_vs_no_graph"]["verdict"] != IDENTICAL
    assert verdict["real_vs_no_graph"]["rmse_diff"] < 0
    verdict["_about"] = {"protocol": "rolling", "split": "test", "n_target_times": W, "seeds": seeds, "scale": "data"}
    table = pd.DataFrame({"variant": ["real", "randomised_1"], "rmse": [1.0, 1.0], "skill_vs_best_baseline": [0.1, 0.1]})
    assert IDENTICAL in summary_text(cfg, verdict, table)


def test_shared_baseline_fits_change_no_number(tmp_path):
    """An ablation run that reads its shareable baselines' fits from another variant's run gives the
    numbers of a run that fits them itself."""
    from step.auto import resolve_auto
    from step.jobs.ablate import _run_seeds
    from step.jobs.pipeline import load_stage

    cfg = load_config(CONFIG, {"embedding.cache_dir": str(tmp_path / "cache"), "split.protocol": "rolling"})
    cfg, _ = resolve_auto(cfg, load_stage(cfg).n_genes)  # as run_ablation does
    shared = tmp_path / "shared"
    _run_seeds(cfg, "real", [0], 0, str(shared))
    assert len(list(shared.glob("*.npz"))) >= 2  # ets and auto_ets, every fold
    stored = sorted(p.name for p in shared.glob("*.npz"))
    with_shared = _run_seeds(cfg, "randomised_1", [0], 0, str(shared))[0]
    assert sorted(p.name for p in shared.glob("*.npz")) == stored  # every fit was read back, none added
    alone = _run_seeds(cfg, "randomised_1", [0], 0)[0]
    assert with_shared["best_baseline"] == alone["best_baseline"]
    for k in ("model_work", "best_work", "y_work"):
        assert np.array_equal(with_shared[k], alone[k], equal_nan=True), k


def test_ablation_real_variant_is_the_job(tmp_path):
    """The real variant's seeds are the train/test job's seeds: one embedding (the first seed's), one set of
    baselines, the seeds changing the training only -- the same forecasts as `run_job` with those seeds."""
    from step.auto import resolve_auto
    from step.jobs.ablate import _run_seeds
    from step.jobs.pipeline import load_stage, run_job

    cfg = load_config(CONFIG, {"embedding.cache_dir": str(tmp_path / "cache"), "train.seeds": 2,
                               "output.plots": False, "analysis.enabled": False})
    job = run_job(cfg, tmp_path / "runs")
    pred = pd.read_csv(job.run_dir / "predictions.csv", keep_default_na=False, na_values=[""],
                       float_precision="round_trip")
    cfg_r, _ = resolve_auto(cfg, load_stage(cfg).n_genes)
    rows = _run_seeds(cfg_r, "real", [0, 1], 0)
    assert [r["seed"] for r in rows] == [0, 1]
    for r in rows:
        p = pred[(pred.model == cfg.model_name) & (pred.seed == r["seed"]) & (pred.split == r["report"])]
        got = p.pivot(index="target_time", columns="gene", values="y_pred").loc[r["target_time"], r["genes"]]
        np.testing.assert_allclose(got.to_numpy(), r["model"], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="one seed at a time"):
        _run_seeds(cfg_r, "randomised_1", [0, 1], 0)


def test_pool_gets_the_longest_tasks_first(monkeypatch):
    """The multi-seed tasks go to the pool before the one-seed (randomised) ones, so no long task
    is left running alone at the end; the results come back in variant x seed order whatever the
    order of the tasks."""
    import step.jobs.ablate as ab

    calls = []

    def fake_work(args):
        _, variant, seeds, *_ = args
        calls.append((variant, list(seeds)))
        return [{"variant": variant, "seed": s} for s in seeds]

    monkeypatch.setattr(ab, "_work", fake_work)
    cfg = load_config("configs/test_tiny_mrna.yaml")
    variants = variants_of(cfg)
    seeds = [0, 1, 2]
    results, _, _ = ab._run_tasks(cfg, variants, seeds, 1, "unused")
    sizes = [len(s) for _, s in calls]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 3 and sizes[-1] == 1
    assert [(r["variant"], r["seed"]) for r in results] == [(v, s) for v in variants for s in seeds]


def test_job_rows_that_are_not_this_ablations_real_variant_are_not_used(caplog):
    """Rows of another seed list, order, variant or data are refused (said), so `real` is trained."""
    from types import SimpleNamespace

    from step.jobs.ablate import _usable_real

    course = SimpleNamespace(genes=["a", "b"], pairs=np.zeros((1, 2)))
    row = lambda seed, **kw: {"variant": "real", "seed": seed, "genes": ["a", "b"], "n_pairs": 1,  # noqa: E731
                              "torch_threads": 1, **kw}
    good = [row(0), row(1)]
    assert _usable_real((good, "job"), [0, 1], course) == good
    assert _usable_real(None, [0, 1], course) == []
    with caplog.at_level("WARNING"):
        assert _usable_real((good, "job"), [1, 0], course) == []           # another order
        assert _usable_real((good[:1], "job"), [0, 1], course) == []       # fewer seeds
        assert _usable_real(([row(0), row(1, variant="no_graph")], "job"), [0, 1], course) == []
        assert _usable_real(([row(0), row(1, genes=["a", "c"])], "job"), [0, 1], course) == []
        assert _usable_real(([row(0), row(1, n_pairs=2)], "job"), [0, 1], course) == []
        assert _usable_real(([row(0, torch_threads=2), row(1, torch_threads=2)], "job"), [0, 1], course) == []
        assert _usable_real(([row(0), {k: v for k, v in row(1).items() if k != "torch_threads"}], "job"),
                            [0, 1], course) == []  # not known: not used
    assert sum("is not used as the real variant" in r.message for r in caplog.records) == 7
