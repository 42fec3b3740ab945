"""results.txt: the comparison table first, then best/worst genes, per-time error, notes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from step.io import write_text

COLUMNS = [("rmse", "RMSE"), ("mae", "MAE"), ("mase", "MASE"), ("r2", "R2"), ("pearson_pooled", "r_pool"),
           ("pearson_gene_mean", "r_gene"), ("spearman_gene_mean", "rho_gene"),
           ("direction_accuracy", "dir_acc"), ("skill_vs_persistence", "skill_pers"),
           ("skill_vs_best_baseline", "skill_best")]


def comparison_table(metrics: dict, block: dict | None = None, split: str | None = None) -> str:
    """Fixed-width table of every model's metrics on the reported split."""
    split = split or metrics["report_split"]
    models = (block or metrics)["models"]
    main = metrics["main_model"]
    rows = []
    for name, m in models.items():
        if split not in m:
            continue
        cells = []
        for key, _ in COLUMNS:
            v = m[split][key]
            std = m.get(f"{split}_std", {}).get(key) if name == main and len(m.get("seeds", [])) > 1 else None
            cell = "nan" if v is None or not np.isfinite(v) else f"{v:.4f}"
            if std is not None and np.isfinite(std):
                cell = f"{v:.3f}±{std:.3f}"
            cells.append(cell)
        rows.append((name + (" *" if name == metrics["best_baseline"] else ""), cells))
    width = max([12] + [len(c) + 2 for _, cells in rows for c in cells])
    head = f"{'model':<16}" + "".join(f"{h:>{width}}" for _, h in COLUMNS)
    lines = [head, "-" * len(head)]
    lines += [f"{name:<16}" + "".join(f"{c:>{width}}" for c in cells) for name, cells in rows]
    return "\n".join(lines)


def verdict(metrics: dict) -> str:
    """The answer in words: main model vs the best baseline, at 95 %, with its interval."""
    rep, main, best = metrics["report_split"], metrics["main_model"], metrics["best_baseline"]
    comp = metrics.get("comparisons")
    if not comp:
        return ""
    r = comp["vs_baselines"][best]
    word = {"better": "is BETTER than", "worse": "is WORSE than",
            "no detectable difference": "shows NO DETECTABLE DIFFERENCE from",
            "too few target times to tell": f"has TOO FEW TARGET TIMES ({r['n_times']}, fewer than "
                                            f"{r.get('min_times', '?')}) to be told apart from"}[r["verdict"]]
    return (f"Verdict: {main} {word} the best baseline ({best}, chosen on {metrics['best_baseline_chosen_on']}) "
            f"on the {rep} split at 95 % ({comp['scale']} scale): RMSE {r['rmse_a']:.4f} vs {r['rmse_b']:.4f}, "
            f"difference {r['rmse_diff']:+.4f} [{r['rmse_diff_ci95'][0]:+.4f}, {r['rmse_diff_ci95'][1]:+.4f}], "
            f"skill {r['skill']:+.3f} [{r['skill_ci95'][0]:+.3f}, {r['skill_ci95'][1]:+.3f}], "
            f"Diebold-Mariano p = {r['dm_pvalue']:.3g}; {r['n_times']} target times.")


BOOTSTRAP_NOTE = ("bootstrap 95 %: percentile interval of a stationary block bootstrap over target times; with "
                  "few target times it covers less than its label (about 86 % at 8-16 target times on null "
                  "data, 64-81 % at 8-40 when the errors are serially correlated; benchmarks/bench_null_calibration.py); the verdict is the Diebold-Mariano test's")


