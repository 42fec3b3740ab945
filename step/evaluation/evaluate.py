"""Evaluation of a job's forecasts: metrics of every model on every split, the paired
comparisons of the main model against every baseline, and the long predictions table."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from step.forecasters.baselines import BASELINES
from step.config import RunConfig
from step.data.course import GeneTimeCourse, working_scale
from step.jobs.forecast import Forecasts
from step.evaluation.metrics import compute_metrics, mse, naive_scale
from step.data.windows import WindowSplit

log = logging.getLogger(__name__)


def evaluate_stage(cfg: RunConfig, ws: WindowSplit, course: GeneTimeCourse, fc: Forecasts) -> dict:
    """Stage 5: metrics of every model on every split, and the paired comparisons."""
    y_true_o = course.X[ws.targets]  # [W, N]
    best = fc.best
    base_o, model_o = fc.original(course, ws.history)  # the one conversion out of the working scale
    metrics = build_metrics(cfg, ws, course, y_true_o, base_o, model_o, best, fc.sel_split)
    y_true_w = working_scale(y_true_o, cfg.data.transform)
    if cfg.data.transform == "log1p":
        metrics["log1p"] = {"models": build_metrics(cfg, ws, course, y_true_w, fc.base, fc.model, best,
                                                    fc.sel_split)["models"]}
    metrics["comparisons"] = comparisons(cfg, ws, y_true_w, fc.base, fc.model, best)
    metrics["intervals"] = interval_metrics(cfg, ws, y_true_w, fc)
    if cfg.split.horizon > 1:
        metrics["horizons"] = horizon_metrics(cfg, ws, y_true_w, fc, best)
    rep = metrics["comparisons"]["vs_baselines"][best]
    metrics["beats_best_baseline"] = rep["verdict"] == "better"
    metrics["verdict_vs_best_baseline"] = rep["verdict"]
    metrics["baseline_settings"] = fc.base_info[0] if len(fc.base_info) == 1 else {
        "first_fit": fc.base_info[0], "per_fit": fc.base_info}
    metrics["data_notes"] = course.notes
    metrics["best_baseline_per_origin"] = fc.best_per_origin
    metrics["best_baseline_rule"] = (
        "best_baseline: the baseline chosen at the most fits (each fit's choice on the evidence before its "
        "origin); its whole reported series is scored, so after the first fit the pick uses later fits' "
        "choices: a label, not a forecaster that could have been run. best_per_origin (rolling, when the "
        "fits chose more than one): at each fit the forecasts of that fit's choice, a forecaster that could.")
    metrics["linear_start"] = fc.linear_starts
    metrics["correction_used"] = {str(sd): u for sd, u in fc.correction_used.items()}
    metrics["scaler"] = {"scale_floor": cfg.data.scale_floor, "z_clip": cfg.data.z_clip,
                         "genes_at_floor_last_fit": int(fc.scaler.n_floored) if fc.scaler else 0}
    if ws.protocol == "rolling":
        metrics["rolling"] = {"refit_every": cfg.split.refit_every, "n_fits": len(fc.base_info),
                              "warm_start": cfg.split.warm_start,
                              "origins": [float(course.times[b["origin_time_index"]]) for b in fc.base_info]}
    return metrics

def _names(base: dict) -> list[str]:
    """The forecasters a run has, in the registry's order (step.forecasters.baselines.BASELINES)."""
    return [b for b in BASELINES if b in base]


def comparisons(cfg: RunConfig, ws: WindowSplit, y_true: np.ndarray, base: dict[str, np.ndarray],
                model: dict[int, np.ndarray], best: str) -> dict:
    """Main model vs every baseline on the reported split, in the working scale (every array
    given is in it): paired bootstrap over target times (all genes and seeds together) and
    Diebold-Mariano."""
    from step.evaluation.uncertainty import compare_forecasts

    ev = cfg.evaluation
    i = ws.idx(ws.report)
    yt = y_true[i]
    pm = np.stack([P[i] for P in model.values()])  # [S, W, N]
    out = {"scale": "log1p" if cfg.data.transform == "log1p" else "data", "split": ws.report,
           "method": (f"verdict: HAC Diebold-Mariano (HLN) at {1 - ev.level:g}, at least {ev.min_target_times} target "
                      f"times; beside it a stationary block bootstrap over target times ({ev.n_boot} resamples)"),
           "best_baseline": best, "vs_baselines": {}}
    for b in _names(base):
        out["vs_baselines"][b] = compare_forecasts(yt, pm, base[b][i], n_boot=ev.n_boot, seed=cfg.train.seed,
                                                     level=ev.level, min_times=ev.min_target_times)
    return out

