"""Hi-C features and partners of the genome-scale conversion, sparse and chunked.

No chromosome is ever held as a dense matrix at the working resolution:

* expected contact by distance: ``cooltools.expected_cis`` (chunked over pixels);
* insulation score and TAD boundaries: ``cooltools.insulation`` (chunked over pixels; its Li
  threshold is applied over all chromosomes together, as cooltools does);
* compartments: ``cooltools.eigs_cis`` on the coarser map of :class:`~raw_data_conversion.genome.contacts.ContactMaps`
  (dense only at that coarse resolution), phased by gene density;
* each gene's top-``k`` observed/expected partners from the pixels between gene bins at most
  ``max_bins`` apart, read in blocks of rows (:func:`gene_bin_pixels`), so peak memory follows
  the pixels of one block.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from raw_data_conversion import features
from raw_data_conversion.genome.contacts import ContactMaps
from raw_data_conversion.genome.config import GenomeConfig

log = logging.getLogger("raw_data_conversion.genome")

#: pixels per read block (rows x (max_bins + 1) cells); bounds the memory of one block
PIXEL_CHUNK = GenomeConfig.chunk_pixels


def expected_by_distance(maps: ContactMaps) -> dict[str, np.ndarray]:
    """cooltools' cis expected per chromosome: file chromosome name -> ``[B]`` mean contact at each
    bin distance (balanced when ``maps.weight``; NaN where no valid pixel)."""
    import cooltools

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = cooltools.expected_cis(maps.clr, view_df=None, intra_only=True, smooth=False,
                                     clr_weight_name=maps.weight, ignore_diags=0, chunksize=2_000_000, nproc=1)
    col = "balanced.avg" if maps.weight else "count.avg"
    out = {}
    for name, sub in exp.groupby("region1", sort=False):
        n = int(sub["dist"].max()) + 1
        v = np.full(n, np.nan)
        v[sub["dist"].to_numpy(int)] = sub[col].to_numpy(float)
        out[str(name)] = v
    return out


def insulation_table(maps: ContactMaps, window_bins: int, ignore_diags: int, threshold: str | float) -> pd.DataFrame:
    """``cooltools.insulation`` over the whole map: one row per bin (cooler order), columns
    ``chrom, start, end, log2_insulation, is_boundary``."""
    import cooltools

    w = int(window_bins) * maps.bin_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = cooltools.insulation(maps.clr, [w], view_df=None, ignore_diags=int(ignore_diags),
                                   clr_weight_name=maps.weight, min_frac_valid_pixels=0.66,
                                   threshold=threshold, chunksize=2_000_000, nproc=1)
    return pd.DataFrame({"chrom": tab["chrom"].astype(str).to_numpy(), "start": tab["start"].to_numpy(),
                         "log2_insulation": tab[f"log2_insulation_score_{w}"].to_numpy(float),
                         "is_boundary": tab[f"is_boundary_{w}"].fillna(False).to_numpy(bool)})


def compartment_track(maps: ContactMaps, gene_chrom: np.ndarray, gene_tss: np.ndarray) -> pd.DataFrame:
    """``cooltools.eigs_cis`` E1 on the coarse map, phased by the density of the genes' TSSs (one
    eigenpair: the largest in magnitude, the same E1 as cooltools' default of three, at a fraction of
    the ARPACK iterations when the next two eigenvalues are close).

    Returns the coarse bin table with columns ``chrom, start, E1``.
    """
    import cooltools

    clr = maps.coarse
    bins = clr.bins()[["chrom", "start", "end"]][:]
    bins["chrom"] = bins["chrom"].astype(str)
    res = int(clr.binsize)
    offsets = {str(c): int(clr.offset(c)) for c in clr.chromnames}
    gid = np.array([offsets[c] for c in gene_chrom], dtype=np.int64) + gene_tss // res
    bins["value"] = np.bincount(gid, minlength=len(bins)).astype(float)[: len(bins)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, vecs = cooltools.eigs_cis(clr, phasing_track=bins, view_df=None, n_eigs=1,
                                     clr_weight_name=maps.coarse_weight, clip_percentile=99.9)
    out = bins[["chrom", "start"]].copy()
    out["E1"] = np.nan
    e1 = vecs.set_index(["chrom", "start"])["E1"]
    e1.index = pd.MultiIndex.from_arrays([e1.index.get_level_values(0).astype(str), e1.index.get_level_values(1)])
    out["E1"] = e1.reindex(pd.MultiIndex.from_frame(out[["chrom", "start"]])).to_numpy(float)
    return out


def gene_bin_pixels(maps: ContactMaps, chrom: str, gene_bins: np.ndarray, max_bins: int,
                    chunk_pixels: int = PIXEL_CHUNK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels between two gene bins of ``chrom`` at most ``max_bins`` apart, upper triangle.

    Parameters
    ----------
    gene_bins : ``[G]`` chromosome-local bin of every gene (any order, repeats allowed).

    Returns
    -------
    ``(p [P], q [P], value [P])``: local bins with ``p <= q``, and the balanced contact (or the count
    when ``maps.weight`` is None); NaN values (bins without weights) are kept as NaN.
    """
    clr = maps.clr
    lo, hi = clr.extent(chrom)
    n = hi - lo
    has = np.zeros(n, bool)
    has[gene_bins] = True
    rows = max(1, int(chunk_pixels) // (max_bins + 1))
    sel = clr.matrix(balance=maps.weight or False, as_pixels=True, join=False)
    col = "balanced" if maps.weight else "count"
    P, Q, V = [], [], []
    for a, b in _row_blocks(np.flatnonzero(has), rows, gap=max(16, max_bins // 4)):
        c = min(n, b + max_bins)
        px = sel[lo + a:lo + b, lo + a:lo + c]
        if px.empty:
            continue
        i = px["bin1_id"].to_numpy(np.int64) - lo
        j = px["bin2_id"].to_numpy(np.int64) - lo
        keep = (j >= i) & (j - i <= max_bins) & has[i] & has[j]
        P.append(i[keep]), Q.append(j[keep]), V.append(px[col].to_numpy(float)[keep])
    if not P:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(P), np.concatenate(Q), np.concatenate(V)


def _row_blocks(gene_rows: np.ndarray, rows: int, gap: int) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` covering the sorted ``gene_rows``: runs split where two gene rows are more
    than ``gap`` apart (rows without genes are not read) and at most ``rows`` long (one block's memory)."""
    out: list[tuple[int, int]] = []
    if gene_rows.size == 0:
        return out
    a = prev = int(gene_rows[0])
    for r in gene_rows[1:]:
        r = int(r)
        if r - prev > gap or r + 1 - a > rows:
            out.append((a, prev + 1))
            a = r
        prev = r
    out.append((a, prev + 1))
    return out


def top_partners_sparse(bins: np.ndarray, pos: np.ndarray, p: np.ndarray, q: np.ndarray, oe: np.ndarray,
                        obs: np.ndarray, k: int, min_oe: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each gene's ``k`` best partners from bin-level O/E pixels.

    Parameters
    ----------
    bins, pos : ``[G]`` the genes' local bins and TSS positions.
    p, q, oe, obs : ``[P]`` bin pixels (``p <= q``), their O/E and observed value.

    Returns
    -------
    ``(i, j, oe, obs)`` each ``[M]``: chooser and chosen gene indices (``i != j``; ``oe`` finite,
    > 0 and >= ``min_oe``), at most ``k`` per chooser, by O/E, ties by genomic distance then index.
    """
    G = len(bins)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    ok = np.isfinite(oe) & (oe > 0) & (oe >= min_oe)
    p, q, oe, obs = p[ok], q[ok], oe[ok], obs[ok]
    if G < 2 or p.size == 0:
        return empty
    order = np.argsort(bins, kind="stable")
    sb = bins[order]
    nb = int(max(sb.max(), q.max())) + 1
    first = np.searchsorted(sb, np.arange(nb), side="left")
    cnt = np.searchsorted(sb, np.arange(nb), side="right") - first
    m = cnt[p] * cnt[q]
    r = np.repeat(np.arange(p.size), m)
    o = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    nq = cnt[q[r]]
    gi = order[first[p[r]] + o // nq]
    gj = order[first[q[r]] + o % nq]
    off = p[r] != q[r]  # same-bin pixels already give both orders
    i = np.concatenate([gi, gj[off]])
    j = np.concatenate([gj, gi[off]])
    v = np.concatenate([oe[r], oe[r][off]])
    ob = np.concatenate([obs[r], obs[r][off]])
    keep = i != j
    i, j, v, ob = i[keep], j[keep], v[keep], ob[keep]
    dist = np.abs(pos[i] - pos[j])
    s = np.lexsort((j, dist, -v, i))
    i, j, v, ob = i[s], j[s], v[s], ob[s]
    start = np.searchsorted(i, np.arange(G), side="left")
    rank = np.arange(i.size) - start[i]
    sel = rank < k
    return i[sel], j[sel], v[sel], ob[sel]


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
    bins_without_contacts: int | None  # bins without a balancing weight (None when unbalanced)
    boundaries: int
    pixels_read: int


def convert_chromosome(maps: ContactMaps, chrom: str, pos: np.ndarray, expected: np.ndarray,
                       ins: pd.DataFrame, e1: np.ndarray, k: int, min_oe: float, max_bins: int,
                       chunk_pixels: int = PIXEL_CHUNK) -> ChromResult:
    """Features and top-k O/E pairs of the genes at ``pos [G]`` on file chromosome ``chrom``.

    ``ins``: this chromosome's rows of :func:`insulation_table`; ``e1``: its coarse E1 ``[Bc]``.
    """
    res = maps.bin_size
    bins = (pos // res).astype(np.int64)
    p, q, val = gene_bin_pixels(maps, chrom, bins, max_bins, chunk_pixels)
    d = q - p
    exp = np.full(d.size, np.nan)
    inside = d < expected.size
    exp[inside] = expected[d[inside]]
    with np.errstate(all="ignore"):
        oe = val / exp
    i, j, v, ob = top_partners_sparse(bins, pos, p, q, oe, val, k, min_oe)
    bounds = np.flatnonzero(ins["is_boundary"].to_numpy())
    cbins = pos // int(maps.coarse.binsize)
    comp = np.full(len(pos), np.nan)
    okc = cbins < e1.size
    comp[okc] = e1[cbins[okc]]
    w = maps.clr.bins()[maps.weight].fetch(chrom).to_numpy(float) if maps.weight else None
    no_contacts = int(np.sum(~np.isfinite(w))) if w is not None else None
    return ChromResult(bins=bins, compartment=features.labels_ab(comp),
                       insulation=ins["log2_insulation"].to_numpy()[bins],
                       tad_distance=features.boundary_distance(bins, bounds), i=i, j=j, oe=v, observed=ob,
                       bins_without_contacts=no_contacts, boundaries=int(bounds.size), pixels_read=int(p.size))
