"""Wall time and peak memory of the main jobs, cold (empty embedding cache) and warm.

    python benchmarks/run_benchmarks.py [--jobs mrna,mirna,embedding,mrna_rolling,mirna_rolling,yeast_rolling,ablate_mrna]
        [--rerun] [--warm]

Each job runs as a child process exactly as a user runs it (``python -m ...``),
with the config's embedding cache pointed at a fresh temporary folder so the
first run is cold (the figure cache, beside it, too). ``--rerun`` then runs the job
again with the embedding cache emptied but the figure cache of the first run kept
(``rerun``: a job run again, its unchanged figures copied); ``--warm`` runs it once
more with both caches filled. Peak memory is the child's maximum resident set size.
Writes ``benchmarks/results/jobs.json`` and prints a table. Not a test.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# name -> (module, config, extra arguments)
JOBS = {
    "mrna": ("mrna.STEPmr_train_test", "configs/mrna.yaml", []),
    "mirna": ("mirna.STEPmi_train_test", "configs/mirna.yaml", []),
    # one seed of the rolling-origin backtest (targets: mRNA <= 60 s, miRNA <= 10 min)
    "mrna_rolling": ("mrna.STEPmr_train_test", "configs/mrna.yaml", ["--protocol", "rolling", "--no-plots",
                                                                      "--no-analysis"]),
    "mirna_rolling": ("mirna.STEPmi_train_test", "configs/mirna.yaml", ["--protocol", "rolling", "--no-plots",
                                                                         "--no-analysis"]),
    # one seed of the real yeast development case (rolling is its config's protocol; target <= 3 min)
    "yeast_rolling": ("mrna.STEPmr_train_test", "configs/yeast.yaml", ["--no-plots", "--no-analysis"]),
    # step.ablate on the mRNA panel: 8 variants x 2 seeds, rolling, all cores
    "ablate_mrna": ("step.ablate", "configs/mrna.yaml", ["--protocol", "rolling", "--seeds", "2"]),
}


def _run(cmd: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
    # ru_maxrss of children is the max over all children so far: run jobs in fresh processes
    return wall, max(peak, before) / 1024.0, r.returncode


def bench_job(name: str, warm: bool, rerun: bool = False) -> list[dict]:
    module, config, extra = JOBS[name]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = yaml.safe_load((ROOT / config).read_text())
        # <tmp>/cache/embeddings: the figure cache (output.figure_cache: auto) is <tmp>/cache/figures
        cfg.setdefault("embedding", {})["cache_dir"] = str(Path(tmp) / "cache" / "embeddings")
        if "extends" in cfg:  # the copy lives elsewhere: point 'extends' at the original's neighbour
            cfg["extends"] = str((ROOT / config).parent / cfg["extends"])
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", module, "--config", str(cfg_path), "--out", str(Path(tmp) / "runs")] + extra
        for kind in ["cold"] + (["rerun"] if rerun else []) + (["warm"] if warm else []):
            if kind == "rerun":
                shutil.rmtree(Path(tmp) / "cache" / "embeddings", ignore_errors=True)
            wall, peak, rc = _run(cmd)
            runs = sorted((Path(tmp) / "runs").glob("*/metrics.json"))
            runtime = json.loads(runs[-1].read_text())["runtime_s"] if runs else {}
            abl = sorted((Path(tmp) / "runs").glob("ablation-*/verdict.json"))
            if abl:
                runtime = {"ablation_wall_s": json.loads(abl[-1].read_text())["_about"]["wall_s"]}
            out.append({"job": name, "cache": kind, "wall_s": round(wall, 2), "peak_rss_mb": round(peak, 1),
                        "returncode": rc, "stages_s": runtime,
                        "command": f"python -m {module} --config {config} {' '.join(extra)} (cache_dir -> temp)"})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="mrna,mirna,embedding")
    ap.add_argument("--warm", action="store_true", help="also time a run with the caches filled")
    ap.add_argument("--rerun", action="store_true",
                    help="also time a second run with the embedding cache emptied, the figure cache kept")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one job in this process
    args = ap.parse_args()
    if args.one:  # a fresh interpreter per job, so RUSAGE_CHILDREN's peak is that job's own
        print(json.dumps(bench_job(args.one, args.warm, args.rerun)))
        return 0
    results = []
    for job in args.jobs.split(","):
        if job == "embedding":
            r = subprocess.run([sys.executable, "benchmarks/bench_embedding.py"], cwd=ROOT)
            results.append({"job": "embedding", "returncode": r.returncode,
                            "see": "benchmarks/results/embedding.json"})
            continue
        r = subprocess.run([sys.executable, __file__, "--one", job] + (["--warm"] if args.warm else [])
                           + (["--rerun"] if args.rerun else []),
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr[-3000:])
            return 1
        results += json.loads(r.stdout.strip().splitlines()[-1])
        for row in results[-(1 + args.warm + args.rerun):]:
            print(f"{row['job']:6s} {row['cache']:6s} wall {row['wall_s']:7.1f} s  peak RSS {row['peak_rss_mb']:7.1f} MB  "
                  f"rc {row['returncode']}  stages {row['stages_s']}", flush=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "command": "python benchmarks/run_benchmarks.py " + " ".join(sys.argv[1:])}
    path = ROOT / "benchmarks/results/jobs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.is_file() else {}
    ran = {r["job"] for r in results}
    # keep earlier measurements of jobs not run this time, each with the meta it was taken under
    kept = [r for r in old.get("results", []) if r["job"] not in ran]
    for r in results:
        r["meta"] = meta
    path.write_text(json.dumps({"results": kept + results}, indent=2) + "\n")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
