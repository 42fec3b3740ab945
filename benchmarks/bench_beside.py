"""A job with its per-gene smoothers (ets, auto_ets) fitted in its own process against fitted in a
forked process beside it (``baselines.processes``: 1 against 0 = auto; step/forecasters/beside.py).

    python benchmarks/bench_beside.py [--jobs mrna,yeast,yeast_elutriation,mrna_corrected] [--repeats 3]

Each job runs as a user runs it, a fresh process each time, alternating the two settings (the
order flips every repeat), with an empty embedding cache and the figure cache off, so every run is
a cold first run:

- ``mrna``: ``make run`` (the default job, figures and analysis included);
- ``yeast``, ``yeast_elutriation``: the real yeast courses (rolling origin, 1 seed), no figures or analysis;
- ``mirna``: ``make mirna`` (STEPmi on 2 torch threads, 1 seed) without figures or analysis;
- ``mrna_corrected``: the corrected mRNA course, rolling, 5 seeds (the seed workers on), no figures
  or analysis, with ``--setting 2`` (auto steps aside for the seed workers).

Records the wall time and the job's stages, and whether predictions.csv and metrics.json (less its
timings) are the same in both settings. Adds a run to ``benchmarks/results/beside.json`` (earlier
runs of other jobs kept). Not a test; run it
alone on the machine (its timings vary by up to 1.7x within an hour: compare the pairs).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from runs_file import add_run, timed_job

ROOT = Path(__file__).resolve().parents[1]
# name -> (module, config, extra arguments)
JOBS = {
    "mrna": ("mrna.STEPmr_train_test", "configs/mrna.yaml", []),
    "yeast": ("mrna.STEPmr_train_test", "configs/yeast.yaml", ["--no-plots", "--no-analysis"]),
    "yeast_elutriation": ("mrna.STEPmr_train_test", "configs/yeast_elutriation.yaml", ["--no-plots", "--no-analysis"]),
    "mirna": ("mirna.STEPmi_train_test", "configs/mirna.yaml", ["--no-plots", "--no-analysis"]),
    "mrna_corrected": ("mrna.STEPmr_train_test", "configs/mrna_corrected.yaml",
                       ["--protocol", "rolling", "--seeds", "5", "--no-plots", "--no-analysis"]),
}


def _job(module: str, config: Path, extra: list[str], run_dir: Path, cache: Path) -> tuple[float, dict]:
    shutil.rmtree(cache, ignore_errors=True)
    return timed_job(module, config, run_dir, extra)


def _numbers(run_dir: Path) -> tuple[bytes, str]:
    m = json.loads((run_dir / "metrics.json").read_text())
    m.pop("runtime_s", None)
    return (run_dir / "predictions.csv").read_bytes(), json.dumps(m, sort_keys=True)


def bench(name: str, repeats: int, tmp: Path, setting: int = 0) -> dict:
    module, config, extra = JOBS[name]
    cfgs = {}
    for p_ in (1, 0):
        p = tmp / f"{name}_p{p_}.yaml"
        p.write_text(f"extends: {ROOT / config}\nbaselines:\n  processes: {p_ or setting}\n"
                     f"embedding:\n  cache_dir: {tmp / 'cache' / 'embeddings'}\noutput:\n  figure_cache: ''\n")
        cfgs[p_] = p
    rows = []
    for rep in range(repeats):
        for p_ in (1, 0) if rep % 2 == 0 else (0, 1):
            wall, rt = _job(module, cfgs[p_], extra, tmp / f"{name}_p{p_}_{rep}", tmp / "cache")
            rows.append({"processes": ("auto" if setting == 0 else setting) if p_ == 0 else 1, "repeat": rep, "wall_s": round(wall, 2),
                         "baselines_s": rt.get("baselines"), "training_s": rt.get("training"),
                         "total_before_outputs_s": rt.get("total_before_outputs")})
            print(f"{name} baselines.processes {rows[-1]['processes']}: wall {wall:.2f} s "
                  f"(baselines {rt.get('baselines')} s, training {rt.get('training')} s)", flush=True)
    same = all(_numbers(tmp / f"{name}_p1_{r}") == _numbers(tmp / f"{name}_p0_{r}") for r in range(repeats))
    other = "auto" if setting == 0 else setting
    med = {k: statistics.median(r["wall_s"] for r in rows if r["processes"] == k) for k in (1, other)}
    return {"job": name, "command": f"python -m {module} --config {config} {' '.join(extra)}".strip(),
            "runs": rows, "median_wall_s": {"1": med[1], str(other): med[other]},
            "same_predictions_and_metrics": same}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="mrna,yeast,yeast_elutriation,mrna_corrected")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--setting", type=int, default=0, choices=(0, 2),
                    help="the setting against 1: 0 = auto (default), 2 = a process beside the job wherever it can fork")
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.jobs.split(","):
            out.append(bench(name, args.repeats, Path(tmp), args.setting))
            print(f"{name}: median wall {out[-1]['median_wall_s']}, same numbers "
                  f"{out[-1]['same_predictions_and_metrics']}", flush=True)
    add_run("beside", out, "job")  # earlier runs of other jobs are kept, each with its own meta
    return 0


if __name__ == "__main__":
    sys.exit(main())
