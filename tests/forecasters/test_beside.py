"""The per-gene smoothers fitted in a forked process beside the job (step.forecasters.beside): the
same numbers as in the job's own process, whatever happens to that process.

The jobs with the process run as a user runs them, each in a fresh interpreter (``python -m``-like,
through a small runner that can break the process on purpose): the test session itself may hold
threads of earlier tests (a native thread of hictkpy, tests/conversion) that make a fork unsafe,
where the job rightly fits everything itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures_run import CONFIG, ROOT
from step.config import load_config
from step.errors import InputError
from step.forecasters import beside

# what the runner does to the process beside the job before it runs the job (argv[1])
_RUNNER = """
import os, sys, time
import step.forecasters.beside as b
from step.forecasters.registry import SharedFits

class OtherKeys(SharedFits):
    @staticmethod
    def key(cls, ctx, d):
        return "other-" + SharedFits.key(cls, ctx, d)

mode = sys.argv[1]
if mode == "die":
    b._child = lambda *a: os._exit(3)
elif mode == "hang":
    b._child = lambda *a: time.sleep(600)
    b.STALL_S = 1.0
elif mode == "other_keys":
    b.SharedFits = OtherKeys
from step.jobs.cli import main
sys.exit(main(sys.argv[2:], "runner", "configs/test_tiny_mrna.yaml", "STEPmr"))
"""


def _job(tmp: Path, name: str, processes: int, mode: str = "none") -> tuple[Path, str]:
    """The tiny course's rolling job in a fresh interpreter; its run folder and its log."""
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"extends: {CONFIG}\nbaselines:\n  processes: {processes}\ntrain:\n  epochs: 2\n"
                   f"split:\n  protocol: rolling\nembedding:\n  cache_dir: {tmp / 'cache'}\n")
    runner = tmp / "runner.py"
    runner.write_text(_RUNNER)
    run_dir = tmp / name
    env = {**os.environ, "TMPDIR": str(tmp)}  # the process's folder lands here: the test sees it go
    r = subprocess.run([sys.executable, str(runner), mode, "--config", str(cfg), "--run-dir", str(run_dir),
                        "--no-plots", "--no-analysis"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return run_dir, r.stderr


def _numbers(d: Path) -> tuple[bytes, str]:
    m = json.loads((d / "metrics.json").read_text())
    m.pop("runtime_s")
    return (d / "predictions.csv").read_bytes(), json.dumps(m, sort_keys=True)


def _multicore_linux() -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not sys.platform.startswith("linux") or cpus < 2:
        pytest.skip("the process beside the job needs Linux and 2+ CPUs")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, str]:
    """The job with every fit in its own process."""
    _multicore_linux()
    return _job(tmp_path_factory.mktemp("reference"), "one", 1)


def test_fits_beside_the_job_give_the_numbers_of_one_process(tmp_path, reference) -> None:
    one, one_log = reference
    two, log = _job(tmp_path, "two", 2)
    assert "in a forked process" in log and "baselines.processes = 2, but" not in log
    made = [line for line in log.splitlines() if "per-gene smoothers:" in line]
    assert made and " 0 in it" in made[0] and "smoothers: 0 fit" not in made[0]
    assert "the job fits what it has not written itself" not in log
    assert _numbers(one) == _numbers(two)
    # the model's step went first, yet metrics.json lists the residual sources in the same order
    order = [list(json.loads((d / "metrics.json").read_text())["intervals"]["residual_sources"]["totals"])
             for d in (one, two)]
    assert order[0] == order[1] and order[1][-1] == "STEPmr"
    assert not list(tmp_path.glob("step-beside-fits-*"))  # the stage removed its folder
    # the process's own lines reach the terminal and run.log through the job, once each
    counts = [text.count("ETS fitted on") for text in (one_log, log, (one / "run.log").read_text(),
                                                       (two / "run.log").read_text())]
    assert counts[0] > 0 and len(set(counts)) == 1, counts


@pytest.mark.parametrize("mode,expected", [
    ("die", "it ended (exit code 3)"),                          # dead before any fit
    ("hang", "wrote nothing for"),                              # stuck: stopped after STALL_S
    ("other_keys", "without this fit (its key differs)"),       # finished a fold without the entry
])
def test_a_broken_process_leaves_the_fits_to_the_job(tmp_path, reference, mode, expected) -> None:
    broken, log = _job(tmp_path, "broken", 2, mode)
    assert expected in log and "the job fits what it has not written itself" in log, log[-2000:]
    assert _numbers(reference[0]) == _numbers(broken)
    assert not list(tmp_path.glob("step-beside-fits-*"))


def _can_fork() -> bool:
    return beside.beside_processes(2, 50, ["ets"]) == 2


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
