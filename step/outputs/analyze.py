"""Biological analysis of a finished run: which genes are predictable, and what they do.

Reads only the run folder's saved files (``predictions.csv``, ``metrics.json``,
``gene_features.csv``, ``series.csv``, ``splits.json``) and writes:

- ``genes.csv``: per-gene skill vs the best baseline and vs persistence (mean over
  seeds and std across seeds), rmse, mae, direction accuracy and Pearson (reported,
  not ranked on), on the test windows and, prefixed ``val_``, the validation windows;
  with degree, variability, mean expression, chromosome and compartment; ranked by
  test skill vs the best baseline (validation skill when the run has no test split,
  as in the optimistic ``paper`` protocol).
- ``enrichment/``: hypergeometric enrichment of the top and bottom groups against
  the shipped MSigDB mouse gene sets (background = the dataset's genes), tables and
  dot plots, the gene -> symbol mapping and the unmapped genes.
- ``plots/genes_*.png``: skill vs connectivity / variability / compartment, and the
  best and worst genes' time courses.
- a ``=== Biological analysis ===`` section at the end of ``results.txt`` (replaced,
  not duplicated, when the analysis is re-run).

Command line: ``python -m step.analyze RUN_DIR [--online] [--config YAML]``.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from step.outputs import enrichment as enr
from step.outputs import plots
from step.config import AnalysisConfig, OutputConfig, load_config
from step.errors import InputError
from step.io import write_json, write_text, write_with
# reading a run folder lives in step.outputs.rundata; re-exported here for backwards compatibility
from step.outputs.rundata import (  # noqa: F401
                                  BASELINES,
                                  FEATURE_COLUMNS,
                                  GENE_METRICS,
                                  PRED_COLUMNS,
                                  SERIES_COLUMNS,
                                  WITH_STD,
                                  RunData,
                                  assign_groups,
                                  gene_scores,
                                  gene_table,
                                  last_inputs,
                                  load_run,
                                  )

log = logging.getLogger(__name__)
# gene names a log line lists before "(+N more)" (the full lists are in the files it names)
_LOG_NAMES = 20

SECTION_MARKER = "=== Biological analysis ==="


# --------------------------------------------------------------------------- text

def replace_section(path: Path, section: str) -> Path:
    """Replace (or append) the biological-analysis section at the end of results.txt, atomically."""
    old = path.read_text() if path.is_file() else ""
    pos = old.find(SECTION_MARKER)
    head = old[:pos] if pos >= 0 else old
    head = head.rstrip("\n")
    text = (head + "\n\n" if head else "") + section.rstrip("\n") + "\n"
    return write_text(path, text)


def _fmt(x: float, nd: int = 3) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def summary_text(run: RunData, tab: pd.DataFrame, k: int, groups: dict[str, enr.GroupResult],
                 mapping: pd.DataFrame, cfg: AnalysisConfig, n_show: int = 10) -> str:
    """The ``=== Biological analysis ===`` section of results.txt."""
    p = run.primary_split
    key = str(tab["ranked_on"].iloc[0]) if len(tab) and tab["ranked_on"].iloc[0] else f"{p}_skill_vs_best_baseline"
    # the std over seeds is printed only when more than one seed was trained (one seed: std is NaN)
    main_rows = run.predictions[(run.predictions["model"] == run.main_model) & (run.predictions["split"] == p)]
    n_seeds = int(main_rows["seed"].nunique())
    with_std = n_seeds > 1
    seeds_note = f"mean over {n_seeds} seeds +- std" if with_std else "one seed"
    lines = [SECTION_MARKER, ""]
    lines += _ranking_lines(run, tab, mapping, cfg, key, seeds_note)
    ranked = tab[tab["rank"].notna()]
    if len(ranked):
        lines += _gene_block(f"Most predictable genes (top {min(n_show, len(ranked))}):", ranked.head(n_show),
                             p, key, with_std)
        lines += _gene_block(f"Least predictable genes (bottom {min(n_show, len(ranked))}):",
                             ranked.tail(n_show).iloc[::-1], p, key, with_std)
    lines += _association_lines(ranked, key)
    lines.append("")
    if not groups:
        lines += _untested_lines(mapping, k, cfg)
    else:
        lines += _enrichment_lines(groups, mapping, k, cfg)
    for note in run.notes:
        lines.append(f"Note: {note}")
    return "\n".join(lines) + "\n"


def _ranking_lines(run: RunData, tab: pd.DataFrame, mapping: pd.DataFrame, cfg: AnalysisConfig, key: str,
                   seeds_note: str) -> list[str]:
    """What was ranked on and why, with the caveats (no test split, unranked genes, flat series, shared symbols)."""
    p = run.primary_split
    lines = [
        f"Per-gene predictability of {run.main_model} on the {p} windows "
        f"(skill = 1 - MSE(model) / MSE(reference) per gene, {'log1p' if run.transform == 'log1p' else 'original'} scale; "
        f"best baseline: {run.best_baseline}; {seeds_note}). "
        + (f"Ranked on {key}: {tab['rank_reason'].iloc[0]}; " if tab['ranked_on'].iloc[0] else
           f"NOT RANKED: {tab['rank_reason'].iloc[0]}; ")
        + f"skills within {cfg.skill_tolerance:g} are ties. "
        "Per-gene Pearson over a handful of windows is reported in genes.csv but not ranked on."
    ]
    if p == "val":
        lines.append("NOTE: this run has no test split (paper protocol); the ranking uses validation windows and is optimistic.")
    ranked = tab[tab["rank"].notna()]
    n_nan = len(tab) - len(ranked)
    if n_nan:
        lines.append(f"{n_nan} gene(s) have no defined skill (reference error 0 or no windows) and are not ranked.")
    flat = tab[tab[f"{p}_skill_vs_persistence"].isna() & tab[f"{p}_rmse"].notna()] if f"{p}_rmse" in tab else tab.iloc[:0]
    if len(flat):
        lines.append(
            f"Persistence is exact on the {p} windows of {', '.join(map(str, flat['display']))} (a flat series, "
            "e.g. a saturated value): skill vs persistence is undefined and skill vs the best baseline rests "
            "on a near-zero reference error; read their rmse instead."
        )
    shared = mapping[mapping["mapped"]].groupby("symbol")["gene"].agg(list)
    shared = shared[shared.map(len) > 1]
    for sym, names in shared.items():
        lines.append(f"{' and '.join(names)} name one gene ({sym}) in the data; "
                     "they are ranked separately and counted once in the enrichment.")
    return lines


def _gene_block(title: str, rows: pd.DataFrame, p: str, key: str, with_std: bool) -> list[str]:
    """A table of genes (``rows`` of the gene table) under ``title``, the ranked-on skill starred."""
    lines = ["", title]
    lines.append(f"  {'gene':<24}{'skill_vs_best':>16}{'skill_vs_pers':>16}{'rmse':>9}{'dir_acc':>9}"
                 f"{'degree':>8}  comp   (* = ranked on)")
    kb, kp = f"{p}_skill_vs_best_baseline", f"{p}_skill_vs_persistence"
    for _, r in rows.iterrows():
        sb, sp = _fmt(r[kb]), _fmt(r[kp])
        if with_std:
            sb += f"+-{_fmt(r.get(kb + '_std', np.nan))}"
            sp += f"+-{_fmt(r.get(kp + '_std', np.nan))}"
        sb, sp = (sb + "*", sp) if key == kb else (sb, sp + "*")
        lines.append(f"  {str(r['display'])[:23]:<24}{sb:>16}{sp:>16}{_fmt(r[f'{p}_rmse']):>9}"
                     f"{_fmt(r[f'{p}_direction_accuracy'], 2):>9}{_fmt(float(r['degree']), 0):>8}  {r['compartment']}")
    return lines


def _association_lines(ranked: pd.DataFrame, key: str) -> list[str]:
    """Spearman rho of the ranked-on skill with degree, variability and mean expression, and the mean by compartment."""
    lines = ["", "Association with gene properties (Spearman rho with skill, all ranked genes):"]
    from scipy.stats import spearmanr

    for col in ("degree", "variability", "mean_expression"):
        if key not in ranked:
            break
        sub = ranked[[key, col]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(sub) >= 4 and sub[col].nunique() > 1:
            rho, pv = spearmanr(sub[key], sub[col])
            lines.append(f"  {col:<16} rho = {rho:+.2f} (p = {pv:.3g}, n = {len(sub)})")
        else:
            lines.append(f"  {col:<16} not enough distinct values")
    if len(ranked):
        comp = ranked.groupby(ranked["compartment"].replace("", "unknown"))[key].agg(["mean", "size"])
        lines.append("  by compartment: " + ", ".join(f"{c}: {_fmt(r['mean'])} (n={int(r['size'])})" for c, r in comp.iterrows()))
    return lines


def _untested_lines(mapping: pd.DataFrame, k: int, cfg: AnalysisConfig) -> list[str]:
    """Why the enrichment was not tested: nothing separates the genes, or the gene sets do not fit."""
    n_map = int(mapping["mapped"].sum())
    if k == 0:
        return ["Enrichment: not tested. Nothing separates the genes (see the ranking above), so any "
                "top / bottom groups would be arbitrary."]
    return [f"Enrichment: not tested. Only {n_map} of {len(mapping)} genes are in the gene sets of "
            f"{cfg.genesets_dir}: the gene sets do not fit this organism or naming. Put GMT files "
            "for your organism in a folder and set analysis.genesets_dir to it."]


def _enrichment_lines(groups: dict[str, enr.GroupResult], mapping: pd.DataFrame, k: int,
                      cfg: AnalysisConfig) -> list[str]:
    """How the enrichment was tested, then each group's significant (or nominal) terms."""
    unm = mapping[~mapping["mapped"]]
    lines = [
        f"Enrichment (offline, gseapy.enrich hypergeometric test; MSigDB mouse gene sets {', '.join(next(iter(groups.values())).n_tested) if groups else ''}; "
        f"background = all {mapping['symbol'].nunique()} distinct gene symbols of the dataset; groups = top / bottom "
        f"{k} genes ({cfg.group_frac:.0%} by rank); sets of {cfg.min_set_size}-{cfg.max_set_size} genes; "
        f"Benjamini-Hochberg within each collection at FDR < {cfg.fdr})."
    ]
    lines.append(f"  {int(mapping['mapped'].sum())}/{len(mapping)} genes map to a gene-set symbol; "
                 f"unmapped ({len(unm)}): {', '.join(unm['gene']) if len(unm) else 'none'} (enrichment/unmapped_genes.csv).")
    for name, res in groups.items():
        lines += _group_lines(name, res, mapping, cfg)
    return lines


