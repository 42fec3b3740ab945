"""Paired uncertainty for forecast comparisons: bootstrap intervals and Diebold-Mariano.

A forecaster A is compared with a reference B on the *same* target times (and,
for several seeds or repeats, the same seeds). Both are scored against one truth;
the question is whether the difference in error is larger than what the choice of
target times alone would produce.

Method
------
Errors are pooled over every finite (seed, time, gene) cell: a cell is used when
the target and both predictions are finite, so A and B are always scored on
exactly the same cells (a NaN target is a missing measurement and is left out
everywhere). Target times with no usable cell are dropped.

*Paired bootstrap over target times.* Expression values of different genes at one
time point are strongly correlated (a shared sample, batch and biological state),
and so are the errors of different seeds at that time. Resampling single
(gene, time) cells would treat these as independent and give intervals that are
far too narrow. The time point is therefore the resampling unit: whole time points
(all genes, all seeds together) are drawn with replacement, and A and B are
always drawn together (paired), so their shared difficulty cancels. Per-time sums
of squared errors and cell counts are precomputed, which makes each resample a
sum over an index array; 2000 resamples take milliseconds. The interval is the
percentile interval at ``level``.

*Diebold-Mariano test.* The loss differential per target time is
``d_t = mean over seeds and genes of (e_a**2 - e_b**2)``. With horizon 1 the
statistic is ``DM = mean(d) / sqrt(gamma0 / T)``, ``gamma0`` the (biased, 1/T)
variance of ``d``. The Harvey-Leybourne-Newbold small-sample correction
multiplies it by ``sqrt((T + 1 - 2h + h(h - 1) / T) / T) = sqrt((T - 1) / T)``
and compares it with Student's t with ``T - 1`` degrees of freedom (two-sided).

*Verdict.* ``"better"`` when the whole interval of ``rmse_a - rmse_b`` lies below
0, ``"worse"`` when it lies above 0, ``"no detectable difference"`` otherwise.
The verdict rests on the bootstrap interval; the DM p-value is reported alongside.

Target times are treated as exchangeable; serial correlation between consecutive
times is not modelled (a block bootstrap would be needed for that).
"""
from __future__ import annotations

import logging
import math

import numpy as np
from scipy import stats

log = logging.getLogger(__name__)

VERDICTS = ("better", "no detectable difference", "worse")

_NAN = float("nan")


def _as_3d(x: np.ndarray, name: str) -> np.ndarray:
    """``[W, N] -> [1, W, N]``; ``[S, W, N]`` unchanged; anything else is an error."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return x
    raise ValueError(f"{name} must be [W, N] or [S, W, N], got shape {x.shape}")


def _align(y_true, pred_a, pred_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast the three arrays to one ``[S, W, N]`` shape (a ``[W, N]`` array is repeated over S)."""
    arrs = [_as_3d(y_true, "y_true"), _as_3d(pred_a, "pred_a"), _as_3d(pred_b, "pred_b")]
    wn = {a.shape[1:] for a in arrs}
    if len(wn) != 1:
        raise ValueError("y_true, pred_a and pred_b must share [W, N]; got shapes "
                         + ", ".join(str(a.shape) for a in arrs))
    seeds = {a.shape[0] for a in arrs} - {1}
    if len(seeds) > 1:
        raise ValueError("seed axes differ: " + ", ".join(str(a.shape) for a in arrs))
    s = seeds.pop() if seeds else 1
    shape = (s,) + arrs[0].shape[1:]
    return tuple(np.broadcast_to(a, shape) for a in arrs)  # type: ignore[return-value]


