"""Calibration and power of the Hi-C information test (step/evaluation/hic_test.py); minutes of CPU, not a test.

    python benchmarks/bench_hic_test.py [--null 200] [--graph 100]      (make bench-hic-test)

On :mod:`benchmarks.synthetic` courses (60 genes x 80 time points, ~3 Hi-C partners per gene,
``global_linear`` on lags 1..3, the last 70 % of windows forecast, 1 randomised graph):

- ``graph``: replicate courses of one design (the same genes and Hi-C graph, new innovations) in
  which the partners drive each gene: how often "hic vs own" is found ``better`` (power) and how often
  its interval covers the truth (the mean effect over the replicates);
- ``null``: independent AR(1) genes (the partners carry nothing), a new design per replicate: the
  share of "hic vs own" verdicts that are not "no detectable difference" (false verdicts);
- ``null_common``: the same plus a common AR(1) shock (sd 0.3): any neighbours carry the shared
  factor; false verdicts of "hic vs randomised" (the Hi-C structure carries nothing beyond
  degree-matched random partners) and the lag-1 autocorrelation of its loss differential (measured
  ~0: the shared shock moves both variants' errors alike, so it does not make the differential
  serially correlated).

Writes benchmarks/results/hic_test.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from synthetic import make_synthetic  # noqa: E402

from step.config import RunConfig  # noqa: E402
from step.evaluation.hic_test import loss_differentials, course_result, rolling_hic_forecasts  # noqa: E402
from step.io import write_json  # noqa: E402


def _run(X, pairs, seed):
    fc = rolling_hic_forecasts(X, pairs, 3, 3, 0.7, 1, seed=seed, expression_max_genes=0)
    return fc, course_result(fc, RunConfig())


def _acf1(d: np.ndarray) -> float:
    d = d - d.mean()
    return float(np.sum(d[1:] * d[:-1]) / np.sum(d * d)) if np.sum(d * d) > 0 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--null", type=int, default=200, help="replicates of each null")
    ap.add_argument("--graph", type=int, default=100, help="replicates of the graph-driven design")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out: dict = {"design": "60 genes x 80 times, global_linear lags 1..3, test_frac 0.7, 1 randomised graph"}

    eff, lo, hi, found = [], [], [], 0
    design = make_synthetic(mode="graph", seed=0)
    for rep in range(args.graph):
        syn = make_synthetic(mode="graph", seed=0, series_seed=rep)
        _, res = _run(syn.X, design.pairs, rep)
        r = res["hic_vs_own"]
        eff.append(r["effect_pct"])
        lo.append(r["ci_pct"][0])
        hi.append(r["ci_pct"][1])
        found += r["verdict"] == "better"
    truth = float(np.mean(eff))
    cover = float(np.mean((np.array(lo) <= truth) & (truth <= np.array(hi))))
    out["graph"] = {"replicates": args.graph, "detected_better": found / args.graph, "truth_pct": truth,
                    "ci_coverage_of_truth": cover, "mean_ci_width_pct": float(np.mean(np.array(hi) - np.array(lo)))}
    print(json.dumps(out["graph"]), flush=True)

    for name, common, key in (("null", 0.0, "hic_vs_own"), ("null_common", 0.3, "hic_vs_randomised")):
        false, acf, mde = 0, [], []
        for rep in range(args.null):
            syn = make_synthetic(mode="null", seed=1000 + rep, common=common)
            fc, res = _run(syn.X, syn.pairs, rep)
            r = res[key]
            false += r["verdict"] in ("better", "worse")
            mde.append(r["mde_pct"])
            other = fc.preds["randomised_1"] if key == "hic_vs_randomised" else fc.preds["own"]
            acf.append(_acf1(loss_differentials(fc.y, fc.preds["hic"], other)[0]))
        out[name] = {"comparison": key, "replicates": args.null, "false_verdicts": false / args.null,
                     "median_mde_pct": float(np.nanmedian(mde)), "mean_lag1_autocorrelation": float(np.nanmean(acf))}
        print(json.dumps(out[name]), flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(HERE / "results/hic_test.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
