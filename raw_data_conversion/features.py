"""Per-bin Hi-C features of one chromosome: insulation, TAD boundaries, A/B compartments.

Two sets:

* ``published_*``: the published code, reproduced exactly (``features.method: published``).
* ``diamond_insulation`` / ``insulation_boundaries`` / ``compartments``: the standard
  definitions of cooltools 0.7 (``cooltools.insulation``, ``cooltools.eigs_cis``) on a dense
  matrix. Insulation is computed here with numpy exactly as cooltools' diamond score (a test
  checks it against ``cooltools.insulation`` on a cooler); boundaries use cooltools'
  peak-prominence routine and its Li threshold; eigenvectors follow
  ``cooltools.api.eigdecomp.cis_eig`` step by step (cooltools' O/E and phasing), with a dense
  deterministic eigensolver (a test checks agreement with ``cis_eig``).

All functions take ``M [B, B]`` (symmetric; NaN rows/columns = bins without data) and
return arrays over the ``B`` bins.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.signal import find_peaks


# --------------------------------------------------------------------------- published


def published_insulation(M: np.ndarray, w: int) -> np.ndarray:
    """Mean of the ``2w x 2w`` window ``M[i-w:i+w, i-w:i+w]``, z-scored over bins ``w .. B-w-1``; 0 elsewhere.

    Parameters
    ----------
    M : ``[B, B]`` zero-filled matrix indexed by ``label / label_step`` (see ``hic.published_dense``).
    w : half window in bins.

    Returns
    -------
    ``[B]`` float.
    """
    n = M.shape[0]
    s = np.zeros(n)
    if n - 2 * w <= 0:
        return s
    core = np.array([M[i - w:i + w, i - w:i + w].mean() for i in range(w, n - w)])
    sd = core.std()
    s[w:n - w] = (core - core.mean()) / sd if sd > 0 else 0.0
    return s


def published_boundaries(ins: np.ndarray, distance: int, prominence: float) -> np.ndarray:
    """Boundary bins: ``scipy.signal.find_peaks(-ins, distance, prominence)``; int ``[K]``."""
    peaks, _ = find_peaks(-ins, distance=distance, prominence=prominence)
    return peaks


def published_eigenvector(M: np.ndarray) -> np.ndarray:
    """First eigenvector of ``np.corrcoef(M)`` (largest eigenvalue), signed so that it sums positive.

    Parameters
    ----------
    M : ``[B, B]`` zero-filled matrix over the labels present (``hic.published_unique``).
    """
    with np.errstate(all="ignore"):
        C = np.nan_to_num(np.corrcoef(M))
    _, V = np.linalg.eigh(C)
    v = V[:, -1]
    return -v if v.sum() < 0 else v


# --------------------------------------------------------------------------- standard (cooltools)


def diamond_insulation(M: np.ndarray, window: int, ignore_diags: int = 2, norm_by_median: bool = True
                       ) -> tuple[np.ndarray, np.ndarray]:
    """cooltools' diamond insulation score, log2.

    The score of bin ``i`` is the mean of the valid pixels ``M[a, b]`` with
    ``i - window < a <= i <= b < i + window`` and ``b - a >= ignore_diags``, divided by the
    median score (``norm_by_median``), then log2; bins without a valid pixel are NaN.

    Parameters
    ----------
    M : ``[B, B]``, NaN rows/columns for bad bins.
    window : diamond side in bins (``window_bp // bin_size``).

    Returns
    -------
    log2_score : ``[B]`` float (NaN where undefined).
    n_valid : ``[B]`` int, valid pixels in each diamond (cooltools ``n_valid_pixels``).
    """
    n = M.shape[0]
    good = np.isfinite(np.diag(M))
    A = np.where(np.isfinite(M), M, 0.0)
    V = np.outer(good, good).astype(float)
    k = np.subtract.outer(np.arange(n), np.arange(n))  # a - b
    near = np.abs(k) < ignore_diags
    A[near] = 0.0
    V[near] = 0.0
    sums = np.zeros(n)
    counts = np.zeros(n)
    # diamond of bin i: rows a in (i - window, i], columns b in [i, i + window)
    CA = np.zeros((n + 1, n + 1))
    CA[1:, 1:] = A.cumsum(0).cumsum(1)
    CV = np.zeros((n + 1, n + 1))
    CV[1:, 1:] = V.cumsum(0).cumsum(1)
    i = np.arange(n)
    r0, r1 = np.maximum(0, i - window + 1), i + 1
    c0, c1 = i, np.minimum(n, i + window)
    sums = CA[r1, c1] - CA[r0, c1] - CA[r1, c0] + CA[r0, c0]
    counts = CV[r1, c1] - CV[r0, c1] - CV[r1, c0] + CV[r0, c0]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = sums / counts
        if norm_by_median:
            score = score / np.nanmedian(score)
        score[score == 0] = np.nan
        out = np.log2(score)
    out[~np.isfinite(out)] = np.nan
    return out, np.round(counts).astype(np.int64)


def insulation_boundaries(log2_ins: np.ndarray, n_valid: np.ndarray, min_frac_valid_pixels: float = 0.66,
                          threshold: str | float = "Li") -> tuple[np.ndarray, np.ndarray]:
    """Insulating boundaries as in ``cooltools.insulation``.

    Local minima of the log2 insulation (over bins with at least ``min_frac_valid_pixels`` x the
    largest diamond), their prominence from ``cooltools.lib.peaks.find_peak_prominence``, kept
    when the prominence passes ``threshold`` ("Li", "Otsu" via scikit-image, or a number).

    Returns
    -------
    boundaries : int ``[K]`` bin indices.
    strength : ``[B]`` float prominence (NaN where not a local minimum).
    """
    from cooltools.lib.peaks import find_peak_prominence

    n = len(log2_ins)
    strength = np.full(n, np.nan)
    mask = (n_valid >= n_valid.max() * min_frac_valid_pixels) & np.isfinite(log2_ins)
    if mask.sum() < 3:
        return np.zeros(0, dtype=np.int64), strength
    track = log2_ins[mask]
    poss, proms = find_peak_prominence(-track)
    sub = np.full(mask.sum(), np.nan)
    sub[poss] = proms
    strength[mask] = sub
    vals = strength[np.isfinite(strength)]
    if len(vals) == 0:
        return np.zeros(0, dtype=np.int64), strength
    if threshold in ("Li", "Otsu"):
        from skimage.filters import threshold_li, threshold_otsu

        thr = (threshold_li if threshold == "Li" else threshold_otsu)(vals) if len(np.unique(vals)) > 1 else vals.min()
    else:
        thr = float(threshold)
    keep = np.isfinite(strength) & (np.nan_to_num(strength, nan=-np.inf) >= thr)
    return np.flatnonzero(keep), strength


def compartments(M: np.ndarray, phasing: np.ndarray, n_eigs: int = 3, ignore_diags: int = 2,
                 clip_percentile: float = 99.9, sort_metric: str | None = None, correlation: bool = False,
                 solver: str = "dense") -> tuple[np.ndarray, np.ndarray]:
    """Compartment eigenvectors of the observed/expected matrix, as ``cooltools.api.eigdecomp.cis_eig``.

    The steps are cooltools' own (diagonals ``|d| < ignore_diags`` set to 1, O/E from
    ``cooltools.lib.numutils.observed_over_expected``, clipping at ``clip_percentile``, minus 1,
    eigenvectors scaled by sqrt(|eigenvalue|), flipped to correlate positively with ``phasing``
    by cooltools' ``_phase_eigs``), but the eigendecomposition is a dense ``numpy.linalg.eigh``
    instead of ARPACK (``eigsh``), whose random start makes results depend on earlier calls in
    the process. A test checks agreement with ``cis_eig``. With ``correlation`` the Pearson
    correlation matrix of O/E is decomposed instead (Lieberman-Aiden et al. 2009).

    Parameters
    ----------
    M : ``[B, B]``, NaN rows/columns for bad bins.
    phasing : ``[B]`` phasing track (gene density: A = gene-dense).
    solver : "dense" (``numpy.linalg.eigh``, all eigenpairs; the default) or "arpack" (the
        ``n_eigs`` largest-magnitude pairs by ``scipy.sparse.linalg.eigsh`` from a fixed start
        vector, so still deterministic; ~20x faster on 2,000-bin chromosomes, the genome-scale choice).

    Returns
    -------
    eigvals : ``[n_eigs]``, by decreasing absolute value (or by ``sort_metric``);
    eigvecs : ``[n_eigs, B]`` (NaN on bad bins).
    """
    from cooltools.api.eigdecomp import _phase_eigs
    from cooltools.lib import numutils

    n = M.shape[0]
    A = np.where(np.isfinite(M), M, 0.0)
    mask = A.sum(axis=0) > 0
    eigvecs = np.full((n_eigs, n), np.nan)
    if n <= ignore_diags + 3 or mask.sum() <= ignore_diags + 3:
        return np.full(n_eigs, np.nan), eigvecs
    for d in range(-ignore_diags + 1, ignore_diags):
        numutils.set_diag(A, 1.0, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        OE = numutils.observed_over_expected(A, mask)[0]
    sub = OE[np.ix_(mask, mask)]
    if clip_percentile and clip_percentile < 100:
        sub = np.clip(sub, 0, np.percentile(sub, clip_percentile))
    sub = sub - 1.0
    if correlation:
        with np.errstate(all="ignore"):
            sub = np.nan_to_num(np.corrcoef(sub))
    if solver == "arpack" and sub.shape[0] > n_eigs + 2:
        from scipy.sparse.linalg import eigsh

        v0 = np.full(sub.shape[0], 1.0 / np.sqrt(sub.shape[0]))
        vals, vecs = eigsh(sub, k=n_eigs, which="LM", v0=v0, tol=1e-8, maxiter=100 * sub.shape[0])
        vecs = vecs * np.where(vecs.sum(axis=0) < 0, -1.0, 1.0)  # fixed sign before phasing
    else:
        vals, vecs = np.linalg.eigh(sub)
    order = np.argsort(-np.abs(vals), kind="stable")[:n_eigs]
    vals = vals[order]
    k = len(order)
    eigvecs[:k, mask] = vecs[:, order].T
    eigvecs[:k] /= np.sqrt(np.nansum(eigvecs[:k] ** 2, axis=1))[:, None]
    eigvecs[:k] *= np.sqrt(np.abs(vals))[:, None]
    eigvals = np.full(n_eigs, np.nan)
    eigvals[:k] = vals
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _phase_eigs(eigvals, eigvecs, np.asarray(phasing, dtype=float), sort_metric)


def boundary_distance(bins: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """Distance in bins from each of ``bins`` to the nearest of ``boundaries`` (NaN if there are none)."""
    bins = np.asarray(bins)
    if len(boundaries) == 0:
        return np.full(len(bins), np.nan)
    return np.abs(bins[:, None] - np.asarray(boundaries)[None, :]).min(axis=1).astype(float)


def labels_ab(v: np.ndarray) -> np.ndarray:
    """``"A"`` where ``v > 0``, ``"B"`` where ``v <= 0``, ``""`` where NaN."""
    out = np.where(v > 0, "A", "B").astype(object)
    out[~np.isfinite(v)] = ""
    return out
