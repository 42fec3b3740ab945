"""Faults of a real job, run as a user runs it (a separate process, the CLI entry point):

- killed with SIGKILL during its analysis: only a hidden staging folder is left, and the next run
  succeeds, publishes a complete folder and clears the dead run's staging folder;
- two jobs started at once on a cold embedding cache: both finish and give identical predictions.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/test_tiny_mrna.yaml"

# The job's own entry point, with the analysis step held open (a marker file says it started) so that
# the kill lands inside it at a known point instead of by a race with the clock.
HOLD_ANALYSIS = """
import sys, time
from pathlib import Path
import step.outputs.write
real = step.outputs.write.post_steps
def held(d, cfg):
    Path(sys.argv[1]).write_text(str(d))
    time.sleep(120)
    real(d, cfg)
step.outputs.write.post_steps = held
from step.jobs.cli import exit_now, main
exit_now(main(sys.argv[2:], "STEPmr", "configs/mrna.yaml", "STEPmr"))
"""


def _config(tmp_path: Path) -> Path:
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg.setdefault("embedding", {})["cache_dir"] = str(tmp_path / "cache")
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _job(config: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", str(config), "--out", str(out), "--epochs", "1", *extra]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mrna.STEPmr_train_test", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_job_killed_during_its_analysis_leaves_only_a_hidden_folder_and_the_next_run_succeeds(tmp_path):
    config, out, marker = _config(tmp_path), tmp_path / "out", tmp_path / "analysis-started"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_ANALYSIS, str(marker), *_job(config, out, "--no-plots")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, f"the job ended before its analysis: {proc.stdout.read()[-2000:]}"
            assert time.monotonic() < deadline, "the job did not reach its analysis in 300 s"
            time.sleep(0.05)
        staging = Path(marker.read_text())
        assert staging.name.startswith(".") and ".partial-" in staging.name
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    root = staging.parent
    left = list(root.iterdir())
    assert left == [staging], left                             # nothing published, only the hidden folder
    assert (staging / "predictions.csv").is_file()             # it was killed mid-write, not before it

    done = _run(_job(config, out, "--no-plots"))
    assert done.returncode == 0, done.stderr[-3000:]
    published = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert len(published) == 1
    assert not staging.exists()                                # the dead run's folder was cleared
    assert "did not finish" in done.stderr                     # and the user was told
    for name in ("metrics.json", "predictions.csv", "results.txt", "config.yaml"):
        assert (published[0] / name).is_file(), name
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_two_jobs_at_once_on_a_cold_cache_give_identical_predictions(tmp_path):
    config = _config(tmp_path)
    assert not (tmp_path / "cache").exists()
    outs = [tmp_path / f"out{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "mrna.STEPmr_train_test",
                               *_job(config, o, "--no-plots", "--no-analysis")],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for o in outs]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    runs = [next(o.iterdir()) for o in outs]
    assert all(not r.name.startswith(".") for r in runs)
    a, b = (pd.read_csv(r / "predictions.csv") for r in runs)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    assert len(list((tmp_path / "cache").iterdir())) == 1      # one cache entry, no temp files left
