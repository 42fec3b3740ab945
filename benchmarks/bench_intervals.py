"""Coverage of the conformal intervals on real courses (not a test: minutes of CPU).

    python benchmarks/bench_intervals.py [--configs mrna mirna_corrected yeast yeast_elutriation]
        [--seeds 1] [--out benchmarks/results/intervals.json] [--keep DIR] [--set KEY=VALUE ...]

Runs each shipped config's job with the rolling-origin protocol (no plots, no analysis) and reads
its ``predictions.csv``: for the main model and every baseline, the pooled coverage of the 80 % and
95 % intervals on the test cells, and the spread of each gene's own 80 % coverage (minimum, 5th
percentile, median, and the share of genes below 0.5), and the coverage per target time with a
95 % t interval over target times (the cells of one time point share its shocks, so the time
points are the independent units: with 4 target times the pooled coverage is uncertain by several
points whatever the number of genes). What it should show: pooled coverage near
the nominal level (80 % in [0.76, 0.84], 95 % in [0.92, 0.98]) and few genes far below it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from step.config import load_config  # noqa: E402
from step.evaluation.intervals import coverage_and_winkler  # noqa: E402
from step.io import write_json  # noqa: E402
from step.jobs.pipeline import run_job  # noqa: E402

log = logging.getLogger("bench_intervals")


def _mean_ci(x: np.ndarray) -> list[float]:
    """95 % t interval of the mean of per-target-time coverages (time points as the independent
    units: every gene of a time point shares its shocks, so the cells are not independent)."""
    from scipy import stats

    if x.size < 2:
        return [float("nan"), float("nan")]
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return [round(float(x.mean() - half), 4), round(float(x.mean() + half), 4)]


def coverage_table(pred: pd.DataFrame) -> dict[str, dict]:
    """Per forecaster: pooled 80 / 95 % coverage and the per-gene 80 % coverage spread (test cells
    with an interval, horizon 1)."""
    test = pred[(pred["split"] == "test") & (pred.get("horizon", 1) == 1)]
    out = {}
    for name, g in test.groupby("model", sort=False):
        row: dict = {}
        for lv in ("80", "95"):
            pooled = coverage_and_winkler(g["y_true"], g[f"lo_{lv}"], g[f"hi_{lv}"], int(lv) / 100)
            row[f"coverage_{lv}"], row[f"n_{lv}"] = pooled["coverage"], pooled["n"]
            ok = g[f"lo_{lv}"].notna() & g[f"hi_{lv}"].notna() & g["y_true"].notna()
            inside = (g["y_true"] >= g[f"lo_{lv}"]) & (g["y_true"] <= g[f"hi_{lv}"])
            if ok.any():  # coverage per target time: the cells of one time share its shocks
                per_time = inside[ok].groupby(g.loc[ok, "target_time"]).mean()
                row[f"coverage_{lv}_ci95_over_times"] = _mean_ci(per_time.to_numpy(float))
                row["n_target_times"] = int(per_time.size)
            if lv == "80" and ok.any():
                per_gene = inside[ok].groupby(g.loc[ok, "gene"]).mean()
                row["gene_80_min"] = float(per_gene.min())
                row["gene_80_p5"] = float(np.percentile(per_gene, 5))
                row["gene_80_median"] = float(per_gene.median())
                row["genes_80_below_0.5"] = float((per_gene < 0.5).mean())
                row["n_genes"] = int(per_gene.size)
        out[str(name)] = row
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["mrna", "mirna_corrected", "yeast", "yeast_elutriation"])
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--out", default=str(HERE / "results/intervals.json"))
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides for every job, e.g. evaluation.interval_shrink=8")
    p.add_argument("--keep", help="write the run folders under this folder and keep them (default: a temporary one)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    res = {}
    with (contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory()) as tmp:
        for name in args.configs:
            over = {"split.protocol": "rolling", "train.seeds": args.seeds, "output.plots": False,
                    "analysis.enabled": False}
            over.update({k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)})
            cfg = load_config(ROOT / f"configs/{name}.yaml", over)
            t0 = time.perf_counter()
            job = run_job(cfg, Path(tmp) / name)
            table = coverage_table(pd.read_csv(job.run_dir / "predictions.csv"))
            main_model = cfg.model_name
            res[name] = {"model": main_model, "wall_s": round(time.perf_counter() - t0, 1), "forecasters": table}
            m = table[main_model]
            c80, c95 = m.get("coverage_80_ci95_over_times", [np.nan] * 2), m.get("coverage_95_ci95_over_times", [np.nan] * 2)
            print(f"{name:18s} {main_model}: 80% {m['coverage_80']:.3f} [{c80[0]:.3f}, {c80[1]:.3f}]  "
                  f"95% {m['coverage_95']:.3f} [{c95[0]:.3f}, {c95[1]:.3f}] over {m.get('n_target_times', 0)} times  "
                  f"genes: min {m.get('gene_80_min', float('nan')):.2f} p5 {m.get('gene_80_p5', float('nan')):.2f} "
                  f"below 0.5 {m.get('genes_80_below_0.5', float('nan')):.3f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, {"command": "python benchmarks/bench_intervals.py " + " ".join(argv or sys.argv[1:]),
                     "seeds": args.seeds, "protocol": "rolling", "settings": args.set, "results": res})
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
