"""workflow/Snakefile: touching one raw expression file re-runs exactly what depends on it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
pytestmark = pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake not installed")
RAW = ROOT / "dataset/raw/expression/mRNAnorm.txt"   # read by the mRNA preprocessing only
RANK = {"preprocess": 1, "embeddings": 2, "run": 3, "analysis": 4, "ablation": 4, "summary": 5}


def _smk(tmp: Path, *args: str) -> str:
    cmd = [SNAKEMAKE, "-s", "workflow/Snakefile", "--config", f"results={tmp}/r", f"summary={tmp}/s",
           "--rerun-triggers", "mtime", *args]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout + r.stderr


def _jobs(text: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs: list[list[str]] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("rule ", "localrule ")) and s.endswith(":"):
            jobs.append([s.split(" ", 1)[1][:-1], ""])
        elif s.startswith("wildcards:") and jobs:
            jobs[-1][1] = s[len("wildcards:"):].strip()
    return {(r, w) for r, w in jobs}


def test_touching_a_raw_expression_file_reruns_only_its_downstream(tmp_path):
    # every output "made", oldest first along the DAG, all newer than the raw inputs
    summary = _smk(tmp_path, "--detailed-summary")
    base = time.time()
    rows = [line.split("\t") for line in summary.splitlines() if line.count("\t") >= 3]
    assert rows[0][0] == "output_file"
    for out, _, rule, *_ in rows[1:]:
        p = Path(out) if Path(out).is_absolute() else ROOT / out
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
        os.utime(p, (base + RANK[rule], base + RANK[rule]))
    assert "Nothing to be done" in _smk(tmp_path, "-n")
    st = RAW.stat()
    try:
        os.utime(RAW, (base + 60, base + 60))
        jobs = _jobs(_smk(tmp_path, "-n"))
    finally:
        os.utime(RAW, (st.st_atime, st.st_mtime))
    seeds = range(5)
    expected = {("preprocess", "name=mrna_corrected"), ("preprocess", "name=mrna_published"),
                ("ablation", "dataset=mrna_corrected"), ("analysis", "dataset=mrna_corrected, seed=0"),
                ("summary", ""), ("all", "")}
    expected |= {(r, f"dataset=mrna_corrected, seed={s}") for r in ("embeddings", "run") for s in seeds}
    assert jobs == expected


def test_tiny_workflow_runs_end_to_end_and_writes_the_report(tmp_path):
    """The real rules on the tiny fixture: runs per seed, analysis, ablation, one report."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = [SNAKEMAKE, "-s", "workflow/Snakefile", "--configfile", "tests/data/workflow_tiny.yaml",
           "--config", f"results={tmp_path}/r", f"summary={tmp_path}/s", "--cores", "2", "--quiet"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    logs = "".join(p.read_text()[-1500:] for p in (tmp_path / "r" / "logs").glob("*.log")) if r.returncode else ""
    assert r.returncode == 0, r.stderr[-3000:] + logs
    report = (tmp_path / "s" / "index.md").read_text()
    assert "tiny_mrna" not in report or "STEPmr" in report
    assert "| STEPmr |" in report and "ablation" in report.lower()
    for seed in (0, 1):
        assert (tmp_path / "r" / "runs" / "tiny_mrna" / f"seed{seed}" / "metrics.json").is_file()
    assert (tmp_path / "r" / "ablation" / "tiny_mrna" / "verdict.json").is_file()
    assert list((tmp_path / "s" / "figures").glob("*.png"))
    # nothing left to do afterwards
    again = subprocess.run(cmd[:-3] + ["-n"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr
