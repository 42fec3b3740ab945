"""Hi-C contact maps: text triplets or cooler files -> checked dense matrices per chromosome.

A triplet file has one pixel per line, ``label1 label2 value`` separated by blanks.
What a label means is declared, never guessed (``hic.labels`` / ``hic.bin_size`` /
``hic.label_step`` in the config) and checked against the chromosome size: a map
whose bins would run past the chromosome end, or stop well short of it, is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raw_data_conversion.textio import numeric_block, read_rows

#: the panel preprocessing's dense per-chromosome matrices stop here (10,000 bins = 0.75 GB in float64)
DENSE_MAX_BINS = 10_000
from step.errors import InputError


@dataclass
class Triplets:
    """The pixels of one chromosome's map as read.

    Attributes
    ----------
    chrom : chromosome name without ``chr``.
    path : source file.
    a, b : float arrays ``[P]``, the two bin labels of each pixel.
    v : float array ``[P]``, contact values (>= 0).
    lines : int array ``[P]``, 1-based file line of each pixel.
    """

    chrom: str
    path: Path
    a: np.ndarray
    b: np.ndarray
    v: np.ndarray
    lines: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """Sorted unique labels present, ``[B]``."""
        return np.unique(np.concatenate([self.a, self.b]))


@dataclass
class ContactMatrix:
    """A dense intra-chromosomal map on genomic bins.

    Attributes
    ----------
    chrom : chromosome name without ``chr``.
    bin_size : bp per bin.
    M : float array ``[B, B]``, symmetric; rows/columns of bins without any contact are NaN,
        a missing pixel between two covered bins is 0. Bin ``k`` is ``[k * bin_size, (k + 1) * bin_size)``.
    """

    chrom: str
    bin_size: int
    M: np.ndarray

    @property
    def n_bins(self) -> int:
        return self.M.shape[0]

    @property
    def good(self) -> np.ndarray:
        """Bins with data, bool ``[B]``."""
        return np.isfinite(np.diag(self.M)) | np.isfinite(self.M).any(axis=0)


def read_triplets(path: str | Path, chrom: str, layout: str) -> Triplets:
    """Read ``label1 label2 value`` lines and check them against the declared ``layout``.

    ``full``: both triangles present and equal (symmetric); ``upper``: only ``label1 <= label2``.
    Ragged lines, non-numeric or negative values and repeated pixels are errors naming the line.
    """
    rows = read_rows(path, "whitespace", header=False)
    if len(rows.rows[0]) != 3:
        raise InputError(f"{rows.path}: line {rows.lines[0]}: expected 3 fields 'bin1 bin2 value', got {len(rows.rows[0])}.")
    rows.header = ["bin1", "bin2", "value"]
    arr = numeric_block(rows, [0, 1, 2])
    lines = np.asarray(rows.lines)
    a, b, v = arr[:, 0], arr[:, 1], arr[:, 2]
    if (v < 0).any():
        k = int(np.flatnonzero(v < 0)[0])
        raise InputError(f"{rows.path}: line {lines[k]}: contact value {v[k]} is negative; contacts must be >= 0.")
    if ((a < 0) | (b < 0)).any():
        k = int(np.flatnonzero((a < 0) | (b < 0))[0])
        raise InputError(f"{rows.path}: line {lines[k]}: negative bin label.")
    order = np.lexsort((b, a))
    dup = (np.diff(a[order]) == 0) & (np.diff(b[order]) == 0)
    if dup.any():
        k = int(order[np.flatnonzero(dup)[0] + 1])
        raise InputError(f"{rows.path}: line {lines[k]}: pixel ({a[k]:g}, {b[k]:g}) appears more than once.")
    if layout == "upper":
        low = a > b
        if low.any():
            k = int(np.flatnonzero(low)[0])
            raise InputError(
                f"{rows.path}: line {lines[k]}: pixel ({a[k]:g}, {b[k]:g}) is below the diagonal but the map is "
                f"declared upper-triangular (hic.layout: upper); declare 'full' for a symmetric map."
            )
    else:
        labs, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
        ia, ib = inv[: len(a)], inv[len(a):]
        n = len(labs)
        code = ia * n + ib
        order = np.argsort(code)
        pos = np.searchsorted(code[order], ib * n + ia).clip(max=len(code) - 1)
        found = code[order][pos] == ib * n + ia
        if not found.all():
            k = int(np.flatnonzero(~found)[0])
            raise InputError(
                f"{rows.path}: line {lines[k]}: pixel ({a[k]:g}, {b[k]:g}) has no mirror ({b[k]:g}, {a[k]:g}); the map "
                f"is declared full (symmetric, hic.layout: full); declare 'upper' for an upper-triangular map."
            )
        mv = v[order][pos]
        same = np.isclose(mv, v, rtol=1e-6, atol=1e-9)
        if not same.all():
            k = int(np.flatnonzero(~same)[0])
            m = int(order[pos[k]])
            raise InputError(
                f"{rows.path}: lines {lines[k]} and {lines[m]}: pixel ({a[k]:g}, {b[k]:g}) = {v[k]:g} but "
                f"({b[k]:g}, {a[k]:g}) = {v[m]:g}; a map declared full must be symmetric."
            )
    return Triplets(chrom=chrom, path=rows.path, a=a, b=b, v=v, lines=lines)


def label_to_bin(t: Triplets, labels: str, bin_size: int, label_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin numbers ``(i, j)`` of every pixel under the declared label convention."""
    if labels == "index":
        fi, fj = t.a / label_step, t.b / label_step
        rule = f"label / {label_step:g}"
    elif labels == "start":
        fi, fj = t.a / bin_size, t.b / bin_size
        rule = f"label / {bin_size}"
    else:  # end
        fi, fj = t.a / bin_size - 1, t.b / bin_size - 1
        rule = f"label / {bin_size} - 1"
    bad_i = (np.abs(fi - np.round(fi)) > 1e-9) | (np.round(fi) < 0)
    bad_j = (np.abs(fj - np.round(fj)) > 1e-9) | (np.round(fj) < 0)
    if (bad_i | bad_j).any():
        k = int(np.flatnonzero(bad_i | bad_j)[0])
        lab = t.a[k] if bad_i[k] else t.b[k]
        raise InputError(
            f"{t.path}: line {t.lines[k]}: label {lab:g} is not a bin under the declared convention "
            f"(hic.labels: {labels}, bin number = {rule} must be a whole number >= 0)."
        )
    return np.round(fi).astype(np.int64), np.round(fj).astype(np.int64)


