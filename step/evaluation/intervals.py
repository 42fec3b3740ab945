"""Conformal prediction intervals from out-of-sample residuals of earlier origins.

At every fit, each forecaster's residuals on targets before the fit's origin -- the
out-of-sample forecast of the earlier fit that made it (rolling origin), else this fit's
validation windows -- are divided by each gene's forecast-error scale (its own residuals' RMS
shrunk towards its training std times an error ratio, the prior's weight and that ratio estimated
from the genes' spread by empirical Bayes, :func:`error_scales`), pooled over
genes and windows, and their split-conformal quantile at each level gives the interval
``forecast +- q * scale_n`` for the fit's out-of-sample forecasts. The quantile's level is adapted to
the coverage the forecaster's own earlier intervals achieved (adaptive conformal inference, Gibbs and
Candes 2021, :func:`adaptive_levels`): after targets it under-covered the next intervals are wider,
after targets it over-covered narrower, so that a shift in the errors the residuals have not yet
seen (a course whose steps become longer, a more volatile stage) is followed. Causal: a fit sees
only residuals on targets at or before its origin. With residuals from fewer than
``min_times`` target times the interval is absent (NaN), never invented; in-sample (training)
windows never get an interval.

All values are in the working scale; :func:`coverage_and_winkler` scores intervals there.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["conformal_quantile", "prior_weight", "error_scales", "interval_rows", "adaptive_levels",
           "coverage_and_winkler", "level_key"]


def level_key(level: float) -> str:
    """``0.8 -> "80"``, ``0.95 -> "95"`` (column suffixes ``lo_80``, ``hi_95``)."""
    return f"{100 * level:g}".replace(".", "_")


def conformal_quantile(scores: np.ndarray, level: float, weights: np.ndarray | None = None) -> float:
    """The split-conformal quantile of absolute scores: the ``ceil((n + 1) level)``-th smallest
    (``inf`` when ``n`` is too small for the level, ``nan`` without scores). ``weights`` (the
    shape of ``scores``): the weighted form (Barber et al. 2023, non-exchangeable conformal): the
    smallest score whose weight share, the new point counted with weight 1, reaches ``level``."""
    scores = np.asarray(scores, dtype=float)
    ok = np.isfinite(scores)
    if weights is None:
        s = np.sort(np.abs(scores[ok]))
        n = s.size
        if n == 0:
            return float("nan")
        k = math.ceil((n + 1) * level)
        return float(s[k - 1]) if k <= n else float("inf")
    w = np.broadcast_to(np.asarray(weights, dtype=float), scores.shape)[ok]
    if w.size == 0:
        return float("nan")
    order = np.argsort(np.abs(scores[ok]), kind="stable")
    s, w = np.abs(scores[ok])[order], w[order] / w.max()
    share = np.cumsum(w) / (w.sum() + 1.0)
    k = int(np.searchsorted(share, level - 1e-12))
    return float(s[k]) if k < s.size else float("inf")


def prior_weight(ss: np.ndarray, n: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
    """Empirical-Bayes weight of the error-scale prior, estimated from how far the genes' residual
    variances spread around it (the moment estimator of Smyth 2004, limma's ``squeezeVar``):
    each gene's mean square ``ss_n / n_n`` over ``prior_n ** 2`` is modelled as ``s0^2`` times a
    scaled F(``n_n``, ``d0``) variable; ``d0`` comes from the variance of the log ratios beyond what
    ``n_n`` residuals alone give (trigamma terms), ``s0^2`` from their mean. Returns ``(d0, s0^2)``
    over the genes with ``n > 0`` and ``ss > 0``: ``d0 = inf`` when the spread is no more than
    sampling noise (every gene gets the prior), small when genes' error scales differ from the prior
    (each keeps more of its own). ``ss [N]``, ``n [N]``, ``prior [N]``."""
    from scipy import optimize, special

    use = (n > 0) & (ss > 0)
    if int(use.sum()) < 2:
        ratio = float(np.sum(ss[use] / prior[use] ** 2) / max(int(n[use].sum()), 1)) if use.any() else 1.0
        return float("inf"), ratio
    d = n[use].astype(float)
    u = ss[use] / d / prior[use] ** 2
    u = np.maximum(u, 1e-5 * np.median(u))  # limma's floor: a near-constant gene must not set the spread
    e = np.log(u) - special.digamma(d / 2) + np.log(d / 2)
    emean = float(e.mean())
    evar = float(e.var(ddof=1) - np.mean(special.polygamma(1, d / 2)))
    if not evar > 0:
        return float("inf"), float(np.exp(emean))
    # trigamma(x) = evar: trigamma decreases from +inf (x -> 0) to 0 (x -> inf)
    hi = 1.0
    while special.polygamma(1, hi) > evar and hi < 1e12:
        hi *= 2.0
    if special.polygamma(1, hi) > evar:  # a spread of ~1e-12 beyond sampling noise: none
        return float("inf"), float(np.exp(emean))
    half = optimize.brentq(lambda x: float(special.polygamma(1, x)) - evar, 1e-8, hi, xtol=1e-10)
    d0 = 2.0 * half
    return d0, float(np.exp(emean + special.digamma(half) - np.log(half)))


def error_scales(resid: np.ndarray, prior: np.ndarray, shrink: float | str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Each gene's forecast-error scale from its residuals ``resid [V, N]`` (NaN = none), shrunk
    towards a prior: ``s_n^2 = (sum_v r_vn^2 + k c^2 p_n^2) / (n_n + k)``, with ``p_n = prior [N]``
    (the gene's training std). ``shrink = "auto"`` (the default): ``k`` and ``c^2`` estimated from
    the genes' residuals by :func:`prior_weight` (empirical Bayes, as limma moderates gene
    variances); a number: ``k = shrink`` (the prior's weight in residuals) and ``c^2`` the pooled
    mean of ``(r / p)^2``. A gene with few residuals keeps about its training std times the error
    ratio; one with many, its own error scale.

    Returns ``(scale [N], loo [V, N], degenerate [N], k)``: ``loo`` is each residual's gene scale
    computed without that residual (a score is never divided by a scale fitted on itself, so the
    scores behave like those of new cells); ``degenerate`` marks genes whose residuals are all zero
    (a gene constant so far): their scores are left out of the pool and they do not enter ``k``;
    they and genes without residuals get their training std times the pooled mean of ``(r / p)^2``.
    """
    ok = np.isfinite(resid)
    r2 = np.where(ok, resid, 0.0) ** 2
    n = ok.sum(axis=0)
    ss = r2.sum(axis=0)
    prior = np.maximum(np.asarray(prior, dtype=float), 1e-12)
    degenerate = (n > 0) & (ss <= (1e-12 * prior) ** 2 * np.maximum(n, 1))
    use = (n > 0) & ~degenerate
    pooled = float(np.sum(ss[use] / prior[use] ** 2) / max(int(n[use].sum()), 1)) if use.any() else 1.0
    if isinstance(shrink, str):
        k, c2 = prior_weight(np.where(use, ss, 0.0), np.where(use, n, 0), prior)
    else:
        k, c2 = float(shrink), pooled
    p2 = max(c2, 1e-12) * prior ** 2
    kk = min(k, 1e12)  # d0 = inf: the prior alone (to float precision)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt((ss + kk * p2) / np.maximum(n + kk, 1e-300))
        loo = np.sqrt((ss[None, :] - r2 + kk * p2[None, :]) / ((n - 1)[None, :] + kk))
    # a gene without residuals, or with all-zero ones: its training std times the pooled mean error
    # ratio (the prior's mean; the empirical-Bayes s0^2 is its typical value, below the mean)
    scale = np.where((n == 0) | degenerate, np.sqrt(max(pooled, 1e-12)) * prior, scale)
    return scale, np.where(ok, loo, np.nan), degenerate, k


def adaptive_levels(levels: list[float], covered: dict[float, np.ndarray], rate: float) -> dict[float, float]:
    """The quantile level to use for each nominal level, from the coverage its earlier intervals
    achieved: adaptive conformal inference (Gibbs and Candes 2021), unrolled,
    ``level_t = level - rate * sum_tau (covered_tau - level)`` over the earlier target times ``tau``
    (``covered[level] [T]``: the share of genes whose interval held at each, in time order; pooled
    over genes because every gene of a time point shares its shocks). ``rate = 0``: the nominal
    levels. Kept within ``[level / 2, 1)``; the quantile of a level near 1 is capped at the largest
    score by :func:`interval_rows`."""
    out = {}
    for lv in levels:
        c = np.asarray(covered.get(lv, []), dtype=float)
        c = c[np.isfinite(c)]
        adj = lv - float(rate) * float(np.sum(c - lv)) if c.size and rate > 0 else lv
        out[lv] = float(min(max(adj, lv / 2), 1.0 - 1e-9))
    return out


def interval_rows(resid: np.ndarray, prior: np.ndarray, levels: list[float], min_times: int,
                  shrink: float | str = "auto", halflife: float = 0.0,
                  effective: dict[float, float] | None = None
                  ) -> tuple[dict[float, float], np.ndarray, float]:
    """Quantile per level of the residuals ``resid [V, N]`` (evidence windows x genes, NaN = none)
    scored by each gene's error scale (:func:`error_scales`, ``prior [N]`` its training std), and
    that scale ``[N]``: the interval of a new forecast of gene ``n`` is ``+- q * scale[n]``. NaN
    for every level when fewer than ``min_times`` windows carry a residual or the quantile is not
    finite. Genes whose residuals are all zero do not enter the pooled scores. ``halflife > 0``:
    the scores of older windows weigh less (``0.5 ** (windows back / halflife)``, the weighted
    conformal quantile), so that errors that grow along a course are followed. ``effective``
    (nominal level -> the level to use, :func:`adaptive_levels`): an adapted level's quantile, the
    largest score where it is beyond the scores (the nominal level's own quantile decides whether
    there is an interval at all); the quantiles are made non-decreasing in the nominal level so that
    intervals stay nested. The third value is the prior's weight ``k`` used (NaN without enough
    residuals)."""
    have = np.isfinite(resid).any(axis=1)
    if int(have.sum()) < max(1, min_times):
        return {lv: float("nan") for lv in levels}, np.asarray(prior, dtype=float), float("nan")
    scale, loo, degenerate, k = error_scales(resid[have], prior, shrink)
    z = (resid[have] / loo)[:, ~degenerate]
    wts = None
    if halflife > 0:
        age = np.arange(z.shape[0])[::-1].astype(float)  # windows back from the most recent
        wts = (0.5 ** (age / float(halflife)))[:, None]  # [V, 1], broadcast over genes
    out: dict[float, float] = {}
    last = -math.inf
    for lv in sorted(levels):
        q = conformal_quantile(z, lv, wts)
        eff = (effective or {}).get(lv, lv)
        if math.isfinite(q) and eff != lv:
            qa = conformal_quantile(z, eff, wts)
            q = qa if math.isfinite(qa) else float(np.nanmax(np.abs(z)))
        if math.isfinite(q):
            q = max(q, last)
            last = q
        out[lv] = q if math.isfinite(q) else float("nan")
    return {lv: out[lv] for lv in levels}, scale, k


def coverage_and_winkler(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float) -> dict[str, float]:
    """Empirical coverage and mean Winkler (interval) score over the cells with an interval and a
    target: ``width + (2 / alpha) * (lo - y if y < lo, y - hi if y > hi)``, ``alpha = 1 - level``;
    ``n`` cells scored and ``share`` of target cells with an interval."""
    y, lo, hi = (np.asarray(a, dtype=float) for a in (y, lo, hi))
    target = np.isfinite(y)
    ok = target & np.isfinite(lo) & np.isfinite(hi)
    n = int(ok.sum())
    if n == 0:
        return {"coverage": float("nan"), "winkler": float("nan"), "n": 0, "share": 0.0}
    yy, ll, hh = y[ok], lo[ok], hi[ok]
    a = 1.0 - level
    score = (hh - ll) + (2.0 / a) * (np.maximum(ll - yy, 0.0) + np.maximum(yy - hh, 0.0))
    return {"coverage": float(np.mean((yy >= ll) & (yy <= hh))), "winkler": float(np.mean(score)), "n": n,
            "share": float(n / max(int(target.sum()), 1))}
