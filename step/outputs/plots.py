"""Figures of a run, drawn from its saved files only (never from live objects).

Every figure is a :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot
state, no ``plt.show()``), saved atomically through :func:`step.io.write_with`
into the run folder's ``plots/`` (enrichment dot plots into ``enrichment/``).

Entry point: :func:`make_run_plots` (loss curves, predicted-vs-true scatter,
per-gene time-course pages, change distributions, gene analysis, embedding
trajectories); :func:`run_plot_tasks` gives the same figures as a list of tasks
(:mod:`step.outputs.post` shares it between two processes). :mod:`step.outputs.analyze` reuses the
gene-analysis, time-course and dot-plot functions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from step.outputs import figure_cache as _figure_cache
from step.outputs.figures import SPLIT_COLOURS, _fixed_layout, _grid, _margins, _panel, new_figure, save
from step.outputs.gene_plots import draw_gene_plots, enrichment_dotplot, gene_analysis_plots  # noqa: F401 (re-exported)
from step.outputs.rundata import RunData, gene_table, last_inputs, load_run

if TYPE_CHECKING:  # pragma: no cover
    from step.config import OutputConfig

log = logging.getLogger(__name__)

# the figure cache's key of this code, taken now: the job imports this module early, and the key
# must describe the code it runs even if the files change on disk before its figures are drawn
_figure_cache.code_fingerprint()

# the embedding trajectory plot draws at most this many genes (evenly spaced; genome-scale runs)
MAX_TRAJECTORIES = 200

# --------------------------------------------------------------------------- time courses

def _split_spans(run: "RunData") -> list[tuple[float, float, str]]:
    """Shaded spans ``(start, end, split)`` around each target time, merged when adjacent."""
    times = np.sort(run.series["time"].unique().astype(float))
    split_of: dict[float, str] = {}
    for split in ("train", "val", "test"):
        for t in run.splits.get(split, []) or []:
            split_of[float(t)] = split
    if not split_of:
        for (split, t) in run.predictions[["split", "target_time"]].drop_duplicates().itertuples(index=False):
            split_of[float(t)] = split
    spans: list[tuple[float, float, str]] = []
    for i, t in enumerate(times):
        s = split_of.get(float(t))
        if s is None:
            continue
        lo = (times[i - 1] + t) / 2 if i > 0 else t - (times[1] - t) / 2 if len(times) > 1 else t - 0.5
        hi = (times[i + 1] + t) / 2 if i + 1 < len(times) else t + (t - times[i - 1]) / 2 if i > 0 else t + 0.5
        if spans and spans[-1][2] == s and abs(spans[-1][1] - lo) < 1e-9:
            spans[-1] = (spans[-1][0], hi, s)
        else:
            spans.append((lo, hi, s))
    return spans


def _model_colours(models: Sequence[str]) -> dict[str, str]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(models)}


def _draw_timecourses(fig: Figure, run: "RunData", genes: Sequence[str], ncols: int = 3) -> None:
    nrows, ncols = _grid(len(genes), ncols)
    spans = _split_spans(run)
    pred = run.predictions[run.predictions["split"].isin(["val", "test"]) & run.predictions["gene"].isin(genes)]
    models = [run.main_model] + [m for m in dict.fromkeys(run.predictions["model"]) if m != run.main_model]
    colours = _model_colours(models)
    band_cols = [c for c in ("lo_95", "hi_95") if c in pred]  # the main model's 95 % interval, if written
    mean_pred = pred.groupby(["model", "gene", "target_time"], sort=True)[["y_pred"] + band_cols].mean().reset_index()
    series = run.series[run.series["gene"].isin(genes)]
    disp = run.display
    for i, g in enumerate(genes):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for lo, hi, s in spans:
            ax.axvspan(lo, hi, color=SPLIT_COLOURS[s], lw=0, zorder=0)
        obs = series[series["gene"] == g].sort_values("time")
        ax.plot(obs["time"], obs["value"], "k.-", lw=1.2, ms=3, label="observed", zorder=3)
        for m in models:
            mp = mean_pred[(mean_pred["model"] == m) & (mean_pred["gene"] == g)]
            if len(mp):
                main = m == run.main_model
                if main and len(band_cols) == 2 and mp["lo_95"].notna().any():
                    ax.fill_between(mp["target_time"], mp["lo_95"], mp["hi_95"], color=colours[m], alpha=0.18,
                                    lw=0, zorder=1, label=f"{m} 95 % interval")
                ax.plot(mp["target_time"], mp["y_pred"], ".-" if main else ".--", lw=1.4 if main else 0.7,
                        ms=3, color=colours[m], alpha=1.0 if main else 0.7, label=m, zorder=4 if main else 2)
        _panel(ax, str(disp.get(g, g))[:30])
    handles = [Patch(color=c, label=s) for s, c in SPLIT_COLOURS.items()]
    if genes:
        h, lab = fig.axes[0].get_legend_handles_labels()
        fig.legend(h + handles, lab + list(SPLIT_COLOURS), loc="lower center", ncol=min(6, len(h) + 3), fontsize=7,
                   bbox_to_anchor=(0.5, 0.0))


def timecourse_page(run: "RunData", genes: Sequence[str], path: str | Path, title: str = "", ncols: int = 3) -> Path:
    """Observed series (all times) + each model's val/test predictions (seed mean), the main model's
    95 % prediction interval as a band where it has one, periods shaded."""
    nrows, ncols = _grid(max(len(genes), 1), ncols)
    fig = new_figure(4.2 * ncols, 2.6 * nrows + 0.8)
    _draw_timecourses(fig, run, list(genes), ncols)
    if title:
        fig.suptitle(title, fontsize=10)
    _fixed_layout(fig, top_in=0.6, bottom_in=0.75)
    return save(fig, path, tight=False)


# --------------------------------------------------------------------------- run plots

def loss_curves(hist: pd.DataFrame, path: Path) -> Path:
    """Training/validation loss per seed; under the rolling protocol, of the first fit only."""
    fig = new_figure(11, 4)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    title_extra = ""
    if "origin_time_index" in hist and hist["origin_time_index"].nunique() > 1:
        first = hist["origin_time_index"].min()
        title_extra = f" (first of {hist['origin_time_index'].nunique()} rolling fits)"
        hist = hist[hist["origin_time_index"] == first]
    for seed, part in hist.groupby("seed"):
        part = part.sort_values("epoch")
        ax1.plot(part["epoch"], part["train_loss"], "-", lw=1, label=f"train (seed {seed})")
        if "val_loss" in part and part["val_loss"].notna().any():
            ax1.plot(part["epoch"], part["val_loss"], "--", lw=1, label=f"val (seed {seed})")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.set_title("training and validation loss" + title_extra, fontsize=9)
    ax1.legend(fontsize=6)
    comps = [c for c in ("base", "direction", "trend", "smooth", "consistency", "correction") if c in hist]
    mean = hist.groupby("epoch")[comps].mean() if comps else pd.DataFrame()
    for c in comps:
        ax2.plot(mean.index, mean[c], lw=1, label=c)
    ax2.set_xlabel("epoch")
    ax2.set_title("loss components (mean over seeds)", fontsize=9)
    if comps:
        ax2.legend(fontsize=7)
    _margins(fig, left=0.7, top=0.4, bottom=0.55)
    fig.subplots_adjust(wspace=0.22)
    return save(fig, path, tight=False)


def scatter_pred_true(run: "RunData", split: str, path: Path) -> Path:
    pred = run.predictions[run.predictions["split"] == split]
    models = [run.main_model] + [m for m in dict.fromkeys(pred["model"]) if m != run.main_model]
    nrows, ncols = _grid(len(models), 3)
    fig = new_figure(3.6 * ncols, 3.4 * nrows)
    scale = " (log1p)" if run.transform == "log1p" else ""
    for i, m in enumerate(models):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        part = pred[pred["model"] == m]
        yt, yp = run.working(part["y_true"]), run.working(part["y_pred"])
        ax.scatter(yt, yp, s=4, alpha=0.4)
        if len(yt):
            lo, hi = float(min(yt.min(), yp.min())), float(max(yt.max(), yp.max()))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.7)
            rmse = float(np.sqrt(np.mean((yp - yt) ** 2)))
            _panel(ax, f"{m}  rmse={rmse:.3f}  n={len(yt)}")
        else:
            _panel(ax, m)
        ax.set_xlabel("true" + scale, fontsize=7)
        ax.set_ylabel("predicted" + scale, fontsize=7)
    fig.suptitle(f"predicted vs true, {split} windows" + (" (optimistic protocol)" if run.optimistic else ""), fontsize=10)
    _fixed_layout(fig, bottom_in=0.55)
    return save(fig, path, tight=False)


def change_distributions(run: "RunData", split: str, path: Path) -> Path:
    """True vs predicted change from the last input value, per model (working scale)."""
    last = last_inputs(run)
    pred = run.predictions[run.predictions["split"] == split].merge(
        last[last["split"] == split].drop(columns="split"), on=["target_time", "gene"], how="left")
    models = [run.main_model] + [m for m in dict.fromkeys(pred["model"]) if m != run.main_model]
    nrows, ncols = _grid(len(models), 3)
    fig = new_figure(3.6 * ncols, 3.0 * nrows)
    for i, m in enumerate(models):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        part = pred[pred["model"] == m]
        dt = run.working(part["y_true"]) - part["last"].to_numpy()
        dp = run.working(part["y_pred"]) - part["last"].to_numpy()
        both = np.concatenate([dt, dp])
        both = both[np.isfinite(both)]
        bins = np.linspace(both.min(), both.max(), 31) if len(both) and both.max() > both.min() else 10
        # stepfilled: one polygon per histogram (bars: one patch per bin, ~3x the drawing time)
        ax.hist(dt[np.isfinite(dt)], bins=bins, alpha=0.5, label="true change", color="k", histtype="stepfilled")
        ax.hist(dp[np.isfinite(dp)], bins=bins, alpha=0.5, label="predicted change", color="C1",
                histtype="stepfilled")
        _panel(ax, m)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle(f"change from the last input, {split} windows", fontsize=10)
    _fixed_layout(fig)
    return save(fig, path, tight=False)


def embedding_trajectories(npz_path: Path, display: dict[str, str], path: Path) -> Path | None:
    """First two principal components of every gene's embedding over time."""
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            times, genes, emb = np.asarray(z["times"], float), [str(g) for g in z["genes"]], np.asarray(z["emb"], float)
    except (KeyError, ValueError, OSError) as exc:
        log.warning("%s: cannot read embeddings (%s); embedding plot skipped", npz_path, exc)
        return None
    if emb.ndim != 3 or emb.shape[:2] != (len(times), len(genes)):
        log.warning("%s: emb has shape %s, expected [T'=%d, N=%d, D]; embedding plot skipped",
                    npz_path, emb.shape, len(times), len(genes))
        return None
    n_all = len(genes)
    if n_all > MAX_TRAJECTORIES:  # evenly spaced genes of the file's order, deterministic
        keep = np.unique(np.linspace(0, n_all - 1, MAX_TRAJECTORIES).round().astype(int))
        emb, genes = emb[:, keep], [genes[k] for k in keep]
    flat = emb.reshape(-1, emb.shape[2])
    flat = flat - flat.mean(axis=0)
    _, sv, vt = np.linalg.svd(flat, full_matrices=False)
    k = min(2, vt.shape[0])
    pcs = (flat @ vt[:k].T).reshape(len(times), len(genes), k)
    if k == 1:
        pcs = np.concatenate([pcs, np.zeros_like(pcs)], axis=2)
    var = sv ** 2 / max((sv ** 2).sum(), 1e-12)
    fig = new_figure(7.5, 6)
    ax = fig.add_subplot(1, 1, 1)
    for j, g in enumerate(genes):
        ax.plot(pcs[:, j, 0], pcs[:, j, 1], "-", lw=0.6, color="0.6", zorder=1)
        ax.annotate(display.get(g, g)[:12], pcs[-1, j], fontsize=5)
    sc = ax.scatter(pcs[:, :, 0].ravel(), pcs[:, :, 1].ravel(), c=np.repeat(times, len(genes)), s=6,
                    cmap="viridis", zorder=2)
    fig.colorbar(sc, ax=ax, label="time (last input of the window)")
    ax.set_xlabel(f"PC1 ({var[0]:.0%})")
    ax.set_ylabel(f"PC2 ({var[1]:.0%})" if len(var) > 1 else "PC2")
    shown = "one line per gene" if len(genes) == n_all else f"{len(genes)} of {n_all} genes, evenly spaced"
    ax.set_title(f"temporal Node2Vec embedding trajectories ({shown})", fontsize=9)
    return save(fig, path)  # tight: the colour bar's label sits outside the axes