def to_matrix(t: Triplets, labels: str, bin_size: int, label_step: float, chrom_size: int,
              min_extent: float) -> ContactMatrix:
    """Dense :class:`ContactMatrix` on the genomic bins of the chromosome, checked against its size.

    Refused (``InputError``): a bin that starts at or past the chromosome end, and a map whose
    last bin ends before ``min_extent`` x the chromosome length (it cannot cover the chromosome
    as declared; genes past its end would otherwise be clamped into the last bin).
    """
    i, j = label_to_bin(t, labels, bin_size, label_step)
    n = -(-chrom_size // bin_size)
    top = np.maximum(i, j)
    if (top >= n).any():
        k = int(np.argmax(top))
        raise InputError(
            f"{t.path}: line {t.lines[k]}: pixel ({t.a[k]:g}, {t.b[k]:g}) puts a bin at {top[k] * bin_size:,} bp, "
            f"past the end of chr{t.chrom} ({chrom_size:,} bp) under the declared convention "
            f"(hic.labels: {labels}, hic.bin_size: {bin_size}); the map does not fit the chromosome as declared."
        )
    extent = (int(top.max()) + 1) * bin_size
    if min_extent and extent < min_extent * chrom_size:
        raise InputError(
            f"{t.path}: read as {labels}-labelled {bin_size:,} bp bins, the map of chr{t.chrom} ends at "
            f"{extent:,} bp but the chromosome is {chrom_size:,} bp long ({extent / chrom_size:.0%} < "
            f"hic.min_extent {min_extent:.0%}); its bins cannot cover the chromosome as declared. "
            f"Check hic.bin_size / hic.labels (the published 1 Mb-named maps are 2 Mb bins labelled index * 1e6)."
        )
    M = np.zeros((n, n))
    M[i, j] = t.v
    M[j, i] = t.v
    covered = np.zeros(n, dtype=bool)
    covered[i] = covered[j] = True
    covered &= M.sum(axis=0) > 0
    M[~covered, :] = np.nan
    M[:, ~covered] = np.nan
    return ContactMatrix(chrom=t.chrom, bin_size=bin_size, M=M)


def published_dense(t: Triplets, label_step: float) -> np.ndarray:
    """The published code's matrix: row ``label / label_step`` from 0 to the largest label, zero-filled ``[L+1, L+1]``."""
    i = np.round(t.a / label_step).astype(np.int64)
    j = np.round(t.b / label_step).astype(np.int64)
    n = int(max(i.max(), j.max())) + 1
    M = np.zeros((n, n))
    M[i, j] = t.v
    return M


def published_unique(t: Triplets) -> tuple[np.ndarray, np.ndarray]:
    """The published code's compartment matrix: over the labels present only, zero-filled.

    Returns ``(labels [B], M [B, B])``.
    """
    labs = t.labels
    i, j = np.searchsorted(labs, t.a), np.searchsorted(labs, t.b)
    M = np.zeros((len(labs), len(labs)))
    M[i, j] = t.v
    return labs, M


def read_cool(uri: str, chrom: str, balance: str | bool, bin_size: int, chrom_size: int) -> ContactMatrix:
    """One chromosome of a ``.cool`` (or ``.mcool::resolutions/N``) file through ``cooler``.

    The cooler's bin size must equal ``hic.bin_size`` and its chromosome length the declared size.
    """
    import cooler

    path = uri.split("::")[0]
    if not Path(path).exists():
        raise InputError(f"{path}: cooler file not found.")
    try:
        clr = cooler.Cooler(uri)
    except Exception as exc:  # cooler raises several types for bad files/URIs
        raise InputError(f"{uri}: not a readable cooler ({exc}); for .mcool give FILE.mcool::resolutions/<bin size>.") from None
    if clr.binsize != bin_size:
        raise InputError(f"{uri}: bin size {clr.binsize} but the config declares hic.bin_size {bin_size}.")
    names = {n[3:] if n.lower().startswith("chr") else n: n for n in clr.chromnames}
    if chrom not in names:
        raise InputError(f"{uri}: no chromosome '{chrom}' (has {', '.join(clr.chromnames)}).")
    size = int(clr.chromsizes[names[chrom]])
    if size != chrom_size:
        raise InputError(f"{uri}: chromosome {names[chrom]} is {size:,} bp but the chromosome sizes file says {chrom_size:,}; different assemblies?")
    n_bins = -(-size // bin_size)
    if n_bins > DENSE_MAX_BINS:
        raise InputError(f"{uri}: chromosome {names[chrom]} has {n_bins:,} bins at {bin_size:,} bp; the panel "
                         f"preprocessing holds each chromosome as a dense matrix ({n_bins ** 2 * 8 / 2**30:.1f} GB) and "
                         f"stops above {DENSE_MAX_BINS:,} bins. Use a coarser level of the file (hic.bin_size), or the "
                         f"sparse genome-scale converter: python -m raw_data_conversion.genome --contacts FILE "
                         f"--bin-size {bin_size} (README \"Your own data\").")
    weight = "weight" if balance is True else balance
    if weight and weight not in clr.bins().columns:
        raise InputError(f"{uri}: no bin weight column '{weight}' (hic.balance); balance the cooler or set hic.balance: false.")
    return ContactMatrix(chrom=chrom, bin_size=bin_size, M=fetch_cis(clr, names[chrom], weight))


def fetch_cis(clr, chrom_name: str, weight: str | bool) -> np.ndarray:
    """One chromosome's dense contact matrix ``[B, B]`` from a ``cooler.Cooler``: empty pixels 0,
    rows/columns of bins without any contact (or without a balancing weight) NaN."""
    M = clr.matrix(balance=weight if weight else False).fetch(chrom_name).astype(float)
    M = np.where(np.isfinite(M), M, np.nan)
    bad = ~np.isfinite(M).any(axis=0) | (np.nansum(M, axis=0) == 0)
    M = np.nan_to_num(M)
    M[bad, :] = np.nan
    M[:, bad] = np.nan
    return M