def comparison_intervals(metrics: dict) -> str:
    """One line per baseline: the main model's RMSE difference and skill with 95 % intervals."""
    comp = metrics.get("comparisons")
    if not comp:
        return ""
    main = metrics["main_model"]
    lines = [f"{main} against each baseline ({comp['split']} split, {comp['scale']} scale; {comp['method']}):",
             f"  {'baseline':<16}{'RMSE diff':>11}  {'bootstrap 95 %':<20}{'skill':>8}  {'bootstrap 95 %':<18}"
             f"{'DM p':>8}  verdict"]
    for b, r in comp["vs_baselines"].items():
        lines.append(f"  {b + (' *' if b == metrics['best_baseline'] else ''):<16}{r['rmse_diff']:>+11.4f}  "
                     f"[{r['rmse_diff_ci95'][0]:+.4f}, {r['rmse_diff_ci95'][1]:+.4f}]  "
                     f"{r['skill']:>+8.3f}  [{r['skill_ci95'][0]:+.3f}, {r['skill_ci95'][1]:+.3f}]  "
                     f"{r['dm_pvalue']:>8.3g}  {r['verdict']}")
    lines.append(f"  ({BOOTSTRAP_NOTE})")
    return "\n".join(lines)


def header(metrics: dict, cfg) -> str:
    lines = [f"STEP {metrics['dataset']} run: {metrics['main_model']} vs baselines",
             f"data: {cfg.data.path} ({metrics['n_genes']} genes, {metrics['n_times']} time points, "
             f"{metrics['n_pairs']} Hi-C pairs); transform: {metrics['transform']}; history L = {metrics['history']}",
             f"protocol: {metrics['protocol']}"
             + (f" (rolling origin: {metrics['rolling']['n_fits']} fits, refit every {metrics['rolling']['refit_every']}"
                f"{', warm-started' if metrics['rolling']['warm_start'] else ''})" if "rolling" in metrics else "")
             + f"; reported split: {metrics['report_split']} "
             f"({len(metrics['splits'].get(metrics['report_split'], []))} windows); seeds: {metrics['models'][metrics['main_model']]['seeds']}"]
    if metrics["optimistic"]:
        lines.append("OPTIMISTIC: paper protocol (random split of overlapping windows, no test set); "
                     "numbers are for comparison with the published study only.")
    return "\n".join(lines)


def per_gene_skill(pred: pd.DataFrame, split: str, main: str, best: str, transform: str) -> pd.DataFrame:
    f = np.log1p if transform == "log1p" else (lambda a: a)
    sub = pred[pred["split"] == split].copy()
    sub["se"] = (f(sub["y_pred"]) - f(sub["y_true"])) ** 2
    g = sub.groupby(["model", "gene"])["se"].mean().unstack(0)
    out = pd.DataFrame({"mse_model": g[main], "mse_best": g[best], "mse_persistence": g["persistence"]})
    out["skill_vs_best"] = 1 - out["mse_model"] / out["mse_best"].replace(0, np.nan)
    out["skill_vs_persistence"] = 1 - out["mse_model"] / out["mse_persistence"].replace(0, np.nan)
    return out.sort_values("skill_vs_best", ascending=False)


def per_time_rmse(pred: pd.DataFrame, split: str, transform: str) -> pd.DataFrame:
    f = np.log1p if transform == "log1p" else (lambda a: a)
    sub = pred[pred["split"] == split].copy()
    sub["se"] = (f(sub["y_pred"]) - f(sub["y_true"])) ** 2
    return np.sqrt(sub.groupby(["target_time", "model"])["se"].mean().unstack(1))