def predictions_table(model_name: str, ws: WindowSplit, course: GeneTimeCourse, y_true: np.ndarray,
                      base: dict[str, np.ndarray], model: dict[int, np.ndarray], base_seed: int,
                      base_iv: dict | None = None, model_iv: dict | None = None,
                      levels: list[float] | None = None, horizons: dict | None = None,
                      horizon_iv: dict | None = None, splits: list[str] | None = None) -> pd.DataFrame:
    """Long table ``model, seed, split, target_time, gene, y_true, y_pred`` (original scale), then
    ``lo_<L>, hi_<L>`` per interval level (``lo_80, hi_80, lo_95, hi_95``; NaN without an interval)
    and ``horizon`` (1; with ``horizons = {h: (base, model)}`` also the h-step rows of the reported
    split, with their intervals from ``horizon_iv = {h: (base, model)}``). ``splits``: the rows of
    these splits only (None: every split; a 20,000-gene job's training rows are most of the table)."""
    from step.evaluation.intervals import level_key

    keep = np.ones(len(ws.split), dtype=bool) if splits is None else np.isin(ws.split, list(splits))
    W, N = int(keep.sum()), y_true.shape[1]
    t = course.times[ws.targets][keep]
    frames = []
    levels = list(levels or [])
    genes = np.tile(np.array(course.genes, dtype=object), W)

    def block(name: str, seed: int, P: np.ndarray, iv: dict | None, h: int = 1) -> pd.DataFrame:
        cols = {
            "model": name, "seed": seed,
            "split": np.repeat(ws.split[keep], N),
            "target_time": np.repeat(t, N),
            "gene": genes,
            "y_true": y_true[keep].reshape(-1), "y_pred": P[keep].reshape(-1),
        }
        for lv in levels:
            lo, hi = (iv or {}).get(lv, (np.full((W, N), np.nan), np.full((W, N), np.nan)))
            lo, hi = (lo[keep], hi[keep]) if lo.shape[0] == keep.size else (lo, hi)
            cols[f"lo_{level_key(lv)}"], cols[f"hi_{level_key(lv)}"] = lo.reshape(-1), hi.reshape(-1)
        cols["horizon"] = h
        return pd.DataFrame(cols)

    for sd, P in model.items():
        frames.append(block(model_name, sd, P, (model_iv or {}).get(sd)))
    for name in _names(base):
        frames.append(block(name, base_seed, base[name], (base_iv or {}).get(name)))
    rep = np.repeat(ws.split[keep] == ws.report, N)
    for h, (hb, hm) in sorted((horizons or {}).items()):
        hbi, hmi = (horizon_iv or {}).get(h, ({}, {}))
        for sd, P in hm.items():
            f = block(model_name, sd, P, hmi.get(sd), h)
            frames.append(f[rep & f["y_pred"].notna().to_numpy()])
        for name in BASELINES:
            if name in hb:
                f = block(name, base_seed, hb[name], hbi.get(name), h)
                frames.append(f[rep & f["y_pred"].notna().to_numpy()])
    return pd.concat(frames, ignore_index=True)


