"""Regenerate the small interaction CSV fixtures used by the tests.

    python tests/data/make_fixtures.py

Synthetic, not biological: a few genes on two chromosomes with smooth trends
plus noise, in the published interaction-CSV schema.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def make(n_genes: int, times: list[float], seed: int, counts: bool = False, empty_time: float | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    genes = [f"Gene{i + 1}" for i in range(n_genes)]
    chrom = ["1" if i < n_genes // 2 else "2" for i in range(n_genes)]
    start = rng.integers(1_000_000, 90_000_000, n_genes)
    comp = rng.choice(["A", "B"], n_genes)
    ins = rng.normal(0, 1, n_genes).round(4)
    tad = rng.integers(0, 6, n_genes)
    t = np.asarray(times)
    phase = rng.uniform(0, 2 * np.pi, n_genes)
    series = 6 + np.sin(t[:, None] / 4 + phase) + 0.05 * t[:, None] * rng.normal(0, 1, n_genes) \
        + rng.normal(0, 0.15, (len(t), n_genes))
    if counts:
        series = np.round(np.exp(series)).astype(float)
    rows = []
    for i, j in itertools.combinations(range(n_genes), 2):
        if chrom[i] != chrom[j]:
            continue
        r = {"Gene1": genes[i], "Gene1_Chromosome": chrom[i], "Gene1_Start": start[i], "Gene1_End": start[i] + 5000,
             "Gene1_Bin": start[i] // 1_000_000 * 1_000_000,
             "Gene2": genes[j], "Gene2_Chromosome": chrom[j], "Gene2_Start": start[j], "Gene2_End": start[j] + 5000,
             "Gene2_Bin": start[j] // 1_000_000 * 1_000_000,
             "HiC_Interaction": round(float(rng.gamma(2, 50)), 4)}
        for k, tt in enumerate(t):
            empty = empty_time is not None and tt == empty_time
            r[f"Gene1_Time_{tt:.1f}"] = "" if empty else round(float(series[k, i]), 6)
            r[f"Gene2_Time_{tt:.1f}"] = "" if empty else round(float(series[k, j]), 6)
        r.update({"Gene1_Compartment": comp[i], "Gene2_Compartment": comp[j],
                  "Gene1_Insulation_Score": ins[i], "Gene2_Insulation_Score": ins[j],
                  "Gene1_TAD_Boundary_Distance": tad[i], "Gene2_TAD_Boundary_Distance": tad[j]})
        rows.append(r)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    mr_times = [-4.5] + [0.5 * k for k in range(1, 16)] + [9.0, 10.0, 11.0, 12.0]
    make(8, mr_times, seed=1).to_csv(HERE / "tiny_mrna.csv", index=False)
    mi_times = [float(k) for k in range(1, 31)]
    make(10, mi_times, seed=2, counts=True, empty_time=24.0).to_csv(HERE / "tiny_mirna.csv", index=False)