def write_results_txt(d: Path, metrics: dict, pred: pd.DataFrame, cfg) -> str:
    """Write results.txt and return the one-screen summary printed at the end of a run."""
    rep = metrics["report_split"]
    scale_note = " (original scale)" if metrics["transform"] != "none" else ""
    table = comparison_table(metrics)
    summary = "\n".join([header(metrics, cfg), "", f"Comparison on the {rep} split{scale_note}  "
                         f"(* = best baseline, chosen on {metrics['best_baseline_chosen_on']})", table])
    if "log1p" in metrics:
        summary += "\n\nThe same in log1p space:\n" + comparison_table(metrics, metrics["log1p"])
    summary += "\n\n" + comparison_intervals(metrics) + "\n\n" + verdict(metrics)
    iv = interval_table(metrics)
    if iv:
        summary += "\n\n" + iv
    hz = horizon_table(metrics)
    if hz:
        summary += "\n\n" + hz
    parts = [summary, ""]
    genes = per_gene_skill(pred, rep, metrics["main_model"], metrics["best_baseline"], metrics["transform"])
    k = min(10, len(genes))
    parts.append(f"Best and worst genes by skill vs {metrics['best_baseline']} on the {rep} split "
                 f"(1 - MSE_model / MSE_baseline per gene; {metrics['transform'] if metrics['transform'] != 'none' else 'data'} scale):")
    for title, sel in (("best", genes.head(k)), ("worst", genes.tail(k).iloc[::-1])):
        parts.append(f"  {title}:")
        for g, r in sel.iterrows():
            parts.append(f"    {g[:40]:<40} skill_best {r['skill_vs_best']:+.3f}  skill_pers {r['skill_vs_persistence']:+.3f}")
    parts += ["", f"RMSE per target time on the {rep} split:", per_time_rmse(pred, rep, metrics["transform"])
              .to_string(float_format=lambda v: f"{v:.4f}")]
    notes = metrics.get("data_notes") or []
    if notes:
        parts += ["", "Data notes:"] + [f"  - {n}" for n in notes]
    write_text(d / "results.txt", "\n".join(parts) + "\n")
    return summary


def horizon_table(metrics: dict) -> str:
    """RMSE per horizon of every forecaster, its mean over horizons, and the main model's verdict
    against the best baseline per horizon (metrics["horizons"])."""
    hz = metrics.get("horizons")
    if not hz or not hz.get("per_horizon"):
        return ""
    hs = sorted(hz["per_horizon"], key=int)
    main, best = metrics["main_model"], metrics["best_baseline"]
    names = [main] + [n for n in hz["per_horizon"][hs[0]]["models"] if n != main]
    lines = [f"RMSE per horizon on the {hz['split']} split ({hz['scale']} scale; {hz['method']}):",
             f"  {'model':<16}" + "".join(f"{'h=' + h:>10}" for h in hs) + f"{'mean':>10}"]
    for n in names:
        cells = "".join(f"{hz['per_horizon'][h]['models'].get(n, {}).get('rmse', float('nan')):>10.4f}" for h in hs)
        lines.append(f"  {n + (' *' if n == best else ''):<16}{cells}{hz['mean_over_horizons'].get(n, {}).get('rmse', float('nan')):>10.4f}")
    lines.append(f"  {main} vs {best} per horizon: " + "; ".join(
        f"h={h}: {hz['per_horizon'][h]['comparisons'][best]['verdict']} "
        f"({hz['per_horizon'][h]['comparisons'][best]['rmse_diff']:+.4f}, {hz['per_horizon'][h]['n_windows']} targets)"
        for h in hs if best in hz["per_horizon"][h]["comparisons"]))
    return "\n".join(lines)


def interval_table(metrics: dict) -> str:
    """Coverage and Winkler score of every forecaster's prediction intervals (metrics["intervals"])."""
    iv = metrics.get("intervals")
    if not iv or not iv.get("models"):
        return ""
    levels = sorted({k for m in iv["models"].values() for k in m}, key=lambda k: float(k.replace("_", ".")))
    head = f"  {'model':<16}" + "".join(f"{'cover ' + k + '%':>12}{'Winkler ' + k:>13}" for k in levels) + f"{'share':>8}"
    lines = [f"Prediction intervals on the {iv['split']} split ({iv['scale']} scale; {iv['method']}):", head]
    for name, m in iv["models"].items():
        cells = "".join(f"{m[k]['coverage']:>12.3f}{m[k]['winkler']:>13.4f}" if k in m else f"{'':>25}" for k in levels)
        share = max((m[k]["share"] for k in m), default=0.0)
        lines.append(f"  {name:<16}{cells}{share:>8.2f}")
    lines.append("  (share = fraction of target cells with an interval; none without enough earlier residuals)")
    return "\n".join(lines)


def append_note(d: Path, text: str) -> None:
    p = d / "results.txt"
    old = p.read_text() if p.exists() else ""
    write_text(p, old + f"\nNOTE: {text}\n")
