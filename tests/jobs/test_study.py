"""The study is resumable (step/jobs/study.py, step/jobs/cells.py): a cell finished with the same
settings, data and code is not redone; any change of those, a missing result or --force redoes it."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import step.jobs.ablate as ablate
import step.jobs.cells as cells
import step.jobs.pipeline as pipeline
import step.jobs.study as study

ROOT = Path(__file__).resolve().parents[2]
NAME = "test_tiny_mrna"


@pytest.fixture()
def calls(monkeypatch, tmp_path):
    """run_job / run_ablation replaced by fakes that make a result folder and count their calls."""
    monkeypatch.chdir(ROOT)  # the study reads configs/<name>.yaml
    got = {"job": [], "ablation": []}

    def fake_job(cfg, out_root, on_forecasts=None):
        d = Path(out_root) / f"run{len(got['job'])}"
        d.mkdir(parents=True)
        got["job"].append(cfg.train.seeds)
        return SimpleNamespace(run_dir=d)

    def fake_ablation(cfg, out_root, seeds, jobs, real=None):
        d = Path(out_root) / f"ablation-{len(got['ablation'])}"
        d.mkdir(parents=True)
        got["ablation"].append(list(seeds))
        return d

    monkeypatch.setattr(pipeline, "run_job", fake_job)
    monkeypatch.setattr(ablate, "run_ablation", fake_ablation)
    monkeypatch.setattr(study, "run_hic_tests", lambda cfgs, out: None)
    return got


def _run(out: Path, seeds: int = 1, ablation_seeds: int = 2, force: bool = False) -> None:
    study.run_study([NAME], seeds, ablation_seeds, "rolling", out, jobs=1, ablations=True, force=force)


def test_finished_cells_are_not_redone(calls, tmp_path):
    out = tmp_path / "study"
    _run(out)
    assert calls == {"job": [1], "ablation": [[0, 1]]}
    rec = json.loads((out / NAME / "cells.json").read_text())
    assert set(rec) == {"job", "ablation"} and Path(rec["job"]["path"]).is_dir()
    _run(out)  # the same study again: nothing is redone
    assert calls == {"job": [1], "ablation": [[0, 1]]}
    _run(out, ablation_seeds=3)  # other ablation seeds: only the ablation is redone
    assert calls == {"job": [1], "ablation": [[0, 1], [0, 1, 2]]}
    _run(out, seeds=2, ablation_seeds=3)  # another config: both are redone
    assert calls["job"] == [1, 2] and len(calls["ablation"]) == 3
    _run(out, seeds=2, ablation_seeds=3, force=True)  # --force redoes everything
    assert calls["job"] == [1, 2, 2] and len(calls["ablation"]) == 4


def test_a_missing_result_or_changed_code_redoes_the_cell(calls, tmp_path, monkeypatch):
    out = tmp_path / "study"
    _run(out)
    rec = json.loads((out / NAME / "cells.json").read_text())
    Path(rec["job"]["path"]).rmdir()  # the recorded run folder is gone
    _run(out)
    assert calls["job"] == [1, 1] and len(calls["ablation"]) == 1
    monkeypatch.setattr(cells, "code_fingerprint", lambda: "edited")  # any edit of the code
    _run(out)
    assert calls["job"] == [1, 1, 1] and len(calls["ablation"]) == 2


def test_cell_key_ignores_what_cannot_change_a_number():
    from step.config import load_config

    cfg = load_config(ROOT / "configs" / f"{NAME}.yaml")
    key = cells.cell_key("job", cfg, "abc")
    same = load_config(ROOT / "configs" / f"{NAME}.yaml", {"output.results_dir": "/x", "embedding.cache_dir": "/elsewhere",
                                                           "embedding.processes": 1})
    assert cells.cell_key("job", same, "abc") == key
    other = load_config(ROOT / "configs" / f"{NAME}.yaml", {"train.epochs": 3})
    assert cells.cell_key("job", other, "abc") != key
    fewer_rows = load_config(ROOT / "configs" / f"{NAME}.yaml", {"output.prediction_splits": ["val", "test"]})
    assert cells.cell_key("job", fewer_rows, "abc") != key  # what the run folder holds
    assert cells.cell_key("job", cfg, "abd") != key  # other data
    assert cells.cell_key("ablation", cfg, "abc") != key


def test_code_fingerprint_follows_the_files(tmp_path):
    (tmp_path / "step").mkdir()
    f = tmp_path / "step" / "a.py"
    f.write_text("x = 1\n")
    one = cells.code_fingerprint.__wrapped__(tmp_path)
    f.write_text("x = 2\n")
    assert cells.code_fingerprint.__wrapped__(tmp_path) != one


def test_unreadable_record_redoes_every_cell(tmp_path, caplog):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "cells.json").write_text("{not json")
    c = cells.Cells(folder)
    assert c.finished("job", "k") is None
    c.record("job", "k", folder, 1.0)
    assert c.finished("job", "k") == folder and c.finished("job", "other") is None
    assert cells.Cells(folder, force=True).finished("job", "k") is None


def test_the_table_reads_the_recorded_cells(calls, tmp_path):
    """collect() tabulates the folders recorded in cells.json, not a newer folder someone else wrote."""
    out = tmp_path / "study"
    _run(out)
    rec = json.loads((out / NAME / "cells.json").read_text())
    for kind, sub in (("job", "runs"), ("ablation", "ablation")):
        for d in (Path(rec[kind]["path"]), out / NAME / sub / "zzz-newer-by-hand"):
            d.mkdir(parents=True, exist_ok=True)
            (d / "metrics.json").write_text(json.dumps({"who": d.name}))
            (d / "verdict.json").write_text(json.dumps({"who": d.name}))
    row = study.collect(out, [NAME])[0]
    assert row["run"] == rec["job"]["path"] and row["ablation"] == rec["ablation"]["path"]
    assert row["metrics"]["who"] == Path(rec["job"]["path"]).name


@pytest.mark.parametrize("ablation_seeds", [2, 1])
def test_the_ablation_takes_its_real_variant_from_the_job(tmp_path, monkeypatch, ablation_seeds):
    """With the job's seeds, the ablation's real variant is the job (not trained again): its rows are the
    job's forecasts and verdict.json names the job; with other seeds the ablation trains it itself."""
    import numpy as np
    import pandas as pd

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(study, "run_hic_tests", lambda cfgs, out: None)
    import step.config as config

    load = config.load_config
    monkeypatch.setattr(config, "load_config",  # the embedding cache under tmp_path; a 2-thread job config
                        lambda path, over=None: load(path, {**(over or {}), "embedding.cache_dir": str(tmp_path / "c"),
                                                            "train.torch_threads": 2}))
    trained = []
    work = ablate._work
    monkeypatch.setattr(ablate, "_work", lambda args: trained.append((args[1], list(args[2]))) or work(args))
    out = tmp_path / "study"
    study.run_study([NAME], 2, ablation_seeds, "rolling", out, jobs=1, ablations=True)
    rec = json.loads((out / NAME / "cells.json").read_text())
    verdict = json.loads((Path(rec["ablation"]["path"]) / "verdict.json").read_text())
    variants = {v for v, _ in trained}
    if ablation_seeds == 2:
        assert verdict["_about"]["real_from_job"] == rec["job"]["path"]
        assert "real" not in variants and "no_graph" in variants
        job_cfg = (Path(rec["job"]["path"]) / "config.yaml").read_text()
        assert "torch_threads: 1" in job_cfg  # trained on one thread, as the ablation's tasks are
        job = pd.read_csv(Path(rec["job"]["path"]) / "predictions.csv", float_precision="round_trip")
        abl = pd.read_csv(Path(rec["ablation"]["path"]) / "predictions.csv", float_precision="round_trip")
        model = job[(job.model == "STEPmr") & (job.split == "test")].set_index(["seed", "target_time", "gene"])
        real = abl[abl.variant == "real"].set_index(["seed", "target_time", "gene"])
        assert len(real) == len(model) > 0 and set(real.index.get_level_values("seed")) == {0, 1}
        np.testing.assert_allclose(real["y_pred"], model.loc[real.index, "y_pred"], rtol=0, atol=1e-9)
    else:
        assert verdict["_about"]["real_from_job"] is None and ("real", [0]) in trained
        assert "torch_threads: 2" in (Path(rec["job"]["path"]) / "config.yaml").read_text()  # as configured


def test_a_resumed_study_reads_the_jobs_real_rows_back(tmp_path, monkeypatch):
    """A study stopped after its job cell: the next run does not redo the job and still takes the
    ablation's real variant from it (real_rows.npz, the same arrays), not training it."""
    import numpy as np

    import step.config as config

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(study, "run_hic_tests", lambda cfgs, out: None)
    load = config.load_config
    monkeypatch.setattr(config, "load_config",
                        lambda path, over=None: load(path, {**(over or {}), "embedding.cache_dir": str(tmp_path / "c")}))
    out = tmp_path / "study"
    run_ablation = ablate.run_ablation
    given = []

    def stopped(*a, **k):
        given.append(k.get("real"))
        raise KeyboardInterrupt  # the study is stopped while its ablation starts

    monkeypatch.setattr(ablate, "run_ablation", stopped)
    with pytest.raises(KeyboardInterrupt):
        study.run_study([NAME], 1, 1, "rolling", out, jobs=1, ablations=True)
    first = given[0]
    assert first is not None and (out / NAME / "real_rows.npz").is_file()
    monkeypatch.setattr(ablate, "run_ablation", lambda *a, **k: given.append(k.get("real")) or run_ablation(*a, **k))
    jobs = []
    monkeypatch.setattr(pipeline, "run_job", lambda *a, **k: jobs.append(1))  # must not run again
    study.run_study([NAME], 1, 1, "rolling", out, jobs=1, ablations=True)
    assert jobs == [] and given[1] is not None and given[1][1] == first[1]
    for a, b in zip(first[0], given[1][0]):
        assert a.keys() == b.keys() and a["genes"] == b["genes"] and a["seed"] == b["seed"]
        for k in ("y_work", "model_work", "best_work", "target_time"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k
    rec = json.loads((out / NAME / "cells.json").read_text())
    verdict = json.loads((Path(rec["ablation"]["path"]) / "verdict.json").read_text())
    assert verdict["_about"]["real_from_job"] == first[1] == rec["job"]["path"]
