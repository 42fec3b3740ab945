"""Seconds per training epoch of the default jobs with one runtime setting on and off, alternating
(not a test).

    python benchmarks/bench_train_epoch.py [--compare fill|huge_pages] [--cases STEPmi,STEPmr,scale]
        [--scale-data CSV] [--epochs 8] [--repeats 2] [--out JSON]

``--compare fill`` (default; ``benchmarks/results/train_epoch.json``): deterministic mode's NaN fill of
new memory on (torch's default) and off (STEP's setting since 2026-12-07,
:func:`step.forecasters.train._no_fill_of_new_memory`).
``--compare huge_pages`` (``benchmarks/results/huge_pages.json``): torch's CPU buffers of 2 MB and
more on transparent huge pages (``THP_MEM_ALLOC_ENABLE=1``, STEP's setting since 2026-12-08,
:func:`step.procs.torch_huge_pages`) and on 4 KB pages (``THP_MEM_ALLOC_ENABLE=0``).

Cases: ``STEPmi`` (``configs/mirna.yaml``: the published miRNA panel, 162 genes, history 10),
``STEPmr`` (``configs/mrna.yaml``: the published mRNA panel), ``scale`` (``configs/mrna.yaml`` on
``--scale-data``, an interaction CSV such as the 20,000-gene one that ``benchmarks/bench_defaults.py
--jobs 20000 --keep DIR`` leaves in DIR; its auto settings apply, e.g. patience 3).
Each run is a fresh process running the shipped job with ``--epochs`` epochs, no plots, no
analysis, its embedding cache in a temporary folder (built by an untimed first run; the two
settings take turns at running first), every epoch timed
(``step.forecasters.train._train_epoch``); the first epoch of each run is left out (allocator
warm-up). Reports the median epoch per case and setting and whether the two settings wrote the
same ``predictions.csv`` and ``history.csv`` bit for bit.
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
         "STEPmr": ("mrna.STEPmr_train_test", "configs/mrna.yaml"),
         "scale": ("mrna.STEPmr_train_test", "configs/mrna.yaml")}
# --compare -> (label of "on", label of "off", STEP's setting, default output)
COMPARE = {"fill": ("fill_on", "fill_off", False, "benchmarks/results/train_epoch.json"),
           "huge_pages": ("huge_pages", "4kb_pages", True, "benchmarks/results/huge_pages.json")}

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


def _run(name: str, compare: str, on: bool, epochs: int, tmp: Path, i: int,
         scale_data: str | None) -> tuple[list[float], dict[str, str]]:
    module, config = CASES[name]
    run_dir = tmp / f"{name}-{int(on)}-{i}"
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"extends: {ROOT / config}\nembedding:\n  cache_dir: {tmp / 'cache'}\n")
    argv = ["--config", str(cfg), "--epochs", str(epochs), "--no-plots", "--no-analysis", "--run-dir", str(run_dir)]
    if name == "scale":
        argv += ["--data", str(scale_data)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fill = on if compare == "fill" else False
    if compare == "huge_pages":
        env["THP_MEM_ALLOC_ENABLE"] = "1" if on else "0"
    res = subprocess.run([sys.executable, "-c", _CHILD, "1" if fill else "0", module, config, *argv],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{name} run failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    line = next(x for x in res.stdout.splitlines() if x.startswith("EPOCHS "))
    return json.loads(line[7:]), {f: _sha(run_dir / f) for f in ("predictions.csv", "history.csv")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", choices=sorted(COMPARE), default="fill")
    ap.add_argument("--cases", default="STEPmi,STEPmr", help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--scale-data", help="interaction CSV of the 'scale' case")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON to write (default: by --compare)")
    args = ap.parse_args()
    cases = list(dict.fromkeys(c.strip() for c in args.cases.split(",") if c.strip()))
    if not cases:
        ap.error(f"--cases: none given; expected some of {list(CASES)}")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"--cases: unknown {unknown}; expected some of {list(CASES)}")
    scale_data = Path(args.scale_data).resolve() if args.scale_data else None  # the child runs in the repo root
    if "scale" in cases and not (scale_data and scale_data.is_file()):
        ap.error("--cases scale needs --scale-data CSV (an existing interaction CSV)")
    if scale_data is not None and "scale" not in cases:
        print("--scale-data is only read by --cases scale: ignored", file=sys.stderr)
    on_label, off_label, step_setting, default_out = COMPARE[args.compare]
    out_path = Path(args.out) if args.out else ROOT / default_out
    import torch

    out: dict = {"command": "python benchmarks/bench_train_epoch.py " + " ".join(sys.argv[1:]),
                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                            f"Python {platform.python_version()}, torch {torch.__version__}",
                 # the runs' own setting where --compare is not huge_pages (step sets 1 where the kernel allows)
                 "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"), "cases": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="step-bench-epoch-") as d:
            tmp = Path(d)
            for name in cases:
                _run(name, args.compare, True, 1, tmp, -1, scale_data)  # untimed: fills the embedding cache
                per: dict[bool, list[float]] = {True: [], False: []}
                files: dict[bool, set] = {True: set(), False: set()}
                for i in range(args.repeats):
                    for on in ((True, False) if i % 2 == 0 else (False, True)):  # each setting first in turn
                        t, sha = _run(name, args.compare, on, args.epochs, tmp, i, scale_data)
                        per[on] += t[1:]
                        files[on].add(tuple(sorted(sha.items())))
                same = files[True] == files[False] and len(files[True]) == 1
                a, b = statistics.median(per[True]), statistics.median(per[False])
                speedup = b / a if step_setting else a / b  # the other setting's epoch over STEP's
                out["cases"][name] = {f"epoch_s_{on_label}": round(a, 4), f"epoch_s_{off_label}": round(b, 4),
                                      "speedup": round(speedup, 3), "epochs_timed_per_setting": len(per[False]),
                                      "same_predictions_and_history_bit_for_bit": same}
                if name == "scale":
                    out["cases"][name]["data"] = str(scale_data)
                print(f"{name}: median epoch {a:.3f} s with {on_label}, {b:.3f} s with {off_label} (STEP's "
                      f"setting {speedup:.2f}x faster); same predictions and history: {same}", flush=True)
    finally:
        if out["cases"]:  # the cases finished before a failure are kept
            write_json(out_path, out)
            print(f"written {out_path}")


if __name__ == "__main__":
    main()
