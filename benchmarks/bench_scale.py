"""Genome scale, end to end: cooler + expression matrix + annotation -> results folder.

    python benchmarks/bench_scale.py [--sizes 2000,5000,20000] [--times 40] [--csv 2000,5000]

For each size, synthetic inputs are generated (benchmarks/scale_data.py; not timed as part of
the pipeline), then two commands run as a user runs them, each in a fresh process with a cold
embedding cache:

1. ``python -m raw_data_conversion.genome --matrix ... --samples ... --genes ... --contacts ... --out DIR``
2. ``python -m mrna.STEPmr_train_test --config configs/genome.yaml --data DIR``

Wall time and peak RSS (the child's maximum resident set, from ``os.wait4``) of each, and their
sum / maximum as the end-to-end figure. With ``--csv`` the same job also runs on the dataset
written in the published interaction-CSV schema (``--csv FILE`` of the converter) for those sizes.
Targets on a 2-core machine: 20,000 genes <= 10 min and <= 6 GB; 2,000 genes <= 1 min.
Writes ``benchmarks/results/scale.json``. Not a test.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {2000: (60.0, None), 20000: (600.0, 6144.0)}  # genes -> (wall s, peak MB)


def _scale_data():
    spec = importlib.util.spec_from_file_location("scale_data", ROOT / "benchmarks/scale_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants now (MB; 0 if it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def timed(cmd: list[str], log_path: Path) -> dict:
    """Run ``cmd`` in the repo root; wall seconds, peak memory and return code.

    ``peak_rss_mb``: the largest resident set of any single process (``os.wait4``);
    ``peak_tree_rss_mb``: the largest sum over the process and its children (plotting process,
    ETS and embedding pools) sampled every 0.2 s with psutil (a lower bound of the true peak).
    """
    t0 = time.perf_counter()
    tree_peak = 0.0
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            tree_peak = max(tree_peak, _tree_rss_mb(proc.pid))
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        sys.stderr.write(log_path.read_text()[-3000:])
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1),
            "peak_tree_rss_mb": round(tree_peak, 1), "returncode": rc}


def bench_size(n: int, n_times: int, csv: bool, work: Path) -> dict:
    raw = work / f"raw_{n}"
    t0 = time.perf_counter()
    paths = _scale_data().make_scale_inputs(raw, n_genes=n, n_times=n_times, seed=0)["paths"]
    gen_s = time.perf_counter() - t0
    cfg = yaml.safe_load((ROOT / "configs/genome.yaml").read_text())
    cfg["extends"] = str(ROOT / "configs" / cfg["extends"])
    cfg.setdefault("embedding", {})["cache_dir"] = str(work / f"cache_{n}")
    cfg_path = work / f"genome_{n}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    ds, csv_path = work / f"dataset_{n}", work / f"interaction_{n}.csv"
    conv_cmd = [sys.executable, "-m", "raw_data_conversion.genome", "--matrix", str(paths["expression"]),
                "--samples", str(paths["samples"]), "--genes", str(paths["genes"]), "--contacts", str(paths["cool"]),
                "--out", str(ds)]
    conv = timed(conv_cmd, work / f"convert_{n}.log")
    job_cmd = [sys.executable, "-m", "mrna.STEPmr_train_test", "--config", str(cfg_path), "--data", str(ds),
               "--out", str(work / f"results_{n}")]
    job = timed(job_cmd, work / f"job_{n}.log")
    metrics = sorted((work / f"results_{n}").glob("*/metrics.json"))
    stages = json.loads(metrics[-1].read_text()).get("runtime_s", {}) if metrics else {}
    meta = json.loads((ds / "dataset.json").read_text()) if (ds / "dataset.json").exists() else {}
    row = {"genes": n, "times": n_times, "generate_inputs_s": round(gen_s, 1),
           "pairs": meta.get("counts", {}).get("pairs_kept"),
           "convert": conv, "job": job, "job_stages_s": stages,
           "end_to_end_s": round(conv["wall_s"] + job["wall_s"], 1),
           "peak_rss_mb": max(conv["peak_rss_mb"], job["peak_rss_mb"]),
           "peak_tree_rss_mb": max(conv["peak_tree_rss_mb"], job["peak_tree_rss_mb"]),
           "ok": conv["returncode"] == 0 and job["returncode"] == 0}
    target = TARGETS.get(n)
    if target:
        row["target"] = {"wall_s": target[0], "peak_rss_mb": target[1],
                         "met": row["ok"] and row["end_to_end_s"] <= target[0]
                         and (target[1] is None or max(row["peak_rss_mb"], row["peak_tree_rss_mb"]) <= target[1])}
    if csv and conv["returncode"] == 0:
        sys.path.insert(0, str(ROOT))
        from raw_data_conversion.genome import write_interaction_csv

        t0 = time.perf_counter()
        write_interaction_csv(ds, csv_path)
        row["csv_write_s"] = round(time.perf_counter() - t0, 1)
        row["csv_mb"] = round(csv_path.stat().st_size / 2**20, 1)
        cfg["embedding"]["cache_dir"] = str(work / f"cache_csv_{n}")
        cfg_path.write_text(yaml.safe_dump(cfg))
        csv_cmd = [sys.executable, "-m", "mrna.STEPmr_train_test", "--config", str(cfg_path), "--data", str(csv_path),
                   "--out", str(work / f"results_csv_{n}")]
        row["job_on_csv"] = timed(csv_cmd, work / f"job_csv_{n}.log")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,5000,20000", help="gene counts, comma-separated")
    ap.add_argument("--times", type=int, default=40, help="time points")
    ap.add_argument("--csv", default="", help="sizes to also run on the interaction-CSV schema")
    ap.add_argument("--keep", help="keep the work folder here (default: a temporary folder)")
    args = ap.parse_args()
    csv_sizes = {int(s) for s in args.csv.split(",") if s}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in (int(s) for s in args.sizes.split(",")):
            row = bench_size(n, args.times, n in csv_sizes, work)
            rows.append(row)
            extra = f"  csv job {row['job_on_csv']['wall_s']} s" if "job_on_csv" in row else ""
            print(f"{n:6d} genes: convert {row['convert']['wall_s']:6.1f} s, job {row['job']['wall_s']:6.1f} s, "
                  f"end to end {row['end_to_end_s']:6.1f} s, peak RSS {row['peak_rss_mb']:7.1f} MB "
                  f"(process tree {row['peak_tree_rss_mb']:7.1f} MB), "
                  f"ok {row['ok']}{extra}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit,
            "command": "python benchmarks/bench_scale.py " + " ".join(sys.argv[1:])}
    path = ROOT / "benchmarks/results/scale.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"written {path}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
