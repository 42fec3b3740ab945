"""Conformal prediction intervals from out-of-sample residuals of earlier origins.

At every fit, each forecaster's residuals on targets before the fit's origin -- the
out-of-sample forecast of the earlier fit that made it (rolling origin), else this fit's
validation windows -- are divided by each gene's training-period scale (the fit's scaler std),
pooled over genes and windows, and their split-conformal quantile at each level gives the
interval ``forecast +- q * scale_n`` for the fit's out-of-sample forecasts. Causal: a fit sees
only residuals on targets at or before its origin. With residuals from fewer than
``min_times`` target times the interval is absent (NaN), never invented; in-sample (training)
windows never get an interval.

All values are in the working scale; :func:`coverage_and_winkler` scores intervals there.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["conformal_quantile", "interval_rows", "coverage_and_winkler", "level_key"]


def level_key(level: float) -> str:
    """``0.8 -> "80"``, ``0.95 -> "95"`` (column suffixes ``lo_80``, ``hi_95``)."""
    return f"{100 * level:g}".replace(".", "_")


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile of absolute scores: the ``ceil((n + 1) level)``-th smallest
    (``inf`` when ``n`` is too small for the level, ``nan`` without scores)."""
    s = np.sort(np.abs(np.asarray(scores, dtype=float)[np.isfinite(scores)]))
    n = s.size
    if n == 0:
        return float("nan")
    k = math.ceil((n + 1) * level)
    return float(s[k - 1]) if k <= n else float("inf")


def interval_rows(resid: np.ndarray, scale: np.ndarray, levels: list[float], min_times: int) -> dict[float, float]:
    """Quantile per level of residuals ``resid [V, N]`` (evidence windows x genes, NaN = none)
    standardised by ``scale [N]``; NaN for every level when fewer than ``min_times`` windows
    carry a residual or the quantile is not finite."""
    have = np.isfinite(resid).any(axis=1)
    if int(have.sum()) < max(1, min_times):
        return {lv: float("nan") for lv in levels}
    z = resid[have] / scale[None, :]
    out = {}
    for lv in levels:
        q = conformal_quantile(z, lv)
        out[lv] = q if math.isfinite(q) else float("nan")
    return out


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
