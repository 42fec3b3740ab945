"""Raw inputs -> interaction table + report, in published or corrected mode.

Library functions only: :func:`run` returns the table and the report; :mod:`cli` writes them.
"""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from raw_data_conversion import annotation, expression, features, hic, placement
from raw_data_conversion.assemble import GeneRecord, interaction_table
from raw_data_conversion.cache import FeatureCache
from raw_data_conversion.config import PreprocessConfig
from raw_data_conversion.genome.common import chrom_order
from step.errors import InputError
from step.io import file_sha256

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What a run produced: the interaction table and the report (JSON-able dict)."""

    table: pd.DataFrame
    report: dict
    dropped: list[dict] = field(default_factory=list)


class _Inputs:
    """Every input file read, with its checksum, for the report."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, role: str, path: str | Path) -> str:
        p = Path(path)
        if not p.exists():
            raise InputError(f"{p}: file not found ({role}).")
        sha = file_sha256(p)
        self.items.append({"role": role, "path": str(p), "sha256": sha, "bytes": p.stat().st_size})
        return sha


# --------------------------------------------------------------------------- expression


def load_expression(cfg: PreprocessConfig, inputs: _Inputs) -> expression.TimeCourse:
    """The per-gene time course of the config's expression table (targets averaged for miRNA)."""
    e = cfg.expression
    inputs.add("expression", e.path)
    table = expression.read_sample_table(e.path, e.id_column, e.annotation_columns)
    n_lead = 1 + len(e.annotation_columns)
    if e.time_axis == "label_mean":
        tc = expression.label_mean(table, n_lead)
    elif e.time_axis == "stage_mean":
        tc = expression.stage_mean(table, e.birth_embryonic_day, n_lead)
    else:
        tc = expression.sample_order(table)
    if e.targets:
        inputs.add("mirna_targets", e.targets)
        targets = expression.read_targets(e.targets, table.ids, table.path)
        tc = expression.target_means(tc, targets)
    log.info("expression: %d genes x %d time points from %s", len(tc.genes), len(tc.times), e.path)
    return tc


# --------------------------------------------------------------------------- Hi-C per chromosome


def _map_path(cfg: PreprocessConfig, chrom: str) -> str:
    return cfg.hic.path.format(chrom=chrom)


def _published_chrom(cfg: PreprocessConfig, chrom: str) -> dict[str, np.ndarray]:
    f = cfg.features
    t = hic.read_triplets(_map_path(cfg, chrom), chrom, cfg.hic.layout)
    dense = hic.published_dense(t, cfg.hic.label_step)
    labels, M = hic.published_unique(t)
    ins = features.published_insulation(dense, f.window_bins)
    bounds = features.published_boundaries(ins, f.peak_distance, f.peak_prominence)
    ev = features.published_eigenvector(M)
    return {"labels": labels, "M": M, "insulation": ins, "boundaries": bounds, "eigvec": ev}


def _standard_chrom(cfg: PreprocessConfig, chrom: str, size: int, density: np.ndarray) -> dict[str, np.ndarray]:
    h, f = cfg.hic, cfg.features
    if h.format == "cool":
        cm = hic.read_cool(_map_path(cfg, chrom), chrom, h.balance, h.bin_size, size)
    else:
        t = hic.read_triplets(_map_path(cfg, chrom), chrom, h.layout)
        cm = hic.to_matrix(t, h.labels, h.bin_size, h.label_step, size, h.min_extent)
    window = f.insulation_window_bp // h.bin_size
    ins, n_valid = features.diamond_insulation(cm.M, window, f.ignore_diags)
    bounds, strength = features.insulation_boundaries(ins, n_valid, f.min_frac_valid_pixels, f.boundary_threshold)
    eigvals, eigvecs = features.compartments(cm.M, density, f.n_eigs, f.ignore_diags, f.clip_percentile,
                                             f.sort_metric, f.correlation)
    return {"M": cm.M, "insulation": ins, "n_valid": n_valid, "boundaries": bounds, "strength": strength,
            "eigvals": np.asarray(eigvals, dtype=float), "eigvecs": np.asarray(eigvecs, dtype=float),
            "density": density}


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return round(float(np.corrcoef(a[ok], b[ok])[0, 1]), 4)


