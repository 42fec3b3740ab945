"""Paired uncertainty for forecast comparisons: the verdict rule, intervals and the test.

A forecaster A is compared with a reference B on the *same* target times (and,
for several seeds or repeats, the same seeds). Both are scored against one truth;
the question is whether the difference in error is larger than what the choice of
target times alone would produce.

Method
------
Errors are pooled over every finite (seed, time, gene) cell: a cell is used when
the target and both predictions are finite, so A and B are always scored on
exactly the same cells. Target times with no usable cell are dropped. The time
point is the unit: errors of different genes and seeds at one time are strongly
correlated (a shared sample, batch and biological state), and errors of
consecutive times are serially correlated (a gene's forecast errors persist).

*Loss differential.* ``d_t = (SSE_a(t) - SSE_b(t)) / mean_t(n_t)`` with ``n_t``
the usable cells of time ``t``: its mean is exactly ``MSE_a - MSE_b`` pooled over
cells, so the test and the intervals weight target times the same way (by cells).

*The verdict rule: Diebold-Mariano with a HAC variance and the HLN correction.*
``DM = mean(d) / sqrt(Omega / T)`` times the Harvey-Leybourne-Newbold factor
``sqrt((T - 1) / T)``, with ``Omega`` the equal-weighted cosine (EWC) long-run
variance of ``d`` on ``nu = floor(0.4 T^(2/3))`` cosine terms (1 at 8 target times,
2 at 16, 6 at 60), against Student's t with ``nu`` degrees of freedom (fixed-b
inference, two-sided). A Newey-West variance with a t(T - 1) reference gave 13 %
false verdicts at 8 serially correlated target times in the null benchmark; EWC
keeps the size at the price of power on very short series. **better** / **worse**: p below
``1 - level`` with A's / B's error lower; **no detectable difference** otherwise;
**too few target times to tell** below ``min_times`` target times (the jobs' default is
``evaluation.min_target_times`` = 15: with fewer, the HAC variance rests on a
handful of serially correlated values; the null-calibration benchmark shows the
rule's false-verdict rate at 8 and 16 target times).

*Beside it: a stationary block bootstrap* (``arch.bootstrap.StationaryBootstrap``,
mean block length ``round(T^(1/3))``) of the RMSE difference and the skill
``1 - MSE_a / MSE_b``: percentile intervals at ``level`` over ``n_boot`` resamples
of whole target times in blocks (all genes and seeds of a time together, A and B
together). ``bootstrap_verdict`` says what the interval alone would conclude. It is labelled
"bootstrap 95 %", not a confidence interval: with few target times it covers less than its
level (about 86 % at 8-16 target times on null data, 64-81 % at 8-40 when the errors are
serially correlated; benchmarks/bench_null_calibration.py);
the verdict is the Diebold-Mariano rule's.
"""
from __future__ import annotations

import functools
import logging
import math

import numpy as np
from scipy import stats

log = logging.getLogger(__name__)

TOO_FEW = "too few target times to tell"
VERDICTS = ("better", "no detectable difference", "worse", TOO_FEW)

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


def ewc_df(t: int) -> int:
    """Degrees of freedom (cosine terms) of the EWC long-run variance: ``floor(0.4 T^(2/3))``, at
    least 1 (Lazarus, Lewis, Stock and Watson 2018's rule)."""
    return max(1, int(math.floor(0.4 * t ** (2.0 / 3.0)))) if t > 1 else 0


def ewc_long_run_variance(d: np.ndarray, nu: int) -> float:
    """The equal-weighted cosine (EWC) long-run variance of ``d [T]`` with ``nu`` cosine terms:
    ``mean_j Lambda_j^2``, ``Lambda_j = sqrt(2 / T) sum_t d_t cos(pi j (t - 1/2) / T)``."""
    d = np.asarray(d, dtype=float)
    t = d.size
    k = np.arange(1, int(nu) + 1)[:, None]
    basis = np.sqrt(2.0 / t) * np.cos(np.pi * k * (np.arange(1, t + 1)[None, :] - 0.5) / t)  # [nu, T]
    return float(np.mean((basis @ d) ** 2))


def hln_factor(t: int, h: int = 1) -> float:
    """Harvey-Leybourne-Newbold small-sample factor for ``h``-step forecasts over ``t`` target times:
    ``sqrt((t + 1 - 2h + h (h - 1) / t) / t)`` (``sqrt((t - 1) / t)`` for h = 1)."""
    v = (t + 1 - 2 * h + h * (h - 1) / t) / t
    return math.sqrt(v) if v > 0 else float("nan")


