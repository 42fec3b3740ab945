"""The tiny workflow through SLURM with the shipped profile: ``snakemake --profile
workflow/profiles/slurm`` as the README says, on a one-node cluster started here. Every job of the
plan goes through sbatch (counted in the controller's completion records), with the profile's
time limits and memory and each rule's threads as CPUs; the summary page is written; a second run
has nothing to do and submits nothing."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
EMBEDDING_THREADS = 2     # so that a rule's threads differ from 1 and must reach sbatch --cpus-per-task


def _snakemake(slurm, tmp: Path, name: str, timeout: float = 600) -> str:
    """Run the README's command on the tiny config, as a user who did not activate .venv (its bin
    is not on PATH); return the output. Killed with its process group past ``timeout``: Snakemake
    waiting on jobs it cannot see ignores SIGTERM."""
    env = slurm.env
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if Path(p or ".").resolve() != VENV_BIN.resolve())
    cmd = [str(SNAKEMAKE), "-s", "workflow/Snakefile", "--profile", "workflow/profiles/slurm",
           "--configfile", "tests/data/workflow_tiny.yaml",
           "--config", f"results={tmp}/r", f"summary={tmp}/s", f"embedding_threads={EMBEDDING_THREADS}",
           # first job-state query after 5 s instead of the plugin's 40 (an executor setting the
           # profile does not set, so nothing of the profile is replaced)
           "--slurm-init-seconds-before-status-checks", "5"]
    log = tmp / f"{name}.log"
    with log.open("w") as fh:
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = log.read_text()
    assert p.returncode == 0, f"snakemake exited {p.returncode}:\n{text[-5000:]}\n{_job_logs(tmp)}\n{slurm.logs()}"
    return text


def _job_logs(tmp: Path) -> str:
    return "\n".join(f"--- {p.name}:\n{p.read_text()[-1500:]}" for p in sorted((tmp / "r" / "logs").glob("*.log")))


def _planned(text: str) -> Counter:
    """Snakemake's own plan: the 'Job stats' table (rule -> count), without the total."""
    block = text[text.index("Job stats:"):]
    rows = re.findall(r"^(\w+)\s+(\d+)$", block.split("\n\n")[0], re.M)
    return Counter({rule: int(n) for rule, n in rows if rule != "total"})


def test_tiny_workflow_through_slurm_with_the_shipped_profile(slurm, tmp_path, report):
    t0 = time.perf_counter()
    text = _snakemake(slurm, tmp_path, "first")
    wall = time.perf_counter() - t0
    plan = _planned(text)
    submitted = {int(j): rule for rule, j in
                 re.findall(r"slurm_logs/rule_([A-Za-z_]+?)/(?:[^/\s]+/)?(\d+)\.log", text)}
    assert submitted, text[-3000:]
    jobs = slurm.jobs()
    # every job the plan has, except the local target rule `all`, went through sbatch and finished
    assert Counter(submitted.values()) == plan - Counter({"all": plan["all"]}), (plan, submitted)
    assert set(jobs) == set(submitted), (sorted(jobs), sorted(submitted))
    run_id = re.search(r"SLURM run ID: (\S+)", text).group(1)
    for jid, fields in jobs.items():
        rule = submitted[jid]
        assert fields["JobState"] == "COMPLETED", fields
        assert fields["Name"] == run_id, fields
        assert fields["Partition"] == "steptest", fields          # the cluster's default partition
        # the profile's resources reached sbatch: run time (minutes), memory; a rule's threads as CPUs
        assert fields["TimeLimit"] == ("240" if rule == "ablation" else "60"), (rule, fields)
        assert "mem=4000M" in fields["Tres"], fields
        assert int(fields["ProcCnt"]) == (EMBEDDING_THREADS if rule == "embeddings" else 1), (rule, fields)
    index = tmp_path / "s" / "index.md"
    assert index.is_file() and "| STEPmr |" in index.read_text()
    assert (tmp_path / "r" / "ablation" / "tiny_mrna" / "verdict.json").is_file()

    # a second run has nothing to do and submits nothing
    again = _snakemake(slurm, tmp_path, "second", timeout=300)
    assert "Nothing to be done" in again, again[-3000:]
    assert set(slurm.jobs()) == set(jobs)
    report["slurm"] = {"jobs_through_sbatch": len(jobs), "completed": sum(f["JobState"] == "COMPLETED" for f in
                                                                           jobs.values()),
                       "by_rule": dict(sorted(Counter(submitted.values()).items())),
                       "planned_jobs": sum(plan.values()), "local_jobs": plan["all"],
                       "second_run_new_jobs": len(slurm.jobs()) - len(jobs), "wall_s": round(wall, 1)}