def _group_lines(name: str, res: enr.GroupResult, mapping: pd.DataFrame, cfg: AnalysisConfig) -> list[str]:
    """One group's enrichment: its terms that pass the FDR, else the nominal leaders as hypotheses."""
    sig = res.significant(cfg.fdr)
    lines = ["", f"  {name} group ({len(res.genes)} genes, {len(res.query)} mapped): "
                 f"{sum(res.n_tested.values())} sets tested, {len(sig)} pass FDR < {cfg.fdr}."]
    if len(sig):
        for _, r in sig.head(15).iterrows():
            lines.append(f"    {r['collection']:<12} {r['term'][:70]:<70} {r['overlap']:>6}  p={r['p']:.2e}  adj={r['adjusted_p']:.2e}  {r['genes']}")
    else:
        best_p = res.table["p"].min() if len(res.table) else float("nan")
        lines.append(
            f"    No term survives correction: with {res.n_group} genes in a background of "
            f"{mapping['symbol'].nunique()}, the smallest p-value is {_fmt(best_p, 4)} against "
            f"{sum(res.n_tested.values())} tested sets. The bar is not lowered; the nominal leaders "
            "below are hypotheses only."
        )
        for _, r in res.table.head(5).iterrows():
            lines.append(f"    (nominal) {r['collection']:<12} {r['term'][:64]:<64} {r['overlap']:>6}  p={r['p']:.2e}  adj={r['adjusted_p']:.2f}  {r['genes']}")
    return lines


