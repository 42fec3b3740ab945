"""Seconds per training epoch of STEPmi and STEPmr in their default jobs, with deterministic
mode's NaN fill of new memory on (torch's default) and off (STEP's setting since 2026-12-07,
:func:`step.forecasters.train._no_fill_of_new_memory`), alternating (not a test).

    python benchmarks/bench_train_epoch.py [--epochs 8] [--repeats 2] [--out benchmarks/results/train_epoch.json]

Each run is a fresh process running the shipped job (``configs/mirna.yaml``: the published miRNA
panel, 162 genes, history 10; ``configs/mrna.yaml``: the published mRNA panel) with ``--epochs``
epochs, no plots, no analysis, its embedding cache in a temporary folder (built by the first
run), every epoch timed (``step.forecasters.train._train_epoch``); the first epoch of each run is
left out (allocator warm-up). Reports the median epoch per job and setting and whether the two
settings wrote the same ``predictions.csv`` and ``history.csv`` bit for bit.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step.io import write_json  # noqa: E402

CASES = {"STEPmi": ("mirna.STEPmi_train_test", "configs/mirna.yaml"),
         "STEPmr": ("mrna.STEPmr_train_test", "configs/mrna.yaml")}

_CHILD = r"""
import json, sys, time
import torch
import step.forecasters.train as T
fill = sys.argv[1] == "1"
times = []
orig_epoch = T._train_epoch
def timed(*a, **k):
    torch._C._set_deterministic_fill_uninitialized_memory(fill)  # after seeding, which switches it off
    t = time.perf_counter(); out = orig_epoch(*a, **k); times.append(time.perf_counter() - t); return out
T._train_epoch = timed
from step.jobs.cli import main
main(sys.argv[4:], sys.argv[2], sys.argv[3], sys.argv[2].split(".")[-1].split("_")[0])
print("EPOCHS " + json.dumps(times))
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _run(name: str, fill: bool, epochs: int, tmp: Path, i: int) -> tuple[list[float], dict[str, str]]:
    module, config = CASES[name]
    run_dir = tmp / f"{name}-{int(fill)}-{i}"
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"extends: {ROOT / config}\nembedding:\n  cache_dir: {tmp / 'cache'}\n")
    argv = ["--config", str(cfg), "--epochs", str(epochs), "--no-plots", "--no-analysis", "--run-dir", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", _CHILD, "1" if fill else "0", module, config, *argv],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    line = next(x for x in res.stdout.splitlines() if x.startswith("EPOCHS "))
    return json.loads(line[7:]), {f: _sha(run_dir / f) for f in ("predictions.csv", "history.csv")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/train_epoch.json"))
    args = ap.parse_args()
    import torch

    out: dict = {"command": "python benchmarks/bench_train_epoch.py " + " ".join(sys.argv[1:]),
                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                            f"Python {platform.python_version()}, torch {torch.__version__}", "cases": {}}
    with tempfile.TemporaryDirectory(prefix="step-bench-epoch-") as d:
        tmp = Path(d)
        for name in CASES:
            per: dict[bool, list[float]] = {True: [], False: []}
            files: dict[bool, set] = {True: set(), False: set()}
            for i in range(args.repeats):
                for fill in (True, False):
                    t, sha = _run(name, fill, args.epochs, tmp, i)
                    per[fill] += t[1:]
                    files[fill].add(tuple(sorted(sha.items())))
            same = files[True] == files[False] and len(files[True]) == 1
            on, off = statistics.median(per[True]), statistics.median(per[False])
            out["cases"][name] = {"epoch_s_fill_on": round(on, 4), "epoch_s_fill_off": round(off, 4),
                                  "speedup": round(on / off, 3), "epochs_timed_per_setting": len(per[False]),
                                  "same_predictions_and_history_bit_for_bit": same}
            print(f"{name}: median epoch {on:.3f} s with the fill, {off:.3f} s without ({on / off:.2f}x); "
                  f"same predictions and history: {same}")
    write_json(Path(args.out), out)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
