"""Synthetic time courses with a known generating process, in the published
interaction-CSV schema: does the model find a Hi-C signal when there is one,
and stay quiet when there is none?

    python benchmarks/synthetic.py --mode graph --out /tmp/syn_graph.csv
    python benchmarks/synthetic.py --mode null  --out /tmp/syn_null.csv

``graph``: each gene follows a stationary VAR(1) around its own level in which
its Hi-C partners' last values drive it:

    ``x_i(t) - mu_i = a (x_i(t-1) - mu_i) + b * mean_{j in N(i)} (x_j(t-1) - mu_j) + e``

``null``: the same genes and pairs, but each gene is an independent AR(1)
(``b = 0``): the pairs carry no signal.

Next to the CSV the generator writes ``<out>.oracle.csv`` (``target_time, gene,
y_oracle``): the generating process's own one-step forecast (the conditional
mean), the floor no forecaster can beat in expectation.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class Synthetic:
    """A generated data set. ``X [T, N]``, ``oracle [T, N]`` (row 0 is NaN), ``pairs [P, 2]``."""

    genes: list[str]
    times: np.ndarray
    X: np.ndarray
    oracle: np.ndarray
    pairs: np.ndarray
    table: pd.DataFrame


def make_synthetic(n_genes: int = 60, n_times: int = 80, mode: str = "graph", seed: int = 0,
                   partners: int = 3, a: float = 0.3, b: float = 0.6, noise: float = 0.3,
                   series_seed: int | None = None, common: float = 0.0) -> Synthetic:
    """Generate genes on 3 chromosomes, a sparse Hi-C pair set and the series.

    Parameters
    ----------
    n_genes, n_times : N and T.
    mode : "graph" (partners drive each gene) or "null" (independent AR(1), ``b = 0``, ``a = 0.7``).
    partners : Hi-C partners drawn per gene (same chromosome; the graph is symmetric).
    a, b, noise : own lag, neighbour-mean lag and innovation sd of the graph mode.
    series_seed : draw the series' innovations from this seed instead (the genes, pairs and levels
        stay those of ``seed``): replicate courses of one design.
    common : sd of a shared AR(1) (coefficient 0.8) shock added to every gene's innovation (any
        neighbours then carry the shared factor, Hi-C partners no more than random ones).
    """
    if mode not in ("graph", "null"):
        raise ValueError(f"mode must be 'graph' or 'null', got {mode!r}")
    rng = np.random.default_rng(seed)
    genes = [f"Syn{i + 1}" for i in range(n_genes)]
    chrom = np.array([str(1 + i * 3 // n_genes) for i in range(n_genes)])
    start = rng.integers(1_000_000, 120_000_000, n_genes)
    edges: set[tuple[int, int]] = set()
    for i in range(n_genes):
        same = np.flatnonzero((chrom == chrom[i]) & (np.arange(n_genes) != i))
        for j in rng.choice(same, size=min(partners, len(same)), replace=False):
            edges.add((min(i, j), max(i, j)))
    pairs = np.array(sorted(edges), dtype=np.int64)
    A = np.zeros((n_genes, n_genes))
    A[pairs[:, 0], pairs[:, 1]] = A[pairs[:, 1], pairs[:, 0]] = 1.0
    M = A / A.sum(1, keepdims=True)
    if mode == "null":
        a, b = 0.7, 0.0
    mu = rng.normal(6.0, 1.0, n_genes)
    burn = 50
    D = np.zeros((n_times + burn, n_genes))
    srng = rng if series_seed is None else np.random.default_rng([int(seed), int(series_seed)])
    F = np.zeros(n_times + burn)  # the common shock's state
    for t in range(1, n_times + burn):
        F[t] = 0.8 * F[t - 1] + (srng.normal(0, common) if common > 0 else 0.0)
        D[t] = a * D[t - 1] + b * M @ D[t - 1] + srng.normal(0, noise, n_genes) + F[t]
    D, F = D[burn:], F[burn:]
    X = mu + D
    oracle = np.full_like(X, np.nan)
    oracle[1:] = mu + a * D[:-1] + b * D[:-1] @ M.T + 0.8 * F[:-1, None]
    times = np.arange(n_times, dtype=float)
    comp = rng.choice(["A", "B"], n_genes)
    ins = rng.normal(0, 1, n_genes).round(4)
    tad = rng.integers(0, 6, n_genes)
    rows = []
    for i, j in pairs:
        r = {"Gene1": genes[i], "Gene1_Chromosome": chrom[i], "Gene1_Start": int(start[i]),
             "Gene1_End": int(start[i]) + 5000, "Gene1_Bin": int(start[i]) // 1_000_000 * 1_000_000,
             "Gene2": genes[j], "Gene2_Chromosome": chrom[j], "Gene2_Start": int(start[j]),
             "Gene2_End": int(start[j]) + 5000, "Gene2_Bin": int(start[j]) // 1_000_000 * 1_000_000,
             "HiC_Interaction": round(float(rng.gamma(2, 50)), 4)}
        for k, tt in enumerate(times):
            r[f"Gene1_Time_{tt:.1f}"] = round(float(X[k, i]), 6)
            r[f"Gene2_Time_{tt:.1f}"] = round(float(X[k, j]), 6)
        r.update({"Gene1_Compartment": comp[i], "Gene2_Compartment": comp[j],
                  "Gene1_Insulation_Score": ins[i], "Gene2_Insulation_Score": ins[j],
                  "Gene1_TAD_Boundary_Distance": int(tad[i]), "Gene2_TAD_Boundary_Distance": int(tad[j])})
        rows.append(r)
    return Synthetic(genes, times, X, oracle, pairs, pd.DataFrame(rows))


def oracle_table(syn: Synthetic) -> pd.DataFrame:
    """``target_time, gene, y_oracle`` for every time after the first."""
    T, N = syn.X.shape
    return pd.DataFrame({"target_time": np.repeat(syn.times[1:], N),
                         "gene": np.tile(np.array(syn.genes, dtype=object), T - 1),
                         "y_oracle": syn.oracle[1:].reshape(-1)})


def write_synthetic(syn: Synthetic, out: Path) -> Path:
    """Write the interaction CSV and ``<out>.oracle.csv``; returns the CSV path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    syn.table.to_csv(tmp, index=False)
    tmp.replace(out)
    ot = out.with_name(out.stem + ".oracle.csv")
    tmp = ot.with_name(ot.name + ".tmp")
    oracle_table(syn).to_csv(tmp, index=False, float_format="%.8g")
    tmp.replace(ot)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("graph", "null"), default="graph")
    ap.add_argument("--genes", type=int, default=60)
    ap.add_argument("--times", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = write_synthetic(make_synthetic(args.genes, args.times, args.mode, args.seed), args.out)
    log.info("wrote %s and its oracle forecasts", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
