"""Figures of the per-gene analysis: enrichment dot plots and each gene's skill against its
connectivity, its variability and its A/B compartment (``genes.csv``). Drawn like every run figure
(:mod:`step.outputs.plots`: Agg canvas, atomic saves)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from step.outputs.figures import GROUP_COLOURS, _margins, new_figure, save
from step.outputs.rundata import assign_groups, gene_table, load_run

if TYPE_CHECKING:  # pragma: no cover
    from step.outputs.rundata import RunData


# --------------------------------------------------------------------------- enrichment

def enrichment_dotplot(table: pd.DataFrame, path: str | Path, title: str = "", fdr: float = 0.05,
                       n_terms: int = 15) -> Path:
    """Dot plot of the ``n_terms`` smallest p-values: x = -log10 p, size = overlap, colour = adjusted p."""
    top = table.nsmallest(n_terms, "p") if len(table) else table
    fig = new_figure(9, max(2.5, 0.35 * len(top) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    if len(top) == 0:
        ax.text(0.5, 0.5, "no gene set overlaps this group", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        top = top.iloc[::-1]
        y = np.arange(len(top))
        sc = ax.scatter(-np.log10(top["p"].clip(lower=1e-300)), y, s=40 + 40 * top["n_overlap"].astype(float),
                        c=top["adjusted_p"], cmap="viridis_r", vmin=0, vmax=1,
                        edgecolors=["k" if a < fdr else "none" for a in top["adjusted_p"]])
        labels = [f"[{c}] {t[:60]}" for c, t in zip(top["collection"], top["term"])]
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel("-log10 p (hypergeometric)")
        fig.colorbar(sc, ax=ax, label="BH adjusted p")
        n_sig = int((table["adjusted_p"] < fdr).sum())
        ax.set_title(f"{title}\n{n_sig} term(s) with adjusted p < {fdr} (black edge); size = overlap", fontsize=9)
    return save(fig, path)


# --------------------------------------------------------------------------- gene analysis

# Genome-scale runs: at most this many genes are named in a scatter plot (the best and worst by skill).
MAX_LABELS = 30


def _label_rows(sub: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows to name in a scatter plot: every grouped gene, or the MAX_LABELS best/worst by ``key``."""
    grouped = sub[sub["group"] != ""]
    if len(grouped) <= MAX_LABELS:
        return grouped
    order = grouped[key].sort_values(kind="stable")
    idx = list(order.index[: MAX_LABELS // 2]) + list(order.index[-(MAX_LABELS // 2):])
    return grouped.loc[idx]


def _skill_floor(values: pd.Series) -> float:
    """Lower y limit for skill plots: outliers far below the bulk (near-zero reference error) are clipped."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return -1.0
    q1, q3 = np.percentile(v, [25, 75])
    return float(min(-1.0, max(v.min(), q1 - 3 * (q3 - q1) - 0.1)))


def _mark_clipped(ax, x: np.ndarray, y: np.ndarray, floor: float, labels: Sequence[str]) -> None:
    low = y < floor
    if low.any():
        ax.scatter(x[low], np.full(low.sum(), floor), marker="v", s=30, color="k", zorder=5)
        lowest = np.flatnonzero(low)[np.argsort(y[low])][:MAX_LABELS // 2]  # name the worst few only
        for xi, yi, lab in zip(x[lowest], y[lowest], np.asarray(labels, dtype=object)[lowest]):
            ax.annotate(f"{str(lab)[:12]} ({yi:.3g})", (xi, floor), fontsize=6, xytext=(3, 3), textcoords="offset points")


def _skill_ylim(ax, y: np.ndarray, floor: float) -> None:
    y = np.asarray(y, dtype=float)
    top = max(1.05, float(np.nanmax(y)) + 0.05) if np.isfinite(y).any() else 1.05
    ax.set_ylim(floor - 0.05 * (top - floor), top)

def _scatter_vs(tab: pd.DataFrame, key: str, col: str, xlabel: str, path: Path, logx: bool = False) -> Path:
    from scipy.stats import spearmanr

    fig = new_figure(6.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    sub = tab[[key, col, "group", "display"] + ([key + "_std"] if key + "_std" in tab else [])].copy()
    sub[col] = pd.to_numeric(sub[col], errors="coerce")
    sub = sub.dropna(subset=[key, col])
    many = len(sub) > 200
    for g, part in sub.groupby("group"):
        err = part[key + "_std"] if key + "_std" in part and not many else None
        ax.errorbar(part[col], part[key], yerr=err, fmt="o", ms=2 if many else 5, alpha=0.5 if many else 0.8,
                    lw=0.8, color=GROUP_COLOURS.get(g, "#7f7f7f"), label=g or "middle")
    for _, r in _label_rows(sub, key).iterrows():
        ax.annotate(str(r["display"])[:14], (r[col], r[key]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.axhline(0, color="k", lw=0.6, ls="--")
    floor = _skill_floor(sub[key])
    _mark_clipped(ax, sub[col].to_numpy(float), sub[key].to_numpy(float), floor, list(sub["display"]))
    _skill_ylim(ax, sub[key].to_numpy(float), floor)
    if logx and (sub[col] > 0).all() and len(sub):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(key.replace("_", " ") + " (clipped: black triangles)")
    title = f"{key} vs {col}"
    if len(sub) >= 4 and sub[col].nunique() > 1:
        rho, p = spearmanr(sub[col], sub[key])
        title += f"  (Spearman rho = {rho:+.2f}, p = {p:.2g}, n = {len(sub)})"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, title="group", title_fontsize=7, loc="upper right" if many else "best")
    _margins(fig)
    return save(fig, path, tight=False)


def gene_analysis_plots(tab: pd.DataFrame, plots_dir: str | Path, key: str) -> list[Path]:
    """Skill vs connectivity (degree), vs variability, and by compartment (genes.csv table)."""
    d = Path(plots_dir)
    if "group" not in tab:
        tab = tab.assign(group="")
    out = [
        _scatter_vs(tab, key, "degree", "connectivity (number of Hi-C partners)", d / "genes_skill_vs_connectivity.png"),
        _scatter_vs(tab, key, "variability", "expression variability (std over the training period, working scale)",
                    d / "genes_skill_vs_variability.png"),
    ]
    fig = new_figure(5.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    sub = tab.dropna(subset=[key]).copy()
    sub["compartment"] = sub["compartment"].fillna("").astype(str).replace("", "unknown")
    cats = sorted(sub["compartment"].unique())
    data = [sub.loc[sub["compartment"] == c, key].to_numpy() for c in cats]
    floor = _skill_floor(sub[key])
    if cats:
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(np.arange(1, len(cats) + 1), [f"{c}\n(n={len(v)})" for c, v in zip(cats, data)])
        rng = np.random.default_rng(0)  # jitter only
        for i, c in enumerate(cats, start=1):
            part = sub[sub["compartment"] == c]
            xj = i + rng.uniform(-0.15, 0.15, len(part))
            ax.scatter(xj, part[key], s=14,
                       c=[GROUP_COLOURS.get(g, "#7f7f7f") for g in part["group"]], alpha=0.8, zorder=3)
            _mark_clipped(ax, xj, part[key].to_numpy(float), floor, list(part["display"]))
    _skill_ylim(ax, sub[key].to_numpy(float), floor)
    ax.axhline(0, color="k", lw=0.6, ls="--")
    ax.set_xlabel("Hi-C compartment")
    ax.set_ylabel(key.replace("_", " "))
    ax.set_title(f"{key} by compartment", fontsize=9)
    _margins(fig, bottom=0.75)
    out.append(save(fig, d / "genes_skill_by_compartment.png", tight=False))
    return out


def draw_gene_plots(run_dir: Path, run: "RunData | None" = None) -> list[Path]:
    """Per-gene skill plots (vs connectivity, variability, by compartment) into ``run_dir/plots``,
    with the top/bottom groups of ``genes.csv`` when step.outputs.analyze wrote it."""
    run_dir = Path(run_dir)
    run = run if run is not None else load_run(run_dir)
    genes_csv = run_dir / "genes.csv"
    if genes_csv.is_file():
        tab = pd.read_csv(genes_csv, keep_default_na=False, na_values=[""])
        tab["group"] = tab["group"].fillna("") if "group" in tab else ""
    else:
        tab, _ = assign_groups(gene_table(run), 0.0)
    key = str(tab["ranked_on"].iloc[0]) if "ranked_on" in tab and len(tab) and isinstance(tab["ranked_on"].iloc[0], str) \
        and tab["ranked_on"].iloc[0] else f"{run.primary_split}_skill_vs_persistence"
    return gene_analysis_plots(tab, run_dir / "plots", key)
