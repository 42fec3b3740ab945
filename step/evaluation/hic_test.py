"""Does Hi-C carry predictive information?  A test with power that does not depend on the job's model.

    python -m step.hic_test --config configs/yeast.yaml [--config configs/yeast_elutriation.yaml ...]

(``python -m step.ablate`` runs it too and writes ``hic_test.json`` into its folder.)

A fixed forecaster family that reads neighbour information is refitted at every rolling origin on
the same windows, in variants that differ only in where the neighbour lags come from:

- ``own``: the gene's own lags ``1..p`` only (``p = baselines.global_lags``);
- ``hic``: own lags + the lags of its Hi-C partners' mean;
- ``randomised_1..K``: own lags + the partners' mean on a degree-preserving randomised graph
  (:func:`step.graph.randomise.randomise_pairs`; every gene keeps its number of partners);
- ``expression``: own lags + the partners' mean on an expression-only graph: each gene's
  ``degree`` most correlated genes (the same number of partners as in the Hi-C graph), the
  correlations of the series up to the origin (causal; skipped above ``ablation.hic_expression_max_genes``).

The learner (``ablation.hic_learner``) is a global one fitted across genes on the working scale:
``global_linear`` (scikit-learn's ``LinearRegression``) or ``global_gbm`` (LightGBM defaults), the
learners of :mod:`step.forecasters.registry`. Neighbour values are centred by each gene's mean up to the
origin, so a partner mean carries the partners' deviations, not their levels. The test targets are
the last ``ablation.hic_test_frac`` of the windows, each forecast by the fits on every window before
it, so every target is out of sample and every variant sees the same windows.

Comparisons (HAC Diebold-Mariano rule with a stationary block bootstrap beside:
:func:`step.evaluation.uncertainty.compare_forecasts`): ``hic`` vs ``own`` (do the Hi-C neighbours add
information?), ``hic`` vs ``randomised`` (is it the Hi-C structure, or any neighbours of the same
degrees?) and ``hic`` vs ``expression``.

Power: the minimum detectable effect (MDE) is the RMSE change (in % of the reference's RMSE) the
test would find with 80 % power at its level, from the HAC (EWC) long-run variance of the observed
loss differential and ``T`` target times: ``delta = (t_{1-a/2, nu} + t_{0.8, nu}) sqrt(Omega / T)``
in MSE, turned into RMSE %. It is the analytical (HAC variance) MDE, not a simulation.

Several courses of one organism with one Hi-C map (several ``--config``) are pooled: the relative
loss differentials (``d_t / MSE_own``) of every course are averaged over all their target times,
each course's variance from its own HAC estimate, so short courses add up.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

from step.config import RunConfig, load_config
from step.errors import InputError
from step.evaluation.uncertainty import TOO_FEW

log = logging.getLogger(__name__)

POWER = 0.8


# --------------------------------------------------------------------------- neighbour operators

def mean_operator(pairs: np.ndarray, n_genes: int):
    """Row-normalised adjacency ``M [N, N]`` (sparse CSR) of an undirected pair set: ``(M x)_i`` is
    the mean of gene i's partners (0 for a gene without partners)."""
    import scipy.sparse as sp

    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([p[:, 0], p[:, 1]])
    cols = np.concatenate([p[:, 1], p[:, 0]])
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_genes, n_genes))
    A.data[:] = 1.0  # repeated pairs count once
    deg = np.asarray(A.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)
    return sp.diags(inv) @ A


def expression_pairs(C: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """Each gene's ``degree[i]`` most correlated other genes over the rows of ``C [T, N]`` (centred
    values up to the origin; NaN ignored as 0): pairs ``[P, 2]`` (``i < j``, unique)."""
    Z = np.nan_to_num(C - np.nanmean(C, axis=0))
    sd = np.sqrt((Z ** 2).sum(axis=0))
    Z = Z / np.where(sd > 0, sd, 1.0)
    R = Z.T @ Z
    np.fill_diagonal(R, -np.inf)
    R[:, sd == 0] = -np.inf
    out = set()
    for i in np.flatnonzero(degree > 0):
        k = int(min(degree[i], len(R) - 1))
        for j in np.argpartition(-R[i], k - 1)[:k]:
            if np.isfinite(R[i, j]):
                out.add((min(i, int(j)), max(i, int(j))))
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 2)


# --------------------------------------------------------------------------- the rolling refits

