"""Calibration and power of the verdict rule (step/evaluation/uncertainty.py), on data with a known answer.

    python benchmarks/bench_null_calibration.py [--replicates 4000] [--times 8,16,40] [--out FILE]

*Null*: two forecasters equally good by construction: the same forecast plus independent noise
of equal variance on two copies. The forecast's own error is serially correlated in time (AR(1),
``rho``) and shared by the genes of a time point (a common factor), as real forecast errors are.
Over many seeded replicates, the share of "better" or "worse" verdicts is the false-verdict
rate; the rule is calibrated when it stays near ``1 - level`` (5 %).

*Power*: on the graph-driven synthetic process (``benchmarks/synthetic.py``), the generating
model's own one-step forecast (the oracle) against persistence, on windows of ``T`` consecutive
target times at random places: the share of replicates in which the rule says "better".

*Correlated null*: the same, but the two forecasters' own errors are AR(1) in time with a shock
common to the genes of a time point, so that their loss differential is serially correlated
(its mean lag-1 autocorrelation is reported): the case the HAC variance must handle.

Both are reported for the DM rule (the verdict) and for the block-bootstrap interval beside it,
with the minimum number of target times lowered to 2 so that the rule itself is measured at 8
target times. Writes ``benchmarks/results/null_calibration.json``. Not a test
(``tests/evaluation/test_uncertainty.py`` runs a small null version).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step.evaluation.uncertainty import compare_forecasts  # noqa: E402


def _null_case(rng: np.random.Generator, n_times: int, n_genes: int, rho: float) -> tuple[np.ndarray, ...]:
    y = rng.normal(size=(n_times, n_genes))
    shared = np.zeros(n_times)
    e = np.zeros((n_times, n_genes))
    for t in range(n_times):  # AR(1) errors with a common factor per time point
        shared[t] = (rho * shared[t - 1] if t else 0.0) + rng.normal()
        e[t] = (rho * e[t - 1] if t else 0.0) + rng.normal(size=n_genes)
    base = y + 0.5 * e + 0.5 * shared[:, None]
    a = base + 0.3 * rng.normal(size=base.shape)
    b = base + 0.3 * rng.normal(size=base.shape)
    return y, a, b


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> np.ndarray:
    """AR(1) along axis 0 with unit innovations, started at its stationary variance."""
    x = np.zeros(shape)
    x[0] = rng.normal(size=shape[1:]) / np.sqrt(1 - rho ** 2)
    for t in range(1, shape[0]):
        x[t] = rho * x[t - 1] + rng.normal(size=shape[1:])
    return x


def _correlated_null_case(rng: np.random.Generator, n_times: int, n_genes: int, rho: float) -> tuple[np.ndarray, ...]:
    """Equally good forecasters whose *own* errors are AR(1) in time with a shock common to all
    genes of a time point: their loss differential is serially correlated (lag 1 about
    ``rho ** 2`` and more), which is what the HAC variance is there for."""
    y, a0, _ = _null_case(rng, n_times, n_genes, rho)
    base = a0
    extra = [0.3 * (_ar1(rng, (n_times,), rho)[:, None] + _ar1(rng, (n_times, n_genes), rho)) for _ in range(2)]
    return y, base + extra[0], base + extra[1]


def _lag1(d: np.ndarray) -> float:
    d = d - d.mean()
    return float(np.sum(d[1:] * d[:-1]) / np.sum(d * d)) if np.sum(d * d) > 0 else float("nan")


def population_lag1(rho: float, n_genes: int = 50, correlated: bool = False, n_times: int = 4000,
                    seed: int = 99) -> float:
    """Lag-1 autocorrelation of the loss differential of the null process itself, on one long
    course (a course of 8 or 16 target times estimates it with a downward bias of about 1/T)."""
    rng = np.random.default_rng(seed)
    y, a, b = (_correlated_null_case if correlated else _null_case)(rng, n_times, n_genes, rho)
    return _lag1((((a - y) ** 2) - ((b - y) ** 2)).mean(axis=1))


def calibrate(n_times: int, replicates: int, n_genes: int = 50, seed: int = 0, n_boot: int = 500,
              rho: float = 0.5, level: float = 0.95, correlated: bool = False) -> dict:
    """False-verdict rate of the DM rule and of the bootstrap interval on null data
    (``correlated``: the loss differential serially correlated, :func:`_correlated_null_case`)."""
    rng = np.random.default_rng(seed)
    dm = boot = 0
    lag1 = []
    for r in range(replicates):
        y, a, b = (_correlated_null_case if correlated else _null_case)(rng, n_times, n_genes, rho)
        lag1.append(_lag1((((a - y) ** 2) - ((b - y) ** 2)).mean(axis=1)))
        res = compare_forecasts(y, a, b, n_boot=n_boot, seed=r, level=level, min_times=2)
        dm += res["verdict"] in ("better", "worse")
        boot += res["bootstrap_verdict"] in ("better", "worse")
    return {"n_times": n_times, "n": replicates, "false_rate": dm / replicates,
            "false_rate_bootstrap": boot / replicates, "rho": rho, "n_genes": n_genes,
            "loss_differential_lag1": float(np.nanmean(lag1)),
            "loss_differential_lag1_population": population_lag1(rho, n_genes, correlated),
            "correlated_differential": correlated}


def power(n_times: int, replicates: int, seed: int = 0, n_boot: int = 500, level: float = 0.95) -> dict:
    """Share of 'better' for the oracle against persistence on graph-driven synthetic data."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthetic import make_synthetic

    rng = np.random.default_rng(seed)
    syn = make_synthetic(mode="graph", seed=seed)
    X, oracle = syn.X, syn.oracle
    dm = boot = 0
    for r in range(replicates):
        s = int(rng.integers(1, X.shape[0] - n_times + 1))
        t = np.arange(s, s + n_times)
        res = compare_forecasts(X[t], oracle[t], X[t - 1], n_boot=n_boot, seed=r, level=level, min_times=2)
        dm += res["verdict"] == "better"
        boot += res["bootstrap_verdict"] == "better"
    return {"n_times": n_times, "n": replicates, "power": dm / replicates, "power_bootstrap": boot / replicates}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicates", type=int, default=4000)
    ap.add_argument("--times", default="8,16,40")
    ap.add_argument("--rho", type=float, default=0.7, help="AR(1) coefficient of the correlated null's errors")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "null_calibration.json")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = {"null": [], "null_correlated": [], "power": []}
    for t in (int(v) for v in args.times.split(",")):
        out["null"].append(calibrate(t, args.replicates, seed=t))
        out["null_correlated"].append(calibrate(t, args.replicates, seed=1000 + t, rho=args.rho, correlated=True))
        out["power"].append(power(t, min(args.replicates, 200), seed=t))
        print(json.dumps(out["null"][-1]), json.dumps(out["null_correlated"][-1]), json.dumps(out["power"][-1]))
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out} in {out['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
