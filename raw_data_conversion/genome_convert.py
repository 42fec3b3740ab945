"""The genome-scale conversion itself: expression + annotation + cooler -> a :class:`Dataset` in memory."""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from raw_data_conversion import hic
from raw_data_conversion.genome_config import FORMAT, VERSION, GenomeConfig, _chrom, _chrom_order, _time_name
from raw_data_conversion.genome_readers import _by_name, read_expression, read_gene_positions
from raw_data_conversion.genome_hic import _weight, convert_chromosome, open_cooler
from step.errors import InputError


log = logging.getLogger("raw_data_conversion.genome")


@dataclass
class Dataset:
    """What :func:`convert` produced, ready to write."""

    genes: pd.DataFrame
    expression: pd.DataFrame
    pairs: pd.DataFrame
    meta: dict[str, Any]

def convert(cfg: GenomeConfig) -> Dataset:
    """Read, check and join the inputs; features and pairs per chromosome."""
    expr = read_expression(cfg)
    ann = read_gene_positions(cfg.genes)
    clr = open_cooler(cfg.cool, cfg.bin_size)
    weight = _weight(clr, cfg.balance, cfg.cool)
    bin_size = int(clr.binsize)
    cool_names = {_chrom(n): n for n in clr.chromnames}
    sizes = {_chrom(n): int(s) for n, s in clr.chromsizes.items()}

    pos_of = _by_name(ann, "gene", cfg.genes)
    if "gene_id" in ann:  # GTF: join on gene names or on (unversioned) gene ids, whichever matches more
        by_id = _by_name(ann, "gene_id", cfg.genes)
        stripped = {g: re.sub(r"\.\d+$", "", g) for g in expr.genes}
        n_name = sum(g in pos_of.index for g in expr.genes)
        n_id = sum(stripped[g] in by_id.index for g in expr.genes)
        if n_id > n_name:
            log.info("%s: matrix genes matched by gene_id (%d) rather than gene_name (%d)", cfg.genes, n_id, n_name)
            pos_of = by_id.loc[[stripped[g] for g in expr.genes if stripped[g] in by_id.index]]
            pos_of.index = [g for g in expr.genes if stripped[g] in by_id.index]
    pos_of = pos_of.drop(columns=[c for c in ("gene", "gene_id") if c in pos_of.columns])
    pos_of.index.name = "gene"  # genes keep the matrix's names
    in_ann = [g for g in expr.genes if g in pos_of.index]
    no_ann = [g for g in expr.genes if g not in pos_of.index]
    if not in_ann:
        raise InputError(f"{cfg.genes}: none of the {len(expr.genes)} genes of {cfg.matrix} is in the annotation "
                         f"(e.g. {', '.join(expr.genes[:3])} vs {', '.join(map(str, ann['gene'].head(3)))}); "
                         f"the names must match exactly (symbols vs Ensembl ids?).")
    if no_ann:
        log.warning("%s: %d of %d matrix gene(s) are not in the annotation %s and are dropped: %s%s", cfg.matrix,
                    len(no_ann), len(expr.genes), cfg.genes, ", ".join(no_ann[:10]), " ..." if len(no_ann) > 10 else "")
    ann_chroms = set(pos_of.loc[in_ann, "chromosome"])
    shared = ann_chroms & set(cool_names)
    if not shared:
        raise InputError(f"{cfg.cool}: none of the annotation's chromosomes ({', '.join(sorted(ann_chroms)[:8])}) is in "
                         f"the cooler ({', '.join(clr.chromnames[:8])}); different assemblies or naming?")
    chroms = cfg.chromosomes if cfg.chromosomes is not None else sorted(shared, key=_chrom_order)
    missing = [c for c in chroms if c not in cool_names]
    if missing:
        raise InputError(f"{cfg.cool}: chromosome(s) {', '.join(missing)} (chromosomes) are not in the cooler "
                         f"(has {', '.join(clr.chromnames)}).")
    sub = pos_of.loc[in_ann]
    beyond = sub[sub["chromosome"].isin(chroms) & (sub["tss"] >= sub["chromosome"].map(sizes).fillna(np.inf))]
    if len(beyond):
        g = beyond.index[0]
        raise InputError(
            f"{cfg.genes}: {len(beyond)} gene(s) lie beyond the end of their chromosome in {cfg.cool} (e.g. {g} at "
            f"chr{beyond.loc[g, 'chromosome']}:{int(beyond.loc[g, 'tss']):,}, chromosome length "
            f"{sizes[beyond.loc[g, 'chromosome']]:,} bp): the annotation and the cooler are on different assemblies."
        )
    off = [g for g in in_ann if sub.loc[g, "chromosome"] not in chroms]
    if off:
        by = pd.Series([sub.loc[g, "chromosome"] for g in off]).value_counts()
        log.warning("%d gene(s) on chromosomes not used (not in the cooler or not selected) are dropped: %s", len(off),
                    ", ".join(f"chr{c}: {n}" for c, n in by.items()))
    keep = [g for g in in_ann if sub.loc[g, "chromosome"] in chroms]
    if not keep:
        raise InputError(f"{cfg.genes}: no gene of {cfg.matrix} lies on the chromosomes used ({', '.join(chroms)}).")
    row_of = {g: i for i, g in enumerate(expr.genes)}
    gtab = sub.loc[keep].reset_index()
    gtab["order"] = [_chrom_order(c) for c in gtab["chromosome"]]
    gtab = gtab.sort_values(["order", "tss", "gene"], kind="stable").drop(columns="order").reset_index(drop=True)

    comp = np.full(len(gtab), "", dtype=object)
    ins = np.full(len(gtab), np.nan)
    tad = np.full(len(gtab), np.nan)
    bins = np.zeros(len(gtab), np.int64)
    pi, pj, poe, pobs = [], [], [], []
    per_chrom: dict[str, dict] = {}
    for c in tqdm(chroms, desc="chromosomes", unit="chrom", disable=None):
        idx = np.flatnonzero(gtab["chromosome"].to_numpy() == c)
        if idx.size == 0:
            continue
        pos = gtab["tss"].to_numpy()[idx]
        M = hic.fetch_cis(clr, cool_names[c], weight)
        density = np.bincount(pos // bin_size, minlength=M.shape[0]).astype(float)[: M.shape[0]]
        r = convert_chromosome(M, pos, bin_size, density, cfg)
        comp[idx], ins[idx], tad[idx], bins[idx] = r.compartment, r.insulation, r.tad_distance, r.bins
        pi.append(idx[r.i]), pj.append(idx[r.j]), poe.append(r.oe), pobs.append(r.observed)
        per_chrom[c] = {"genes": int(idx.size), "bins": int(M.shape[0]), "bins_without_contacts": r.bins_without_contacts,
                        "tad_boundaries": r.boundaries, "pairs_chosen": int(r.i.size)}
    i, j = np.concatenate(pi), np.concatenate(pj)
    oe, obs = np.concatenate(poe), np.concatenate(pobs)
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * len(gtab) + b
    _, first = np.unique(key, return_index=True)
    a, b, oe, obs = a[first], b[first], oe[first], obs[first]
    names = gtab["gene"].to_numpy()
    tss = gtab["tss"].to_numpy()
    pairs = pd.DataFrame({"gene1": names[a], "gene2": names[b], "hic": oe, "observed": obs,
                          "distance_bp": np.abs(tss[a] - tss[b])})
    deg = np.bincount(np.concatenate([a, b]), minlength=len(gtab))
    isolated = names[deg == 0]
    if isolated.size:
        log.warning("%d gene(s) have no Hi-C partner (bins without contacts, alone on a chromosome, or below min_oe); "
                    "kept as isolated genes: %s%s", isolated.size, ", ".join(isolated[:10]), " ..." if isolated.size > 10 else "")
    genes = pd.DataFrame({"gene": names, "chromosome": gtab["chromosome"], "tss": tss, "bin": bins,
                          "compartment": comp, "insulation": ins, "tad_distance": tad})
    X = expr.X[[row_of[g] for g in names]]
    expression = pd.DataFrame(X, columns=[_time_name(t) for t in expr.times])
    expression.insert(0, "gene", names)
    counts = {**expr.counts,
              "genes_not_in_annotation": len(no_ann), "genes_not_in_annotation_examples": no_ann[:20],
              "genes_on_unused_chromosomes": len(off), "genes_kept": int(len(gtab)),
              "genes_without_pairs": int(isolated.size), "pairs_chosen_directed": int(i.size),
              "pairs_kept": int(len(pairs)), "mean_partners_per_gene": round(float(deg.mean()), 3) if len(deg) else 0.0}
    meta = {"format": FORMAT, "version": VERSION, "times": [float(t) for t in expr.times], "counts": counts,
            "bin_size": bin_size, "balance": weight, "chromosomes": per_chrom,
            "settings": dataclasses.asdict(cfg)}
    log.info("kept %d genes (%d not in the annotation, %d on unused chromosomes, %d without a partner), %d pairs "
             "(k=%d, min_oe=%g, mean %.1f partners per gene)", len(gtab), len(no_ann), len(off), isolated.size,
             len(pairs), cfg.k, cfg.min_oe, counts["mean_partners_per_gene"])
    return Dataset(genes=genes, expression=expression, pairs=pairs, meta=meta)
