"""Two ``step.jobs.tune`` workers (two processes) on one study in a real PostgreSQL server: every trial
finished, none lost or duplicated (counted with SQL in the server), the best config re-running to
its validation number; a worker started before the server is up waits for it; a connection the
server dropped is reopened."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/test_tiny_mrna.yaml"
WORKERS, TRIALS = 2, 3


def _worker(url: str, out: Path, study: str, seed: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("STEP_TUNE_STORAGE", None)
    return subprocess.Popen([sys.executable, "-m", "step.tune", "--config", str(CONFIG), "--trials", str(TRIALS),
                             "--study", study, "--storage", url, "--out", str(out), "--epochs", "2",
                             "--sampler-seed", str(seed), "--storage-wait", "120"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


def _wait_for(pattern: str, log: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if re.search(pattern, log.read_text()):
            return
        assert proc.poll() is None, f"worker exited ({proc.returncode}) before '{pattern}':\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no '{pattern}' in {log} within {timeout:g} s:\n{log.read_text()[-3000:]}")


def test_two_workers_share_one_postgres_study(postgres, tmp_path, report):
    optuna = pytest.importorskip("optuna")
    from step.config import load_config
    from step.jobs.tune import tuning_config, validation_rmse

    study, out = "pg-tiny", tmp_path / "tune"
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    # the first worker starts while the server is down: it must wait for it, not fail
    postgres.stop()
    t0 = time.perf_counter()
    procs = [_worker(postgres.url, out, study, 0, logs[0])]
    _wait_for(r"attempt 1 failed \(OperationalError", logs[0], procs[0])
    postgres.start()
    procs += [_worker(postgres.url, out, study, i, logs[i]) for i in range(1, WORKERS)]
    for p, log in zip(procs, logs):
        p.wait(timeout=600)
        assert p.returncode == 0, log.read_text()[-4000:]
    wall = time.perf_counter() - t0
    for log in logs:
        assert postgres.url not in log.read_text()  # the password is never logged
        assert "postgresql://step:***@127.0.0.1" in log.read_text()

    # counted in the server itself
    rows = postgres.admin("SELECT t.number, t.state::text FROM trials t JOIN studies s ON s.study_id = t.study_id "
                          "WHERE s.study_name = %s ORDER BY t.number", (study,), dbname="step_tune")
    assert len(rows) == WORKERS * TRIALS, rows                              # none lost
    assert [n for n, _ in rows] == list(range(WORKERS * TRIALS)), rows      # none duplicated
    assert {s for _, s in rows} <= {"COMPLETE", "PRUNED"}, rows             # every one finished
    n_studies = postgres.admin("SELECT count(*) FROM studies", dbname="step_tune")[0][0]
    assert n_studies == 1
    loaded = optuna.load_study(study_name=study, storage=postgres.url)
    assert len(loaded.trials) == len(rows)

    # the best config names a trial and re-runs to that trial's validation number
    best = out / f"{study}_best.yaml"
    head = best.read_text().splitlines()[0]
    number = int(re.search(r"trial (\d+),", head).group(1))
    value = postgres.admin("SELECT v.value FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id "
                           "JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = %s AND t.number = %s",
                           (study, number), dbname="step_tune")[0][0]
    over = {"embedding.cache_dir": str(tmp_path / "cache")}
    again = validation_rmse(tuning_config(best, {}, over))
    assert again == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert load_config(best, over).train.epochs == 2
    complete = [s for _, s in rows].count("COMPLETE")
    report["postgres"] = {"workers": WORKERS, "trials_in_postgres": len(rows), "complete": complete,
                          "pruned": len(rows) - complete, "distinct_numbers": len({n for n, _ in rows}),
                          "best_trial": number, "best_rerun_matches": True, "wall_s": round(wall, 1)}


def test_a_connection_the_server_dropped_is_reopened(postgres):
    """pool_pre_ping: a pooled connection that the server ended (as after an idle timeout or a
    firewall cutting a long trial's connection) is replaced; without it the next call fails."""
    optuna = pytest.importorskip("optuna")
    from step.jobs.tune_storage import open_storage

    def drop_connections() -> int:
        rows = postgres.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'step'")
        return len(rows)

    plain = optuna.storages.RDBStorage(postgres.url)   # Optuna's defaults for PostgreSQL
    ours = open_storage(postgres.url)
    plain.get_all_studies()
    ours.get_all_studies()
    assert drop_connections() >= 2
    ours.get_all_studies()                              # reconnects
    # the control: the dead connection is used, and Optuna reports it as a failed commit ("invalid
    # data ... e.g. exceeding max length"), caused by the server having closed the connection
    with pytest.raises(optuna.exceptions.StorageInternalError) as err:
        plain.get_all_studies()
    cause = err.value.__cause__ or err.value.__context__
    assert "OperationalError" in type(cause).__name__, repr(cause)
