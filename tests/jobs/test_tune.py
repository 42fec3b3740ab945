"""step.jobs.tune: two workers on one SQLite study, and the best config re-runs to its validation number."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from step.config import load_config  # noqa: E402
from step.jobs.tune import tuning_config, validation_rmse  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/test_tiny_mrna.yaml"


def _worker(tmp: Path, study: str, trials: int, sampler_seed: int = 0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.Popen([sys.executable, "-m", "step.tune", "--config", str(CONFIG), "--trials", str(trials),
                             "--study", study, "--out", str(tmp / "tune"), "--epochs", "2",
                             "--sampler-seed", str(sampler_seed)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_share_one_sqlite_study_and_the_best_config_reruns(tmp_path):
    procs = [_worker(tmp_path, "t", 2, 0), _worker(tmp_path, "t", 2, 1)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    storage = f"sqlite:///{(tmp_path / 'tune' / 't.db').resolve()}"
    study = optuna.load_study(study_name="t", storage=storage)
    trials = study.trials
    assert len(trials) == 4                                      # none lost
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]      # none duplicated
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert all(t.state in finished for t in trials)
    best = tmp_path / "tune" / "t_best.yaml"
    assert best.is_file() and "extends:" in best.read_text()
    # the best config, loaded as any run config, reproduces the study's best validation number
    cfg = load_config(best, {"embedding.cache_dir": str(tmp_path / "cache")})
    again = validation_rmse(tuning_config(best, {}, {"embedding.cache_dir": str(tmp_path / "cache")}))
    assert again == pytest.approx(study.best_value, rel=1e-9, abs=1e-12)
    assert cfg.train.epochs == 2
    # a resumed study adds trials rather than starting over
    p = _worker(tmp_path, "t", 1)
    p.communicate(timeout=600)
    assert len(optuna.load_study(study_name="t", storage=storage).trials) == 5


@pytest.mark.parametrize("config", ["configs/mrna.yaml", "configs/mirna.yaml", "configs/yeast.yaml",
                                    "configs/test_tiny_mrna.yaml"])
def test_tuning_windows_do_not_overlap_the_reported_test_targets(config):
    """A trial trains and validates only on windows whose target is before the first test target
    of the rolling protocol that the README reports, for every history a trial can pick."""
    from step.data.load import load_course
    from step.jobs.tune import tuning_windows

    base = load_config(ROOT / config)
    n_times = load_course(ROOT / base.data.path, base.data).n_times
    L = base.split.history
    for h in {v for v in (L - 1, L, L + 1) if 1 <= v <= base.embedding.span}:  # as step.jobs.tune.suggest
        cfg = tuning_config(ROOT / config, {"split.history": h}, {"data.path": str(ROOT / base.data.path)})
        assert cfg.split.protocol == "rolling"
        train, val, test = tuning_windows(cfg, n_times)
        assert len(val) and len(test)
        assert max(train.max(), val.max()) < test.min()
        assert not set(train) & set(test) and not set(val) & set(test)