# --------------------------------------------------------------------------- main step

def analysis_table(run: RunData, cfg: AnalysisConfig, table: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """The ranked gene table with its top / bottom groups (``genes.csv``) and the group size ``k``.

    ``table``: :func:`gene_table` of ``run`` at ``cfg.skill_tolerance`` when the caller has it."""
    tab = gene_table(run, cfg.skill_tolerance) if table is None else table
    return assign_groups(tab, cfg.group_frac)


def extreme_page(run: RunData, tab: pd.DataFrame, k: int, run_dir: Path, best: bool) -> Path:
    """The time courses of the most (``best``) or the least predictable genes (up to 6) of the
    analysis table: ``plots/genes_best_timecourses.png`` / ``plots/genes_worst_timecourses.png``."""
    ranked_on = str(tab["ranked_on"].iloc[0]) if len(tab) else ""
    n_show = min(max(k, 1), 6)
    genes = tab.loc[tab["rank"].notna(), "gene"]
    by = ranked_on or "nothing: not ranked"
    d = Path(run_dir) / "plots"
    if best:
        return plots.timecourse_page(run, list(genes.head(n_show)), d / "genes_best_timecourses.png",
                                     title=f"Most predictable genes (by {by})")
    return plots.timecourse_page(run, list(genes.tail(n_show))[::-1], d / "genes_worst_timecourses.png",
                                 title=f"Least predictable genes (by {by})")


def gene_figure_tasks(run: RunData, tab: pd.DataFrame, k: int, run_dir: Path) -> list[plots.PlotTask]:
    """The analysis figures that need only its table (not the enrichment), as tasks: the best and
    the worst genes' time courses and the per-gene skill plots (with the top / bottom groups)."""
    ranked_on = str(tab["ranked_on"].iloc[0]) if len(tab) else ""
    key = ranked_on or f"{run.primary_split}_skill_vs_persistence"
    cost = 0.07 * min(max(k, 1), 6)
    core = plots.lazy_run_digest(run)
    return [plots.PlotTask("genes_best_timecourses", cost, lambda: [extreme_page(run, tab, k, run_dir, True)],
                           lambda: (core(), tab, k, True)),
            plots.PlotTask("genes_worst_timecourses", cost, lambda: [extreme_page(run, tab, k, run_dir, False)],
                           lambda: (core(), tab, k, False)),
            plots.PlotTask("genes_skill_plots", 0.6,
                           lambda: plots.gene_analysis_plots(tab, Path(run_dir) / "plots", key), lambda: (tab, key))]


def analyze_run(run_dir: Path, cfg: AnalysisConfig, output_cfg: OutputConfig, run: RunData | None = None,
                table: tuple[pd.DataFrame, int] | None = None, gene_figures: bool = True,
                figure_store=None) -> dict[str, Any]:
    """Run the biological analysis on a finished run folder and write its outputs there.

    Parameters
    ----------
    run_dir : the run folder (see DESIGN.md "Outputs of a run").
    cfg : analysis settings (group size, gene-set size limits, FDR, gene sets, aliases, online).
    output_cfg : ``plots`` switches the PNGs off.
    run : the run folder already read (:func:`load_run`), or None to read it here.
    table : :func:`analysis_table` of ``run`` when the caller computed it, else None.
    gene_figures : also draw :func:`gene_figure_tasks` (the per-gene skill plots and the best / worst
        genes' time courses); False when the caller draws them (:mod:`step.outputs.post`, beside the run's
        plots). The enrichment dot plots are always drawn here (with ``output_cfg.plots``).
    figure_store : a :class:`step.outputs.figure_cache.FigureStore`: dot plots whose enrichment table
        and title are stored there are copied, not drawn (None: always drawn).

    Returns
    -------
    dict with the written paths (``genes_csv``, ``enrichment``, ``plots``), group sizes,
    the number of significant terms per group and the unmapped genes.
    """
    run_dir = Path(run_dir)
    if not cfg.enabled:
        log.info("biological analysis disabled (analysis.enabled: false)")
        return {"skipped": True}
    run = load_run(run_dir) if run is None else run
    tab, k = analysis_table(run, cfg) if table is None else table
    ranked_on = str(tab["ranked_on"].iloc[0]) if len(tab) else ""
    if ranked_on:
        log.info("analysis: %d genes ranked on %s (%s; best baseline %s); groups of up to %d",
                 int(tab["rank"].notna().sum()), ranked_on, tab["rank_reason"].iloc[0], run.best_baseline, k)
    else:
        log.warning("analysis: genes not ranked: %s; no enrichment groups", tab["rank_reason"].iloc[0])
    genes_csv = run_dir / "genes.csv"
    write_with(genes_csv, lambda tmp: tab.to_csv(tmp, index=False, float_format="%.6g"))

    # enrichment
    edir = run_dir / "enrichment"
    collections, mapping, unm = _map_genes(tab, cfg, edir)
    background = sorted(set(mapping["symbol"]))
    written: list[Path] = [genes_csv, edir / "gene_mapping.csv", edir / "unmapped_genes.csv"]
    fits = _gene_sets_fit(mapping, cfg)
    groups = _enrich_groups(tab, bool(k and fits), mapping, collections, background, cfg, edir, written)
    write_json(edir / "summary.json", _enrichment_summary(run, tab, k, cfg, groups, fits, background, unm, ranked_on))
    written.append(edir / "summary.json")

    plot_paths: list[Path] = []
    if output_cfg.plots:
        for name, res in groups.items():
            title = f"{name} {len(res.genes)} genes by {ranked_on}"
            draw = lambda res=res, name=name, title=title: [plots.enrichment_dotplot(  # noqa: E731
                res.table, edir / f"{name}_dotplot.png", title=title, fdr=cfg.fdr)]
            if figure_store is not None:
                from step.outputs.figure_cache import cached_draw

                draw = cached_draw(figure_store, f"{name}_dotplot", lambda res=res, title=title: (res.table, title, cfg.fdr),
                                   edir, draw)
            plot_paths += draw()
        if gene_figures:
            plot_paths += [p for task in gene_figure_tasks(run, tab, k, run_dir) for p in task.draw()]

    section = summary_text(run, tab, k, groups, mapping, cfg)
    replace_section(run_dir / "results.txt", section)
    log.info("analysis written to %s", run_dir)
    return {
        "genes_csv": genes_csv, "enrichment": written[1:], "plots": plot_paths,
        "results_txt": run_dir / "results.txt", "group_size": k,
        "n_significant": {n: int(len(g.significant(cfg.fdr))) for n, g in groups.items()},
        "unmapped": list(unm["gene"]),
    }


def _enrichment_summary(run: RunData, tab: pd.DataFrame, k: int, cfg: AnalysisConfig,
                        groups: dict[str, enr.GroupResult], fits: bool, background: list[str], unm: pd.DataFrame,
                        ranked_on: str) -> dict[str, Any]:
    """The contents of ``enrichment/summary.json``: the ranking, the gene-set fit and each group's counts."""
    return {
        "ranked_on": ranked_on, "rank_reason": str(tab["rank_reason"].iloc[0]) if len(tab) else "",
        "enrichment_tested": bool(groups), "gene_sets_fit": bool(fits), "best_baseline": run.best_baseline,
        "group_size": k, "fdr": cfg.fdr, "background_size": len(background),
        "n_unmapped": int(len(unm)), "unmapped": list(unm["gene"]),
        "groups": {n: {"genes": g.genes, "query": g.query, "group_size_tested": g.n_group, "n_tested": g.n_tested,
                       "n_significant": int(len(g.significant(cfg.fdr)))} for n, g in groups.items()},
    }


def _map_genes(tab: pd.DataFrame, cfg: AnalysisConfig, edir: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Load the gene sets and map the genes to their symbols: ``(collections, mapping, unmapped rows)``;
    writes ``gene_mapping.csv`` and ``unmapped_genes.csv``."""
    collections = enr.load_collections(cfg.genesets_dir)
    symbols = enr.universe(collections)
    aliases = enr.load_aliases(cfg.aliases)
    mapping = enr.normalise_genes(list(tab["gene"]), symbols, aliases, list(tab["display"]))
    write_with(edir / "gene_mapping.csv", lambda tmp: mapping.to_csv(tmp, index=False))
    unm = mapping[~mapping["mapped"]].assign(
        reason="no alias-table entry or case variant matches a symbol of the gene sets in " + str(cfg.genesets_dir))
    write_with(edir / "unmapped_genes.csv", lambda tmp: unm.to_csv(tmp, index=False))
    if len(unm):
        shown = ", ".join(unm["gene"].iloc[:_LOG_NAMES])
        more = f" (+{len(unm) - _LOG_NAMES} more)" if len(unm) > _LOG_NAMES else ""
        log.warning("%d gene(s) map to no gene-set symbol (kept in the background, never hits; all in the run's "
                    "enrichment/unmapped_genes.csv): %s%s", len(unm), shown, more)
    dup = mapping[mapping["mapped"]].groupby("symbol")["gene"].apply(list)
    for sym, names in dup[dup.map(len) > 1].items():
        log.info("genes %s all map to %s: counted once in the enrichment", names, sym)
    return collections, mapping, unm


def _gene_sets_fit(mapping: pd.DataFrame, cfg: AnalysisConfig) -> bool:
    """Whether enough genes map to the gene sets (``analysis.min_mapped_frac``) to test them; warns if not."""
    n_mapped = int(mapping["mapped"].sum())
    fits = n_mapped >= cfg.min_mapped_frac * len(mapping) and n_mapped > 0
    if not fits:
        log.warning("only %d of %d genes are in the gene sets of %s: the gene sets do not fit this organism "
                    "or naming; enrichment not tested. Set analysis.genesets_dir to a folder of GMT files for "
                    "your organism.", n_mapped, len(mapping), cfg.genesets_dir)
    return fits


def _enrich_groups(tab: pd.DataFrame, test: bool, mapping: pd.DataFrame, collections: dict, background: list[str],
                   cfg: AnalysisConfig, edir: Path, written: list[Path]) -> dict[str, enr.GroupResult]:
    """The top and bottom groups' enrichment (none unless ``test``), each written to ``edir`` (paths added to ``written``)."""
    sym_of = dict(zip(mapping["gene"], mapping["symbol"]))
    mapped = dict(zip(mapping["gene"], mapping["mapped"]))
    groups: dict[str, enr.GroupResult] = {}
    testable = None
    for name in (("top", "bottom") if test else ()):
        members = list(tab.loc[tab["group"] == name, "gene"])
        # unmapped genes are in the background, so they count in the group too (never as hits);
        # leaving them out of the group only would inflate every overlap's significance
        query = sorted({sym_of[g] for g in members})
        if testable is None:  # the same sets for both groups (same background)
            testable = enr.testable_sets(background, collections, cfg.min_set_size, cfg.max_set_size)
        table, n_tested = enr.enrich_group(query, background, collections, cfg.min_set_size, cfg.max_set_size,
                                           testable=testable)
        groups[name] = enr.GroupResult(name, members, sorted({sym_of[g] for g in members if mapped[g]}),
                                       table, n_tested, n_group=len(query))
        path = edir / f"{name}.csv"
        write_with(path, lambda tmp, t=table: t.to_csv(tmp, index=False, float_format="%.6g"))
        written.append(path)
        log.info("enrichment %s: %d genes (%d mapped), %d terms with overlap, %d pass FDR < %g",
                 name, len(members), len(groups[name].query), len(table),
                 len(groups[name].significant(cfg.fdr)), cfg.fdr)
        if cfg.online:
            _enrich_online(name, query, background, edir, written)
    return groups


def _enrich_online(name: str, query: list[str], background: list[str], edir: Path, written: list[Path]) -> None:
    """The optional online Enrichr query of one group, written beside the offline results."""
    try:
        online = enr.enrich_online(query, background)
        p = edir / f"{name}_enrichr_online.csv"
        write_with(p, lambda tmp, t=online: t.to_csv(tmp, index=False))
        written.append(p)
    except Exception as exc:  # network is optional: never fail the run on it
        log.warning("online Enrichr for %s failed (%s); offline results stand", name, exc)


def _configs_for(run_dir: Path, config: str | None, online: bool) -> tuple[AnalysisConfig, OutputConfig]:
    """Analysis/output settings: ``--config`` if given, else the run's config.yaml, else defaults."""
    import yaml

    if config is not None:
        cfg = load_config(config)
    else:
        defaults: dict[str, Any] = {}
        p = run_dir / "config.yaml"
        if p.is_file():
            raw = yaml.safe_load(p.read_text()) or {}
            if isinstance(raw, dict) and isinstance(raw.get("config"), dict):
                raw = raw["config"]
            defaults = {k: raw[k] for k in ("analysis", "output") if isinstance(raw.get(k), dict)}
        if not defaults:
            log.info("%s: no analysis settings found; using defaults", p)
        cfg = load_config(None, defaults=defaults)
    analysis = cfg.analysis
    analysis.enabled = True  # asked for explicitly on the command line
    if online:
        analysis.online = True
    return analysis, cfg.output


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m step.analyze", description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, help="a finished run folder (results/<dataset>/<run-id>)")
    ap.add_argument("--online", action="store_true", help="also query Enrichr (needs a network; optional)")
    ap.add_argument("--config", default=None, help="YAML config for the analysis/output settings "
                    "(default: the run's config.yaml)")
    args = ap.parse_args(argv)
    from step.logs import setup_logging

    setup_logging()
    try:
        analysis, output = _configs_for(args.run_dir, args.config, args.online)
        out = analyze_run(args.run_dir, analysis, output)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    log.info("genes: %s; significant terms: %s", out["genes_csv"], out["n_significant"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
