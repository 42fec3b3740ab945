"""The converter at the resolutions users pick: a synthetic whole-mouse-genome ``.mcool``
(``benchmarks/hic_scale_data.py``: 5 kb to 1 Mb, 20,000 genes) converted at each resolution.

    python benchmarks/bench_hic.py [--resolutions 1000000,100000,10000,5000] [--data DIR] [--keep DIR]

Each conversion is ``python -m raw_data_conversion.genome --contacts contacts.mcool --bin-size N ...``
in a fresh process; wall time and peak RSS (``os.wait4``, plus the process tree sampled by psutil).
Targets on a 2-core machine: 10 kb <= 5 min and <= 3 GB; 5 kb <= 10 min and <= 4 GB.
``--data`` reuses inputs made before (generation takes minutes and is not timed as conversion).
Writes ``benchmarks/results/hic_scale.json``. Not a test.
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

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {10_000: (300.0, 3072.0), 5_000: (600.0, 4096.0)}  # bin size -> (wall s, peak MB)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"benchmarks/{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolutions", default="1000000,100000,10000,5000")
    ap.add_argument("--data", help="inputs from benchmarks/hic_scale_data.py (default: generate them)")
    ap.add_argument("--keep", help="keep the work folder here (default: a temporary folder)")
    args = ap.parse_args()
    timed = _load("bench_scale").timed
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = Path(args.data) if args.data else work / "inputs"
        gen = None
        if not (data / "facts.json").exists():
            t0 = time.perf_counter()
            _load("hic_scale_data").make_inputs(data)
            gen = round(time.perf_counter() - t0, 1)
        facts = json.loads((data / "facts.json").read_text())
        for res in (int(r) for r in args.resolutions.split(",")):
            out = work / f"dataset_{res}"
            cmd = [sys.executable, "-m", "raw_data_conversion.genome", "--matrix", str(data / "expression.tsv"),
                   "--samples", str(data / "samples.tsv"), "--genes", str(data / "genes.bed"),
                   "--contacts", str(data / "contacts.mcool"), "--bin-size", str(res), "--out", str(out)]
            r = timed(cmd, work / f"convert_{res}.log")
            meta = json.loads((out / "dataset.json").read_text()) if (out / "dataset.json").exists() else {}
            row = {"bin_size": res, "pixels_at_level": facts["nnz"].get(str(res)), **r,
                   "genes_kept": meta.get("counts", {}).get("genes_kept"),
                   "pairs_kept": meta.get("counts", {}).get("pairs_kept"),
                   "compartment_bin_size": meta.get("contacts", {}).get("compartment_bin_size"),
                   "max_distance_bins": meta.get("max_distance_bins")}
            if res in TARGETS:
                w, m = TARGETS[res]
                row["target"] = {"wall_s": w, "peak_rss_mb": m,
                                 "met": r["returncode"] == 0 and r["wall_s"] <= w
                                 and max(r["peak_rss_mb"], r["peak_tree_rss_mb"]) <= m}
            rows.append(row)
            print(f"{res:>8,d} bp: {r['wall_s']:7.1f} s, peak RSS {r['peak_rss_mb']:7.1f} MB, "
                  f"pairs {row['pairs_kept']}, rc {r['returncode']}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit, "inputs": facts, "generate_s": gen,
            "command": "python benchmarks/bench_hic.py " + " ".join(sys.argv[1:])}
    path = ROOT / "benchmarks/results/hic_scale.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"written {path}")
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