@dataclass
class PlotTask:
    """One figure to draw: ``draw()`` writes it and returns its paths; ``cost`` is a rough guess of
    its seconds (panels drawn), so that two processes sharing a list start with the largest."""

    name: str
    cost: float
    draw: Callable[[], list[Path]]
    # what the figure is drawn from, for its key in the figure cache (step.outputs.figure_cache):
    # called when the task runs; None: always drawn
    inputs: Callable[[], tuple] | None = None


def _task(name: str, cost: float, fn: Callable[[], Path | list[Path] | None],
          inputs: Callable[[], tuple] | None = None) -> PlotTask:
    def draw() -> list[Path]:
        out = fn()
        return [] if out is None else list(out) if isinstance(out, list) else [out]
    return PlotTask(name, cost, draw, inputs)


def _embedding_inputs(npz: Path, display: dict[str, str]) -> tuple:
    """What :func:`embedding_trajectories` reads: the arrays of ``embeddings.npz`` (not its bytes:
    a zip member carries its writing time) and the display names."""
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = tuple((k, np.asarray(z[k])) for k in sorted(z.files))
    except (ValueError, OSError) as exc:
        return ("unreadable", str(exc))  # drawn (and its warning logged) every time
    return tuple(a for _, a in arrays) + (sorted(k for k, _ in arrays), display)


