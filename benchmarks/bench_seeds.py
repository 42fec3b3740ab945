"""A job's seeds in one process against the seeds of each fit trained in worker processes at once.

    python benchmarks/bench_seeds.py [--datasets mrna,mirna_corrected] [--seeds 5] [--repeats 1]

Each dataset's rolling job (``--protocol rolling --seeds N --no-plots --no-analysis``, one torch
thread, its config otherwise) runs with ``train.seed_workers: 1`` and ``0`` (auto), alternating, each a
fresh process with a warm embedding cache (filled by a first, untimed run). Records the wall time,
the job's training stage and whether predictions.csv and history.csv are byte for byte the same.
Adds a run to ``benchmarks/results/seeds.json`` (earlier runs of other datasets kept). Not a test;
run it alone on the machine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from runs_file import add_run, timed_job

ROOT = Path(__file__).resolve().parents[1]
JOBS = {"mrna": ("mrna.STEPmr_train_test", "configs/mrna.yaml"),
        "mrna_corrected": ("mrna.STEPmr_train_test", "configs/mrna_corrected.yaml"),
        "mirna": ("mirna.STEPmi_train_test", "configs/mirna.yaml"),
        "mirna_corrected": ("mirna.STEPmi_train_test", "configs/mirna_corrected.yaml")}


def _job(module: str, config: Path, seeds: int, run_dir: Path) -> tuple[float, dict]:
    return timed_job(module, config, run_dir, ["--protocol", "rolling", "--seeds", str(seeds), "--no-plots",
                                                "--no-analysis"])


def bench(name: str, seeds: int, repeats: int, tmp: Path) -> dict:
    module, config = JOBS[name]
    cfgs = {}
    for w in (1, 0):
        p = tmp / f"{name}_w{w}.yaml"
        p.write_text(f"extends: {ROOT / config}\ntrain:\n  seed_workers: {w}\n  torch_threads: 1\n"
                     f"embedding:\n  cache_dir: {tmp / 'cache'}\n")
        cfgs[w] = p
    _job(module, cfgs[1], 1, tmp / f"{name}_warmup")  # fills the embedding cache
    rows = []
    for rep in range(repeats):
        for w in (1, 0) if rep % 2 == 0 else (0, 1):
            wall, rt = _job(module, cfgs[w], seeds, tmp / f"{name}_w{w}_{rep}")
            rows.append({"seed_workers": "auto" if w == 0 else 1, "repeat": rep, "wall_s": round(wall, 1),
                         "training_s": rt.get("training"), "total_s": rt.get("total")})
            print(f"{name} seeds {seeds} seed_workers {rows[-1]['seed_workers']}: wall {wall:.1f} s, "
                  f"training {rt.get('training')} s", flush=True)
    same = all((tmp / f"{name}_w1_{r}" / f).read_bytes() == (tmp / f"{name}_w0_{r}" / f).read_bytes()
               for r in range(repeats) for f in ("predictions.csv", "history.csv"))
    return {"dataset": name, "seeds": seeds, "runs": rows, "identical_outputs": same}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mrna,mirna_corrected")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            out.append(bench(name, args.seeds, args.repeats, Path(tmp)))
    add_run("seeds", out, "dataset")  # earlier runs of other datasets are kept, each with its own meta
    return 0


if __name__ == "__main__":
    sys.exit(main())
