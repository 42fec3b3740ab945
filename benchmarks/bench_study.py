"""Wall time of ``make results`` (``python -m step.study``), cell by cell.

    python benchmarks/bench_study.py [--datasets a,b] [--seeds 5] [--ablation-seeds 5] [--no-ablation]
        [--jobs N] [--out DIR]

Runs the study into a fresh folder (a temporary one unless ``--out``, which must be empty or new;
never the README's table; its log is ``<out>.log`` next to it),
then runs it a second time to time the resumed study (every cell already done), and records in
``benchmarks/results/study.json``: the total wall time of both, each dataset's job and ablation
seconds as the study recorded them (``<out>/<name>/cells.json``), the arguments, the commit and
the machine. The whole table (6 datasets, 5 seeds, ablations with 5 seeds) takes hours on 2
cores; a subset (``--datasets``) or ``--no-ablation`` gives its part. Run it alone on the
machine. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "study.json"


def _study(out: Path, args: argparse.Namespace) -> float:
    cmd = [sys.executable, "-m", "step.study", "--datasets", args.datasets, "--seeds", str(args.seeds),
           "--ablation-seeds", str(args.ablation_seeds), "--out", str(out), "--no-readme", "--jobs", str(args.jobs)]
    cmd += ["--no-ablation"] if args.no_ablation else []
    t0 = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "a") as log:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - t0, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mrna,mirna,mrna_corrected,mirna_corrected,yeast,yeast_elutriation")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ablation-seeds", type=int, default=5)
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--out", type=Path, help="study folder (default: a temporary one)")
    args = ap.parse_args()
    if args.out and args.out.exists() and any(args.out.iterdir()):
        ap.error(f"--out {args.out} is not empty: its finished cells would not be redone (time a fresh folder)")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "study"
        out.parent.mkdir(parents=True, exist_ok=True)
        first = _study(out, args)
        resumed = _study(out, args)
        cells = {}
        for name in args.datasets.split(","):
            p = out / name / "cells.json"
            rec = json.loads(p.read_text()) if p.is_file() else {}
            cells[name] = {k: v.get("seconds") for k, v in rec.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    row = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "wall_s": first, "resumed_wall_s": resumed, "cells_s": cells,
           "meta": {"commit": commit, "date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "machine": platform.platform()}}
    runs = json.loads(RESULT.read_text()) if RESULT.is_file() else []
    runs.append(row)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = RESULT.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(runs, indent=1) + "\n")
    os.replace(tmp_path, RESULT)
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
