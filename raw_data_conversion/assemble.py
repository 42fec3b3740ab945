"""Genes, features, expression and pairs -> the interaction CSV table (the published schema)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raw_data_conversion.expression import time_label

GENE_COLS = ["Chromosome", "Start", "End", "Bin"]
FEATURE_COLS = ["Compartment", "Insulation_Score", "TAD_Boundary_Distance"]


@dataclass
class GeneRecord:
    """One gene of the output: where it is and its Hi-C features."""

    name: str
    chrom: str
    start: float
    end: float
    bin: float  # published: the bin label; corrected: the bin start in bp
    compartment: str
    insulation: float
    tad_distance: float


def columns(time_labels: list[str]) -> list[str]:
    """The interaction CSV header, in the published order."""
    cols = ["Gene1"] + [f"Gene1_{c}" for c in GENE_COLS] + ["Gene2"] + [f"Gene2_{c}" for c in GENE_COLS]
    cols.append("HiC_Interaction")
    for t in time_labels:
        cols += [f"Gene1_Time_{t}", f"Gene2_Time_{t}"]
    for c in FEATURE_COLS:
        cols += [f"Gene1_{c}", f"Gene2_{c}"]
    return cols


def interaction_table(genes: list[GeneRecord], X: np.ndarray, times: np.ndarray,
                      pairs: list[tuple[int, int, float]]) -> pd.DataFrame:
    """One row per pair ``(i, j, contact)``.

    Parameters
    ----------
    genes : ``[N]`` records, in output order.
    X : ``[N, T]`` expression of the same genes.
    times : ``[T]`` times; column suffixes are ``repr(float(t))`` (``-4.5``, ``1.0``).
    pairs : ``i < j`` indices into ``genes`` and the Hi-C contact value.
    """
    labels = [time_label(t) for t in times]
    i = np.array([p[0] for p in pairs], dtype=np.int64)
    j = np.array([p[1] for p in pairs], dtype=np.int64)
    data: dict[str, object] = {}

    def gene_fields(idx: np.ndarray, k: int) -> None:
        data[f"Gene{k}"] = [genes[x].name for x in idx]
        data[f"Gene{k}_Chromosome"] = [genes[x].chrom for x in idx]
        data[f"Gene{k}_Start"] = np.array([genes[x].start for x in idx], dtype=float)
        data[f"Gene{k}_End"] = np.array([genes[x].end for x in idx], dtype=float)
        data[f"Gene{k}_Bin"] = np.array([genes[x].bin for x in idx], dtype=float)

    gene_fields(i, 1)
    gene_fields(j, 2)
    data["HiC_Interaction"] = np.array([p[2] for p in pairs], dtype=float)
    for k, t in enumerate(labels):
        data[f"Gene1_Time_{t}"] = X[i, k]
        data[f"Gene2_Time_{t}"] = X[j, k]
    for k, idx in ((1, i), (2, j)):
        data[f"Gene{k}_Compartment"] = [genes[x].compartment for x in idx]
        data[f"Gene{k}_Insulation_Score"] = np.array([genes[x].insulation for x in idx], dtype=float)
        data[f"Gene{k}_TAD_Boundary_Distance"] = np.array([genes[x].tad_distance for x in idx], dtype=float)
    return pd.DataFrame(data, columns=columns(labels))


def write_csv(df: pd.DataFrame, path) -> None:
    """The CSV as the published files: comma-separated, LF, no index, floats in repr form."""
    df.to_csv(path, index=False, lineterminator="\n")
