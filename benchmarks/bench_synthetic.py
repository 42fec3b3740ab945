"""Accuracy benchmark on data with a known answer (not a test: minutes of CPU).

    python benchmarks/bench_synthetic.py [--seeds 3] [--protocol rolling] [--jobs 2]

For each mode of :mod:`benchmarks.synthetic` (``graph``: Hi-C partners drive
every gene; ``null``: the pairs carry no signal) it generates the data, runs the
STEPmr job and ``step.jobs.ablate`` with ``configs/synthetic.yaml``, and records in
``benchmarks/results/synthetic.json``: test RMSE of STEPmr, every baseline and
the generating process (oracle), the verdicts against each baseline, and the
ablation verdicts. What it should show: in ``graph`` mode STEPmr beats every
own-history baseline, is within a few percent of the oracle and the real graph
beats randomised ones; in ``null`` mode no detectable difference between real
and randomised graphs, and STEPmr not worse than the linear baselines.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from synthetic import make_synthetic, write_synthetic  # noqa: E402

from step.jobs.ablate import run_ablation  # noqa: E402
from step.config import load_config  # noqa: E402
from step.io import write_json  # noqa: E402
from step.jobs.pipeline import run_job  # noqa: E402

log = logging.getLogger("bench_synthetic")


def one_mode(mode: str, work: Path, seeds: int, protocol: str, jobs: int, ablation: bool = True) -> dict:
    syn = make_synthetic(mode=mode, seed=0)
    csv = write_synthetic(syn, work / f"{mode}.csv")
    over = {"data.path": str(csv), "split.protocol": protocol, "train.seeds": seeds,
            "output.plots": False, "analysis.enabled": False, "ablation.seeds": seeds}
    cfg = load_config(ROOT / "configs/synthetic.yaml", over)
    t0 = time.perf_counter()
    res = run_job(cfg, work / "runs")
    job_s = time.perf_counter() - t0
    pred = pd.read_csv(res.run_dir / "predictions.csv")
    test = pred[pred.split == "test"]
    oracle = pd.read_csv(csv.with_name(csv.stem + ".oracle.csv"))
    rmse = {m: float(np.sqrt(((g.y_pred - g.y_true) ** 2).mean())) for m, g in test.groupby("model")}
    t = test[test.model == "persistence"].merge(oracle, on=["target_time", "gene"])
    rmse["oracle"] = float(np.sqrt(((t.y_oracle - t.y_true) ** 2).mean()))
    comp = res.metrics["comparisons"]["vs_baselines"]
    t0 = time.perf_counter()
    abl, verdict = None, {"_skipped": "--no-ablation"}
    if ablation:
        abl = run_ablation(cfg, work / "ablation", [cfg.train.seed + i for i in range(seeds)], jobs)
        verdict = json.loads((abl / "verdict.json").read_text())
        verdict.pop("_about", None)
    abl_s = time.perf_counter() - t0
    return {"test_rmse": rmse, "stepmr_over_oracle": rmse["STEPmr"] / rmse["oracle"] - 1,
            "verdicts_vs_baselines": {b: {"verdict": r["verdict"], "rmse_diff": r["rmse_diff"],
                                          "ci95": r["rmse_diff_ci95"]} for b, r in comp.items()},
            "ablation": verdict, "job_s": round(job_s, 1), "ablation_s": round(abl_s, 1),
            "run_dir": str(res.run_dir), "ablation_dir": str(abl) if abl else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--protocol", default="rolling", choices=["chronological", "rolling"])
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--modes", default="graph,null")
    ap.add_argument("--no-ablation", action="store_true", help="the jobs only (no step.ablate)")
    ap.add_argument("--work", type=Path, default=ROOT / "results/synthetic")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    out = {"protocol": args.protocol, "seeds": args.seeds, "modes": {}}
    for mode in args.modes.split(","):
        out["modes"][mode] = one_mode(mode, args.work, args.seeds, args.protocol, args.jobs,
                                     not args.no_ablation)
        log.info("%s: %s", mode, json.dumps(out["modes"][mode]["test_rmse"]))
    # --no-ablation: the jobs only, kept apart from the full benchmark's record
    write_json(HERE / ("results/synthetic_jobs.json" if args.no_ablation else "results/synthetic.json"), out)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
