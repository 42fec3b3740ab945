"""A benchmark's results file that keeps a list of runs: ``{"runs": [{"meta": ..., "results": [...]}]}``
(``bench_seeds.py``, ``bench_beside.py``), and the timed job command both run."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_run(name: str, results: list[dict], key: str) -> Path:
    """Add this run's ``results`` to ``benchmarks/results/<name>.json`` with its meta (machine, CPUs,
    date, command line); an earlier run is kept unless its ``key`` values (datasets, jobs) are all
    in this run."""
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "command": f"python benchmarks/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])}
    path = ROOT / "benchmarks/results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(path.read_text()).get("runs", []) if path.is_file() else []
    runs = [r for r in runs if not {x[key] for x in r["results"]} <= {x[key] for x in results}]
    path.write_text(json.dumps({"runs": runs + [{"meta": meta, "results": results}]}, indent=2) + "\n")
    print(f"written {path}")
    return path


def timed_job(module: str, config: Path, run_dir: Path, extra: list[str]) -> tuple[float, dict]:
    """``python -m module --config config --run-dir run_dir *extra`` from the repository root: its wall
    seconds and its ``metrics.json`` ``runtime_s``; a failure ends the benchmark with the job's stderr."""
    cmd = [sys.executable, "-m", module, "--config", str(config), "--run-dir", str(run_dir)] + list(extra)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    return wall, json.loads((Path(run_dir) / "metrics.json").read_text())["runtime_s"]