@dataclasses.dataclass
class HicForecasts:
    """Out-of-sample forecasts of every variant: ``preds[name] [V, N]`` of the targets ``y [V, N]``
    (working scale) at the test windows ``windows [V]`` (target time index ``windows + L``)."""

    y: np.ndarray
    preds: dict[str, np.ndarray]
    windows: np.ndarray
    target_times: np.ndarray
    n_pairs: dict[str, int]


def _learner(name: str, seed: int):
    if name == "global_linear":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    if name == "global_gbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(random_state=seed, verbose=-1, n_jobs=1, deterministic=True, force_row_wise=True)
    raise InputError(f"ablation.hic_learner = {name!r}; expected global_linear or global_gbm.")


def _rows(Xf: np.ndarray, NB: np.ndarray | None, windows: np.ndarray, L: int, p: int) -> np.ndarray:
    """Feature rows ``[len(windows) * N, p (+ p)]``: own lags 1..p, then neighbour lags 1..p."""
    lag_idx = np.asarray(windows)[:, None] + L - 1 - np.arange(p)[None, :]   # [V, p], lag 1 first
    own = Xf[lag_idx].transpose(0, 2, 1).reshape(-1, p)                       # [V*N, p]
    if NB is None:
        return own
    return np.concatenate([own, NB[lag_idx].transpose(0, 2, 1).reshape(-1, p)], axis=1)


def rolling_hic_forecasts(Xw: np.ndarray, pairs: np.ndarray, history: int, lags: int, test_frac: float,
                          randomisations: int, learner: str = "global_linear", seed: int = 0,
                          expression_max_genes: int = 3000, min_fit_windows: int = 5) -> HicForecasts:
    """Refit every variant at every origin; forecast each test window out of sample.

    Parameters
    ----------
    Xw : ``[T, N]`` working-scale values (NaN = missing: inputs carried forward, targets skipped).
    pairs : ``[P, 2]`` Hi-C partner pairs (gene indices).
    history : window length L; lags : lags p used (``<= L``); test_frac : share of windows forecast.
    """
    from step.graph.randomise import randomise_pairs
    from step.forecasters.global_learners import ffill

    T, N = Xw.shape
    L, p = int(history), int(min(lags, history))
    W = T - L
    if W < min_fit_windows + 2:
        raise InputError(f"Hi-C test: {T} time points give {W} windows of history {L}; need at least "
                         f"{min_fit_windows + 2}.")
    first = max(min_fit_windows, int(math.floor(W * (1.0 - test_frac))))
    test = np.arange(first, W)
    Xf = ffill(Xw)
    graphs = {"own": None, "hic": np.asarray(pairs, dtype=np.int64).reshape(-1, 2)}
    for k in range(randomisations):
        graphs[f"randomised_{k + 1}"] = randomise_pairs(graphs["hic"], N, seed=1000 * (k + 1) + seed)
    ops = {g: (mean_operator(P, N) if P is not None else None) for g, P in graphs.items()}
    XM = {g: (np.asarray((M @ Xf.T).T) if M is not None else None) for g, M in ops.items()}   # [T, N]
    deg = np.bincount(graphs["hic"].ravel(), minlength=N) if len(graphs["hic"]) else np.zeros(N, int)
    use_expr = N <= expression_max_genes and deg.any()
    if not use_expr:
        log.info("Hi-C test: expression-graph variant skipped (%d genes > ablation.hic_expression_max_genes "
                 "%d, or no Hi-C pairs)", N, expression_max_genes)
    names = list(graphs) + (["expression"] if use_expr else [])
    preds = {g: np.full((len(test), N), np.nan) for g in names}
    y = Xw[test + L]
    n_pairs = {g: int(len(P)) for g, P in graphs.items() if P is not None}
    targets = Xw[L:]                                                              # [W, N]
    for i, k in enumerate(test):
        fit = np.arange(k)                     # every window whose target is before window k's
        m = np.nanmean(Xw[:k + L], axis=0)     # each gene's mean up to the origin (time k + L - 1)
        m = np.where(np.isfinite(m), m, 0.0)
        yf = targets[fit].reshape(-1)
        ok = np.isfinite(yf)
        cur = {g: (XM[g] - np.asarray(ops[g] @ m)[None, :]) if ops[g] is not None else None for g in graphs}
        if use_expr:
            P = expression_pairs(Xf[:k + L] - m, deg)
            n_pairs["expression"] = int(len(P))
            M = mean_operator(P, N)
            cur["expression"] = np.asarray((M @ (Xf - m).T).T)
        if ok.sum() < 2 * p + 2:
            log.info("Hi-C test: window %d has %d observed fit targets; not forecast", k, int(ok.sum()))
            continue
        for g in names:
            NB = cur[g]
            model = _learner(learner, seed).fit(_rows(Xf, NB, fit, L, p)[ok], yf[ok])
            preds[g][i] = model.predict(_rows(Xf, NB, np.array([k]), L, p))
    return HicForecasts(y, preds, test, test + L, n_pairs)