def lazy_run_digest(run: "RunData") -> Callable[[], str]:
    """:func:`step.outputs.figure_cache.run_digest` of ``run``, computed when first asked and kept on
    ``run`` (every task of the run shares it)."""
    from step.outputs.figure_cache import run_digest

    def get() -> str:
        if getattr(run, "_figure_digest", None) is None:
            run._figure_digest = run_digest(run)
        return run._figure_digest
    return get


def run_plot_tasks(run_dir: Path, output_cfg: "OutputConfig", run: "RunData", gene_plots: bool = True,
                   ranking: pd.DataFrame | None = None) -> list[PlotTask]:
    """The figures of :func:`make_run_plots` as tasks, largest first (nothing drawn yet)."""
    run_dir = Path(run_dir)
    d = run_dir / "plots"
    split = run.primary_split
    n_models = max(1, run.predictions["model"].nunique())
    core = lazy_run_digest(run)
    tasks: list[PlotTask] = []
    if run.history is not None and len(run.history):
        tasks.append(_task("loss_curves", 0.25, lambda: loss_curves(run.history, d / "loss_curves.png"),
                           lambda: (run.history,)))
    else:
        log.info("%s: no history.csv; loss curves skipped", run_dir)
    tasks.append(_task(f"scatter_{split}", 0.05 * n_models,
                       lambda: scatter_pred_true(run, split, d / f"scatter_{split}.png"), lambda: (core(), split)))
    genes = list(run.features["gene"]) or list(dict.fromkeys(run.predictions["gene"]))
    which = "all genes"
    limit = int(getattr(output_cfg, "timecourse_genes", 0))
    if 0 < limit < len(genes):  # at scale: the best and worst genes by skill only
        ranked = list((gene_table(run) if ranking is None else ranking)["gene"])
        genes = list(dict.fromkeys(ranked[:(limit + 1) // 2] + ranked[::-1][:limit // 2]))
        which = f"the {(limit + 1) // 2} best and {limit // 2} worst of {len(ranked)} genes by skill"
        log.info("time-course pages for %s (output.timecourse_genes = %d)", which, limit)
    per = max(1, int(output_cfg.genes_per_page))
    page_starts = range(0, len(genes), per)
    for n, start in enumerate(page_starts, start=1):
        page = genes[start:start + per]
        title = f"time courses, page {n}/{len(page_starts)}, {which} (observed; val/test predictions)"
        path = d / f"timecourses_{n:02d}.png"
        tasks.append(_task(path.stem, 0.07 * len(page),
                           lambda page=page, path=path, title=title: timecourse_page(run, page, path, title=title),
                           lambda page=page, title=title: (core(), page, title)))
    tasks.append(_task(f"change_distributions_{split}", 0.085 * n_models,
                       lambda: change_distributions(run, split, d / f"change_distributions_{split}.png"),
                       lambda: (core(), split)))
    if gene_plots:
        genes_csv = run_dir / "genes.csv"  # draw_gene_plots reads it when the analysis wrote it
        tasks.append(_task("gene_plots", 0.6, lambda: draw_gene_plots(run_dir, run),
                           lambda: (core(), genes_csv.read_bytes().decode("utf-8", "replace")
                                    if genes_csv.is_file() else None)))
    npz = run_dir / "embeddings.npz"
    if npz.is_file():
        tasks.append(_task("embedding_trajectories", 0.5,
                           lambda: embedding_trajectories(npz, run.display, d / "embedding_trajectories.png"),
                           lambda: _embedding_inputs(npz, run.display)))
    else:
        log.info("%s: no embeddings.npz (embeddings disabled?); embedding trajectories skipped", run_dir)
    return sorted(tasks, key=lambda t: -t.cost)  # stable: equal costs keep their order


def make_run_plots(run_dir: Path, output_cfg: "OutputConfig", gene_plots: bool = True,
                   run: "RunData | None" = None, ranking: pd.DataFrame | None = None) -> list[Path]:
    """Draw every plot of a run folder into ``run_dir/plots`` from its saved files.

    Parameters
    ----------
    run_dir : run folder holding predictions.csv, metrics.json, gene_features.csv,
        series.csv, splits.json (history.csv and embeddings.npz optional).
    output_cfg : ``plots`` (False: draw nothing), ``genes_per_page``,
        ``timecourse_genes`` (more genes than this: pages for the best and
        worst half of that many by skill only; 0 = every gene).
    gene_plots : also draw the per-gene skill plots (False when step.outputs.analyze draws
        them, with its top/bottom groups, in the same run).
    run : the run folder already read (:func:`step.outputs.rundata.load_run`), or None to read it here.
    ranking : :func:`step.outputs.rundata.gene_table` of ``run`` (default tolerance) when the caller has
        it; only needed for the best / worst pages at scale.

    Returns
    -------
    The written PNG paths. (:mod:`step.outputs.post` shares the same tasks, :func:`run_plot_tasks`,
    between two processes.)
    """
    if not output_cfg.plots:
        log.info("plots disabled (output.plots: false)")
        return []
    run_dir = Path(run_dir)
    run = load_run(run_dir) if run is None else run
    out = [p for t in run_plot_tasks(run_dir, output_cfg, run, gene_plots, ranking) for p in t.draw()]
    log.info("%d plots written to %s", len(out), run_dir / "plots")
    return out