def diebold_mariano(d: np.ndarray, nu: int | None = None, h: int = 1) -> tuple[float, float]:
    """Diebold-Mariano test with a HAC long-run variance and fixed-b inference.

    The long-run variance of ``d`` is the equal-weighted cosine (EWC) estimator
    ``Omega = mean_j Lambda_j^2``, ``Lambda_j = sqrt(2 / T) sum_t d_t cos(pi j (t - 1/2) / T)``
    for ``j = 1 .. nu``; ``DM = mean(d) / sqrt(Omega / T)``, times the Harvey-Leybourne-Newbold
    factor (:func:`hln_factor`: ``sqrt((T - 1) / T)`` for h = 1), is referred to Student's t with ``nu`` degrees of
    freedom, which holds its size at small T even with serially correlated ``d``
    (benchmarks/bench_null_calibration.py).

    Parameters
    ----------
    d : ``[T]`` loss differential per target time (loss of A minus loss of B).
    nu : cosine terms; None = :func:`ewc_df` of ``T``.

    Returns
    -------
    (stat, pvalue) : the statistic and its two-sided p-value. ``(nan, nan)`` when ``T < 2``;
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
    nu = ewc_df(t) if nu is None else int(nu)
    omega = ewc_long_run_variance(d, nu)
    if not omega > 0:
        return 0.0, 1.0
    dm = d.mean() / math.sqrt(omega / t) * hln_factor(t, h)
    p = 2.0 * stats.t.sf(abs(dm), df=nu)
    return float(dm), float(p)


@functools.lru_cache(maxsize=16)
def _bootstrap_indices(w: int, block: int, n_boot: int, seed) -> np.ndarray:
    """The ``[n_boot, w]`` resampled target-time indices of ``arch``'s stationary bootstrap (mean
    block ``block``, ``np.random.default_rng(seed)``). A pure function of its arguments, so the
    comparisons of one run (every baseline, every horizon: the same ``w`` and seed) draw them
    once; read-only (shared between calls)."""
    from arch.bootstrap import StationaryBootstrap

    bs = StationaryBootstrap(block, np.arange(w), seed=np.random.default_rng(seed))
    idx = np.stack([np.asarray(data[0][0], dtype=int) for data in bs.bootstrap(n_boot)])
    idx.setflags(write=False)
    return idx


def compare_forecasts(y_true, pred_a, pred_b, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95, rel_tol: float = 1e-6, min_times: int = 2, horizon: int = 1) -> dict:
    """Paired comparison of forecaster A against reference B on the same target times.

    Parameters
    ----------
    y_true : ``[W, N]`` (W target times, N genes) or ``[S, W, N]``. NaN marks a
        missing target; such cells are left out for both forecasters. An
        ``[S, W, N]`` truth pairs by seed and target time (ablations).
    pred_a, pred_b : ``[W, N]`` or ``[S, W, N]`` (S seeds or repeats). A ``[W, N]``
        array is repeated over the other's S.
    n_boot : block-bootstrap resamples.
    seed : seed of the bootstrap's ``np.random.default_rng``.
    level : coverage of the intervals; the test's size is ``1 - level``.
    rel_tol : an RMSE difference within ``rel_tol * max(rmse_a, rmse_b)`` of zero is no
        difference (float32 models vs float64 baselines).
    min_times : below this many usable target times the verdict is
        ``"too few target times to tell"`` (at least 2 always).

    Returns
    -------
    dict of plain Python values (JSON-serialisable; NaN as ``float('nan')``):
        ``rmse_a``, ``rmse_b``, ``rmse_diff`` (negative: A is better),
        ``rmse_diff_ci95`` / ``skill_ci95`` (block-bootstrap intervals at ``level``; the
        keys keep their names for other levels), ``skill`` = ``1 - MSE_a / MSE_b``,
        ``dm_stat``, ``dm_pvalue`` (HAC Diebold-Mariano, HLN), ``dm_df`` (EWC terms), ``block_length``,
        ``n_times``, ``n_boot``, ``level``, ``min_times``, ``verdict`` (one of
        :data:`VERDICTS`, by the DM rule), ``bootstrap_verdict`` (by the interval),
        ``verdict_rule``.
    """
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    min_times = max(2, int(min_times))
    sse_a, sse_b, count = _per_time_sums(y_true, pred_a, pred_b)
    w = int(count.size)
    rmse_a, rmse_b, diff, skill = _point_estimates(sse_a, sse_b, count)
    block = max(1, int(round(w ** (1.0 / 3.0)))) if w else 0
    diff_ci, skill_ci, dm_stat, dm_p, verdict, boot_verdict = _test_and_intervals(
        sse_a, sse_b, count, rmse_a, rmse_b, diff, block, n_boot, seed, level, rel_tol, horizon)
    if w < min_times:
        verdict = boot_verdict = TOO_FEW

    return {
        "rmse_a": float(rmse_a), "rmse_b": float(rmse_b), "rmse_diff": float(diff),
        "rmse_diff_ci95": diff_ci, "skill": float(skill), "skill_ci95": skill_ci,
        "dm_stat": float(dm_stat), "dm_pvalue": float(dm_p), "dm_df": ewc_df(w), "block_length": block,
        "n_times": w, "n_boot": n_boot, "level": float(level), "min_times": min_times, "verdict": verdict,
        "bootstrap_verdict": boot_verdict,
        "verdict_rule": "Diebold-Mariano with an EWC HAC variance, fixed-b Student t and the HLN factor; "
                        "stationary block bootstrap intervals beside",
    }


def _point_estimates(sse_a: np.ndarray, sse_b: np.ndarray, count: np.ndarray) -> tuple[float, float, float, float]:
    """``(rmse_a, rmse_b, rmse_diff, skill)`` over all cells from the per-time sums ``[W]`` (NaN when ``W`` is 0)."""
    if count.size:
        diff, skill = _rmse_diff_and_skill(sse_a.sum(), sse_b.sum(), count.sum())
        n = count.sum()
        rmse_a, rmse_b = math.sqrt(sse_a.sum() / n), math.sqrt(sse_b.sum() / n)
        diff, skill = float(diff), float(skill)
    else:
        log.warning("no usable cell: every target or prediction is missing")
        rmse_a = rmse_b = diff = skill = _NAN
    return rmse_a, rmse_b, diff, skill


def _test_and_intervals(sse_a: np.ndarray, sse_b: np.ndarray, count: np.ndarray, rmse_a: float, rmse_b: float,
                        diff: float, block: int, n_boot: int, seed, level: float, rel_tol: float,
                        horizon: int) -> tuple[list[float], list[float], float, float, str, str]:
    """Block-bootstrap intervals and the Diebold-Mariano test on the per-time sums ``[W]``:
    ``(diff_ci, skill_ci, dm_stat, dm_p, verdict, bootstrap_verdict)``; NaN and no difference below 2 times."""
    w = int(count.size)
    diff_ci, skill_ci = [_NAN, _NAN], [_NAN, _NAN]
    dm_stat = dm_p = _NAN
    verdict = boot_verdict = VERDICTS[1]
    if w < 2:
        log.warning("%d usable target time(s): no interval or test is possible", w)
        return diff_ci, skill_ci, dm_stat, dm_p, verdict, boot_verdict
    draw = _bootstrap_indices if isinstance(seed, (int, np.integer)) else _bootstrap_indices.__wrapped__
    idx = draw(w, block, n_boot, seed)  # [n_boot, w]
    b_diff, b_skill = _rmse_diff_and_skill(sse_a[idx].sum(axis=1), sse_b[idx].sum(axis=1),
                                           count[idx].sum(axis=1))
    q = [100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0]
    diff_ci = [float(v) for v in np.nanpercentile(b_diff, q)]
    skill_ci = [float(v) for v in np.nanpercentile(b_skill, q)]
    dm_stat, dm_p = diebold_mariano((sse_a - sse_b) / count.mean(), h=horizon)
    # differences below float32 resolution of the RMSE are no difference (a model
    # that stays on its moving-average path matches mean_last to ~1e-8, not exactly)
    tol = rel_tol * max(rmse_a, rmse_b)
    if abs(diff) > tol and math.isfinite(dm_p) and dm_p < 1.0 - level:
        verdict = VERDICTS[0] if diff < 0 else VERDICTS[2]
    if diff_ci[1] < -tol:
        boot_verdict = VERDICTS[0]
    elif diff_ci[0] > tol:
        boot_verdict = VERDICTS[2]
    return diff_ci, skill_ci, dm_stat, dm_p, verdict, boot_verdict


def _num(x: float, signed: bool = False, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "nan"
    if x != 0 and abs(x) < 10.0 ** -digits:
        return f"{x:+.2e}" if signed else f"{x:.2e}"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def verdict_sentence(name_a: str, name_b: str, res: dict) -> str:
    """One line in words for a :func:`compare_forecasts` result.

    Example: ``"STEPmr vs mean_last: better at 95 % (RMSE difference -0.012,
    bootstrap 95 % [-0.020, -0.004]; skill +0.071 [+0.02, +0.11]; Diebold-Mariano
    p = 0.003; 12 target times)"``.
    """
    pct = f"{100.0 * res.get('level', 0.95):g} %"
    if res["verdict"] == TOO_FEW:
        return (f"{name_a} vs {name_b}: {TOO_FEW} ({res['n_times']} target times, fewer than "
                f"{res.get('min_times', '?')}; RMSE difference {_num(res['rmse_diff'])}, block-bootstrap "
                f"{pct} [{_num(res['rmse_diff_ci95'][0])}, {_num(res['rmse_diff_ci95'][1])}])")
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
            f"(RMSE difference {_num(res['rmse_diff'])}, bootstrap {pct} [{_num(lo)}, {_num(hi)}]; "
            f"skill {_num(res['skill'], signed=True)} "
            f"[{_num(slo, signed=True, digits=2)}, {_num(shi, signed=True, digits=2)}]; "
            f"Diebold-Mariano {p_txt}; {res['n_times']} target times)")
