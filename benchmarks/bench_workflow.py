"""Wall time of the whole study as a Snakemake workflow (``make workflow``), from a fresh clone.

    python benchmarks/bench_workflow.py [--cores N] [--keep DIR]

Clones this repository (HEAD) into a temporary folder, runs ``make workflow`` there (which builds
its own ``.venv`` first, as on a fresh machine; that set-up is timed separately), checks that the
study report ``results/summary/index.md`` was written, and records the wall time, the number of
Snakemake jobs and the machine in ``benchmarks/results/workflow.json``. Hours on a 2-core
machine (4 datasets x 5 seeds of rolling-origin runs plus 4 ablations). Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", default="all", help="snakemake --cores (default: all)")
    ap.add_argument("--keep", help="clone here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(args.keep) if args.keep else Path(tmp) / "step"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                                text=True).stdout.strip()
        t0 = time.perf_counter()
        subprocess.run(["make", "venv"], cwd=clone, check=True)
        venv_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        with open(clone / "workflow.log", "w") as log:
            extra = [] if args.cores == "all" else [f"ARGS=--cores {args.cores}"]
            rc = subprocess.run(["make", "workflow", *extra], cwd=clone, stdout=log,
                                stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t1
        text = (clone / "workflow.log").read_text()
        steps = re.findall(r"(\d+) of (\d+) steps", text)
        report = clone / "results/summary/index.md"
        row = {"commit": commit, "cores": args.cores, "returncode": rc, "venv_setup_s": round(venv_s, 1),
               "workflow_wall_s": round(wall, 1), "workflow_wall_h": round(wall / 3600, 2),
               "jobs_done": f"{steps[-1][0]} of {steps[-1][1]}" if steps else None,
               "summary_written": report.is_file(),
               "machine": platform.platform(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "command": "python benchmarks/bench_workflow.py " + " ".join(sys.argv[1:])}
    out = ROOT / "benchmarks/results/workflow.json"
    out.write_text(json.dumps(row, indent=2) + "\n")
    print(json.dumps(row, indent=2))
    return 0 if rc == 0 and row["summary_written"] else 1


if __name__ == "__main__":
    sys.exit(main())
