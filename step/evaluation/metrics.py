"""Forecast metrics on ``[W, N]`` arrays (windows x genes) and on prediction tables.

skill = 1 - MSE / MSE(reference). Direction accuracy compares the sign of the
predicted and the true change from the last input value, over entries whose true
change is not zero.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

METRIC_NAMES = ("rmse", "mae", "r2", "pearson_pooled", "pearson_gene_mean", "spearman_gene_mean",
                "direction_accuracy", "skill_vs_persistence", "skill_vs_best_baseline", "mase", "n_windows", "n_genes")


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.nanmean((np.asarray(y_pred) - np.asarray(y_true)) ** 2))


def _corr(a: np.ndarray, b: np.ndarray, kind: str) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    from scipy import stats  # imported where used: scipy.stats costs ~0.5 s of a job's start-up

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = stats.pearsonr(a, b)[0] if kind == "pearson" else stats.spearmanr(a, b)[0]
    return float(r)


def per_gene_corr(y_true: np.ndarray, y_pred: np.ndarray, kind: str = "pearson") -> np.ndarray:
    """Correlation across windows for each gene. ``[W, N] -> [N]``.

    Over the windows where both values are finite; NaN where fewer than 2 remain or either side is
    constant there. Spearman = Pearson of average ranks (as ``scipy.stats.spearmanr``). Vectorised
    over genes (a test checks it against scipy gene by gene).
    """
    a = np.array(y_true, dtype=float)
    b = np.array(y_pred, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a[~ok] = np.nan
    b[~ok] = np.nan
    if kind == "spearman":
        from scipy import stats

        a = stats.rankdata(a, axis=0, nan_policy="omit")
        b = stats.rankdata(b, axis=0, nan_policy="omit")
    n = ok.sum(axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        da = a - np.nanmean(a, axis=0)
        db = b - np.nanmean(b, axis=0)
        sab = np.nansum(da * db, axis=0)
        saa = np.nansum(da * da, axis=0)
        sbb = np.nansum(db * db, axis=0)
        r = sab / np.sqrt(saa * sbb)
        const = (np.nanmax(a, axis=0) == np.nanmin(a, axis=0)) | (np.nanmax(b, axis=0) == np.nanmin(b, axis=0))
    r = np.clip(r, -1.0, 1.0)
    r[(n < 2) | const | ~np.isfinite(r)] = np.nan
    return r


def naive_scale(y_true: np.ndarray, y_last: np.ndarray) -> np.ndarray:
    """MASE scale per gene ``[N]``: the mean absolute one-step naive (persistence) error over the
    given windows (the fit's training windows: in sample). NaN where it is 0 (a gene constant over
    training has no scale; its MASE is left out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s = np.nanmean(np.abs(np.asarray(y_true, float) - np.asarray(y_last, float)), axis=0)
    return np.where(s > 0, s, np.nan)


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_last: np.ndarray,
                    mse_persistence: float | None = None, mse_best: float | None = None,
                    mase_scale: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of one model on one split.

    Parameters
    ----------
    y_true, y_pred, y_last : ``[W, N]`` truth, prediction, last input value.
    mse_persistence, mse_best : reference MSEs on the same entries (None -> skill is NaN).
    mase_scale : ``[N]`` per-gene MASE scale (:func:`naive_scale` on the training windows);
        ``mase`` = mean over cells of ``|error| / scale`` (None -> NaN).
    """
    y_true = np.asarray(y_true, float)
    y_pred = np.asarray(y_pred, float)
    y_last = np.asarray(y_last, float)
    err = y_pred - y_true
    m = float(np.nanmean(err ** 2))
    ok = np.isfinite(y_true)
    sst = float(np.nansum((y_true - np.nanmean(y_true)) ** 2))
    dt, dp = y_true - y_last, y_pred - y_last
    moving = (dt != 0) & np.isfinite(dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {
            "rmse": float(np.sqrt(m)),
            "mae": float(np.nanmean(np.abs(err))),
            "r2": float(1.0 - np.nansum(err ** 2) / sst) if sst > 0 else float("nan"),
            "pearson_pooled": _corr(y_true[ok], y_pred[ok], "pearson"),
            "pearson_gene_mean": float(np.nanmean(per_gene_corr(y_true, y_pred, "pearson"))),
            "spearman_gene_mean": float(np.nanmean(per_gene_corr(y_true, y_pred, "spearman"))),
            "direction_accuracy": float(np.mean(np.sign(dp[moving]) == np.sign(dt[moving]))) if moving.any() else float("nan"),
            "skill_vs_persistence": float(1.0 - m / mse_persistence) if mse_persistence else float("nan"),
            "skill_vs_best_baseline": float(1.0 - m / mse_best) if mse_best else float("nan"),
            "mase": float(np.nanmean(np.abs(err) / mase_scale[None, :])) if mase_scale is not None
            and np.isfinite(mase_scale).any() else float("nan"),
            "n_windows": int(y_true.shape[0]),
            "n_genes": int(y_true.shape[1]),
        }
    return out


def pivot(df: pd.DataFrame, value: str) -> np.ndarray:
    """Long prediction rows of one model/seed/split -> ``[W, N]`` (windows by target time, genes sorted)."""
    return df.pivot(index="target_time", columns="gene", values=value).sort_index().sort_index(axis=1).to_numpy()


def metrics_from_predictions(pred: pd.DataFrame, model: str, split: str, best_baseline: str,
                             transform=None) -> dict[str, float]:
    """Recompute one model's metrics (mean over seeds) from a predictions.csv table.

    The last input value is read off the ``persistence`` rows, which are exactly it.
    ``transform`` (e.g. ``np.log1p``) is applied to values first (None: original scale).
    """
    f = transform or (lambda a: a)
    sub = pred[pred["split"] == split]
    base = sub[sub["model"] == "persistence"]
    y_last = f(pivot(base, "y_pred"))
    mse_p = mse(f(pivot(base, "y_true")), y_last)
    tr = pred[(pred["split"] == "train") & (pred["model"] == "persistence")]
    scale = naive_scale(f(pivot(tr, "y_true")), f(pivot(tr, "y_pred"))) if len(tr) else None
    bb = sub[sub["model"] == best_baseline]
    mse_b = mse(f(pivot(bb, "y_true")), f(pivot(bb, "y_pred")))
    rows = []
    msub = sub[sub["model"] == model]
    for seed, g in msub.groupby("seed"):
        rows.append(compute_metrics(f(pivot(g, "y_true")), f(pivot(g, "y_pred")), y_last, mse_p, mse_b, scale))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
