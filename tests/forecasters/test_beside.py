"""The per-gene smoothers fitted in a forked process beside the job (step.forecasters.beside): the
same numbers as in the job's own process, whatever happens to that process."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from fixtures_run import CONFIG, job_config
from step.config import load_config
from step.errors import InputError
from step.forecasters import beside
from step.jobs.pipeline import run_job


def _run(tmp_path: Path, name: str, processes: int, **over) -> Path:
    cfg = job_config(CONFIG, tmp_path, **{"baselines.processes": processes, "train.epochs": 2,
                                          "split.protocol": "rolling", **over})
    return run_job(cfg, tmp_path / name).run_dir


def _numbers(d: Path) -> tuple[bytes, str]:
    m = json.loads((d / "metrics.json").read_text())
    m.pop("runtime_s")
    return (d / "predictions.csv").read_bytes(), json.dumps(m, sort_keys=True)


def _can_fork() -> bool:
    return beside.beside_processes(2, 50, ["ets"]) == 2


def test_fits_beside_the_job_give_the_numbers_of_one_process(tmp_path, caplog, monkeypatch) -> None:
    if not _can_fork():
        pytest.skip("this session cannot fork safely (threads or platform)")
    folders = []
    real = beside.tempfile.mkdtemp
    monkeypatch.setattr(beside.tempfile, "mkdtemp", lambda **kw: folders.append(real(dir=tmp_path, **kw)) or folders[-1])
    one = _run(tmp_path, "one", 1)
    assert folders == []  # processes: 1 starts nothing
    with caplog.at_level(logging.INFO):
        two = _run(tmp_path, "two", 2)
    said = [r.getMessage() for r in caplog.records if r.name == "step.forecasters.beside"]
    assert any("in a forked process" in m for m in said)
    made = [m for m in said if m.startswith("per-gene smoothers:")]
    assert made and " 0 in it" in made[0] and not made[0].startswith("per-gene smoothers: 0 fit")
    assert _numbers(one) == _numbers(two)
    # the model's step went first, yet metrics.json lists the residual sources in the same order
    order = [list(json.loads((d / "metrics.json").read_text())["intervals"]["residual_sources"]["totals"])
             for d in (one, two)]
    assert order[0] == order[1] and order[1][-1] == "STEPmr"
    assert len(folders) == 1 and not Path(folders[0]).exists()  # the stage removed its folder


def test_a_process_that_dies_leaves_the_fits_to_the_job(tmp_path, caplog, monkeypatch) -> None:
    if not _can_fork():
        pytest.skip("this session cannot fork safely (threads or platform)")
    one = _run(tmp_path, "one", 1)
    monkeypatch.setattr(beside, "_child", _die)  # the forked process ends before any fit
    with caplog.at_level(logging.WARNING, logger="step.forecasters.beside"):
        died = _run(tmp_path, "died", 2)
    assert any("exit code 3" in r.getMessage() and "fits it itself" in r.getMessage() for r in caplog.records)
    assert _numbers(one) == _numbers(died)


def _die(*args):
    import os

    os._exit(3)


def test_lightgbm_gives_the_same_fit_on_one_thread() -> None:
    from types import SimpleNamespace

    from step.forecasters.global_learners import lightgbm_threads, make_learner, sharing_cores_with

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 3))
    y = X @ np.array([0.5, -0.2, 0.1]) + np.sin(3 * X[:, 0]) + 0.3 * rng.standard_normal(3000)
    free = make_learner("global_gbm", 0)
    alive = SimpleNamespace(running=True, is_alive=lambda: alive.running)
    with sharing_cores_with(alive):
        assert lightgbm_threads() == 1
        capped = make_learner("global_gbm", 0)
        alive.running = False  # the other process ended: the cores are the job's again
        assert lightgbm_threads() == free.get_params()["n_jobs"]
    assert capped.get_params()["n_jobs"] == 1
    if free.get_params()["n_jobs"] == 1:
        free.set_params(n_jobs=2)  # a one-core machine: compare with two threads all the same
    assert np.array_equal(free.fit(X, y).predict(X), capped.fit(X, y).predict(X))


def test_the_rules(monkeypatch) -> None:
    assert beside.beside_processes(1, 50, ["ets"]) == 1       # off
    assert beside.beside_processes(0, 50, []) == 1            # nothing to fit
    if _can_fork():
        assert beside.beside_processes(0, 50, ["ets"]) == 2
        assert beside.beside_processes(0, beside.AUTO_MAX_GENES + 1, ["ets"]) == 1  # auto: large jobs stay
        assert beside.beside_processes(2, beside.AUTO_MAX_GENES + 1, ["ets"]) == 2  # asked for
        assert beside.beside_processes(0, 50, ["ets"], seed_workers=2) == 1  # the seed workers use the cores
        assert beside.beside_processes(2, 50, ["ets"], seed_workers=2) == 2
    import multiprocessing as mp

    monkeypatch.setattr(mp.current_process(), "daemon", True, raising=False)
    assert beside.beside_processes(2, 50, ["ets"]) == 1       # a daemonic worker cannot fork children


def test_shareable_names_follow_the_peers() -> None:
    cfg = load_config(CONFIG, {"baselines.peers": ["global_linear"]})
    assert beside.shareable_names(cfg, 50) == ["ets"]
    cfg = load_config(CONFIG, {"baselines.per_gene_peer_max_genes": 10})
    assert beside.shareable_names(cfg, 50) == ["ets"]         # auto_ets skipped above 10 genes
    assert beside.shareable_names(cfg, 5) == ["ets", "auto_ets"]


def test_bad_setting_is_an_input_error() -> None:
    with pytest.raises(InputError, match="baselines.processes"):
        load_config(CONFIG, {"baselines.processes": 3})
