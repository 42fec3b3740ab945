"""Wall time and counts of ``make test-services`` from a fresh clone (the release check of the
cluster path; minutes, so not part of ``make test``).

    python benchmarks/bench_services.py [--branch NAME] [--keep DIR]

Clones this repository (HEAD's branch, or ``--branch``) into a temporary folder, runs ``make
test-services`` there (it builds its own ``.venv``, installs the ``cluster`` extra and, as root,
slurm-wlm + munge when missing, then starts and stops PostgreSQL and SLURM), and records its exit
status, its wall time, the pytest summary line and what the tests measured (trials counted in
PostgreSQL, jobs that went through SLURM: the clone's ``results/services/report.json``) in
``benchmarks/results/services.json``. Not a test.
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
    ap.add_argument("--branch", help="branch to clone (default: the current one)")
    ap.add_argument("--keep", help="clone here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    branch = args.branch or subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=ROOT,
                                           capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(args.keep) if args.keep else Path(tmp) / "step"
        subprocess.run(["git", "clone", "-q", "-b", branch, str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                                text=True).stdout.strip()
        t0 = time.perf_counter()
        with open(clone / "test-services.log", "w") as log:
            rc = subprocess.run(["make", "test-services"], cwd=clone, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t0
        text = (clone / "test-services.log").read_text()
        summary = re.findall(r"^=+ (.*\d+ (?:passed|failed|skipped).*) =+$", text, re.M)
        rep = clone / "results/services/report.json"
        measured = json.loads(rep.read_text()) if rep.is_file() else None
        sys.stdout.write(text[-4000:])
    row = {"commit": commit, "branch": branch, "returncode": rc, "wall_s": round(wall, 1),
           "pytest": summary[-1] if summary else None, "measured": measured,
           "machine": platform.platform(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
           "command": "python benchmarks/bench_services.py " + " ".join(sys.argv[1:])}
    out = ROOT / "benchmarks/results/services.json"
    out.write_text(json.dumps(row, indent=2) + "\n")
    sys.stdout.write(json.dumps(row, indent=2) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