def interval_metrics(cfg: RunConfig, ws: WindowSplit, y_work: np.ndarray, fc: Forecasts) -> dict:
    """Coverage and Winkler score of every forecaster's conformal intervals on the reported split
    (working scale); the main model's are the mean over seeds."""
    from step.evaluation.intervals import coverage_and_winkler, level_key

    i = ws.idx(ws.report)
    out: dict = {"scale": "log1p" if cfg.data.transform == "log1p" else "data", "split": ws.report,
                 "method": (f"conformal, from out-of-sample residuals of earlier origins (else the fit's validation "
                            f"windows, out of sample where the forecaster has such forecasts; see residual_sources), pooled over genes, each scored by its own error scale (its residuals' RMS "
                            f"shrunk towards its training std x an error ratio with the weight of "
                            + (f"{cfg.evaluation.interval_shrink:g} residuals" if cfg.evaluation.interval_shrink != "auto"
                               else "d0 residuals, d0 estimated at every fit from the genes' spread around that prior "
                                    "(empirical Bayes, Smyth 2004; residual_sources' scale_prior_weight)")
                            + ", leave-one-out for the scores; genes "
                            f"whose residuals are all zero left out of the pool; "
                            + (f"older residuals weighted 0.5 ** (windows back / {cfg.evaluation.interval_halflife:g})"
                               if cfg.evaluation.interval_halflife > 0 else "every residual weighted equally")
                            + f"); at least "
                            f"{cfg.evaluation.interval_min_times} earlier target times"), "models": {}}
    for lv in cfg.evaluation.interval_levels:
        key = level_key(lv)
        per_seed = [coverage_and_winkler(y_work[i], iv[lv][0][i], iv[lv][1][i], lv)
                    for iv in fc.model_intervals.values() if lv in iv]
        if per_seed:
            out["models"].setdefault(cfg.model_name, {})[key] = {
                k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        for b in _names(fc.base):
            iv = fc.base_intervals.get(b, {})
            if lv in iv:
                out["models"].setdefault(b, {})[key] = coverage_and_winkler(y_work[i], iv[lv][0][i], iv[lv][1][i], lv)
    src = fc.interval_sources
    out["residual_sources"] = {
        "meaning": ("residual windows behind each fit's intervals: earlier fits' out-of-sample forecasts; where "
                    "no earlier fit forecast a window (the first rolling fit, the chronological protocol's single "
                    "fit), this fit's validation windows forecast out of sample (a baseline's training-only fit; "
                    "the model's linear path by its prequential start, a blend with its weights refitted without "
                    "the window; persistence and mean_last fit nothing), else in sample (the fit's own forecast: "
                    "a per-gene ETS, a model whose correction is kept)"),
        "totals": {k: {key: sum(r[key] for r in v) for key in ("earlier_fits_out_of_sample", "this_fit_out_of_sample",
                                                             "this_fit_in_sample")} for k, v in src.items()},
        "per_fit": {cfg.model_name: src.get(cfg.model_name, [])}}
    return out

def build_metrics(cfg: RunConfig, ws: WindowSplit, course: GeneTimeCourse, y_true: np.ndarray,
                  base: dict[str, np.ndarray], model: dict[int, np.ndarray], best: str, sel_split: str) -> dict:
    """metrics.json content (values in the scale of the arrays given)."""
    persistence = base["persistence"]
    tr = ws.idx("train")
    scale = naive_scale(y_true[tr], persistence[tr]) if len(tr) else None  # MASE: in-sample naive error
    models: dict[str, dict] = {}
    splits = [s for s in ("train", "val", "test") if len(ws.idx(s))]
    for name in _names(base):
        models[name] = {}
        for sp in splits:
            i = ws.idx(sp)
            models[name][sp] = compute_metrics(y_true[i], base[name][i], persistence[i],
                                               mse(y_true[i], persistence[i]), mse(y_true[i], base[best][i]), scale)
    main: dict = {"seeds": sorted(model)}
    for sp in splits:
        i = ws.idx(sp)
        per_seed = [compute_metrics(y_true[i], P[i], persistence[i], mse(y_true[i], persistence[i]),
                                    mse(y_true[i], base[best][i]), scale) for P in model.values()]
        main[sp] = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        main[sp + "_std"] = {k: float(np.std([r[k] for r in per_seed])) for k in per_seed[0]}
        main[sp + "_per_seed"] = per_seed
    models = {cfg.model_name: main, **models}
    rep = ws.report
    return {
        "dataset": cfg.dataset,
        "main_model": cfg.model_name,
        "protocol": ws.protocol,
        "optimistic": ws.optimistic,
        "report_split": rep,
        "history": ws.history,
        "transform": cfg.data.transform,
        "scale": "original",
        "n_genes": course.n_genes,
        "n_times": course.n_times,
        "n_pairs": int(len(course.pairs)),
        "splits": ws.times_of(course.times),
        "models": models,
        "best_baseline": best,
        "best_baseline_chosen_on": sel_split,
    }


def _horizon_interval_metrics(cfg: RunConfig, y_work: np.ndarray, fc: Forecasts, h: int, i: np.ndarray) -> dict:
    """Coverage and Winkler score of the h-step intervals on windows ``i`` (the model's: mean over seeds)."""
    from step.evaluation.intervals import coverage_and_winkler, level_key

    out: dict = {}
    for lv in cfg.evaluation.interval_levels:
        per_seed = [coverage_and_winkler(y_work[i], iv[lv][0][i], iv[lv][1][i], lv)
                    for iv in fc.horizon_model_intervals.get(h, {}).values() if lv in iv]
        if per_seed:
            out.setdefault(cfg.model_name, {})[level_key(lv)] = {
                k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        for b, iv in fc.horizon_base_intervals.get(h, {}).items():
            if lv in iv:
                out.setdefault(b, {})[level_key(lv)] = coverage_and_winkler(y_work[i], iv[lv][0][i], iv[lv][1][i], lv)
    return out


def horizon_metrics(cfg: RunConfig, ws: WindowSplit, y_work: np.ndarray, fc: Forecasts, best: str) -> dict:
    """Per horizon ``h = 1 .. split.horizon``: RMSE, MAE, MASE of every forecaster on the reported
    split's targets that have an h-step forecast from an out-of-sample origin, and the main model's
    comparisons (the verdict rule) against every baseline; then each forecaster's RMSE averaged over
    horizons. Working scale (log1p for counts)."""
    from step.evaluation.uncertainty import compare_forecasts

    ev = cfg.evaluation
    rep = ws.idx(ws.report)
    tr = ws.idx("train")
    scale = naive_scale(y_work[tr], fc.base["persistence"][tr]) if len(tr) else None
    out: dict = {"scale": "log1p" if cfg.data.transform == "log1p" else "data", "split": ws.report,
                 "method": "recursive: each step's forecast is the next step's last input (origin window's graph "
                           "and embedding); ets keeps its one-step forecast", "per_horizon": {}}
    for h in range(1, cfg.split.horizon + 1):
        if h == 1:
            base, model = fc.base, fc.model
        else:
            base, model = fc.horizon_base.get(h, {}), fc.horizon_model.get(h, {})
        if not model:
            continue
        have = np.ones(len(y_work), dtype=bool)
        for P in list(model.values()) + list(base.values()):
            have &= np.isfinite(P).any(axis=1)
        i = np.intersect1d(rep, np.flatnonzero(have))
        if not len(i):
            continue
        yt = y_work[i]
        row: dict = {"n_windows": int(len(i)), "target_times_index": [int(k) for k in ws.targets[i]], "models": {}}
        pm = np.stack([P[i] for P in model.values()])
        for name, P in [(cfg.model_name, None)] + list(base.items()):
            arrs = pm if P is None else P[i][None]
            e = arrs - yt[None]
            row["models"][name] = {
                "rmse": float(np.sqrt(np.nanmean(e ** 2))), "mae": float(np.nanmean(np.abs(e))),
                "mase": float(np.nanmean(np.abs(e) / scale[None, None, :])) if scale is not None else float("nan")}
        row["comparisons"] = {b: compare_forecasts(yt, pm, P[i], n_boot=ev.n_boot, seed=cfg.train.seed,
                                                   level=ev.level, min_times=ev.min_target_times, horizon=h)
                              for b, P in base.items()}
        row["best_baseline"] = best
        if h > 1:
            row["intervals"] = _horizon_interval_metrics(cfg, y_work, fc, h, i)
        out["per_horizon"][str(h)] = row
    names = {n for r in out["per_horizon"].values() for n in r["models"]}
    out["mean_over_horizons"] = {
        n: {"rmse": float(np.mean([r["models"][n]["rmse"] for r in out["per_horizon"].values() if n in r["models"]]))}
        for n in sorted(names)}
    return out