def hic_features(cfg: PreprocessConfig, sizes: dict[str, int], tss: annotation.TssTable | None,
                 cache: FeatureCache, inputs: _Inputs) -> tuple[dict[str, dict], dict[str, dict]]:
    """Per-chromosome maps and features, cached by the map's checksum and the relevant config.

    Returns ``(per_chrom arrays, per_chrom summary for the report)``.
    """
    h = cfg.hic
    out: dict[str, dict] = {}
    summary: dict[str, dict] = {}
    for chrom in tqdm(h.chromosomes, desc=f"Hi-C features ({cfg.dataset})", unit="chrom", leave=False):
        if chrom not in sizes:
            raise InputError(f"{cfg.source}: hic.chromosomes lists '{chrom}', which is not in {h.chrom_sizes}.")
        path = _map_path(cfg, chrom).split("::")[0]
        sha = inputs.add(f"hic_chr{chrom}", path)
        hic_key = {k: v for k, v in vars(h).items() if k not in ("path", "chromosomes")}
        if cfg.features.method == "published":
            parts = [sha, chrom, hic_key, vars(cfg.features)]
            arrays, hit = cache.get_or_compute("published", parts, lambda c=chrom: _published_chrom(cfg, c))
            sign = -1.0 if chrom in cfg.features.sign_flip else 1.0
            arrays = dict(arrays, eigvec=arrays["eigvec"] * sign)
            summary[chrom] = {"labels": int(len(arrays["labels"])), "boundaries": int(len(arrays["boundaries"])),
                              "sign_flipped": sign < 0, "cache": "hit" if hit else "miss"}
        else:
            n_bins = -(-sizes[chrom] // h.bin_size)
            density = tss.density(chrom, n_bins, h.bin_size) if tss is not None else np.full(n_bins, np.nan)
            parts = [sha, chrom, sizes[chrom], hic_key, vars(cfg.features), density]
            arrays, hit = cache.get_or_compute("standard", parts,
                                               lambda c=chrom, d=density: _standard_chrom(cfg, c, sizes[c], d))
            good = np.isfinite(np.diag(arrays["M"]))
            summary[chrom] = {
                "bins": int(n_bins), "bins_with_data": int(good.sum()),
                "first_bin_with_data_bp": int(np.flatnonzero(good)[0] * h.bin_size) if good.any() else None,
                "boundaries": int(len(arrays["boundaries"])),
                "eigvals": [round(float(x), 4) for x in arrays["eigvals"]],
                "compartment_r_gene_density": _corr(arrays["eigvecs"][0], density),
                "genes_per_bin_mean": round(float(density.mean()), 2),
                "cache": "hit" if hit else "miss",
            }
        out[chrom] = arrays
    return out, summary


# --------------------------------------------------------------------------- genes and pairs


def _published_genes(cfg: PreprocessConfig, genes: list[str], coords: annotation.GeneCoords,
                     per_chrom: dict[str, dict], dropped: list[dict]) -> tuple[list[int], list[GeneRecord], list[float]]:
    step = cfg.hic.label_step
    union = np.unique(np.concatenate([a["labels"] for a in per_chrom.values()]))
    keep, records, labels = [], [], []
    for k, g in enumerate(genes):
        if g not in coords.coords:
            dropped.append({"gene": g, "reason": f"no coordinates in {coords.path}"})
            continue
        chrom, start, end = coords.coords[g]
        if chrom not in per_chrom:
            dropped.append({"gene": g, "reason": f"no Hi-C map for chromosome {chrom}"})
            continue
        a = per_chrom[chrom]
        lab = placement.published_bin(start, union, step)
        idx = int(round(lab / step))
        pos = np.searchsorted(a["labels"], lab)
        if idx >= len(a["insulation"]) or pos >= len(a["labels"]) or a["labels"][pos] != lab:
            dropped.append({"gene": g, "reason": f"bin {lab:.0f} is not in the chr{chrom} map"})
            continue
        tad = features.boundary_distance(np.array([idx]), a["boundaries"])[0]
        records.append(GeneRecord(g, chrom, start, end, lab, str(features.labels_ab(a["eigvec"][[pos]])[0]),
                                  float(a["insulation"][idx]), float(tad)))
        keep.append(k)
        labels.append(pos)
    return keep, records, labels


def _corrected_genes(cfg: PreprocessConfig, genes: list[str], coords: annotation.GeneCoords | None,
                     tss: annotation.TssTable | None, symbols: dict, per_chrom: dict[str, dict],
                     dropped: list[dict], placements: list[dict]) -> tuple[list[int], list[GeneRecord], list[int]]:
    g_cfg, h = cfg.genes, cfg.hic
    use_annotation = g_cfg.placement == "annotation" or (
        g_cfg.placement == "auto" and g_cfg.annotation_assembly == h.assembly)
    chroms = set(per_chrom)
    keep, records, bins = [], [], []
    for k, g in enumerate(genes):
        if use_annotation:
            if coords is None or g not in coords.coords:
                p = placement.Placement(gene=g, reason=f"no coordinates in {g_cfg.annotation}")
            else:
                c, s, e = coords.coords[g]
                p = placement.Placement(g, c, s, e, source="annotation") if c in chroms else \
                    placement.Placement(gene=g, reason=f"chromosome {c} has no Hi-C map")
        else:
            p = placement.place_by_tss(g, symbols, tss, chroms)
        entry = {"gene": g, "source": p.source or None, "chromosome": p.chrom, "position": None, "bin_start": None}
        placements.append(entry)
        if p.chrom is None:
            dropped.append({"gene": g, "reason": f"not placed: {p.reason}"})
            continue
        a = per_chrom[p.chrom]
        b = int(p.start // h.bin_size)
        entry.update(position=int(p.start), bin_start=b * h.bin_size)
        if b >= a["M"].shape[0]:
            dropped.append({"gene": g, "reason": f"position {p.start:.0f} is past the end of chr{p.chrom}"})
            continue
        if not np.isfinite(a["M"][b, b]):
            dropped.append({"gene": g, "reason": f"its bin chr{p.chrom}:{b * h.bin_size:,} has no Hi-C contacts"})
            continue
        ev = a["eigvecs"][0][[b]]
        tad = features.boundary_distance(np.array([b]), a["boundaries"])[0]
        records.append(GeneRecord(g, p.chrom, p.start, p.end, float(b * h.bin_size), str(features.labels_ab(ev)[0]),
                                  float(a["insulation"][b]), float(tad)))
        keep.append(k)
        bins.append(b)
    return keep, records, bins


def _pairs(records: list[GeneRecord], bins: list[int], per_chrom: dict[str, dict]) -> list[tuple[int, int, float]]:
    """Same-chromosome gene pairs ``i < j`` (input order) whose bins have a positive contact."""
    out = []
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            if records[i].chrom != records[j].chrom:
                continue
            v = per_chrom[records[i].chrom]["M"][bins[i], bins[j]]
            if np.isfinite(v) and v > 0:
                out.append((i, j, float(v)))
    return out


# --------------------------------------------------------------------------- run


def run(cfg: PreprocessConfig, cache_dir: str | Path | None = None) -> Result:
    """Build the interaction table and its report from the raw inputs named in ``cfg``.

    ``cache_dir`` None disables the feature cache.
    """
    t0 = time.perf_counter()
    inputs = _Inputs()
    cache = FeatureCache(cache_dir)
    published = cfg.mode == "published"
    inputs.add("chrom_sizes", cfg.hic.chrom_sizes)
    sizes = annotation.read_chrom_sizes(cfg.hic.chrom_sizes)

    tc = load_expression(cfg, inputs)
    dropped: list[dict] = []
    placements: list[dict] = []

    coords = None
    if cfg.genes.placement in ("published", "annotation") or (
            cfg.genes.placement == "auto" and cfg.genes.annotation_assembly == cfg.hic.assembly):
        inputs.add("gene_annotation", cfg.genes.annotation)
        coords = annotation.read_gene_annotation(cfg.genes.annotation, set(sizes))
    tss = None
    symbols: dict = {}
    if not published:
        inputs.add("tss_table", cfg.genes.tss)
        tss = annotation.read_tss(cfg.genes.tss)
        if cfg.genes.symbols:
            inputs.add("symbol_table", cfg.genes.symbols)
            symbols = annotation.read_symbol_map(cfg.genes.symbols)

    per_chrom, chrom_summary = hic_features(cfg, sizes, tss, cache, inputs)

    if cfg.genes.placement == "published":
        keep, records, bins = _published_genes(cfg, tc.genes, coords, per_chrom, dropped)
    else:
        keep, records, bins = _corrected_genes(cfg, tc.genes, coords, tss, symbols, per_chrom, dropped, placements)
    pairs = _pairs(records, bins, per_chrom)
    paired = sorted({i for p in pairs for i in p[:2]})
    for i in range(len(records)):
        if i not in set(paired):
            dropped.append({"gene": records[i].name,
                            "reason": f"no other gene on chr{records[i].chrom} with a positive contact"})
    remap = {old: new for new, old in enumerate(paired)}
    records_out = [records[i] for i in paired]
    X = tc.X[[keep[i] for i in paired]]
    pairs = [(remap[i], remap[j], v) for i, j, v in pairs]
    table = interaction_table(records_out, X, tc.times, pairs)
    order = {g: k for k, g in enumerate(tc.genes)}
    dropped.sort(key=lambda d: order.get(d["gene"], 0))

    report = {
        "dataset": cfg.dataset,
        "mode": cfg.mode,
        "config_file": cfg.source,
        "config": cfg.to_dict(),
        "inputs": inputs.items,
        "assumptions": assumptions(cfg),
        "counts": {
            "genes_considered": len(tc.genes),
            "genes_placed": len(records),
            "genes_in_output": len(records_out),
            "genes_dropped": len(dropped),
            "pairs": len(pairs),
            "time_points": int(len(tc.times)),
            "chromosomes_in_output": sorted({r.chrom for r in records_out}, key=chrom_order),
        },
        "times": [float(t) for t in tc.times],
        "dropped_genes": dropped,
        "dropped_columns": tc.dropped_columns,
        "nan_values": int(np.isnan(X).sum()),
        "placement": placements,
        "chromosomes": chrom_summary,
        "cache": {"dir": str(cache_dir) if cache_dir else None, **cache.stats},
        "versions": _versions(),
        "runtime_s": None,
    }
    report["runtime_s"] = round(time.perf_counter() - t0, 2)
    return Result(table=table, report=report, dropped=dropped)


def assumptions(cfg: PreprocessConfig) -> list[str]:
    """Plain-language statements of what the run took for granted."""
    h, e, g, f = cfg.hic, cfg.expression, cfg.genes, cfg.features
    out = []
    if e.time_axis == "label_mean":
        out.append("Time points: replicate columns sharing a time label are averaged; times are days relative to birth.")
    elif e.time_axis == "sample_order":
        out.append("Time points: every sample column is its own time point 1..S in file order (the published miRNA "
                   "axis: replicates count as separate times, E16.5 comes last, an empty column is kept as NaN).")
    else:
        out.append(f"Time points: sample columns are developmental stages; replicates averaged per stage; "
                   f"E<d> -> d - {e.birth_embryonic_day:g} days (E16.5 -> {16.5 - e.birth_embryonic_day:g}), "
                   f"P<d>/p<d> -> d days; columns with neither label nor values dropped.")
    if e.targets:
        out.append("miRNA: a target gene's value is the mean of the counts of the miRNAs listed for it in the target table.")
    if g.placement == "published":
        out.append(f"Genes placed as the published code did: bin = floor(start / {h.label_step:g}) * {h.label_step:g} from "
                   f"{g.annotation} (assembly: {g.annotation_assembly}, not checked against the Hi-C assembly), snapped to "
                   f"the nearest label present in any map; genes past a map's end land in its last bin.")
    elif g.placement == "annotation" or (g.placement == "auto" and g.annotation_assembly == h.assembly):
        out.append(f"Genes placed by their start in {g.annotation} ({g.annotation_assembly}, same assembly as the Hi-C).")
    else:
        out.append(f"Genes placed by TSS on {g.tss_assembly} from {g.tss} (the gene annotation is '{g.annotation_assembly}', "
                   f"not {h.assembly}); names resolved through {g.symbols} and case-insensitive symbol matching; the "
                   f"5'-most TSS is used; Start = End = that TSS in the output.")
    if cfg.mode == "published":
        out.append(f"Hi-C: bin labels taken as {h.label_step:g} bp bin starts as the published code did (not checked "
                   f"against chromosome sizes; see dataset/README.md: the maps are most likely 2 Mb bins).")
        out.append(f"Insulation: z-scored mean of the {2 * f.window_bins}x{2 * f.window_bins} diagonal window, 0 within "
                   f"{f.window_bins} bins of either end; TAD boundaries: find_peaks(-insulation, distance={f.peak_distance}, "
                   f"prominence={f.peak_prominence}); distance in bins.")
        out.append("Compartments: first eigenvector of the correlation matrix of the contact matrix, signed to sum "
                   f"positive, then flipped on chromosomes {', '.join(f.sign_flip) or 'none'} (the published run's random "
                   "signs, recovered by matching); A where positive.")
    else:
        out.append(f"Hi-C ({h.assembly}): {h.bin_size:,} bp bins; label convention '{h.labels}'"
                   + (f" (bin number = label / {h.label_step:g})" if h.labels == "index" else "")
                   + f"; layout '{h.layout}'; every map checked against {h.chrom_sizes} (no bin past the end, "
                   f"last bin reaching >= {h.min_extent:.0%} of the chromosome).")
        out.append(f"Insulation: cooltools diamond score (window {f.insulation_window_bp:,} bp, ignore_diags "
                   f"{f.ignore_diags}, median-normalised, log2); TAD boundaries: cooltools prominence of local minima, "
                   f"threshold {f.boundary_threshold}; distance in bins (NaN if a chromosome has none).")
        out.append("Compartments: " + ("Pearson correlation of O/E" if f.correlation else "cooltools cis_eig on O/E")
                   + f" (ignore_diags {f.ignore_diags}, clip {f.clip_percentile}), E1"
                   + (f" sorted by {f.sort_metric}" if f.sort_metric else "")
                   + "; phased to correlate positively with mm9 gene density (TSS table): A = gene-dense.")
    out.append("Pairs: genes on the same chromosome whose bins have a positive contact; HiC_Interaction is that "
               "contact value; genes without such a partner are dropped (listed with the reason).")
    return out


def _versions() -> dict[str, str]:
    import scipy

    v = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__}
    try:
        import cooltools

        v["cooltools"] = cooltools.__version__
    except Exception:  # pragma: no cover - reported only
        pass
    return v