def _per_time_sums(y_true, pred_a, pred_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-time sums of squared errors of A and B and the number of usable cells.

    Returns ``sse_a, sse_b, count``, each ``[W']``, over the W' target times that
    have at least one cell where the target and both predictions are finite.
    """
    y, a, b = _align(y_true, pred_a, pred_b)
    ok = np.isfinite(y) & np.isfinite(a) & np.isfinite(b)
    n_pred_missing = int((np.isfinite(y) & ~ok).sum())
    if n_pred_missing:
        log.warning("%d cells with a finite target have a non-finite prediction; left out for both "
                    "forecasters", n_pred_missing)
    ea2 = np.where(ok, (a - y) ** 2, 0.0)
    eb2 = np.where(ok, (b - y) ** 2, 0.0)
    sse_a = ea2.sum(axis=(0, 2))
    sse_b = eb2.sum(axis=(0, 2))
    count = ok.sum(axis=(0, 2)).astype(float)
    keep = count > 0
    if not keep.all():
        log.info("%d of %d target times have no usable cell and are dropped",
                 int((~keep).sum()), keep.size)
    return sse_a[keep], sse_b[keep], count[keep]


def _rmse_diff_and_skill(sse_a, sse_b, count) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt(SSE_a / n) - sqrt(SSE_b / n)`` and ``1 - SSE_a / SSE_b`` (NaN where SSE_b is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.sqrt(sse_a / count) - np.sqrt(sse_b / count)
        skill = np.where(sse_b > 0, 1.0 - sse_a / np.where(sse_b > 0, sse_b, 1.0), np.nan)
    return diff, skill


def diebold_mariano(d: np.ndarray) -> tuple[float, float]:
    """Diebold-Mariano test, horizon 1, with the Harvey-Leybourne-Newbold correction.

    Parameters
    ----------
    d : ``[T]`` loss differential per target time (loss of A minus loss of B).

    Returns
    -------
    (stat, pvalue) : corrected statistic and two-sided p-value from Student's t
        with ``T - 1`` degrees of freedom. ``(nan, nan)`` when ``T < 2``;
        ``(0.0, 1.0)`` when ``d`` is constant (zero variance: the test is undefined).
    """
    d = np.asarray(d, dtype=float)
    t = d.size
    if t < 2:
        return _NAN, _NAN
    if np.ptp(d) == 0:
        if d[0] != 0:
            log.warning("loss differential is the same nonzero value %g at every target time; the "
                        "Diebold-Mariano test is undefined and reported as stat 0, p 1", d[0])
        return 0.0, 1.0
    dbar = d.mean()
    gamma0 = np.mean((d - dbar) ** 2)
    dm = dbar / math.sqrt(gamma0 / t)
    h = 1
    dm_hln = dm * math.sqrt((t + 1 - 2 * h + h * (h - 1) / t) / t)
    p = 2.0 * stats.t.sf(abs(dm_hln), df=t - 1)
    return float(dm_hln), float(p)


def compare_forecasts(y_true, pred_a, pred_b, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95, rel_tol: float = 1e-6) -> dict:
    """Paired comparison of forecaster A against reference B on the same target times.

    Parameters
    ----------
    y_true : ``[W, N]`` (W target times, N genes) or ``[S, W, N]``. NaN marks a
        missing target; such cells are left out for both forecasters. An
        ``[S, W, N]`` truth pairs by seed and target time (ablations).
    pred_a, pred_b : ``[W, N]`` or ``[S, W, N]`` (S seeds or repeats). A ``[W, N]``
        array is repeated over the other's S.
    n_boot : number of bootstrap resamples.
    seed : seed of ``np.random.default_rng``.
    level : coverage of the percentile intervals.
    rel_tol : an interval bound within ``rel_tol * max(rmse_a, rmse_b)`` of zero
        counts as zero for the verdict (float32 models vs float64 baselines).

    Returns
    -------
    dict of plain Python values (JSON-serialisable; NaN as ``float('nan')``):
        ``rmse_a``, ``rmse_b`` : RMSE pooled over all usable (seed, time, gene) cells.
        ``rmse_diff`` : ``rmse_a - rmse_b`` (negative: A is better).
        ``rmse_diff_ci95`` : ``[lo, hi]`` percentile interval at ``level``
            (the key keeps its name for other levels).
        ``skill`` : ``1 - MSE_a / MSE_b``; ``skill_ci95`` its interval.
        ``dm_stat``, ``dm_pvalue`` : Diebold-Mariano with HLN correction.
        ``n_times`` : target times with at least one usable cell; ``n_boot``;
        ``level``; ``verdict`` : one of :data:`VERDICTS`.

    Notes
    -----
    Bootstrap indices are drawn in one call,
    ``np.random.default_rng(seed).integers(0, W, size=(n_boot, W))``, where W is
    ``n_times``; row ``r`` lists the target times of resample ``r`` (all genes and
    seeds of a drawn time go together, for A and B alike). With ``n_times < 2``
    the intervals and the DM test are NaN and the verdict is
    ``"no detectable difference"``.
    """
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    sse_a, sse_b, count = _per_time_sums(y_true, pred_a, pred_b)
    w = int(count.size)
    if w:
        diff, skill = _rmse_diff_and_skill(sse_a.sum(), sse_b.sum(), count.sum())
        n = count.sum()
        rmse_a, rmse_b = math.sqrt(sse_a.sum() / n), math.sqrt(sse_b.sum() / n)
        diff, skill = float(diff), float(skill)
    else:
        log.warning("no usable cell: every target or prediction is missing")
        rmse_a = rmse_b = diff = skill = _NAN

    diff_ci, skill_ci = [_NAN, _NAN], [_NAN, _NAN]
    dm_stat = dm_p = _NAN
    verdict = VERDICTS[1]
    if w >= 2:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, w, size=(n_boot, w))
        b_diff, b_skill = _rmse_diff_and_skill(sse_a[idx].sum(axis=1), sse_b[idx].sum(axis=1),
                                               count[idx].sum(axis=1))
        q = [100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0]
        diff_ci = [float(v) for v in np.percentile(b_diff, q)]
        skill_ci = [float(v) for v in np.percentile(b_skill, q)]
        dm_stat, dm_p = diebold_mariano((sse_a - sse_b) / count)
        # differences below float32 resolution of the RMSE are no difference (a model
        # that stays on its moving-average path matches mean_last to ~1e-8, not exactly)
        tol = rel_tol * max(rmse_a, rmse_b)
        if diff_ci[1] < -tol:
            verdict = VERDICTS[0]
        elif diff_ci[0] > tol:
            verdict = VERDICTS[2]
    else:
        log.warning("%d usable target time(s): no interval or test is possible", w)

    return {
        "rmse_a": float(rmse_a), "rmse_b": float(rmse_b), "rmse_diff": float(diff),
        "rmse_diff_ci95": diff_ci, "skill": float(skill), "skill_ci95": skill_ci,
        "dm_stat": float(dm_stat), "dm_pvalue": float(dm_p), "n_times": w, "n_boot": n_boot,
        "level": float(level), "verdict": verdict,
    }


def _num(x: float, signed: bool = False, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "nan"
    if x != 0 and abs(x) < 10.0 ** -digits:
        return f"{x:+.2e}" if signed else f"{x:.2e}"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def verdict_sentence(name_a: str, name_b: str, res: dict) -> str:
    """One line in words for a :func:`compare_forecasts` result.

    Example: ``"STEPmr vs mean_last: better at 95 % (RMSE difference -0.012,
    95 % CI [-0.020, -0.004]; skill +0.071 [+0.02, +0.11]; Diebold-Mariano
    p = 0.003; 12 target times)"``.
    """
    pct = f"{100.0 * res.get('level', 0.95):g} %"
    lo, hi = res["rmse_diff_ci95"]
    slo, shi = res["skill_ci95"]
    p = res["dm_pvalue"]
    if p is None or not math.isfinite(p):
        p_txt = "p = nan"
    elif p < 0.001:
        p_txt = "p < 0.001"
    else:
        p_txt = f"p = {p:.3f}"
    return (f"{name_a} vs {name_b}: {res['verdict']} at {pct} "
            f"(RMSE difference {_num(res['rmse_diff'])}, {pct} CI [{_num(lo)}, {_num(hi)}]; "
            f"skill {_num(res['skill'], signed=True)} "
            f"[{_num(slo, signed=True, digits=2)}, {_num(shi, signed=True, digits=2)}]; "
            f"Diebold-Mariano {p_txt}; {res['n_times']} target times)")
