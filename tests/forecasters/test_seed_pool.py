"""A fit's seeds trained in worker processes at once (step.forecasters.seed_pool): the same numbers
as in the job's own process."""
from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures_run import CONFIG, job_config
from step.forecasters.seed_pool import MAX_WORKERS, seed_workers
from step.jobs.pipeline import run_job


def _run(tmp_path: Path, name: str, workers: int, **over) -> Path:
    cfg = job_config(CONFIG, tmp_path, **{"train.seeds": 3, "train.seed_workers": workers, "train.epochs": 4,
                                          "split.protocol": "rolling", **over})
    return run_job(cfg, tmp_path / name).run_dir


def test_seeds_in_workers_give_the_numbers_of_one_process(tmp_path, caplog) -> None:
    one = _run(tmp_path, "one", 1)
    with caplog.at_level(logging.INFO):
        two = _run(tmp_path, "two", 2)
    assert any("2 worker processes" in r.getMessage() for r in caplog.records)
    for name in ("predictions.csv", "history.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    # the workers' training lines reach the job's log
    early = [r.getMessage() for r in caplog.records if r.name == "step.forecasters.train"]
    assert {f"seed {s} " for s in (0, 1, 2)} <= {m[m.index("seed "):m.index("seed ") + 7] for m in early}


def test_after_the_seed_workers_the_job_can_still_fork_its_plotting_process(tmp_path) -> None:
    """Tensors travel to the workers as plain pickles: no file-descriptor server thread is left in
    the job (it would keep step.outputs.post from forking its second plotting process)."""
    import threading

    before = set(threading.enumerate())  # earlier tests of the session may have left their own
    _run(tmp_path, "two", 2)
    extra = [t.name for t in set(threading.enumerate()) - before if type(t).__name__ != "TMonitor"]
    assert extra == []


def test_a_worker_that_dies_leaves_the_job_to_train_its_seeds(tmp_path, monkeypatch, caplog) -> None:
    import step.forecasters.seed_pool as sp

    monkeypatch.setattr(sp, "_task", _die)  # every task kills its worker (spawned workers import it by name)
    one = _run(tmp_path, "one", 1)
    with caplog.at_level(logging.WARNING, logger="step.forecasters.seed_pool"):
        broken = _run(tmp_path, "broken", 2)
    assert any("seed worker processes failed" in r.getMessage() for r in caplog.records)
    assert (one / "predictions.csv").read_bytes() == (broken / "predictions.csv").read_bytes()


def _die(args):
    import os

    os._exit(3)


def _train(**over):
    base = dict(seed_workers=0, device="cpu", torch_threads=1)
    return SimpleNamespace(**{**base, **over})


@pytest.mark.parametrize("over,seeds,on_epoch,expected", [
    ({}, 1, None, 1),                        # one seed: nothing to spread
    ({"seed_workers": 1}, 5, None, 1),       # off
    ({"torch_threads": 2}, 5, None, 1),      # auto keeps a multi-thread job in one process
    ({"torch_threads": 2, "seed_workers": 2}, 5, None, 2),  # asked for: the job's threads in each worker
    ({"seed_workers": 3}, 2, None, 2),       # never more workers than seeds
    ({"device": "cuda"}, 5, None, 1),
    ({}, 5, print, 1),                       # a tuning trial's epoch callback
])
def test_how_many_workers(over, seeds, on_epoch, expected) -> None:
    assert seed_workers(_train(**over), seeds, on_epoch, n_genes=50) == expected


def test_auto_keeps_a_large_job_in_one_process() -> None:
    from step.forecasters.seed_pool import AUTO_MAX_GENES

    assert seed_workers(_train(), 5, n_genes=AUTO_MAX_GENES + 1) == 1
    assert seed_workers(_train(seed_workers=2), 5, n_genes=AUTO_MAX_GENES + 1) == 2  # asked for


def test_auto_takes_the_cpus_up_to_the_seeds(monkeypatch) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert seed_workers(_train(), 3) == 3
    assert seed_workers(_train(), 10) == MAX_WORKERS
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert seed_workers(_train(), 5) == 1
    with pytest.raises(ValueError, match="seed_workers"):
        seed_workers(_train(seed_workers=-1), 5)