# --------------------------------------------------------------------------- verdicts and power

def loss_differentials(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per target time over its observed cells: the loss differential ``d [V]`` (MSE of a minus MSE
    of b), the Clark-West adjusted improvement of a over b ``f [V]`` (MSE of b minus MSE of a plus
    the mean squared gap between the two forecasts; with b nested in a, its mean is 0 when a's
    extra inputs carry nothing and positive when they help), and b's MSE. ``y [V, N]``; ``a`` and
    ``b`` ``[V, N]`` or ``[K, V, N]`` (K variants, e.g. randomised graphs: their losses averaged)."""
    A, B = np.asarray(a, float), np.asarray(b, float)
    A, B = (A if A.ndim == 3 else A[None]), (B if B.ndim == 3 else B[None])
    ok = np.isfinite(y) & np.isfinite(A).all(axis=0) & np.isfinite(B).all(axis=0)
    n = np.maximum(ok.sum(axis=1), 1)
    cell = lambda x: np.where(ok[None], x, 0.0).sum(axis=2).mean(axis=0) / n  # noqa: E731  [V]
    ea, eb = cell((A - y) ** 2), cell((B - y) ** 2)
    gap = cell((A[:, None] - B[None]).reshape(-1, *y.shape) ** 2)
    keep = ok.any(axis=1)
    mse_b = float(np.where(ok[None], (B - y) ** 2, 0.0).sum() / max(ok.sum() * len(B), 1))
    return (ea - eb)[keep], (eb - ea + gap)[keep], mse_b


def mde_percent(omega: float, n_times: int, nu: int, mse_ref: float, alpha: float = 0.05,
                power: float = POWER, sides: int = 2) -> float:
    """Smallest RMSE improvement (% of the reference's RMSE) found with ``power`` by a ``sides``-sided
    test at ``alpha`` on ``n_times`` target times with long-run variance ``omega`` of the per-time
    differential and ``nu`` degrees of freedom (HAC: analytical, not simulated)."""
    from scipy import stats

    if n_times < 2 or not omega > 0 or not mse_ref > 0 or nu < 1:
        return float("nan")
    hln = math.sqrt((n_times - 1) / n_times)  # the test's statistic carries it (HLN)
    delta = (stats.t.ppf(1 - alpha / sides, nu) + stats.t.ppf(power, nu)) * math.sqrt(omega / n_times) / hln
    return float(100.0 * (1.0 - math.sqrt(max(0.0, 1.0 - delta / mse_ref)))) if delta < mse_ref else 100.0


def compare(y: np.ndarray, a: np.ndarray, b: np.ndarray, cfg: RunConfig, name_a: str, name_b: str,
            nested: bool = False) -> dict:
    """One comparison (A against reference B) with the effect in % of B's RMSE, its interval, the
    verdict, the minimum detectable effect and the sentence a user reads.

    ``nested`` (B's inputs are a subset of A's: own lags vs own + neighbour lags): the Clark-West
    test, one-sided, of "A's extra inputs improve the forecast" (a plain Diebold-Mariano test is
    biased towards the smaller model there: A pays for estimating coefficients that are zero under
    the null); verdict ``better`` or ``no detectable difference``. Otherwise the two-sided HAC
    Diebold-Mariano rule of :func:`step.evaluation.uncertainty.compare_forecasts`. Both with the EWC HAC
    variance, fixed-b Student t and the HLN factor; the interval is the t interval of the mean MSE
    differential (HAC), as RMSE % of B's; the block-bootstrap interval is kept beside."""
    from scipy import stats

    from step.evaluation.uncertainty import compare_forecasts, ewc_df, ewc_long_run_variance

    ev = cfg.evaluation
    alpha = 1 - ev.level
    res = compare_forecasts(y, a, b, n_boot=ev.n_boot, seed=cfg.train.seed, level=ev.level,
                            min_times=ev.min_target_times)
    d, f, mse_b = loss_differentials(y, a, b)
    T = len(d)
    nu = ewc_df(T)
    hln = math.sqrt((T - 1) / T) if T > 1 else float("nan")
    omega = ewc_long_run_variance(d, nu) if T >= 2 else float("nan")
    rb = res["rmse_b"]
    eff = 100.0 * res["rmse_diff"] / rb if rb > 0 else float("nan")
    ci = [float("nan"), float("nan")]
    if T >= 2 and omega > 0 and mse_b > 0:
        half = stats.t.ppf(1 - alpha / 2, nu) * math.sqrt(omega / T) / hln
        ci = [100.0 * (math.sqrt(max(0.0, 1.0 + (d.mean() + s * half) / mse_b)) - 1.0) for s in (-1, 1)]
    out = {"a": name_a, "b": name_b, "rmse_a": res["rmse_a"], "rmse_b": rb, "effect_pct": eff, "ci_pct": ci,
           "ci_method": "HAC (EWC) t interval of the mean MSE differential, HLN factor",
           "bootstrap_ci_pct": [100.0 * c / rb if rb > 0 else float("nan") for c in res["rmse_diff_ci95"]],
           "dm_pvalue": res["dm_pvalue"], "n_times": res["n_times"], "level": ev.level, "power": POWER,
           "mde_method": "HAC (EWC) long-run variance of the test's differential, analytical"}
    if nested:
        om_f = ewc_long_run_variance(f, nu) if T >= 2 else float("nan")
        stat = f.mean() / math.sqrt(om_f / T) * hln if T >= 2 and om_f > 0 else 0.0
        p = float(stats.t.sf(stat, nu)) if T >= 2 and om_f > 0 else 1.0
        verdict = "better" if p < alpha else "no detectable difference"
        out.update(test="Clark-West (nested), one-sided", pvalue=p, cw_stat=float(stat),
                   mde_pct=mde_percent(om_f, T, nu, mse_b, alpha, sides=1))
    else:
        verdict = res["verdict"]
        out.update(test="Diebold-Mariano, two-sided", pvalue=res["dm_pvalue"],
                   mde_pct=mde_percent(omega, T, nu, mse_b, alpha, sides=2))
    out["verdict"] = TOO_FEW if T < ev.min_target_times else verdict
    out["min_times"] = ev.min_target_times
    out["sentence"] = sentence(out, TOO_FEW)
    return out


def sentence(r: dict, too_few: str) -> str:
    """The wording the user reads (effect: negative = A has the lower RMSE)."""
    what = f"{r['a']} vs {r['b']}"
    mde = f"{r['mde_pct']:.1f} %" if math.isfinite(r["mde_pct"]) else "n/a"
    eff = (f"RMSE {r['effect_pct']:+.1f} % [{r['ci_pct'][0]:+.1f}, {r['ci_pct'][1]:+.1f}]"
           if math.isfinite(r["effect_pct"]) else "no effect estimate")
    test = "Clark-West" if r.get("test", "").startswith("Clark") else "Diebold-Mariano"
    if r["verdict"] == too_few:
        return (f"{what}: not enough target times ({r['n_times']} < {r.get('min_times', 15)}): only effects "
                f">= {mde} could be seen ({eff}).")
    if r["verdict"] == "better" and not r["effect_pct"] < 0:
        return (f"{what}: {r['a']}'s extra inputs carry information ({test} p = {r['pvalue']:.3g}), but here "
                f"its {eff}: estimating them costs more than they bring at this sample size.")
    if r["verdict"] == "better":
        return (f"{what}: {r['a']} improves RMSE by {-r['effect_pct']:.1f} % [{-r['ci_pct'][1]:.1f}, "
                f"{-r['ci_pct'][0]:.1f}] ({test} p = {r['pvalue']:.3g}).")
    if r["verdict"] == "worse":
        return (f"{what}: {r['a']} is worse: RMSE {r['effect_pct']:+.1f} % [{r['ci_pct'][0]:+.1f}, "
                f"{r['ci_pct'][1]:+.1f}] ({test} p = {r['pvalue']:.3g}).")
    return (f"{what}: no detectable difference ({eff}, {test} p = {r['pvalue']:.3g}); an effect of >= {mde} "
            f"would have been detected with {int(POWER * 100)} % power.")


def course_result(fc: HicForecasts, cfg: RunConfig) -> dict:
    """Every comparison of one course (``randomised``: the K graphs' losses averaged).
    Against ``own`` the comparisons are nested (Clark-West); between graphs they are not (DM)."""
    rand = [g for g in fc.preds if g.startswith("randomised_")]
    out = {"hic_vs_own": compare(fc.y, fc.preds["hic"], fc.preds["own"], cfg, "hic", "own", nested=True)}
    if rand:  # each randomised graph's own forecasts, their losses averaged (not the averaged forecast)
        R = np.stack([fc.preds[g] for g in rand])  # [K, V, N]
        out["hic_vs_randomised"] = compare(fc.y, fc.preds["hic"], R, cfg, "hic", f"randomised ({len(rand)} graphs)")
        out["randomised_vs_own"] = compare(fc.y, R, fc.preds["own"], cfg, f"randomised ({len(rand)} graphs)", "own",
                                           nested=True)
    if "expression" in fc.preds:
        out["hic_vs_expression"] = compare(fc.y, fc.preds["hic"], fc.preds["expression"], cfg, "hic", "expression")
    out["_rmse"] = {g: float(np.sqrt(np.nanmean((P - fc.y) ** 2))) for g, P in fc.preds.items()}
    out["_forecasts_differ"] = bool(np.nanmax(np.abs(fc.preds["hic"] - fc.preds["own"])) > 0)
    out["_n_pairs"] = fc.n_pairs
    out["_target_times"] = int(len(fc.windows))
    return out


def pooled(diffs: list[tuple[np.ndarray, np.ndarray, float]], level: float, min_times: int) -> dict:
    """Pool the hic-vs-own comparison of several courses: ``diffs`` = ``[(d_c, f_c, MSE_own_c)]``
    (:func:`loss_differentials`). Relative differentials (``/ MSE_own_c``) averaged over every target time;
    variance ``sum_c T_c Omega_c / (sum T)^2`` from each course's EWC long-run variance; Student t
    with Satterthwaite degrees of freedom; the HLN factor of the total. The verdict is the one-sided Clark-West test on ``f``;
    the effect and its interval are of ``d``."""
    from scipy import stats

    from step.evaluation.uncertainty import ewc_df, ewc_long_run_variance

    keep = [(np.asarray(d, float) / m, np.asarray(f, float) / m) for d, f, m in diffs if len(d) >= 2 and m > 0]
    Ts = np.array([len(d) for d, _ in keep])
    total = int(Ts.sum())
    if total < 2:
        return {"n_times": total, "verdict": TOO_FEW}
    nus = np.array([ewc_df(len(d)) for d, _ in keep])
    hln = math.sqrt((total - 1) / total)

    def mean_se(k: int) -> tuple[float, float, float]:
        """Pooled mean, its standard error and the Satterthwaite degrees of freedom of the
        per-course variance terms ``a_c = T_c Omega_c``."""
        x = [v[k] for v in keep]
        a = Ts * np.array([ewc_long_run_variance(v, ewc_df(len(v))) for v in x])
        df = float(a.sum() ** 2 / np.sum(a ** 2 / nus)) if np.sum(a ** 2) > 0 else float(nus.sum())
        return float(np.concatenate(x).mean()), float(math.sqrt(a.sum()) / total) / hln, max(df, 1.0)

    md, sd, nu_d = mean_se(0)
    mf, sf, nu = mean_se(1)
    p = float(stats.t.sf(mf / sf, nu)) if sf > 0 else 1.0
    q = stats.t.ppf(0.5 + level / 2, nu_d)
    to_rmse = lambda r: 100.0 * (math.sqrt(max(0.0, 1.0 + r)) - 1.0)  # noqa: E731  relative MSE -> RMSE %
    delta = (stats.t.ppf(level, nu) + stats.t.ppf(POWER, nu)) * sf
    verdict = TOO_FEW if total < min_times else ("better" if p < 1 - level else "no detectable difference")
    return {"n_times": total, "courses": len(keep), "effect_pct": to_rmse(md),
            "ci_pct": [to_rmse(md - q * sd), to_rmse(md + q * sd)], "pvalue": p, "df": round(nu, 2),
            "test": "Clark-West (nested), one-sided, pooled", "min_times": min_times,
            "mde_pct": float(100.0 * (1.0 - math.sqrt(max(0.0, 1.0 - delta)))) if delta < 1 else 100.0,
            "verdict": verdict, "mde_method": "HAC (EWC) long-run variance per course, analytical"}


def run_hic_test(cfg: RunConfig, course=None) -> tuple[dict, HicForecasts]:
    """The Hi-C test of one configured course (loaded unless given)."""
    from step.data.course import working_scale
    from step.jobs.pipeline import load_stage

    course = load_stage(cfg) if course is None else course
    a = cfg.ablation
    t0 = time.perf_counter()
    fc = rolling_hic_forecasts(working_scale(course.X, cfg.data.transform), course.pairs, cfg.split.history,
                               cfg.baselines.global_lags, a.hic_test_frac, a.randomisations, a.hic_learner,
                               cfg.train.seed, a.hic_expression_max_genes, a.hic_min_fit_windows)
    res = course_result(fc, cfg)
    res["_about"] = {"dataset": cfg.dataset, "data": str(cfg.data.path), "learner": a.hic_learner,
                     "lags": int(min(cfg.baselines.global_lags, cfg.split.history)), "randomisations": a.randomisations,
                     "test_frac": a.hic_test_frac, "n_genes": int(course.n_genes),
                     "scale": "log1p" if cfg.data.transform == "log1p" else "data",
                     "seconds": round(time.perf_counter() - t0, 2)}
    return res, fc


def report_lines(results: dict[str, dict], pool: dict | None) -> list[str]:
    lines = []
    for name, res in results.items():
        ab = res["_about"]
        lines.append(f"Hi-C information test on {name} ({ab['n_genes']} genes, {res['_target_times']} target times, "
                     f"{ab['learner']} on lags 1..{ab['lags']}, {ab['randomisations']} randomised graphs):")
        for k, r in res.items():
            if not k.startswith("_"):
                lines.append("  " + r["sentence"])
        lines.append("  RMSE: " + ", ".join(f"{g} {v:.4f}" for g, v in res["_rmse"].items()))
    if pool is not None:
        mde = f"{pool['mde_pct']:.1f} %" if "mde_pct" in pool else "n/a"
        if pool["verdict"] == TOO_FEW:
            lines.append(f"Pooled over {pool.get('courses', 0)} courses (hic vs own): not enough target times "
                         f"({pool['n_times']}): only effects >= {mde} could be seen"
                         + (f" (RMSE {pool['effect_pct']:+.1f} %)." if "effect_pct" in pool else "."))
        else:
            lines.append(f"Pooled over {pool['courses']} courses (hic vs own, {pool['n_times']} target times): "
                         f"{pool['verdict']}: RMSE {pool['effect_pct']:+.1f} % "
                         f"[{pool['ci_pct'][0]:+.1f}, {pool['ci_pct'][1]:+.1f}], Clark-West p = {pool['pvalue']:.3g}; "
                         f"minimum detectable effect {mde}.")
    return lines


def run_many(cfgs: list[RunConfig]) -> tuple[dict[str, dict], dict | None]:
    """Every course's test and, with two or more courses, the pooled hic-vs-own verdict."""
    results, diffs = {}, []
    for cfg in cfgs:
        res, fc = run_hic_test(cfg)
        results[cfg.dataset] = res
        diffs.append(loss_differentials(fc.y, fc.preds["hic"], fc.preds["own"]))
    pool = None
    if len(cfgs) > 1:
        ev = cfgs[0].evaluation
        pool = pooled(diffs, ev.level, ev.min_target_times)
    return results, pool


def main(argv: list[str] | None = None) -> int:
    from step.io import write_json
    from step.logs import setup_logging

    ap = argparse.ArgumentParser(prog="python -m step.hic_test", description="Do Hi-C neighbours carry "
                                 "predictive information? Rolling refits of a fixed family, with power.")
    ap.add_argument("--config", action="append", required=True,
                    help="run config (YAML); repeat for several courses of one organism (pooled)")
    ap.add_argument("--learner", choices=["global_linear", "global_gbm"], help="ablation.hic_learner")
    ap.add_argument("--out", help="write the results here as JSON")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    setup_logging(args.verbose)
    try:
        cfgs = [load_config(c, {"ablation.hic_learner": args.learner}) for c in args.config]
        results, pool = run_many(cfgs)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    if args.out:
        write_json(Path(args.out), {"courses": results, "pooled": pool})
    sys.stdout.write("\n".join(report_lines(results, pool)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
