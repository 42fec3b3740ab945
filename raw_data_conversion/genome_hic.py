"""Hi-C access of the genome-scale conversion: the cooler, observed/expected, each gene's top partners,
per-chromosome features."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np


from raw_data_conversion import features
from raw_data_conversion.genome_config import GenomeConfig, _exists
from step.errors import InputError


log = logging.getLogger("raw_data_conversion.genome")


def open_cooler(uri: str, bin_size: int | None):
    """A ``cooler.Cooler``; ``.mcool`` without ``::`` picks ``bin_size``; the bin size is checked."""
    import cooler

    path = uri.split("::")[0]
    _exists(path, "Hi-C cooler")
    if "::" not in uri and cooler.fileops.is_multires_file(path):
        levels = sorted(int(c.rstrip("/").rsplit("/", 1)[-1]) for c in cooler.fileops.list_coolers(path)
                        if c.rstrip("/").rsplit("/", 1)[-1].isdigit())
        if bin_size is None:
            raise InputError(f"{path}: a multi-resolution cooler; choose one with {path}::resolutions/N or --bin-size "
                             f"(resolutions: {', '.join(map(str, levels))}).")
        if bin_size not in levels:
            raise InputError(f"{path}: no resolution {bin_size} (has {', '.join(map(str, levels))}).")
        uri = f"{path}::resolutions/{bin_size}"
    try:
        clr = cooler.Cooler(uri)
    except Exception as exc:  # cooler raises several types for bad files/URIs
        raise InputError(f"{uri}: not a readable cooler ({exc}); for .mcool give FILE.mcool::resolutions/<bin size>.") from None
    if clr.binsize is None:
        raise InputError(f"{uri}: a cooler with variable-size bins; expected fixed bins.")
    if bin_size is not None and clr.binsize != bin_size:
        raise InputError(f"{uri}: bin size {clr.binsize:,} bp but {bin_size:,} bp was expected (bin_size).")
    return clr

def _weight(clr, balance: str | bool, uri: str) -> str | bool:
    cols = list(clr.bins().columns)
    if balance == "auto":
        return "weight" if "weight" in cols else False
    if balance is True or balance == "true":
        balance = "weight"
    if balance and balance not in cols:
        raise InputError(f"{uri}: no bin weight column '{balance}' (balance); balance the cooler "
                         f"(cooler balance) or set balance: false / auto.")
    return balance or False

def expected_cis(M: np.ndarray) -> np.ndarray:
    """Mean contact at each diagonal offset over valid pixels, ``[B]`` (NaN where none)."""
    n = M.shape[0]
    out = np.full(n, np.nan)
    for d in range(n):
        v = np.diagonal(M, d)
        v = v[np.isfinite(v)]
        if v.size:
            out[d] = v.mean()
    return out

def top_partners(oe: np.ndarray, pos: np.ndarray, k: int, min_oe: float, chunk: int = 1024
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each gene's ``k`` best partners on one chromosome.

    Parameters
    ----------
    oe : ``[G, G]`` O/E between the genes' bins of one chromosome (NaN where unknown).
    pos : ``[G]`` TSS positions (tie-break: nearer first, then lower index).

    Returns
    -------
    ``(i [P], j [P])`` chooser and chosen gene indices (``i != j``, ``oe >= min_oe`` and ``oe > 0``:
    bins that never touched are not partners, so a gene may get fewer than ``k``).
    """
    G = oe.shape[0]
    kk = min(k, G - 1)
    if kk <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ii, jj = [], []
    for lo in range(0, G, chunk):
        rows = np.arange(lo, min(G, lo + chunk))
        S = oe[rows].copy()
        S[np.arange(len(rows)), rows] = np.nan
        S[~((S >= min_oe) & (S > 0))] = np.nan  # no contact is no pair; NaN stays NaN
        dist = np.abs(pos[rows][:, None] - pos[None, :])
        by_dist = np.argsort(dist, axis=1, kind="stable")
        S1 = np.take_along_axis(S, by_dist, axis=1)
        order = np.argsort(-np.nan_to_num(S1, nan=-np.inf), axis=1, kind="stable")[:, :kk]
        chosen = np.take_along_axis(by_dist, order, axis=1)
        ok = np.isfinite(np.take_along_axis(S1, order, axis=1))
        r = np.repeat(rows[:, None], kk, axis=1)
        ii.append(r[ok])
        jj.append(chosen[ok])
    return np.concatenate(ii), np.concatenate(jj)

@dataclass
class ChromResult:
    """Per-chromosome outputs: gene features and chosen pairs (indices into the chromosome's genes)."""

    bins: np.ndarray
    compartment: np.ndarray
    insulation: np.ndarray
    tad_distance: np.ndarray
    i: np.ndarray
    j: np.ndarray
    oe: np.ndarray
    observed: np.ndarray
    bins_without_contacts: int
    boundaries: int

def convert_chromosome(M: np.ndarray, pos: np.ndarray, bin_size: int, density: np.ndarray, cfg: GenomeConfig
                       ) -> ChromResult:
    """Features and top-k O/E pairs of the genes at ``pos [G]`` on a chromosome with contacts ``M [B, B]``."""
    bins = (pos // bin_size).astype(np.int64)
    ins, n_valid = features.diamond_insulation(M, cfg.insulation_window_bins, cfg.ignore_diags)
    bounds, _ = features.insulation_boundaries(ins, n_valid, 0.66, cfg.boundary_threshold)
    _, eigvecs = features.compartments(M, density, 1, cfg.ignore_diags, solver="arpack")
    e1 = eigvecs[0]
    exp = expected_cis(M)
    dist_bins = np.abs(bins[:, None] - bins[None, :])
    with np.errstate(all="ignore"):
        obs = M[np.ix_(bins, bins)]
        oe = obs / exp[dist_bins]
    oe[~np.isfinite(oe)] = np.nan
    i, j = top_partners(oe, pos, cfg.k, cfg.min_oe)
    return ChromResult(
        bins=bins, compartment=features.labels_ab(e1[bins]), insulation=ins[bins],
        tad_distance=features.boundary_distance(bins, bounds), i=i, j=j, oe=oe[i, j], observed=obs[i, j],
        bins_without_contacts=int((~np.isfinite(np.diag(M))).sum()), boundaries=int(len(bounds)))
